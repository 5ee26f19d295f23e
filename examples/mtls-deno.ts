// npx deno run --allow-net=127.0.0.1 --allow-env examples/mtls-deno.ts   (MTLS_* variables: see mtls-script.ts)
import { main } from './mtls-script.ts'

declare const Deno: {
  env: { get(name: string): string | undefined }
  exit(code: number): never
  createHttpClient(options: { caCerts?: string[]; cert?: string; key?: string }): unknown
}

const code = await main(
  (name) => Deno.env.get(name),
  'deno',
  ({ ca, cert, key }) => {
    // One HTTP client presents the client certificate (token endpoint), one only trusts the CA (API).
    const withCertificate = Deno.createHttpClient({ caCerts: [ca], cert, key })
    const trusting = Deno.createHttpClient({ caCerts: [ca] })
    return {
      token: (input, init) => fetch(input, { ...init, client: withCertificate } as RequestInit),
      api: (input, init) => fetch(input, { ...init, client: trusting } as RequestInit),
    }
  },
)
Deno.exit(code)

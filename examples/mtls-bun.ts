// npx bun run examples/mtls-bun.ts   (MTLS_* variables: see mtls-script.ts)
import { main } from './mtls-script.ts'

declare const Bun: { env: Record<string, string | undefined> }
declare const process: { exit(code: number): never }

const code = await main(
  (name) => Bun.env[name],
  'bun',
  ({ ca, cert, key }) => ({
    // Bun's fetch takes TLS options per request: the certificate for the token endpoint, the CA for both.
    token: (input, init) => fetch(input, { ...init, tls: { ca, cert, key } } as RequestInit),
    api: (input, init) => fetch(input, { ...init, tls: { ca } } as RequestInit),
  }),
)
process.exit(code)

/**
 * tls_client_auth (RFC 8705) from a script, shared by the Deno and Bun entry points
 * (examples/mtls-deno.ts, examples/mtls-bun.ts): the client certificate is presented by the
 * `fetch` given for the token endpoint, built with the runtime's own TLS client options. Every
 * input comes from the environment:
 *
 * - MTLS_TOKEN_URL, MTLS_RESOURCE_URL, MTLS_CLIENT_ID;
 * - MTLS_CA (the PEM of the CA that signed the server's certificate), MTLS_CERT and MTLS_KEY
 *   (the client certificate and its private key, PEM).
 *
 * It calls the resource 10 times, concurrently, and prints one JSON line of what happened.
 */
import ky from 'ky'
import { oauth2, type PaymentAuthEvent, withPaymentAuth } from '../packages/ky/src/index.ts'

/** The PEMs a runtime needs to build its fetches. */
export interface TlsMaterial {
  ca: string
  cert: string
  key: string
}

/** A runtime's fetches: one that presents the client certificate, one that only trusts the CA. */
export interface RuntimeFetches {
  token: (input: Request, init?: RequestInit) => Promise<Response>
  api: typeof fetch
}

export async function main(
  env: (name: string) => string | undefined,
  runtime: string,
  fetches: (tls: TlsMaterial) => RuntimeFetches,
): Promise<number> {
  const need = (name: string) =>
    env(name) ??
    (() => {
      throw new Error(`set ${name}`)
    })()
  const resourceUrl = need('MTLS_RESOURCE_URL')
  const { token, api: apiFetch } = fetches({ ca: need('MTLS_CA'), cert: need('MTLS_CERT'), key: need('MTLS_KEY') })
  const provider = oauth2({
    tokenUrl: need('MTLS_TOKEN_URL'),
    clientId: need('MTLS_CLIENT_ID'),
    authMethod: 'tls_client_auth',
    apiBaseUrl: new URL(resourceUrl).origin,
  })
  const events: PaymentAuthEvent[] = []
  const api = ky.create({ fetch: apiFetch, retry: 0 }).extend(withPaymentAuth({ provider, fetch: token, onEvent: (e) => events.push(e) }))
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => api.get(resourceUrl).json<{ ok: boolean }>()))
  const ok = results.filter((r) => r.status === 'fulfilled' && r.value.ok === true).length
  const tokenCalls = events.filter((e) => e.type === 'token_acquired').length
  for (const r of results) if (r.status === 'rejected') console.error(String(r.reason))
  console.log(JSON.stringify({ runtime, requests: results.length, ok, tokenCalls }))
  return ok === results.length && tokenCalls === 1 ? 0 : 1
}

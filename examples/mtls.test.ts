/**
 * The tls_client_auth recipes for Deno and Bun (examples/mtls-deno.ts, examples/mtls-bun.ts),
 * run by the real runtimes against oidc-provider over HTTPS (e2e/oidc/server.ts). The server
 * issues a token to the tls client only when the TLS handshake presented its certificate (the
 * subject DN is matched), so a token issued proves the runtime's fetch presented it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bin, lastJson, run } from './run.ts'
import { type StartedOidc, startOidc } from '../e2e/oidc/server.ts'

let oidc: StartedOidc
beforeAll(async () => {
  oidc = await startOidc()
}, 60_000)
afterAll(() => oidc?.close())

/** What the scripts read: the endpoints, the client id and the PEMs (CA, client certificate, its key). */
const env = () => ({
  MTLS_TOKEN_URL: oidc.tokenUrl,
  MTLS_RESOURCE_URL: oidc.resourceUrl,
  MTLS_CLIENT_ID: oidc.clients.tls.clientId,
  MTLS_CA: oidc.ca,
  MTLS_CERT: oidc.clients.tls.cert,
  MTLS_KEY: oidc.clients.tls.key,
})

const issued = () => oidc.stats().issued[oidc.clients.tls.clientId] ?? 0

const runtimes = [
  {
    runtime: 'deno',
    how: 'Deno.createHttpClient with cert and key',
    args: ['run', '--allow-net=127.0.0.1', '--allow-env', 'examples/mtls-deno.ts'],
  },
  { runtime: 'bun', how: "fetch's tls option with cert and key", args: ['run', 'examples/mtls-bun.ts'] },
]

describe('tls_client_auth from Deno and Bun, against oidc-provider', () => {
  for (const { runtime, how, args } of runtimes) {
    it(`${runtime} (${how}): 10 requests, 10 ok, 1 token call`, async () => {
      const before = { issued: issued(), calls: oidc.stats().tokenCalls }
      const { code, stdout, stderr } = await run(bin(runtime), args, env())
      expect(stderr).toBe('')
      expect(lastJson(stdout)).toEqual({ runtime, requests: 10, ok: 10, tokenCalls: 1 })
      expect(issued() - before.issued).toBe(1)
      expect(oidc.stats().tokenCalls - before.calls).toBe(1)
      expect(code).toBe(0)
    }, 120_000)
  }
})

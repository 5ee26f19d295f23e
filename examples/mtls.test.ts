/**
 * The tls_client_auth recipes for Deno and Bun (examples/mtls-deno.ts, examples/mtls-bun.ts),
 * run by the real runtimes against oidc-provider over HTTPS (e2e/oidc/server.ts). The server
 * issues a token to the tls client only when the TLS handshake presented its certificate (the
 * subject DN is matched), so a token issued proves the runtime's fetch presented it.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type StartedOidc, startOidc } from '../e2e/oidc/server.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = (name: string) => `${root}node_modules/.bin/${name}`

function run(command: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(command, args, { cwd: root, timeout: 120_000, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

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

describe('tls_client_auth from Deno and Bun, against oidc-provider', () => {
  it('Deno (Deno.createHttpClient with cert and key): 10 requests, 10 ok, 1 token call', async () => {
    const before = { issued: issued(), calls: oidc.stats().tokenCalls }
    const { code, stdout, stderr } = await run(bin('deno'), ['run', '--allow-net=127.0.0.1', '--allow-env', 'examples/mtls-deno.ts'], env())
    expect(stderr).toBe('')
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ runtime: 'deno', requests: 10, ok: 10, tokenCalls: 1 })
    expect(issued() - before.issued).toBe(1)
    expect(oidc.stats().tokenCalls - before.calls).toBe(1)
    expect(code).toBe(0)
  }, 120_000)

  it("Bun (fetch's tls option with cert and key): 10 requests, 10 ok, 1 token call", async () => {
    const before = { issued: issued(), calls: oidc.stats().tokenCalls }
    const { code, stdout, stderr } = await run(bin('bun'), ['run', 'examples/mtls-bun.ts'], env())
    expect(stderr).toBe('')
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ runtime: 'bun', requests: 10, ok: 10, tokenCalls: 1 })
    expect(issued() - before.issued).toBe(1)
    expect(oidc.stats().tokenCalls - before.calls).toBe(1)
    expect(code).toBe(0)
  }, 120_000)
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bin, lastJson, run } from './run.ts'
import { SANDBOX_CREDENTIALS } from '../apps/sandbox/src/index.ts'
import { startSandboxServer, type SandboxServer } from '../apps/sandbox/src/serve.ts'

let server: SandboxServer
beforeAll(async () => {
  server = await startSandboxServer({ port: 0 })
})
afterAll(() => server.close())

const direct = () => ({
  PAY_API_URL: `${server.url}/oauth2/api`,
  PAY_TOKEN_URL: `${server.url}/oauth2/o/token/`,
  PAY_CLIENT_ID: SANDBOX_CREDENTIALS.oauth2.clientId,
  PAY_CLIENT_SECRET: SANDBOX_CREDENTIALS.oauth2.clientSecret,
})

describe('the script examples on other runtimes, against the sandbox on loopback', () => {
  it('Deno: 20 concurrent requests, 20 ok, 1 token call (counted by the provider too)', async () => {
    const before = server.sandbox.control.stats('oauth2').tokenCalls
    const { code, stdout, stderr } = await run(bin('deno'), ['run', '--allow-net=127.0.0.1', '--allow-env', 'examples/deno.ts'], direct())
    expect(stderr).not.toMatch(/error/i)
    expect(lastJson(stdout)).toEqual({ runtime: 'deno', mode: 'direct', requests: 20, ok: 20, tokenCalls: 1 })
    expect(server.sandbox.control.stats('oauth2').tokenCalls - before).toBe(1)
    expect(code).toBe(0)
  }, 120_000)

  it('Bun: 20 concurrent requests, 20 ok, 1 token call (counted by the provider too)', async () => {
    const before = server.sandbox.control.stats('oauth2').tokenCalls
    const { code, stdout } = await run(bin('bun'), ['run', 'examples/bun.ts'], direct())
    expect(lastJson(stdout)).toEqual({ runtime: 'bun', mode: 'direct', requests: 20, ok: 20, tokenCalls: 1 })
    expect(server.sandbox.control.stats('oauth2').tokenCalls - before).toBe(1)
    expect(code).toBe(0)
  }, 120_000)
})

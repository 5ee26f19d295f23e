/**
 * `npm start` end to end: the edge Worker under wrangler dev against the sandbox, offline.
 * The printed curl commands are run as printed (`--check`); then the Deno and Bun script
 * examples use the edge dialect against a Worker. Every port here is a free one (0), so the tests
 * run beside a running `npm start` or `npm run sandbox`.
 */
import { execFile } from 'node:child_process'
import { type AddressInfo, createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { root, startEdgeDev } from './edge-dev.ts'

function run(command: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(command, args, { cwd: root, timeout: 120_000, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

/** Holds a free loopback port for the duration of `fn`, as another program would. */
async function holdingAPort<T>(fn: (port: number) => Promise<T>): Promise<T> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    return await fn((server.address() as AddressInfo).port)
  } finally {
    server.close()
  }
}

describe('npm start', () => {
  it('serves tokens and proxied calls from the sandbox through the Worker, and the printed curl commands work as printed', async () => {
    const { code, stdout } = await run(process.execPath, ['scripts/start.ts', '--check'], { EDGE_PORT: '0', SANDBOX_PORT: '0' })
    const checks = stdout.split('\n').filter((l) => /^(ok {2}|FAIL) /.test(l))
    expect(checks).toHaveLength(6)
    expect(checks.filter((l) => l.startsWith('FAIL'))).toEqual([])
    // A caller created at run time (ADMIN_KEY of .dev.vars) gets a token, is deleted, then refused.
    expect(checks.at(-1)).toMatch(/^ok +a caller created at run time .*DELETE 204.*HTTP 401/)
    expect(stdout).toMatch(/"token_type":"Bearer","expires_in":3[0-9]{3}/)
    expect(code).toBe(0)
  }, 120_000)

  it('Deno and Bun scripts get tokens from the Worker (edge dialect): 20 requests each, 1 token call each', async () => {
    const dev = await startEdgeDev()
    try {
      const env = {
        EDGE_URL: dev.edgeUrl,
        EDGE_KEY: 'pa_demo_caller_key_0001',
        EDGE_PROVIDER: 'oauth2',
        PAY_API_URL: `${dev.sandbox.url}/oauth2/api`,
      }
      const deno = await run(`${root}node_modules/.bin/deno`, ['run', '--allow-net=127.0.0.1', '--allow-env', 'examples/deno.ts'], env)
      const bun = await run(`${root}node_modules/.bin/bun`, ['run', 'examples/bun.ts'], env)
      expect(JSON.parse(deno.stdout.trim().split('\n').pop()!)).toEqual({
        runtime: 'deno',
        mode: 'edge',
        requests: 20,
        ok: 20,
        tokenCalls: 1,
      })
      expect(JSON.parse(bun.stdout.trim().split('\n').pop()!)).toEqual({
        runtime: 'bun',
        mode: 'edge',
        requests: 20,
        ok: 20,
        tokenCalls: 1,
      })
      // The Worker is the single authority: both scripts together made one upstream token call.
      expect(dev.sandbox.sandbox.control.stats('oauth2').tokenCalls).toBe(1)
      expect([deno.code, bun.code]).toEqual([0, 0])
    } finally {
      await dev.stop()
    }
  }, 180_000)
  for (const variable of ['SANDBOX_PORT', 'EDGE_PORT']) {
    it(`fails at once, naming the port and ${variable}, when that port is taken`, async () => {
      await holdingAPort(async (port) => {
        const started = Date.now()
        const { code, stdout, stderr } = await run(process.execPath, ['scripts/start.ts'], {
          EDGE_PORT: '0',
          SANDBOX_PORT: '0',
          [variable]: String(port),
        })
        expect(code).toBe(1)
        expect(stderr).toContain(`port ${port}`)
        expect(stderr).toContain(`set ${variable} to another port`)
        expect(stdout).not.toContain('curl')
        expect(Date.now() - started).toBeLessThan(15_000) // no wait for a Worker that cannot start
      })
    }, 30_000)
  }
})

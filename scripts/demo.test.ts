import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('npm start (the demo) runs offline and every request of every dialect succeeds', async () => {
  const demo = fileURLToPath(new URL('./demo.ts', import.meta.url))
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = execFile(process.execPath, [demo], { timeout: 60_000, env: { ...process.env, SANDBOX_PORT: '0' } }, (error, out) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: out }),
    )
    child.stdin?.end()
  })
  expect(stdout).toContain('every request succeeded.')
  for (const dialect of ['stablelink', 'oauth2', 'stonex', 'abbeycross']) expect(stdout).toContain(`${dialect}  (grants:`)
  // Each dialect's table: the cold step makes exactly one token call for 50 concurrent requests.
  expect(stdout.match(/cold cache, concurrent\s+│ 50\s+│ 0\s+│ 1 /g)).toHaveLength(4)
  expect(code).toBe(0)
}, 90_000)

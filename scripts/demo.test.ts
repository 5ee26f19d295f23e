import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

it('npm run demo runs offline and every request of every dialect and preset succeeds', async () => {
  const demo = fileURLToPath(new URL('./demo.ts', import.meta.url))
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = execFile(process.execPath, [demo], { timeout: 60_000, env: { ...process.env, SANDBOX_PORT: '0' } }, (error, out) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: out }),
    )
    child.stdin?.end()
  })
  expect(stdout).toContain('every request succeeded.')
  const dialects = ['stablelink', 'oauth2', 'stonex', 'abbeycross', 'paypal', 'checkout']
  for (const dialect of dialects) expect(stdout).toContain(`${dialect}  (grants:`)
  // Checkout.com: the token comes from one origin and reaches the API on another, by the preset's default origins.
  expect(stdout).toMatch(
    /checkout: token from http:\/\/localhost:\d+\/checkout-access, sent to the API at http:\/\/127\.0\.0\.1:\d+\/checkout-api/,
  )
  expect(stdout).toMatch(/checkout {2}\(grants: [^)]*; sent without a token: 0\)/)
  // Each dialect's table: the cold step makes exactly one token call for 50 concurrent requests.
  expect(stdout.match(/cold cache, concurrent\s+│ 50\s+│ 0\s+│ 1 /g)).toHaveLength(dialects.length)
  expect(code).toBe(0)
}, 90_000)

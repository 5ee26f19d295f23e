/**
 * `npm start`: the sandbox on loopback and a short client run per dialect, printing what
 * happened: one token for many concurrent requests, reuse, refresh ahead of expiry, and
 * recovery from a revoked token. Offline, no configuration.
 */
import ky from 'ky'
import { SANDBOX_CREDENTIALS, type SandboxProvider } from '../apps/sandbox/src/index.ts'
import { startSandboxServer } from '../apps/sandbox/src/serve.ts'
import { abbeycross, oauth2, stablelink, stonex, withPaymentAuth, type PaymentAuthEvent, type Provider } from '../packages/ky/src/index.ts'

const LIFETIME = 4 // seconds: short, so refresh ahead shows within the demo
const server = await startSandboxServer({ port: Number(process.env.SANDBOX_PORT ?? 0) })
const { url, sandbox } = server
const c = SANDBOX_CREDENTIALS

const providers: Record<Exclude<SandboxProvider, 'paypal' | 'checkout'>, Provider> = {
  stablelink: stablelink({ baseUrl: `${url}/stablelink`, ...c.stablelink }),
  oauth2: oauth2({ tokenUrl: `${url}/oauth2/o/token/`, ...c.oauth2, scope: 'read write' }),
  stonex: stonex({ baseUrl: `${url}/stonex`, ...c.stonex }),
  abbeycross: abbeycross({ baseUrl: `${url}/abbeycross`, ...c.abbeycross }),
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

async function run(name: SandboxProvider, provider: Provider) {
  sandbox.control.configure(name, { tokenLifetime: LIFETIME })
  const events: PaymentAuthEvent[] = []
  const api = ky.create({ baseUrl: `${url}/${name}/api/` }).extend(withPaymentAuth({ provider, onEvent: (e) => events.push(e) }))
  const calls = () => sandbox.control.stats(name).tokenCalls
  const steps: Array<{ step: string; requests: number; failed: number; tokenCalls: number }> = []
  async function step(label: string, requests: number, before?: () => Promise<void> | void) {
    await before?.()
    const start = calls()
    const results = await Promise.allSettled(
      Array.from({ length: requests }, (_, i) => api.post('payments', { json: { amount: i + 1, currency: 'EUR' } }).json()),
    )
    steps.push({ step: label, requests, failed: results.filter((r) => r.status === 'rejected').length, tokenCalls: calls() - start })
  }
  await step('cold cache, concurrent', 50)
  await step('warm: reuse', 50)
  await step(`refresh ahead (${LIFETIME / 2} s into a ${LIFETIME} s token)`, 20, () => sleep((LIFETIME / 2) * 1000 + 200))
  await sleep(200) // the background refresh lands
  await step('after the background refresh', 20)
  await step('token revoked at the provider', 30, () => sandbox.control.revoke(name))
  const grants = events.filter((e) => e.type === 'token_acquired').map((e) => (e as { grant: string }).grant)
  return { name, steps, grants, replays: events.filter((e) => e.type === 'replay').length }
}

try {
  console.log(`payment-auth demo: sandbox on ${url} (loopback, offline)\n`)
  const results = await Promise.all(Object.entries(providers).map(([name, p]) => run(name as SandboxProvider, p)))
  for (const r of results) {
    console.log(`${r.name}  (grants: ${r.grants.join(', ')}; 401s replayed: ${r.replays})`)
    console.table(Object.fromEntries(r.steps.map((s) => [s.step, { requests: s.requests, failed: s.failed, 'token calls': s.tokenCalls }])))
  }
  const failed = results.flatMap((r) => r.steps).reduce((n, s) => n + s.failed, 0)
  console.log(failed === 0 ? 'every request succeeded.' : `${failed} requests failed.`)
  process.exitCode = failed === 0 ? 0 : 1
} finally {
  await server.close()
}

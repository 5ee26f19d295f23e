/**
 * `npm run demo`: the sandbox on loopback and a short client run per dialect (and the `paypal()`
 * and `checkout()` presets), printing what happened: one token for many concurrent requests,
 * reuse, refresh ahead of expiry, and recovery from a revoked token. Offline, no configuration.
 *
 * Checkout.com's token endpoint and API are on two origins: the demo reaches the sandbox's
 * `/checkout-access` as `http://localhost:<port>` and its `/checkout-api` as
 * `http://127.0.0.1:<port>`, so the token goes to another origin than the token URL's, by the
 * preset's default `origins` (the API's), with no `origins` option given.
 */
import ky from 'ky'
import { SANDBOX_CREDENTIALS, type SandboxProvider } from '../apps/sandbox/src/index.ts'
import { startSandboxServer } from '../apps/sandbox/src/serve.ts'
import {
  abbeycross,
  checkout,
  oauth2,
  paypal,
  stablelink,
  stonex,
  withPaymentAuth,
  type PaymentAuthEvent,
  type Provider,
} from '../packages/ky/src/index.ts'

const LIFETIME = 4 // seconds: short, so refresh ahead shows within the demo
const server = await startSandboxServer({ port: Number(process.env.SANDBOX_PORT ?? 0) })
const { url, sandbox } = server
const c = SANDBOX_CREDENTIALS

/** The same sandbox under another host name: Checkout.com's token origin, distinct from its API origin (`url`). */
const accessOrigin = url.replace('//127.0.0.1:', '//localhost:')

/** Each provider and where its API is: `base` (ky's baseUrl) and the `path` the demo posts to. */
const providers: Record<SandboxProvider, { provider: Provider; base: string; path: string }> = {
  stablelink: { provider: stablelink({ baseUrl: `${url}/stablelink`, ...c.stablelink }), base: `${url}/stablelink/api/`, path: 'payments' },
  oauth2: {
    provider: oauth2({ tokenUrl: `${url}/oauth2/o/token/`, ...c.oauth2, scope: 'read write' }),
    base: `${url}/oauth2/api/`,
    path: 'payments',
  },
  stonex: { provider: stonex({ baseUrl: `${url}/stonex`, ...c.stonex }), base: `${url}/stonex/api/`, path: 'payments' },
  abbeycross: { provider: abbeycross({ baseUrl: `${url}/abbeycross`, ...c.abbeycross }), base: `${url}/abbeycross/api/`, path: 'payments' },
  // Token and API on one base, as at api-m.sandbox.paypal.com.
  paypal: { provider: paypal({ ...c.paypal, baseUrl: `${url}/paypal` }), base: `${url}/paypal/v2/`, path: 'checkout/orders' },
  // Token at the access origin, API at another: the token goes to the API's origin by default.
  checkout: {
    provider: checkout({ ...c.checkout, scope: 'gateway', baseUrl: `${accessOrigin}/checkout-access`, apiBaseUrl: `${url}/checkout-api` }),
    base: `${url}/checkout-api/`,
    path: 'payments',
  },
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

async function run(name: SandboxProvider, { provider, base, path }: (typeof providers)[SandboxProvider]) {
  sandbox.control.configure(name, { tokenLifetime: LIFETIME })
  const events: PaymentAuthEvent[] = []
  const api = ky.create({ baseUrl: base }).extend(withPaymentAuth({ provider, onEvent: (e) => events.push(e) }))
  const calls = () => sandbox.control.stats(name).tokenCalls
  const steps: Array<{ step: string; requests: number; failed: number; tokenCalls: number }> = []
  async function step(label: string, requests: number, before?: () => Promise<void> | void) {
    await before?.()
    const start = calls()
    const results = await Promise.allSettled(
      Array.from({ length: requests }, (_, i) => api.post(path, { json: { amount: i + 1, currency: 'EUR' } }).json()),
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
  const skipped = events.filter((e) => e.type === 'origin_skipped').length
  return { name, steps, grants, replays: events.filter((e) => e.type === 'replay').length, skipped }
}

try {
  console.log(`payment-auth demo: sandbox on ${url} (loopback, offline)`)
  console.log(
    `checkout: token from ${accessOrigin}/checkout-access, sent to the API at ${url}/checkout-api (the preset's default origins)\n`,
  )
  const results = await Promise.all(Object.entries(providers).map(([name, p]) => run(name as SandboxProvider, p)))
  for (const r of results) {
    console.log(`${r.name}  (grants: ${r.grants.join(', ')}; 401s replayed: ${r.replays}; sent without a token: ${r.skipped})`)
    console.table(Object.fromEntries(r.steps.map((s) => [s.step, { requests: s.requests, failed: s.failed, 'token calls': s.tokenCalls }])))
  }
  const failed = results.flatMap((r) => r.steps).reduce((n, s) => n + s.failed, 0)
  console.log(failed === 0 ? 'every request succeeded.' : `${failed} requests failed.`)
  process.exitCode = failed === 0 ? 0 : 1
} finally {
  await server.close()
}

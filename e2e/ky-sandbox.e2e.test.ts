/**
 * End to end: @payment-auth/ky against the sandbox, in-process. Every count comes from the
 * provider's side (the sandbox's control API), every body from its echo resource.
 */
import ky from 'ky'
import { describe, expect, it } from 'vitest'
import { fakeClock } from '@payment-auth/test-support/clock'
import { createSandbox, SANDBOX_CREDENTIALS, SANDBOX_ORIGIN, type SandboxProvider } from '../apps/sandbox/src/index.ts'
import {
  abbeycross,
  isPaymentAuthError,
  oauth2,
  stablelink,
  stonex,
  withPaymentAuth,
  type PaymentAuthEvent,
  type PaymentAuthOptions,
  type Provider,
} from '../packages/ky/src/index.ts'

const c = SANDBOX_CREDENTIALS
const o = SANDBOX_ORIGIN
/** The sandbox providers @payment-auth/ky ships a dialect for (paypal and checkout join with theirs). */
type Shipped = Exclude<SandboxProvider, 'paypal' | 'checkout'>
const dialects: Record<Shipped, (secret?: string) => Provider> = {
  stablelink: (secret = c.stablelink.apiSecret) =>
    stablelink({ baseUrl: `${o}/stablelink`, apiKey: c.stablelink.apiKey, apiSecret: secret }),
  oauth2: (secret = c.oauth2.clientSecret) =>
    oauth2({ tokenUrl: `${o}/oauth2/o/token/`, clientId: c.oauth2.clientId, clientSecret: secret, scope: 'read write' }),
  stonex: (secret = c.stonex.clientSecret) => stonex({ baseUrl: `${o}/stonex`, clientId: c.stonex.clientId, clientSecret: secret }),
  abbeycross: (secret = c.abbeycross.clientSecret) =>
    abbeycross({ baseUrl: `${o}/abbeycross`, clientId: c.abbeycross.clientId, clientSecret: secret }),
}
const names = Object.keys(dialects) as Shipped[]

interface Echo {
  method: string
  body: string
  client: string
  query: Record<string, string>
}

function setup(name: Shipped, options: Partial<PaymentAuthOptions> & { secret?: string } = {}) {
  const clock = fakeClock()
  const sandbox = createSandbox({ now: clock.now })
  const events: PaymentAuthEvent[] = []
  const { secret, ...rest } = options
  const api = ky.create({ baseUrl: `${o}/${name}/api/`, fetch: sandbox.fetch, retry: 0 }).extend(
    withPaymentAuth({
      provider: dialects[name](secret),
      fetch: sandbox.fetch,
      now: clock.now,
      backoff: { delay: 1, maxDelay: 50 },
      onEvent: (e) => events.push(e),
      ...rest,
    }),
  )
  const stats = () => sandbox.control.stats(name)
  return { api, sandbox, clock, events, stats }
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.each(names)('%s against the sandbox', (name) => {
  it('1,000 concurrent requests on a cold cache make exactly 1 token call', async () => {
    const { api, sandbox, stats } = setup(name)
    sandbox.control.configure(name, { tokenLatencyMs: 20 })
    const echoes = await Promise.all(Array.from({ length: 1000 }, (_, i) => api.get(`items/${i}`).json<Echo>()))
    expect(echoes.every((e) => e.method === 'GET')).toBe(true)
    expect(stats().tokenCalls).toBe(1)
    expect(stats().resource401s).toBe(0)
  })

  it('a revocation storm: 50 GET and POST requests with 401s over ~200 ms make 1 token call, 0 failures, bodies intact', async () => {
    const { api, sandbox, stats } = setup(name)
    sandbox.control.configure(name, { tokenLatencyMs: 30 })
    await api.get('warm').json()
    sandbox.control.revoke(name)
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, async (_, i) => {
        await tick(i * 4)
        return i % 2
          ? api.post('payments', { json: { amount: i, note: `p-${i}` } }).json<Echo>()
          : api.get(`items/${i}`, { searchParams: { i } }).json<Echo>()
      }),
    )
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    results.forEach((r, i) => {
      const echo = (r as PromiseFulfilledResult<Echo>).value
      if (i % 2) expect(JSON.parse(echo.body)).toEqual({ amount: i, note: `p-${i}` })
      else expect(echo.query).toEqual({ i: String(i) })
    })
    expect(stats().tokenCalls).toBe(2)
    expect(stats().resource401s).toBeGreaterThan(0)
  })

  it('refreshes ahead of expiry: the resource never sees an expired token', async () => {
    const { api, sandbox, clock, stats } = setup(name, { refreshAhead: 30 })
    sandbox.control.configure(name, { tokenLifetime: 60 })
    for (let second = 0; second < 300; second += 5) {
      clock.t += 5_000
      await api.get('tick').json()
      await tick(0)
    }
    expect(stats().resource401s).toBe(0)
    expect(stats().tokenCalls).toBeGreaterThanOrEqual(5)
    expect(stats().tokenCalls).toBeLessThanOrEqual(12)
  })

  it('100 requests with a bad secret fail with invalid_client and make at most 10 token calls', async () => {
    const { api, stats, clock } = setup(name, { secret: 'wrong-secret-value' })
    const errors: unknown[] = []
    for (let i = 0; i < 100; i++) {
      clock.t += 50
      errors.push(await api.get('x').catch((e: unknown) => e))
    }
    expect(errors.every((e) => isPaymentAuthError(e) && e.code === 'invalid_client')).toBe(true)
    expect(stats().tokenCalls).toBeLessThanOrEqual(10)
    expect(stats().resourceCalls).toBe(0)
  })

  it.each(['500', '502', '409', '429', 'network'] as const)(
    'a transient %s twice, then service: the request succeeds after 3 token calls',
    async (fault) => {
      const { api, sandbox, stats, events } = setup(name)
      sandbox.control.inject(name, { fault, count: 2 })
      expect((await api.get('x').json<Echo>()).method).toBe('GET')
      expect(stats().tokenCalls).toBe(3)
      expect(events.filter((e) => e.type === 'token_error').length).toBe(2)
    },
  )

  it.each([
    ['500', 'provider_unavailable'],
    ['409', 'conflict'],
    ['network', 'network'],
  ] as const)('a transient %s that persists surfaces as %s after bounded retries', async (fault, code) => {
    const { api, sandbox, stats } = setup(name)
    sandbox.control.inject(name, { fault, count: 10 })
    await expect(api.get('x')).rejects.toMatchObject({ code, retryable: true })
    expect(stats().tokenCalls).toBe(3)
  })

  it('503 with Retry-After: 1 is honoured and the request succeeds', async () => {
    const { api, sandbox, stats } = setup(name, { backoff: { maxDelay: 2000 } })
    sandbox.control.inject(name, { fault: '503', count: 1, retryAfter: 1 })
    const started = Date.now()
    await api.get('x').json()
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(stats().tokenCalls).toBe(2)
  })

  it.each(['malformed', 'html', 'truncated'] as const)('a %s answer is invalid_response, not retried and never cached', async (fault) => {
    const { api, sandbox, stats } = setup(name)
    sandbox.control.inject(name, { fault, count: 1 })
    await expect(api.get('x')).rejects.toMatchObject({ code: 'invalid_response', retryable: false })
    expect(stats().tokenCalls).toBe(1)
    expect(stats().resourceCalls).toBe(0)
  })

  it('a slow token endpoint past the timeout is a timeout error', async () => {
    const { api, sandbox } = setup(name, { timeout: 50, backoff: { limit: 0 } })
    sandbox.control.inject(name, { fault: 'slow', count: 1, delayMs: 500 })
    await expect(api.get('x')).rejects.toMatchObject({ code: 'timeout', retryable: true })
  })

  it('expires_in as a string is accepted', async () => {
    const { api, sandbox, stats } = setup(name)
    sandbox.control.configure(name, { expiresInAsString: true })
    await api.get('a').json()
    await api.get('b').json()
    expect(stats().tokenCalls).toBe(1)
  })
})

describe('dialect specifics', () => {
  it('stablelink: a 200 envelope error is never cached and is retried as transient (retcode 500)', async () => {
    const { api, sandbox, stats } = setup('stablelink')
    sandbox.control.inject('stablelink', { fault: 'envelope_error', count: 1 })
    await api.get('x').json()
    expect(stats().tokenCalls).toBe(2)
  })

  it('stablelink: the refresh grant is used in the soft window and the one-live-token rule costs no failure', async () => {
    const { api, sandbox, clock, stats } = setup('stablelink', { refreshAhead: 60 })
    sandbox.control.configure('stablelink', { tokenLifetime: 600, tokenLatencyMs: 10 })
    await api.get('a').json()
    clock.t += 550_000 // soft window
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => api.get('b').json()))
    await tick(30)
    await Promise.all(Array.from({ length: 20 }, () => api.get('c').json()))
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    expect(stats().byGrant).toMatchObject({ client_credentials: 1, refresh_token: 1 })
    expect(sandbox.control.liveTokens('stablelink')).toHaveLength(1)
  })

  it('stablelink: a rejected refresh grant falls back to client credentials', async () => {
    const { api, sandbox, clock, stats, events } = setup('stablelink', { refreshAhead: 60 })
    sandbox.control.configure('stablelink', { tokenLifetime: 600 })
    await api.get('a').json()
    sandbox.control.reset() // forgets every token, refresh tokens included
    sandbox.control.configure('stablelink', { tokenLifetime: 600 })
    clock.t += 595_000 // hard window: callers wait for the new token
    await api.get('b').json()
    expect(stats().byGrant).toMatchObject({ refresh_token: 1, client_credentials: 1 })
    expect(events.some((e) => e.type === 'refresh_failed')).toBe(true)
  })

  it('abbeycross: 503 outside working hours surfaces at once as provider_unavailable with retryAfter', async () => {
    const { api, sandbox, stats } = setup('abbeycross')
    sandbox.control.inject('abbeycross', { fault: 'non_working_hours', count: 1, retryAfter: 3600 })
    await expect(api.get('x')).rejects.toMatchObject({ code: 'provider_unavailable', retryable: true, retryAfter: 3600, status: 503 })
    expect(stats().tokenCalls).toBe(1)
  })

  it('abbeycross: snake_case answers work as well as camelCase', async () => {
    const { api, sandbox } = setup('abbeycross')
    sandbox.control.configure('abbeycross', { casing: 'snake' })
    expect((await api.get('x').json<Echo>()).client).toBe(c.abbeycross.clientId)
  })

  it('stonex: without expires_in the JWT exp drives refresh ahead', async () => {
    const { api, sandbox, clock, stats } = setup('stonex', { refreshAhead: 30 })
    sandbox.control.configure('stonex', { tokenLifetime: 120, omitExpiresIn: true })
    await api.get('a').json()
    clock.t += 60_000
    await api.get('b').json()
    expect(stats().tokenCalls).toBe(1)
    clock.t += 55_000 // 5 s left: hard window
    await api.get('c').json()
    expect(stats().tokenCalls).toBe(2)
    expect(stats().resource401s).toBe(0)
  })

  it('oauth2: client_secret_post authenticates as well as Basic', async () => {
    const sandbox = createSandbox()
    const api = ky.create({ fetch: sandbox.fetch }).extend(
      withPaymentAuth({
        provider: oauth2({ tokenUrl: `${o}/oauth2/o/token/`, ...c.oauth2, authMethod: 'client_secret_post', scope: 'read' }),
        fetch: sandbox.fetch,
      }),
    )
    const echo = await api.get(`${o}/oauth2/api/payments/`).json<Echo & { scope: string }>()
    expect(echo.scope).toBe('read')
  })
})

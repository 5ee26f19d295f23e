/**
 * The fault matrix: every token-endpoint fault x every store condition x (cold cache | a
 * still-valid token), against the sandbox. Each cell checks three things:
 *  1. the caller gets a success or a PaymentAuthError with the right code;
 *  2. no request is lost that a token could have saved (a one-off transient fault is absorbed
 *     by the backoff; a still-valid token keeps being served through transient faults);
 *  3. token calls stay bounded (at most 3 per acquisition: 1 + 2 retries, plus one refresh-grant
 *     attempt where the dialect has one).
 * Then the clock jumping by hours, a token revoked mid-flight and a rejected refresh token.
 */
import ky from 'ky'
import { describe, expect, it } from 'vitest'
import { fakeClock } from '@payment-auth/test-support/clock'
import {
  createSandbox,
  SANDBOX_CREDENTIALS as C,
  SANDBOX_ORIGIN as O,
  type Fault,
  type SandboxProvider,
} from '../apps/sandbox/src/index.ts'
import {
  isPaymentAuthError,
  memoryStore,
  oauth2,
  stablelink,
  withPaymentAuth,
  type PaymentAuthErrorCode,
  type PaymentAuthEvent,
  type Provider,
  type TokenStore,
} from '../packages/ky/src/index.ts'

type StoreCondition = 'healthy' | 'throwing' | 'hanging'
/** Each store condition, built on the test's clock. */
const stores: Record<StoreCondition, (now: () => number) => TokenStore> = {
  healthy: (now) => memoryStore({ now }),
  // IndexedDB over quota / blocked, a KV outage: every operation throws.
  throwing: () => ({
    get: () => Promise.reject(new DOMException('The operation failed', 'QuotaExceededError')),
    set: () => {
      throw new Error('KV PUT failed: 500')
    },
    delete: () => Promise.reject(new Error('blocked')),
  }),
  // A blocked IndexedDB upgrade: every operation hangs.
  hanging: () => ({ get: () => new Promise(() => {}), set: () => new Promise(() => {}), delete: () => new Promise(() => {}) }),
}

interface FaultCase {
  fault: Fault
  retryAfter?: number
  /** The code when the fault persists. */
  code: PaymentAuthErrorCode
  transient: boolean
  provider?: SandboxProvider
}
const faults: FaultCase[] = [
  { fault: '500', code: 'provider_unavailable', transient: true },
  { fault: '502', code: 'provider_unavailable', transient: true },
  { fault: '503', code: 'provider_unavailable', transient: true },
  { fault: '503', retryAfter: 0, code: 'provider_unavailable', transient: true },
  { fault: '409', code: 'conflict', transient: true },
  { fault: '429', code: 'rate_limited', transient: true },
  { fault: 'slow', code: 'timeout', transient: true },
  { fault: 'network', code: 'network', transient: true },
  { fault: 'truncated', code: 'invalid_response', transient: false },
  { fault: 'html', code: 'invalid_response', transient: false },
  { fault: 'malformed', code: 'invalid_response', transient: false },
  { fault: 'envelope_error', code: 'invalid_response', transient: false },
  { fault: 'envelope_error', code: 'provider_unavailable', transient: true, provider: 'stablelink' },
]

const dialects: Partial<Record<SandboxProvider, () => Provider>> = {
  oauth2: () => oauth2({ tokenUrl: `${O}/oauth2/o/token/`, ...C.oauth2 }),
  stablelink: () => stablelink({ baseUrl: `${O}/stablelink`, ...C.stablelink }),
}

function setup(name: SandboxProvider, makeStore: (now: () => number) => TokenStore) {
  const clock = fakeClock()
  const store = makeStore(clock.now)
  const sandbox = createSandbox({ now: clock.now })
  const events: PaymentAuthEvent[] = []
  const api = ky.create({ baseUrl: `${O}/${name}/api/`, fetch: sandbox.fetch, retry: 0 }).extend(
    withPaymentAuth({
      provider: dialects[name]!(),
      fetch: sandbox.fetch,
      store,
      now: clock.now,
      timeout: 100,
      storeTimeout: 20,
      refreshAhead: 60,
      backoff: { limit: 2, delay: 1, maxDelay: 20 },
      onEvent: (e) => events.push(e),
    }),
  )
  return { api, sandbox, clock, events, calls: () => sandbox.control.stats(name).tokenCalls }
}

/** 'ok' when a GET to the API succeeds, else what it threw. */
const outcomeOf = (api: { get(url: string): { json(): Promise<unknown> } }): Promise<unknown> =>
  api
    .get('x')
    .json()
    .then(
      () => 'ok',
      (e: unknown) => e,
    )

const label = (f: FaultCase) => `${f.provider ?? 'oauth2'} ${f.fault}${f.retryAfter !== undefined ? ` (Retry-After ${f.retryAfter})` : ''}`

describe.each(Object.keys(stores) as StoreCondition[])('store %s', (condition) => {
  describe.each(faults.map((f) => [label(f), f] as const))('%s', (_, f) => {
    const name = f.provider ?? 'oauth2'
    /** A transient fault is absorbed ('ok'); a fatal one surfaces as a PaymentAuthError with its code. */
    const expectOutcome = (outcome: unknown) => {
      if (f.transient) expect(outcome).toBe('ok')
      else expect(isPaymentAuthError(outcome) && outcome.code).toBe(f.code)
    }
    const inject = (sandbox: ReturnType<typeof createSandbox>, count: number) =>
      sandbox.control.inject(name, {
        fault: f.fault,
        count,
        ...(f.retryAfter !== undefined ? { retryAfter: f.retryAfter } : {}),
        ...(f.fault === 'slow' ? { delayMs: 300 } : {}),
      })

    it('cold, fault once: a transient fault is absorbed, a fatal one surfaces with its code; calls bounded', async () => {
      const { api, sandbox, calls } = setup(name, stores[condition])
      inject(sandbox, 1)
      expectOutcome(await outcomeOf(api))
      expect(calls()).toBeLessThanOrEqual(f.transient ? 2 : 1)
    })

    it('cold, fault persists: the caller gets a PaymentAuthError with the right code after at most 3 token calls', async () => {
      const { api, sandbox, calls } = setup(name, stores[condition])
      inject(sandbox, 50)
      const outcome = await api.get('x').catch((e: unknown) => e)
      expect(isPaymentAuthError(outcome) && outcome.code).toBe(f.code)
      expect(calls()).toBeLessThanOrEqual(f.transient ? 3 : 1)
    })

    it('a still-valid token in the hard window: transient faults keep it served, fatal ones surface', async () => {
      const { api, sandbox, clock, calls } = setup(name, stores[condition])
      sandbox.control.configure(name, { tokenLifetime: 120 })
      await api.get('warm').json()
      clock.t += 115_000 // 5 s left: hard window, still valid
      inject(sandbox, 50)
      expectOutcome(await outcomeOf(api))
      // At most one refresh-grant attempt (stablelink), then 1 + 2 retries of client credentials.
      const refresh = name === 'stablelink' ? 1 : 0
      expect(calls() - 1).toBeLessThanOrEqual(refresh + (f.transient ? 3 : 1))
    })
  })
})

describe('clock, revocation and refresh faults', () => {
  it('the clock jumping forward by hours: the expired token is replaced, the request succeeds', async () => {
    const { api, clock, calls } = setup('oauth2', stores.healthy)
    await api.get('a').json()
    clock.t += 5 * 3600_000
    await api.get('b').json()
    expect(calls()).toBe(2)
  })

  it('the clock jumping backward by hours: the future-stamped token is discarded, the request succeeds', async () => {
    const { api, clock, calls, events } = setup('oauth2', stores.healthy)
    await api.get('a').json()
    clock.t -= 5 * 3600_000
    await api.get('b').json()
    expect(calls()).toBe(2)
    expect(events.some((e) => e.type === 'token_discarded')).toBe(true)
  })

  it('a token revoked while 20 requests are in flight: 0 lost, 1 new token call', async () => {
    const { api, sandbox, calls } = setup('oauth2', stores.healthy)
    sandbox.control.configure('oauth2', { tokenLatencyMs: 20 })
    await api.get('warm').json()
    const inFlight = Array.from({ length: 20 }, (_, i) => api.post('pay', { json: { i } }).json<{ body: string }>())
    sandbox.control.revoke('oauth2')
    const results = await Promise.all(inFlight)
    results.forEach((r, i) => expect(JSON.parse(r.body)).toEqual({ i }))
    expect(calls()).toBeLessThanOrEqual(2)
  })

  it('a rejected refresh token (stablelink): falls back to client credentials, nothing lost', async () => {
    const { api, sandbox, clock } = setup('stablelink', stores.healthy)
    sandbox.control.configure('stablelink', { tokenLifetime: 600 })
    await api.get('a').json()
    sandbox.control.reset()
    sandbox.control.configure('stablelink', { tokenLifetime: 600 })
    clock.t += 595_000
    await api.get('b').json()
    expect(sandbox.control.stats('stablelink').byGrant).toMatchObject({ refresh_token: 1, client_credentials: 1 })
  })

  it('a store that throws on every operation still single-flights 100 cold requests into 1 token call', async () => {
    const { api, sandbox, calls, events } = setup('oauth2', stores.throwing)
    sandbox.control.configure('oauth2', { tokenLatencyMs: 10 })
    await Promise.all(Array.from({ length: 100 }, () => api.get('x').json()))
    expect(calls()).toBe(1)
    expect(events.some((e) => e.type === 'store_error')).toBe(true)
  })
})

import { describe, expect, it } from 'vitest'
import { isPaymentAuthError, PaymentAuthError } from './errors.ts'
import type { PaymentAuthEvent } from './events.ts'
import { createTokenManager, type TokenManagerOptions } from './manager.ts'
import { memoryStore, type TokenRecord, type TokenStore } from './store.ts'
import { type FakeClock, fakeClock, issue, json, testProvider, tick, tokenEndpoint } from '@payment-auth/test-support/provider'

const fast = { limit: 2, delay: 1, maxDelay: 50 }

/** A manager on a fake clock; pass `clock` to share one clock (and its store) between managers. */
function setup(
  answers: Parameters<typeof tokenEndpoint>[0],
  options: Partial<TokenManagerOptions> & { clock?: FakeClock } = {},
  latencyMs = 0,
) {
  const { clock = fakeClock(), ...managerOptions } = options
  const endpoint = tokenEndpoint(answers, latencyMs)
  const events: PaymentAuthEvent[] = []
  const tokens = createTokenManager({
    provider: testProvider(),
    fetch: endpoint.fetch,
    now: clock.now,
    backoff: fast,
    onEvent: (e) => events.push(e),
    ...managerOptions,
  })
  return { clock, endpoint, tokens, events }
}

describe('single-flight', () => {
  it('1,000 concurrent callers on a cold cache make exactly 1 token call', async () => {
    const { endpoint, tokens } = setup([issue()], {}, 20)
    const got = await Promise.all(Array.from({ length: 1000 }, () => tokens.getToken()))
    expect(endpoint.calls).toBe(1)
    expect(new Set(got)).toEqual(new Set(['tok-1']))
  })

  it('a warm token is reused without a token call', async () => {
    const { endpoint, tokens, clock } = setup([issue()])
    await tokens.getToken()
    clock.advance(60_000)
    for (let i = 0; i < 100; i++) expect(await tokens.getToken()).toBe('tok-1')
    expect(tokens.peek()).toBe('tok-1')
    expect(endpoint.calls).toBe(1)
  })

  it('forceRefresh joins the flight in progress instead of starting a second one', async () => {
    const { endpoint, tokens } = setup([issue()], {}, 20)
    const [a, b] = await Promise.all([tokens.getToken(), tokens.getToken({ forceRefresh: true })])
    expect(a).toBe(b)
    expect(endpoint.calls).toBe(1)
  })
})

describe('waitUntil (runtimes where work dies with the request that started it)', () => {
  /** A `waitUntil` that records what it was handed and whether each has settled. */
  function keeper() {
    const handed: { settled: boolean }[] = []
    const waitUntil = (work: Promise<unknown>) => {
      const entry = { settled: false }
      handed.push(entry)
      void work.then(() => (entry.settled = true))
    }
    return { handed, waitUntil }
  }

  it('50 concurrent cold callers hand it exactly 1 acquisition, which settles when the token arrives', async () => {
    const { handed, waitUntil } = keeper()
    const { endpoint, tokens } = setup([issue()], { waitUntil }, 20)
    const pending = Promise.all(Array.from({ length: 50 }, () => tokens.getToken()))
    expect(handed.length).toBe(1)
    expect(handed[0]!.settled).toBe(false)
    expect(new Set(await pending)).toEqual(new Set(['tok-1']))
    await tick(0)
    expect(handed[0]!.settled).toBe(true)
    expect(endpoint.calls).toBe(1)
  })

  it('a warm token hands it nothing; a background refresh in the soft window is handed to it once', async () => {
    const { handed, waitUntil } = keeper()
    const { endpoint, tokens, clock } = setup([issue(3600)], { waitUntil, refreshAhead: 120 }, 10)
    await tokens.getToken()
    for (let i = 0; i < 100; i++) await tokens.getToken()
    expect(handed.length).toBe(1)
    clock.advance((3600 - 100) * 1000) // soft window: served at once, refreshed in the background
    const served = await Promise.all(Array.from({ length: 20 }, () => tokens.getToken()))
    expect(new Set(served)).toEqual(new Set(['tok-1']))
    expect(handed.length).toBe(2)
    await tick(30)
    expect(handed[1]!.settled).toBe(true)
    expect(endpoint.calls).toBe(2)
  })

  it('a failed acquisition is handed to it settled, never as an unhandled rejection', async () => {
    const { handed, waitUntil } = keeper()
    const { tokens } = setup([() => json({ error: 'invalid_client' }, 401)], { waitUntil })
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_client' })
    await tick(0)
    expect(handed).toEqual([{ settled: true }])
  })

  it('a waitUntil that throws (no request to extend) does not break the acquisition: 1 token call, every caller served', async () => {
    const waitUntil = () => {
      throw new Error('waitUntil() called outside a request')
    }
    const { endpoint, tokens } = setup([issue()], { waitUntil }, 10)
    expect(new Set(await Promise.all(Array.from({ length: 5 }, () => tokens.getToken())))).toEqual(new Set(['tok-1']))
    expect(endpoint.calls).toBe(1)
  })

  it('must be a function: anything else is invalid_config from createTokenManager', () => {
    expect(() => createTokenManager({ provider: testProvider(), waitUntil: 'later' as never })).toThrow(
      expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('waitUntil') }),
    )
  })
})

describe('refresh ahead', () => {
  it('inside the soft window the current token is served while exactly one background refresh runs', async () => {
    const { endpoint, tokens, clock } = setup([issue(3600)], { refreshAhead: 120 }, 10)
    await tokens.getToken()
    clock.advance((3600 - 100) * 1000) // 100 s left: soft (120 s), not hard (60 s)
    const served = await Promise.all(Array.from({ length: 20 }, () => tokens.getToken()))
    expect(served.every((t) => t === 'tok-1')).toBe(true)
    await tick(30)
    expect(endpoint.calls).toBe(2)
    expect(await tokens.getToken()).toBe('tok-2')
  })

  it('inside the hard window callers wait for the new token', async () => {
    const { endpoint, tokens, clock } = setup([issue(3600)], { refreshAhead: 120 })
    await tokens.getToken()
    clock.advance((3600 - 5) * 1000) // 5 s left: inside the hard window (half the soft one, at most 10 s)
    expect(await tokens.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
  })

  it('the margin never exceeds half the lifetime: a 10 s token is fresh for its first 5 s', async () => {
    const { endpoint, tokens, clock } = setup([issue(10)], { refreshAhead: 300 })
    await tokens.getToken()
    clock.advance(4_900)
    expect(tokens.peek()).toBe('tok-1')
    await tokens.getToken()
    expect(endpoint.calls).toBe(1)
    clock.advance(200) // 5.1 s: soft window now
    expect(tokens.peek()).toBeUndefined()
  })

  it('an expired token is never served', async () => {
    const { endpoint, tokens, clock } = setup([issue(60)])
    await tokens.getToken()
    clock.advance(61_000)
    expect(await tokens.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
  })

  it('a token stamped in the future (clock turned back) is discarded', async () => {
    const { endpoint, tokens, clock, events } = setup([issue(3600)])
    await tokens.getToken()
    clock.advance(-2 * 3600_000)
    expect(await tokens.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
    expect(events.some((e) => e.type === 'token_discarded' && e.reason === 'future')).toBe(true)
  })

  it('a JWT exp (minus iat) sets the lifetime when the answer has no expires_in', async () => {
    const payload = btoa(JSON.stringify({ iat: 1000, exp: 1000 + 120 })).replace(/=+$/, '')
    const jwt = `eyJhbGciOiJIUzI1NiJ9.${payload}.sig`
    const { tokens, clock, endpoint } = setup([() => json({ access_token: jwt, token_type: 'Bearer' })], { refreshAhead: 10 })
    await tokens.getToken()
    clock.advance(100_000)
    expect(tokens.peek()).toBe(jwt) // 20 s left, soft window is 10 s
    clock.advance(15_000)
    expect(tokens.peek()).toBeUndefined()
    expect(endpoint.calls).toBe(1)
  })
})

describe('refresh grant', () => {
  const refreshable = (answers: Parameters<typeof tokenEndpoint>[0]) => setup(answers, { provider: testProvider(true), refreshAhead: 60 })
  /** A refreshable manager that got its first token, `ms` ago. */
  async function later(answers: Parameters<typeof tokenEndpoint>[0], ms: number) {
    const manager = refreshable(answers)
    await manager.tokens.getToken()
    manager.clock.advance(ms)
    return manager
  }

  it('uses the refresh grant while the refresh token lives', async () => {
    const { endpoint, tokens } = await later([issue(600, { refresh_token: 'rt-1', rt_expires_in: 1200 })], 590_000)
    await tokens.getToken()
    expect(endpoint.grants).toEqual(['client_credentials', 'refresh_token'])
    expect(await endpoint.requests[1]!.json()).toMatchObject({ refresh: 'rt-1' })
  })

  it('falls back to client credentials when the refresh grant fails', async () => {
    const { endpoint, tokens, events } = await later(
      [issue(600, { refresh_token: 'rt-1', rt_expires_in: 1200 }), () => json({ error: 'invalid_grant' }, 400), issue(600)],
      590_000,
    )
    expect(await tokens.getToken()).toBe('tok-3')
    expect(endpoint.grants).toEqual(['client_credentials', 'refresh_token', 'client_credentials'])
    expect(events.some((e) => e.type === 'refresh_failed' && e.code === 'invalid_request')).toBe(true)
  })

  it('does not use an expired refresh token', async () => {
    const { endpoint, tokens } = await later([issue(600, { refresh_token: 'rt-1', rt_expires_in: 700 })], 800_000)
    await tokens.getToken()
    expect(endpoint.grants).toEqual(['client_credentials', 'client_credentials'])
  })
})

describe('compare-and-invalidate', () => {
  it('invalidating the current token makes the next caller fetch a new one', async () => {
    const { endpoint, tokens } = setup([issue()])
    await tokens.getToken()
    await tokens.invalidate('tok-1')
    expect(await tokens.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
  })

  it('invalidating a stale token keeps the newer one and makes no token call', async () => {
    const { endpoint, tokens } = setup([issue()])
    await tokens.getToken()
    await tokens.invalidate('tok-1')
    await tokens.getToken()
    await tokens.invalidate('tok-1')
    expect(await tokens.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
  })

  it('a rejected token is never adopted again from the store', async () => {
    const clock = fakeClock()
    const store = memoryStore({ now: clock.now })
    const a = setup([issue()], { store, clock })
    await a.tokens.getToken()
    const b = setup([(n) => json({ access_token: `b-${n + 1}`, expires_in: 3600 })], { store, clock })
    await b.tokens.invalidate('tok-1')
    expect(await b.tokens.getToken()).toBe('b-1')
  })
})

describe('transient and fatal errors', () => {
  it('a 503 then success: backoff and one caller success, 2 token calls', async () => {
    const { endpoint, tokens } = setup([() => json({}, 503), issue()])
    expect(await tokens.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
  })

  it('Retry-After is honoured within maxDelay', async () => {
    const { endpoint, tokens } = setup([() => json({}, 429, { 'retry-after': '0' }), issue()])
    expect(await tokens.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
  })

  it('a Retry-After beyond maxDelay surfaces at once as provider_unavailable with retryAfter', async () => {
    const { endpoint, tokens } = setup([() => json({ code: 'non_working_hours' }, 503, { 'retry-after': '3600' })])
    const error = await tokens.getToken().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PaymentAuthError)
    expect(error).toMatchObject({ code: 'provider_unavailable', retryable: true, retryAfter: 3600, status: 503 })
    expect(endpoint.calls).toBe(1)
  })

  it('retries are bounded: a provider that keeps answering 500 gets limit + 1 calls per acquisition', async () => {
    const { endpoint, tokens } = setup([() => json({}, 500)])
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'provider_unavailable' })
    expect(endpoint.calls).toBe(3)
  })

  it('invalid_client is fatal: no retry, the error surfaces at once and the cached token is dropped', async () => {
    const { endpoint, tokens, clock } = setup([issue(100), () => json({ error: 'invalid_client' }, 401)])
    await tokens.getToken()
    clock.advance(95_000) // hard window
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_client', retryable: false })
    expect(endpoint.calls).toBe(2)
    expect(tokens.peek()).toBeUndefined()
  })

  it('a token dropped by a fatal failure stays dropped: after the breaker the next caller gets a new one (no store given)', async () => {
    const { endpoint, tokens, clock } = setup([issue(), () => json({ error: 'invalid_client' }, 401), issue()])
    expect(await tokens.getToken()).toBe('tok-1')
    await expect(tokens.getToken({ forceRefresh: true })).rejects.toMatchObject({ code: 'invalid_client' })
    clock.advance(1_000) // the breaker's first interval
    expect(await tokens.getToken()).toBe('tok-3')
    expect(endpoint.calls).toBe(3)
  })

  it('a still-valid token keeps being served through transient failures', async () => {
    const { endpoint, tokens, clock } = setup([issue(100), () => json({}, 502)])
    await tokens.getToken()
    clock.advance(97_000) // hard window, still valid for 3 s
    expect(await tokens.getToken()).toBe('tok-1')
    expect(endpoint.calls).toBe(4)
  })

  it('the storm breaker: 100 requests with a bad secret make at most 10 token calls', async () => {
    const { endpoint, tokens, clock } = setup([() => json({ error: 'invalid_client' }, 401)])
    const results: unknown[] = []
    for (let i = 0; i < 100; i++) {
      clock.advance(100)
      results.push(await tokens.getToken().catch((e: unknown) => e))
    }
    expect(results.every((e) => isPaymentAuthError(e) && e.code === 'invalid_client')).toBe(true)
    expect(endpoint.calls).toBeLessThanOrEqual(10)
    expect(endpoint.calls).toBeGreaterThanOrEqual(2) // the breaker re-opens to probe, with growing pauses
  })

  it('a clock turned back does not freeze the breaker', async () => {
    const { endpoint, tokens, clock } = setup([() => json({ error: 'invalid_client' }, 401), issue()])
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_client' })
    clock.advance(-3 * 3600_000)
    expect(await tokens.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
  })

  it('clear() closes the breaker and forgets the token', async () => {
    const { endpoint, tokens } = setup([() => json({ error: 'invalid_client' }, 401), issue()])
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_client' })
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_client' })
    expect(endpoint.calls).toBe(1)
    await tokens.clear()
    expect(await tokens.getToken()).toBe('tok-2')
  })

  it('a network failure is a retryable network error', async () => {
    const { endpoint, tokens } = setup([
      () => {
        throw new TypeError('fetch failed')
      },
    ])
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'network', retryable: true })
    expect(endpoint.calls).toBe(3)
  })

  it('a token call slower than timeout fails with timeout', async () => {
    const { tokens } = setup([issue()], { timeout: 20, backoff: { limit: 0 } }, 200)
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'timeout', retryable: true })
  })

  it.each([
    ['no access_token', { token_type: 'bearer', expires_in: 60 }],
    ['a non-string access_token', { access_token: 42, expires_in: 60 }],
    ['an empty access_token', { access_token: '', expires_in: 60 }],
    ['a non-numeric expires_in', { access_token: 'x', expires_in: 'abc' }],
    ['an expires_in that only reads as a number when stringified', { access_token: 'x', expires_in: ['600'] }],
    ['a non-string refresh_token', { access_token: 'x', expires_in: 60, refresh_token: 7 }],
    ['a zero lifetime', { access_token: 'x', expires_in: 0 }],
    ['a JSON array', [1, 2]],
  ])('an answer with %s is invalid_response and nothing is cached', async (_, body) => {
    const { tokens, endpoint } = setup([() => json(body), issue()])
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_response', retryable: false })
    expect(tokens.peek()).toBeUndefined()
    expect(endpoint.calls).toBe(1)
  })

  it('expires_in as a string is accepted', async () => {
    const { tokens, clock } = setup([() => json({ access_token: 'x', expires_in: '600' })], { refreshAhead: 60 })
    await tokens.getToken()
    clock.advance(530_000)
    expect(tokens.peek()).toBe('x')
  })

  it('an answer over 64 KiB is not read to the end and is invalid_response', async () => {
    const { tokens } = setup([() => json({ access_token: 'x', pad: 'y'.repeat(100_000) })])
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_response' })
  })
})

describe('stores', () => {
  it('a token stored by another manager is adopted without a token call', async () => {
    const clock = fakeClock()
    const store = memoryStore({ now: clock.now })
    const a = setup([issue()], { store, clock })
    const b = setup([issue()], { store, clock })
    await a.tokens.getToken()
    expect(await b.tokens.getToken()).toBe('tok-1')
    expect(b.endpoint.calls).toBe(0)
    expect(b.events.some((e) => e.type === 'token_adopted')).toBe(true)
  })

  it('a corrupt or foreign stored value reads as absent', async () => {
    for (const value of [
      null,
      'garbage',
      { v: 2, accessToken: 'old' },
      { v: 1, accessToken: 7 },
      { v: 1, accessToken: 'x', receivedAt: 'now', expiresAt: 1 },
    ]) {
      const store: TokenStore = { get: () => value, set: () => {}, delete: () => {} }
      const { tokens } = setup([issue()], { store })
      expect(await tokens.getToken()).toBe('tok-1')
    }
  })

  it('a store that throws or hangs does not stop the token work', async () => {
    const broken: TokenStore = {
      get: () => new Promise(() => {}),
      set: () => {
        throw new Error('QuotaExceededError')
      },
      delete: () => Promise.reject(new Error('blocked')),
    }
    const { tokens, events } = setup([issue()], { store: broken, storeTimeout: 50 })
    expect(await tokens.getToken()).toBe('tok-1')
    await tokens.invalidate('tok-1')
    const ops = events.filter((e) => e.type === 'store_error').map((e) => (e as { operation: string }).operation)
    expect(ops).toEqual(expect.arrayContaining(['get', 'set']))
  }, 10_000)

  it('the warm path reads the store 0 times over 1,000 requests', async () => {
    let reads = 0
    const clock = fakeClock()
    const inner = memoryStore({ now: clock.now })
    const store: TokenStore = { ...inner, get: (k) => (reads++, inner.get(k)) }
    const { tokens } = setup([issue()], { store, clock })
    await tokens.getToken()
    const before = reads
    for (let i = 0; i < 1000; i++) await tokens.getToken()
    expect(reads - before).toBe(0)
  })

  it('the stored record carries expiry and refresh token, with a TTL covering both', async () => {
    const sets: Array<{ record: TokenRecord; ttl: number }> = []
    const clock = fakeClock()
    const inner = memoryStore({ now: clock.now })
    const store: TokenStore = {
      ...inner,
      set: (k, record, { ttlSeconds }) => (sets.push({ record, ttl: ttlSeconds }), inner.set(k, record, { ttlSeconds })),
    }
    const { tokens } = setup([issue(600, { refresh_token: 'rt', rt_expires_in: 1800 })], { store, clock, provider: testProvider(true) })
    await tokens.getToken()
    expect(sets).toHaveLength(1)
    expect(sets[0]!.record).toMatchObject({ v: 1, accessToken: 'tok-1', refreshToken: 'rt' })
    expect(sets[0]!.ttl).toBe(1800)
  })

  it('store keys never contain the secret', async () => {
    const keys: string[] = []
    const clock = fakeClock()
    const inner = memoryStore({ now: clock.now })
    const store: TokenStore = {
      get: (k) => (keys.push(k), inner.get(k)),
      set: (k, r, o) => (keys.push(k), inner.set(k, r, o)),
      delete: (k) => inner.delete(k),
    }
    const { tokens } = setup([issue()], { store, clock })
    await tokens.getToken()
    expect(keys.length).toBeGreaterThan(0)
    expect(keys.join()).not.toContain('test_secret')
  })
})

describe('events', () => {
  it('a throwing listener does not break the token work', async () => {
    const { tokens } = setup([issue()], {
      onEvent: () => {
        throw new Error('listener bug')
      },
    })
    expect(await tokens.getToken()).toBe('tok-1')
  })
})

describe('cross-context updates (store.subscribe)', () => {
  function pushingStore() {
    const clock = fakeClock()
    const inner = memoryStore({ now: clock.now })
    const listeners = new Set<(r: TokenRecord | undefined) => void>()
    const store: TokenStore = { ...inner, subscribe: (_key, l) => (listeners.add(l), () => listeners.delete(l)) }
    return { store, clock, push: (r: TokenRecord | undefined) => listeners.forEach((l) => l(r)) }
  }

  it('a fresher token pushed by another context is used at once without a token call', async () => {
    const { store, clock, push } = pushingStore()
    const { tokens, endpoint, events } = setup([issue()], { store, clock })
    await tokens.getToken()
    clock.advance(1)
    push({ v: 1, accessToken: 'from-other-tab', receivedAt: clock.t, expiresAt: clock.t + 3600_000 })
    expect(await tokens.getToken()).toBe('from-other-tab')
    expect(endpoint.calls).toBe(1)
    expect(events.filter((e) => e.type === 'token_adopted')).toHaveLength(1)
  })

  it('an older or rejected pushed token is ignored', async () => {
    const { store, clock, push } = pushingStore()
    const { tokens } = setup([issue()], { store, clock })
    clock.advance(1000)
    await tokens.getToken()
    push({ v: 1, accessToken: 'older', receivedAt: clock.t - 500, expiresAt: clock.t + 3600_000 })
    expect(await tokens.getToken()).toBe('tok-1')
    await tokens.invalidate('rejected-elsewhere')
    push({ v: 1, accessToken: 'rejected-elsewhere', receivedAt: clock.t, expiresAt: clock.t + 3600_000 })
    expect(await tokens.getToken()).toBe('tok-1')
  })

  it('a removal pushed by another context drops the cached copy', async () => {
    const { store, clock, push } = pushingStore()
    const { tokens } = setup([issue()], { store, clock })
    await tokens.getToken()
    push(undefined)
    expect(tokens.peek()).toBeUndefined()
  })
})

describe('restarts', () => {
  it('a stored record whose access token expired still lends its live refresh token (a restart keeps the refresh grant)', async () => {
    const clock = fakeClock()
    const store = memoryStore({ now: clock.now })
    const first = setup([issue(600, { refresh_token: 'rt-live', rt_expires_in: 7200 })], { store, clock, provider: testProvider(true) })
    await first.tokens.getToken()
    const second = setup([issue(600)], { store, clock, provider: testProvider(true) })
    clock.advance(700_000) // the access token expired, the refresh token lives
    await second.tokens.getToken()
    expect(second.endpoint.grants).toEqual(['refresh_token'])
    expect(await second.endpoint.requests[0]!.json()).toMatchObject({ refresh: 'rt-live' })
  })
})

describe('getRecord and minValidity (what the edge asks before it hands a token out)', () => {
  it('getRecord answers the token with its times and scope, never the refresh token', async () => {
    const { tokens, clock } = setup([issue(600, { refresh_token: 'rt-secret', scope: 'read' })], { provider: testProvider(true) })
    const record = await tokens.getRecord()
    expect(record).toEqual({ accessToken: 'tok-1', receivedAt: clock.t, expiresAt: clock.t + 600_000, scope: 'read' })
    expect(JSON.stringify(record)).not.toContain('rt-secret')
  })

  it('a token that expires sooner than minValidity is not handed out: the caller waits for the new one, with 1 token call', async () => {
    const { tokens, endpoint, clock } = setup([issue(3600)])
    await tokens.getToken()
    clock.advance(3600_000 - 90_000) // 90 s left: outside the 60 s soft window, inside a 120 s minValidity
    expect(await tokens.getToken()).toBe('tok-1')
    const record = await tokens.getRecord({ minValidity: 120 })
    expect(record.accessToken).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
    expect(record.expiresAt - clock.t).toBe(3600_000)
  })

  it('concurrent callers asking for minValidity share one acquisition', async () => {
    const { tokens, endpoint, clock } = setup([issue(3600)], {}, 10)
    await tokens.getToken()
    clock.advance(3600_000 - 90_000)
    const got = await Promise.all(Array.from({ length: 50 }, () => tokens.getRecord({ minValidity: 120 })))
    expect(new Set(got.map((r) => r.accessToken))).toEqual(new Set(['tok-2']))
    expect(endpoint.calls).toBe(2)
  })

  it('minValidity is capped at half the lifetime, so short tokens never cause a token call per request', async () => {
    const { tokens, endpoint } = setup([issue(100)])
    for (let i = 0; i < 20; i++) await tokens.getRecord({ minValidity: 3600 })
    expect(endpoint.calls).toBe(1)
  })

  it('inside the soft window, minValidity waits for the refresh instead of serving the old token', async () => {
    const { tokens, endpoint, clock } = setup([issue(3600)], { refreshAhead: 60 })
    await tokens.getToken()
    clock.advance(3600_000 - 30_000) // soft window
    expect((await tokens.getRecord({ minValidity: 60 })).accessToken).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
  })

  it('a relayed token (issuedAt) keeps its full lifetime for the margins', async () => {
    const clock = fakeClock()
    const { tokens } = setup([() => json({ access_token: 'relayed', expires_in: 100 })], {
      clock,
      provider: {
        ...testProvider(),
        processTokenResponse: async () => ({ accessToken: 'relayed', expiresIn: 100, issuedAt: clock.t - 3500_000 }),
      },
    })
    const record = await tokens.getRecord()
    expect(record.receivedAt).toBe(clock.t - 3500_000)
    expect(record.expiresAt).toBe(clock.t + 100_000)
  })

  it('refreshInBackground: false makes callers in the soft window wait for the new token', async () => {
    const { tokens, endpoint, clock } = setup([issue(3600)], { refreshInBackground: false })
    await tokens.getToken()
    clock.advance(3600_000 - 30_000)
    expect(await tokens.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
  })
})

describe('a revocation during an acquisition (the double fault)', () => {
  it('a token rejected while a refresh is in flight is replaced by an acquisition that starts after the rejection', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const { tokens, endpoint, clock } = setup([issue(3600), async (n) => (await gate, issue(3600)(n)), issue(3600)])
    await tokens.getToken() // tok-1
    clock.advance(3600_000 - 30_000) // soft window: a background refresh starts (tok-2, held at the gate)
    expect(await tokens.getToken()).toBe('tok-1')
    await tick()
    expect(endpoint.calls).toBe(2)
    // The provider revokes everything (tok-1 and the tok-2 being issued); an API rejects tok-1.
    await tokens.invalidate('tok-1')
    const next = tokens.getToken()
    release()
    expect(await next).toBe('tok-3') // not tok-2, which the revocation may have killed
    expect(endpoint.calls).toBe(3) // one extra token call for one revocation
    expect(endpoint.maxInProgress).toBe(1) // still one acquisition at a time
  })

  it('rejecting a token that such an overtaken flight brought makes no further token call', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const { tokens, endpoint, clock } = setup([issue(3600), async (n) => (await gate, issue(3600)(n)), issue(3600)], {}, 5)
    await tokens.getToken()
    clock.advance(3600_000 - 30_000)
    const old = tokens.getToken() // tok-1, starts the background refresh
    await tick(10)
    const joined = tokens.getRecord({ forceRefresh: true }) // joins the refresh: gets tok-2
    await tokens.invalidate('tok-1')
    release()
    expect(await old).toBe('tok-1')
    expect((await joined).accessToken).toBe('tok-2')
    await tokens.invalidate('tok-2') // explained by the rejection of tok-1: no new flight
    expect(await tokens.getToken()).toBe('tok-3')
    expect(endpoint.calls).toBe(3)
  })
})

describe('the store lock', () => {
  it('a lock that fails is a store failure: reported as store_error lock, and the token work goes on without it', async () => {
    const clock = fakeClock()
    const inner = memoryStore({ now: clock.now })
    const store: TokenStore = { ...inner, lock: () => Promise.reject(new Error('locks broken')) }
    const { tokens, endpoint, events } = setup([issue()], { store, clock })
    expect(await tokens.getToken()).toBe('tok-1')
    expect(endpoint.calls).toBe(1)
    expect(events.filter((e) => e.type === 'store_error')).toEqual([{ type: 'store_error', provider: 'test', operation: 'lock' }])
    expect(events.some((e) => e.type === 'breaker_open')).toBe(false)
  })

  it('an error of the work under a working lock is not mistaken for a lock failure', async () => {
    const clock = fakeClock()
    const inner = memoryStore({ now: clock.now })
    const store: TokenStore = { ...inner, lock: (_key, fn) => fn() }
    const { tokens, events } = setup([() => json({ error: 'invalid_client' }, 401)], { store, clock })
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_client' })
    expect(events.some((e) => e.type === 'store_error')).toBe(false)
  })

  it('compare-and-invalidate runs under the lock: a late invalidate never deletes the newer token another context stored', async () => {
    const clock = fakeClock()
    const shared = memoryStore({ now: clock.now })
    // One lock for both "tabs", and a slow delete: without the lock, A's delete would land after B's new token.
    let queue: Promise<unknown> = Promise.resolve()
    const lock = <T>(_key: string, fn: () => Promise<T>) => {
      const run = queue.then(fn)
      queue = run.catch(() => {})
      return run
    }
    const slowDelete: TokenStore = { ...shared, lock, delete: async (k) => (await tick(30), shared.delete(k)) }
    const fastTab: TokenStore = { ...shared, lock }
    const a = setup([issue()], { store: slowDelete, clock })
    await a.tokens.getToken() // tok-1, stored
    const b = setup([(n) => json({ access_token: `b-${n + 1}`, expires_in: 3600 })], { store: fastTab, clock }, 5)
    expect(await b.tokens.getToken()).toBe('tok-1')
    const late = a.tokens.invalidate('tok-1') // reads tok-1, deletes it 30 ms later
    await b.tokens.invalidate('tok-1')
    expect(await b.tokens.getToken()).toBe('b-1') // stored by B
    await late
    expect((await shared.get('payment-auth:test client-1'))?.accessToken).toBe('b-1')
  })
})

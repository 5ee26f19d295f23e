/**
 * The per-caller rate limit shared by every isolate (issue 13): a caller's limit does not grow
 * with the number of isolates its requests land on; 429 `rate_limited` with `Retry-After`.
 * "Another isolate" = this isolate's buckets and token caches emptied (`freshIsolate`), so
 * only the Durable Object remembers.
 */
import { evictAllDurableObjects } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { forgetRateLimits } from './rate-limit.ts'
import { clearIsolateCache } from './tokens.ts'
import * as edge from '../test/support.ts'
import { coldStart } from '../test/support.ts'
import type { ErrorAnswer } from '../test/support.ts'

beforeEach(coldStart)
afterEach(() => {
  vi.restoreAllMocks()
})

const KEY = 'pa_spread_caller_key'

function freshIsolate() {
  forgetRateLimits()
  clearIsolateCache()
}

async function vars(perMinute: number) {
  return {
    RATE_LIMIT_PER_MINUTE: String(perMinute),
    // Reports at once: these tests wait for each request's waitUntil work (the gathering is tested below).
    RATE_LIMIT_REPORT_MS: '0',
    // Audit lines at once too, for the same reason (their gathering is tested in audit.workers.test.ts).
    AUDIT_FLUSH_MS: '0',
    CALLERS: [{ id: 'spread', keySha256: await edge.sha256Hex(KEY), providers: ['stonex'] }, ...(env.CALLERS as unknown[])],
  }
}

/** The shared limiter, with every `take` it is asked recorded: how many requests, and whether already let through. */
function watchedLimiter() {
  const takes: Array<{ count: number; counted: boolean }> = []
  const limiter = {
    idFromName: env.RATE_LIMITS.idFromName.bind(env.RATE_LIMITS),
    get: (id: DurableObjectId) => {
      const stub = env.RATE_LIMITS.get(id)
      return {
        take: (...args: [number, number?, boolean?]) => {
          takes.push({ count: args[1] ?? 1, counted: args[2] === true })
          return stub.take(...args)
        },
      }
    },
  }
  return { limiter, takes }
}

const ask = async (v: Record<string, unknown>, credential = KEY) =>
  edge.callWith(v, edge.request('/v1/token', { credential, body: { provider: 'stonex' } }))

describe('the rate limit every isolate shares', () => {
  it('requests spread over separate isolates still meet one limit: 429 rate_limited with Retry-After', async () => {
    const v = await vars(3)
    const statuses: number[] = []
    let refused: Response | undefined
    for (let i = 0; i < 5; i++) {
      freshIsolate() // each request lands on a new isolate, with an empty bucket of its own
      const response = await ask(v)
      statuses.push(response.status)
      if (response.status === 429) refused = response
      else await response.body?.cancel()
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    // 3 a minute: the next one is about 20 s away.
    const retryAfter = Number(refused!.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(20)
    expect(refused!.headers.get('cache-control')).toBe('no-store')
    expect(await edge.json<ErrorAnswer>(refused!)).toEqual({ error: 'rate_limited', error_description: expect.any(String) })
    // Another caller has its own bucket.
    expect((await ask(v, 'pa_demo_caller_key_0001')).status).toBe(200)
  })

  it('the bucket survives eviction of its Durable Object', async () => {
    const v = await vars(2)
    expect((await ask(v)).status).toBe(200)
    expect((await ask(v)).status).toBe(200)
    await evictAllDurableObjects()
    freshIsolate()
    expect((await ask(v)).status).toBe(429)
  })

  it('the bucket refills with time', async () => {
    const v = await vars(60) // one a second
    for (let i = 0; i < 60; i++) await (await ask(v)).body?.cancel()
    freshIsolate()
    expect((await ask(v)).status).toBe(429)
    await new Promise((r) => setTimeout(r, 1100))
    freshIsolate()
    expect((await ask(v)).status).toBe(200)
  })

  it('unauthenticated requests are not counted against a caller', async () => {
    const v = await vars(1)
    for (let i = 0; i < 3; i++) expect((await ask(v, 'pa_not_a_key')).status).toBe(401)
    expect((await ask(v)).status).toBe(200)
  })

  it('a limiter that cannot be reached lets the request through (the isolate bucket still applies), logged', async () => {
    const warn = vi.spyOn(console, 'warn')
    const broken = {
      idFromName: () => ({}),
      get: () => ({
        take: () => Promise.reject(new Error('Durable Object overloaded')),
      }),
    }
    const v = { ...(await vars(1)), RATE_LIMITS: broken }
    expect((await ask(v)).status).toBe(200)
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('shared rate limit could not be reached'))
    expect((await ask(v)).status).toBe(429) // this isolate's own bucket
  })
})

describe('the warm path does not wait for the shared limit while plenty is left', () => {
  it('every request is still counted: a limit of 100 lets exactly 100 through, across isolates', async () => {
    const v = await vars(100)
    const statuses: number[] = []
    const started = Date.now()
    for (let i = 0; i < 103; i++) {
      if (i % 20 === 0) freshIsolate()
      const response = await ask(v)
      statuses.push(response.status)
      await response.body?.cancel()
    }
    // The bucket refills at 100 a minute while this runs: that many more may pass, no more.
    const refilled = Math.ceil(((Date.now() - started) * 100) / 60_000)
    expect(statuses.slice(0, 100)).toEqual(Array(100).fill(200))
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(100 + refilled)
    expect(statuses.at(-1)).toBe(429)
  })

  it('while plenty is left, a request does not wait for the Durable Object (its count follows after the answer)', async () => {
    const v = await vars(1000)
    expect((await ask(v)).status).toBe(200) // the first asks the shared bucket and waits
    const { limiter, takes } = watchedLimiter()
    for (let i = 0; i < 5; i++) expect((await ask({ ...v, RATE_LIMITS: limiter })).status).toBe(200)
    expect(takes).toHaveLength(5)
    expect(takes.every((t) => t.counted)).toBe(true) // counts of requests already let through, not questions
  })

  it('the isolate gathers the requests it let through into one report, and counts every one', async () => {
    const v = { ...(await vars(1000)), RATE_LIMIT_REPORT_MS: '200' }
    expect((await ask(v)).status).toBe(200) // the first asks the shared bucket and waits
    const { limiter, takes } = watchedLimiter()
    const answers = await Promise.all(Array.from({ length: 5 }, () => ask({ ...v, RATE_LIMITS: limiter })))
    expect(answers.map((a) => a.status)).toEqual(Array(5).fill(200))
    expect(takes.reduce((sum, t) => sum + t.count, 0)).toBe(5)
    expect(takes.length).toBeLessThan(5)
  })
})

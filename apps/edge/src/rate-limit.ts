/**
 * Per-caller rate limit, shared by every isolate: a token bucket per caller
 * (`RATE_LIMIT_PER_MINUTE`, default 600, or the caller's own `rateLimitPerMinute`) held by one
 * Durable Object per caller (`CallerRateLimit`, binding `RATE_LIMITS`, named by the caller id).
 * The bucket holds up to a minute's worth of requests and refills continuously, wherever the
 * requests land.
 *
 * In front of it, each isolate keeps the same bucket for itself: an isolate's bucket never has
 * fewer tokens than the shared one, so it refuses only what the shared one would refuse too,
 * and a caller hammering one isolate is refused there without a Durable Object call.
 *
 * The warm path does not wait for the Durable Object while the shared bucket is far from empty:
 * when this isolate heard from it less than a second ago that at least
 * `max(10, limit / 10)` requests were left, the request goes on at once and is counted in the
 * shared bucket after the answer (`waitUntil`, reports batched: one call in flight per caller
 * and isolate). Every request is counted; near the limit every request waits for the shared
 * verdict, so the overshoot is bounded by the requests isolates let through on a fresh
 * "plenty left" in the same instant, and small limits are exact.
 *
 * A Durable Object that cannot be reached lets the request through (logged): the limit guards
 * against abuse, and a payment should not fail because the limiter is briefly away.
 */
import { durationVar } from './config.ts'
import { DurableObject } from 'cloudflare:workers'
import { EdgeError } from './errors.ts'

interface Bucket {
  tokens: number
  at: number
}

/** Refills `bucket` at `perMinute` up to `now`. */
function refill(bucket: Bucket, perMinute: number, now: number): void {
  bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * (perMinute / 60_000))
  bucket.at = now
}

/** Takes one request from `bucket` at `perMinute`; answers the seconds to wait when it is empty. */
function take(bucket: Bucket, perMinute: number, now: number): number | undefined {
  const ratePerMs = perMinute / 60_000
  refill(bucket, perMinute, now)
  if (bucket.tokens < 1) return Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerMs / 1000))
  bucket.tokens -= 1
  return undefined
}

function limited(retryAfter: number): EdgeError {
  return new EdgeError(429, 'rate_limited', 'too many requests from this caller; try again later', { 'retry-after': String(retryAfter) })
}

const buckets = new Map<string, Bucket>()
/** Buckets kept per isolate; the least recently used go first. */
const MAX_BUCKETS = 10_000

/** Takes one request from `callerId`'s bucket in this isolate, or throws 429 with `Retry-After`. */
export function takeRequest(callerId: string, perMinute: number, now = Date.now()): void {
  const bucket = buckets.get(callerId) ?? { tokens: perMinute, at: now }
  // Re-insert: Map order is then least recently used first.
  buckets.delete(callerId)
  buckets.set(callerId, bucket)
  if (buckets.size > MAX_BUCKETS) buckets.delete(buckets.keys().next().value!)
  const wait = take(bucket, perMinute, now)
  if (wait !== undefined) throw limited(wait)
}

/** Empties every bucket of this isolate (tests: "another isolate"). */
export function forgetRateLimits(): void {
  buckets.clear()
  shared.clear()
}

/** What this isolate last heard from a caller's shared bucket, and the requests not yet reported to it. */
interface Shared {
  remaining: number
  at: number
  pending: number
  reporting: boolean
}
const shared = new Map<string, Shared>()
/** How long a "plenty left" from the shared bucket lets this isolate go on without waiting for it. */
const FRESH_MS = 1000

const unreachable = () => console.warn('edge: the shared rate limit could not be reached; the isolate limit alone applies')

/**
 * How long an isolate gathers the requests it let through before it reports them (the var
 * `RATE_LIMIT_REPORT_MS`, default 100): one Durable Object call per that long, caller and
 * isolate on the warm path, not one per request. The report runs after the answer (`waitUntil`).
 */
const reportEvery = (env: Env) => durationVar(env.RATE_LIMIT_REPORT_MS, 100)

/** Reports the requests let through to the shared bucket, one call in flight at a time. */
async function report(env: Env, callerId: string, perMinute: number, s: Shared): Promise<void> {
  if (s.reporting) return
  s.reporting = true
  try {
    const gather = reportEvery(env)
    if (gather > 0) await new Promise((resolve) => setTimeout(resolve, gather))
    while (s.pending > 0) {
      const count = s.pending
      s.pending = 0
      const answer = await env.RATE_LIMITS.get(env.RATE_LIMITS.idFromName(callerId)).take(perMinute, count, true)
      s.remaining = answer.remaining
      s.at = Date.now()
    }
  } catch {
    unreachable()
  } finally {
    s.reporting = false
  }
}

/** Takes one request from `callerId`'s bucket in this isolate, then from the one every isolate shares. */
export async function takeSharedRequest(
  env: Env,
  callerId: string,
  perMinute: number,
  waitUntil?: (work: Promise<unknown>) => void,
): Promise<void> {
  takeRequest(callerId, perMinute)
  const now = Date.now()
  const known = shared.get(callerId)
  if (waitUntil && known && now - known.at < FRESH_MS && known.remaining - known.pending >= Math.max(10, perMinute / 10)) {
    known.pending++
    // A report in flight sends this request too (its loop reads `pending` again); else one starts, after this answer.
    if (!known.reporting) waitUntil(report(env, callerId, perMinute, known))
    return
  }
  let answer: { wait?: number; remaining: number }
  try {
    answer = await env.RATE_LIMITS.get(env.RATE_LIMITS.idFromName(callerId)).take(perMinute)
  } catch {
    unreachable()
    return
  }
  const s = known ?? { remaining: 0, at: 0, pending: 0, reporting: false }
  s.remaining = answer.remaining
  s.at = Date.now()
  shared.delete(callerId)
  shared.set(callerId, s)
  if (shared.size > MAX_BUCKETS) shared.delete(shared.keys().next().value!)
  if (answer.wait !== undefined) throw limited(answer.wait)
}

/** One caller's token bucket, for every isolate (binding `RATE_LIMITS`, named by the caller id). */
export class CallerRateLimit extends DurableObject<Env> {
  #bucket: Bucket | undefined

  /**
   * Takes one request, or counts `count` requests already let through (`counted`: the bucket may
   * go below zero, down to minus a minute's worth, and refuses until it refills). Answers the
   * seconds to wait (`Retry-After`) when refused, and the requests left.
   */
  async take(perMinute: number, count = 1, counted = false): Promise<{ wait?: number; remaining: number }> {
    const now = Date.now()
    // Kept in storage too, so an evicted limiter does not hand a caller a fresh bucket.
    this.#bucket ??= (await this.ctx.storage.get<Bucket>('bucket')) ?? { tokens: perMinute, at: now }
    const bucket = this.#bucket
    let wait: number | undefined
    if (counted) {
      refill(bucket, perMinute, now)
      bucket.tokens = Math.max(-perMinute, bucket.tokens - count)
    } else {
      wait = take(bucket, perMinute, now)
    }
    // Not awaited: the output gate holds the answer until the write is durable.
    void this.ctx.storage.put('bucket', bucket)
    const remaining = Math.floor(bucket.tokens)
    return wait === undefined ? { remaining } : { wait, remaining }
  }
}

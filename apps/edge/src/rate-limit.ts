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
 * A Durable Object that cannot be reached lets the request through (logged): the limit guards
 * against abuse, and a payment should not fail because the limiter is briefly away.
 */
import { DurableObject } from 'cloudflare:workers'
import { EdgeError } from './errors.ts'

interface Bucket {
  tokens: number
  at: number
}

/** Takes one request from `bucket` at `perMinute`; answers the seconds to wait when it is empty. */
function take(bucket: Bucket, perMinute: number, now: number): number | undefined {
  const ratePerMs = perMinute / 60_000
  bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * ratePerMs)
  bucket.at = now
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
}

/** Takes one request from `callerId`'s bucket in this isolate, then from the one every isolate shares. */
export async function takeSharedRequest(env: Env, callerId: string, perMinute: number): Promise<void> {
  takeRequest(callerId, perMinute)
  let wait: number | undefined
  try {
    wait = await env.RATE_LIMITS.get(env.RATE_LIMITS.idFromName(callerId)).take(perMinute)
  } catch {
    console.warn('edge: the shared rate limit could not be reached; the isolate limit alone applies')
    return
  }
  if (wait !== undefined) throw limited(wait)
}

/** One caller's token bucket, for every isolate (binding `RATE_LIMITS`, named by the caller id). */
export class CallerRateLimit extends DurableObject<Env> {
  #bucket: Bucket | undefined

  /** Takes one request; answers `undefined`, or the seconds to wait (`Retry-After`). */
  async take(perMinute: number): Promise<number | undefined> {
    const now = Date.now()
    // Kept in storage too, so an evicted limiter does not hand a caller a fresh bucket.
    this.#bucket ??= (await this.ctx.storage.get<Bucket>('bucket')) ?? { tokens: perMinute, at: now }
    const wait = take(this.#bucket, perMinute, now)
    // Not awaited: the output gate holds the answer until the write is durable.
    void this.ctx.storage.put('bucket', this.#bucket)
    return wait
  }
}

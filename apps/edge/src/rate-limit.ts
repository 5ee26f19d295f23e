/**
 * Per-caller rate limit: a token bucket per caller, per isolate (`RATE_LIMIT_PER_MINUTE`,
 * default 600). The bucket holds up to a minute's worth of requests and refills continuously.
 * Isolates do not share buckets, so this bounds bursts, not a global quota.
 */
import { EdgeError } from './errors.ts'

interface Bucket {
  tokens: number
  at: number
}

const buckets = new Map<string, Bucket>()
/** Buckets kept per isolate; the least recently used go first. */
const MAX_BUCKETS = 10_000

/** Takes one request from `callerId`'s bucket, or throws 429 with `Retry-After`. */
export function takeRequest(callerId: string, perMinute: number, now = Date.now()): void {
  const ratePerMs = perMinute / 60_000
  const previous = buckets.get(callerId)
  const bucket = previous ?? { tokens: perMinute, at: now }
  bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * ratePerMs)
  bucket.at = now
  // Re-insert: Map order is then least recently used first.
  buckets.delete(callerId)
  buckets.set(callerId, bucket)
  if (buckets.size > MAX_BUCKETS) buckets.delete(buckets.keys().next().value!)
  if (bucket.tokens < 1) {
    const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerMs / 1000))
    throw new EdgeError(429, 'rate_limited', 'too many requests from this caller; try again later', { 'retry-after': String(retryAfter) })
  }
  bucket.tokens -= 1
}

/** Empties every bucket of this isolate (tests). */
export function forgetRateLimits(): void {
  buckets.clear()
}

import type { TokenRecord } from '@payment-auth/ky'
import type { FakeClock } from './clock.ts'

export interface TokenRecordOptions extends Partial<TokenRecord> {
  /** How long the token lives from its receipt, ms (default one hour); `expiresAt` wins. */
  lifeMs?: number
}

/**
 * A TokenRecord received now on `clock` (the test's one clock), valid for `lifeMs`; any field
 * can be replaced. The access token is unique per call.
 *
 * @example
 * ```ts
 * const clock = fakeClock()
 * await store.set(key, tokenRecord(clock, { lifeMs: 60_000 }), { ttlSeconds: 60 })
 * ```
 */
export function tokenRecord(clock: Pick<FakeClock, 'now'>, { lifeMs = 3_600_000, ...fields }: TokenRecordOptions = {}): TokenRecord {
  const t = clock.now()
  return { v: 1, accessToken: `tok-${Math.random().toString(36).slice(2)}`, receivedAt: t, expiresAt: t + lifeMs, ...fields }
}

/**
 * What the token authority reports to operators (`GET /v1/status`, admin.ts), per scope of its
 * provider client: the stored token's age and remaining life (never the token), the last error
 * code, the breaker state and the token calls of the last hour.
 *
 * The token's times come from Durable Object storage (they survive eviction). The rest is what
 * the authority observed since this instance started (an evicted authority starts again from
 * nothing): a token call is a new token answered (`receivedAt` not seen before) or a failure
 * that was not the breaker's; the breaker is `open` while failures come back as the very
 * failure the manager remembers (it fails fast without calling), `closed` otherwise.
 */
import { readRecord } from '@payment-auth/ky/store'
import type { PaymentAuthError } from '@payment-auth/ky'

const HOUR = 3_600_000

export interface Observed {
  lastReceivedAt: number | undefined
  lastError: { code: string; at: number; error: PaymentAuthError } | undefined
  breaker: 'open' | 'closed'
  calls: number[]
}

export interface ClientStatus {
  provider: string
  scope: string | null
  token: { ageSeconds: number; remainingSeconds: number } | null
  lastError: { code: string; at: string } | null
  breaker: 'open' | 'closed'
  tokenCallsLastHour: number
}

export function observe(all: Map<string, Observed>, id: string, now = Date.now) {
  let o = all.get(id)
  if (!o) all.set(id, (o = { lastReceivedAt: undefined, lastError: undefined, breaker: 'closed', calls: [] }))
  const seen = o
  const call = () => {
    const t = now()
    seen.calls = seen.calls.filter((c) => c > t - HOUR)
    seen.calls.push(t)
  }
  return {
    answered(receivedAt: number) {
      if (receivedAt !== seen.lastReceivedAt) {
        seen.lastReceivedAt = receivedAt
        call()
      }
      seen.breaker = 'closed'
    },
    failed(error: PaymentAuthError) {
      // The breaker answers with the failure it remembers, without a call.
      if (seen.lastError?.error === error) {
        seen.breaker = 'open'
        return
      }
      seen.lastError = { code: error.code, at: now(), error }
      seen.breaker = 'closed'
      call()
    },
  }
}

/** The status of every scope of `provider` the authority stored (since ever) or served (since this instance started). */
export function clientStatus(
  provider: string,
  stored: Map<string, unknown>,
  observed: Map<string, Observed>,
  /** The storage key of a scope's record. */
  keyOf: (scope: string) => string,
  t = Date.now(),
): ClientStatus[] {
  const out: ClientStatus[] = []
  const nothing: Observed = { lastReceivedAt: undefined, lastError: undefined, breaker: 'closed', calls: [] }
  const rows = new Map<string, { scope: string | null; o: Observed }>()
  for (const [id, o] of observed)
    if (id.startsWith(`${provider} `)) rows.set(keyOf(id.slice(provider.length + 1)), { scope: id.slice(provider.length + 1) || null, o })
  // Records of scopes not served since this instance started (after an eviction): their own scope.
  for (const [key, value] of stored) if (!rows.has(key)) rows.set(key, { scope: readRecord(value)?.scope ?? null, o: nothing })
  for (const [key, { scope, o }] of rows) {
    const record = readRecord(stored.get(key))
    out.push({
      provider,
      scope,
      token:
        record && record.expiresAt > t
          ? { ageSeconds: Math.floor((t - record.receivedAt) / 1000), remainingSeconds: Math.floor((record.expiresAt - t) / 1000) }
          : null,
      lastError: o.lastError ? { code: o.lastError.code, at: new Date(o.lastError.at).toISOString() } : null,
      breaker: o.breaker,
      tokenCallsLastHour: o.calls.filter((c) => c > t - HOUR).length,
    })
  }
  return out.sort((a, b) => (a.scope ?? '').localeCompare(b.scope ?? ''))
}

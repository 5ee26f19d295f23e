import { PaymentAuthError, safeCause } from './errors.ts'
import { safeListener, type EventListener } from './events.ts'
import { tokenError, type Provider, type TokenGrant, type TokenSet } from './provider.ts'
import { memoryStore, readRecord, usefulUntil, type TokenRecord, type TokenStore } from './store.ts'

export interface TokenManagerOptions {
  provider: Provider
  /** Where tokens persist between requests; an in-memory L1 always sits in front. Default `memoryStore()`. */
  store?: TokenStore
  /** Soft window in seconds before expiry: serve the token while one background refresh runs. Default 60, capped at half the lifetime. */
  refreshAhead?: number
  /** The fetch used for the token endpoint. Default `globalThis.fetch`. */
  fetch?: (input: Request, init?: RequestInit) => Promise<Response>
  /** Milliseconds one token call may take (body included). Default 10 000. */
  timeout?: number
  onEvent?: EventListener
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number
  /** Backoff for transient token-call failures. Default `{ limit: 2, delay: 250, maxDelay: 5000 }` (ms). */
  backoff?: { limit?: number; delay?: number; maxDelay?: number }
  /** Milliseconds a store operation may take before the manager carries on without it. Default 2000. */
  storeTimeout?: number
}

export interface GetTokenOptions {
  /** Skip the cache and the store: always a new grant (still single-flighted). */
  forceRefresh?: boolean
}

/**
 * Owns one provider client's token: cache, refresh ahead, single-flight, backoff, breaker.
 * Share one between several ky instances with `withPaymentAuth({ tokens })`.
 */
export interface TokenManager {
  readonly provider: Provider
  getToken(options?: GetTokenOptions): Promise<string>
  /** Compare-and-invalidate: drops the cached token only if it is `rejectedAccessToken`. */
  invalidate(rejectedAccessToken: string): Promise<void>
  /** Forgets the token, the refresh token and any open breaker, here and in the store. */
  clear(): Promise<void>
  /** The cached token if it needs no work now (hot path, no promise). */
  peek(): string | undefined
}

const FALLBACK_LIFETIME = 300

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs `work` with a deadline; on expiry aborts `controller` and rejects with `onTimeout()`. */
function deadline<T>(work: Promise<T>, ms: number, onTimeout: () => unknown): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms)
  })
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}

/** Lifetime in seconds from a JWT's `exp` (and `iat`, so the provider's clock does not matter). */
function jwtLifetime(token: string, nowMs: number): number | undefined {
  try {
    const claims = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown; iat?: unknown }
    if (typeof claims.exp !== 'number') return undefined
    return typeof claims.iat === 'number' ? claims.exp - claims.iat : claims.exp - nowMs / 1000
  } catch {
    return undefined
  }
}

/**
 * Creates the token manager that `withPaymentAuth` uses; use it directly for non-ky code.
 *
 * @example
 * ```ts
 * const tokens = createTokenManager({ provider: oauth2({ tokenUrl, clientId, clientSecret }) })
 * const api = ky.create({ baseUrl }).extend(withPaymentAuth({ tokens }))
 * const token = await tokens.getToken()
 * ```
 */
export function createTokenManager(options: TokenManagerOptions): TokenManager {
  const { provider, refreshAhead = 60, timeout = 10_000, storeTimeout = 2000 } = options
  const now = options.now ?? Date.now
  const store = options.store ?? memoryStore({ now })
  const emit = safeListener(options.onEvent)
  const fetchToken = options.fetch ?? ((input: Request, init?: RequestInit) => globalThis.fetch(input, init))
  const { limit = 2, delay = 250, maxDelay = 5000 } = options.backoff ?? {}
  const name = provider.name
  const key = `payment-auth:${provider.key}`

  let current: TokenRecord | undefined
  let refresh: Pick<TokenRecord, 'refreshToken' | 'refreshExpiresAt'> = {}
  let inflight: Promise<TokenRecord> | undefined
  const rejected = new Set<string>()
  /** The token an API rejected since the last acquisition: the next grant names it (the edge's compare-and-invalidate). */
  let lastRejected: string | undefined
  let failures = 0
  let openedAt = 0
  let openUntil = 0
  let lastError: PaymentAuthError | undefined
  /** Open breaker: fail fast. A clock turned back past `openedAt` closes it rather than freezing it for hours. */
  const breakerOpen = (t: number) => lastError !== undefined && openedAt <= t && t < openUntil

  /** Soft and hard margins (ms) for a record: soft never exceeds half the lifetime, hard is within soft. */
  const softAt = (r: TokenRecord) => r.expiresAt - Math.min(refreshAhead * 1000, (r.expiresAt - r.receivedAt) / 2)
  const hardAt = (r: TokenRecord) => r.expiresAt - Math.min((r.expiresAt - softAt(r)) / 2, 10_000)

  /** The record if it may be used at `t`: not expired, not rejected, not stamped in the future. */
  function usable(r: TokenRecord | undefined, t: number): TokenRecord | undefined {
    if (!r || rejected.has(r.accessToken)) return undefined
    if (r.receivedAt > t) {
      if (r === current) current = undefined
      emit({ type: 'token_discarded', provider: name, reason: 'future' })
      return undefined
    }
    return t < r.expiresAt ? r : undefined
  }

  async function storeOp<T>(operation: 'get' | 'set' | 'delete', run: () => Promise<T> | T): Promise<T | undefined> {
    try {
      return await deadline(Promise.resolve().then(run), storeTimeout, () => new Error('store timeout'))
    } catch {
      emit({ type: 'store_error', provider: name, operation })
      return undefined
    }
  }

  function adopt(r: TokenRecord): TokenRecord {
    current = r
    if (r.refreshToken) refresh = { refreshToken: r.refreshToken, refreshExpiresAt: r.refreshExpiresAt! }
    return r
  }

  function toRecord(set: TokenSet, t: number): TokenRecord {
    const life = set.expiresIn ?? jwtLifetime(set.accessToken, t) ?? FALLBACK_LIFETIME
    if (!(life > 0)) throw tokenError(provider, 'invalid_response', 200)
    const r: TokenRecord = { v: 1, accessToken: set.accessToken, receivedAt: t, expiresAt: t + life * 1000 }
    if (set.refreshToken) {
      r.refreshToken = set.refreshToken
      if (set.refreshExpiresIn !== undefined) r.refreshExpiresAt = t + set.refreshExpiresIn * 1000
    }
    if (set.scope !== undefined) r.scope = set.scope
    return r
  }

  /** One token call, bounded by `timeout`; network failures and timeouts become typed errors. */
  async function callOnce(grant: TokenGrant): Promise<TokenRecord> {
    const controller = new AbortController()
    const request = await provider.buildTokenRequest(grant)
    const started = now()
    const timedOut = () => new PaymentAuthError(`${name}: token request timed out after ${timeout} ms`, { code: 'timeout', provider: name })
    const work = (async () => {
      let response: Response
      try {
        response = await fetchToken(request, { signal: controller.signal })
      } catch (error) {
        if (controller.signal.aborted) throw timedOut()
        throw new PaymentAuthError(`${name}: token request failed (network)`, {
          code: 'network',
          provider: name,
          cause: safeCause(error, provider.redact),
        })
      }
      return provider.processTokenResponse(response)
    })()
    const set = await deadline(work, timeout, () => {
      controller.abort()
      return timedOut()
    })
    const record = toRecord(set, now())
    emit({ type: 'token_acquired', provider: name, grant: grant.type, expiresIn: Math.round((record.expiresAt - record.receivedAt) / 1000), ms: now() - started })
    return record
  }

  /** A token call with bounded, jittered backoff for transient failures; `Retry-After` honoured up to `maxDelay`. */
  async function call(grant: TokenGrant): Promise<TokenRecord> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await callOnce(grant)
      } catch (thrown) {
        const error = asPaymentAuthError(thrown)
        const wait = error.retryAfter !== undefined ? error.retryAfter * 1000 : Math.random() * Math.min(maxDelay, delay * 2 ** attempt)
        const willRetry = error.retryable && attempt <= limit && wait <= maxDelay
        emit({ type: 'token_error', provider: name, code: error.code, retryable: error.retryable, attempt, willRetry })
        if (!willRetry) throw error
        await sleep(wait)
      }
    }
  }

  function asPaymentAuthError(error: unknown): PaymentAuthError {
    if (error instanceof PaymentAuthError) return error
    // A provider's own processTokenResponse threw something else: never let its text through.
    return new PaymentAuthError(`${name}: token answer could not be processed`, {
      code: 'invalid_response',
      provider: name,
      cause: safeCause(error, provider.redact),
    })
  }

  /** Adopt a fresh token from the store if one is there, else refresh grant, else client credentials. */
  async function obtain(force: boolean): Promise<TokenRecord> {
    const t = now()
    if (!force) {
      // Re-read (under the store's lock, if any): another context may have just stored a fresh token,
      // possibly already pushed to us while we waited. Only a token outside its soft window counts.
      const raw = readRecord(await storeOp('get', () => store.get(key)))
      // An expired access token may come with a live refresh token (e.g. after a restart): keep that.
      if (raw?.refreshToken && !refresh.refreshToken && !(raw.refreshExpiresAt! <= t)) refresh = { refreshToken: raw.refreshToken, refreshExpiresAt: raw.refreshExpiresAt! }
      const stored = usable(raw, t)
      if (stored && t < softAt(stored)) {
        if (stored.accessToken !== current?.accessToken) emit({ type: 'token_adopted', provider: name })
        return adopt(stored)
      }
    }
    let record: TokenRecord | undefined
    const { refreshToken, refreshExpiresAt } = refresh
    if (provider.refreshable && refreshToken && !(refreshExpiresAt! <= t)) {
      try {
        record = await callOnce({ type: 'refresh_token', refreshToken })
      } catch (error) {
        refresh = {}
        emit({ type: 'refresh_failed', provider: name, code: asPaymentAuthError(error).code })
      }
    }
    record ??= await call(lastRejected ? { type: 'client_credentials', rejected: lastRejected } : { type: 'client_credentials' })
    lastRejected = undefined
    rejected.delete(record.accessToken)
    adopt(record)
    await storeOp('set', () => store.set(key, record, { ttlSeconds: Math.max(1, Math.ceil((usefulUntil(record) - now()) / 1000)) }))
    return record
  }

  /** The single flight: concurrent callers share one acquisition; failures open the breaker. */
  function acquire(force: boolean): Promise<TokenRecord> {
    // `.finally` is attached after the assignment, so a flight that fails at once is still cleared.
    inflight ??= (async () => {
      if (breakerOpen(now())) throw lastError
      try {
        const record = await (store.lock ? store.lock(key, () => obtain(force)) : obtain(force))
        failures = 0
        lastError = undefined
        return record
      } catch (thrown) {
        const error = asPaymentAuthError(thrown)
        failures++
        const ms = error.retryAfter !== undefined ? error.retryAfter * 1000 : Math.min(60_000, 1000 * 2 ** (failures - 1))
        openedAt = now()
        openUntil = openedAt + ms
        lastError = error
        // Fatal (bad credentials, malformed answers): the cached token goes too.
        if (!error.retryable) current = undefined
        emit({ type: 'breaker_open', provider: name, code: error.code, ms })
        throw error
      }
    })().finally(() => {
      inflight = undefined
    })
    return inflight
  }

  function peek(): string | undefined {
    const r = current
    if (!r) return undefined
    const t = now()
    return r.receivedAt <= t && t < softAt(r) && !rejected.has(r.accessToken) ? r.accessToken : undefined
  }

  async function getToken({ forceRefresh = false }: GetTokenOptions = {}): Promise<string> {
    const t = now()
    const r = forceRefresh ? undefined : usable(current, t)
    if (r && t < softAt(r)) return r.accessToken
    if (r && t < hardAt(r)) {
      // Soft window: serve this token; one background refresh (failures are kept for the breaker).
      if (!breakerOpen(t)) acquire(false).catch(() => {})
      return r.accessToken
    }
    try {
      return (await acquire(forceRefresh)).accessToken
    } catch (error) {
      // A transient failure while a token is still valid: keep serving it.
      const still = forceRefresh ? undefined : usable(current, now())
      if (still && (error as PaymentAuthError).retryable) return still.accessToken
      throw error
    }
  }

  async function invalidate(rejectedAccessToken: string): Promise<void> {
    rejected.add(rejectedAccessToken)
    if (rejected.size > 16) rejected.delete(rejected.values().next().value!)
    const wasCurrent = current?.accessToken === rejectedAccessToken
    if (wasCurrent) {
      current = undefined
      lastRejected = rejectedAccessToken
    }
    emit({ type: 'token_invalidated', provider: name, current: wasCurrent })
    if (wasCurrent) {
      const stored = readRecord(await storeOp('get', () => store.get(key)))
      if (stored?.accessToken === rejectedAccessToken) await storeOp('delete', () => store.delete(key))
    }
  }

  async function clear(): Promise<void> {
    current = undefined
    refresh = {}
    rejected.clear()
    lastRejected = undefined
    failures = 0
    lastError = undefined
    await storeOp('delete', () => store.delete(key))
  }

  // Another tab stored a token: take it (unless rejected or older). It removed one: drop our copy.
  store.subscribe?.(key, (pushed) => {
    const r = pushed && usable(readRecord(pushed), now())
    if (!pushed) current = undefined
    else if (r && r.accessToken !== current?.accessToken && !(current && current.receivedAt > r.receivedAt)) {
      emit({ type: 'token_adopted', provider: name })
      adopt(r)
    }
  })

  return { provider, getToken, invalidate, clear, peek }
}

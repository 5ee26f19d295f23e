import { lifetimeOf } from './answer.ts'
import { PaymentAuthError, safeCause } from './errors.ts'
import { safeListener, type PaymentAuthEventListener } from './events.ts'
import * as v from 'valibot'
import { boolean, checkOptions, func, nonNegative, object, positive, string } from './options.ts'
import type { Provider, TokenGrant } from './provider.ts'
import { readRecord, usefulUntil, type TokenRecord, type TokenStore } from './store.ts'

export interface TokenManagerOptions {
  provider: Provider
  /**
   * Where tokens persist between requests; an in-memory L1 always sits in front. Default: none,
   * the L1 is then the whole cache of this manager (no store I/O, so a replay pays no store round trip).
   */
  store?: TokenStore
  /** Soft window in seconds before expiry: serve the token while one background refresh runs. Default 60, capped at half the lifetime. */
  refreshAhead?: number
  /** The fetch used for the token endpoint. Default `globalThis.fetch`. */
  fetch?: (input: Request, init?: RequestInit) => Promise<Response>
  /** Milliseconds one token call may take (body included). Default 10 000. */
  timeout?: number
  onEvent?: PaymentAuthEventListener
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number
  /** Backoff for transient token-call failures. Default `{ limit: 2, delay: 250, maxDelay: 5000 }` (ms). */
  backoff?: { limit?: number; delay?: number; maxDelay?: number }
  /** Milliseconds a store operation may take before the manager carries on without it. Default 2000. */
  storeTimeout?: number
  /**
   * In the soft window, serve the token while one refresh runs in the background (default
   * `true`). `false` makes callers wait for the new token instead: for runtimes where work
   * cannot outlive the request that started it (a Worker isolate without `waitUntil`).
   */
  refreshInBackground?: boolean
  /**
   * Keeps the runtime alive for an acquisition that other callers share: each one is handed to it
   * by the call that starts it (joiners hand nothing). Pass the platform's `waitUntil` where work
   * dies with the request that started it (Cloudflare Workers: `import { waitUntil } from
   * 'cloudflare:workers'`): without it, a client that goes away while its request acquires the
   * token takes that acquisition down, and every request that joined it waits on it for good.
   * It also keeps a background refresh alive.
   */
  waitUntil?: (work: Promise<unknown>) => void
}

export interface GetTokenOptions {
  /** Skip the cache and the store: always a new grant (still single-flighted). */
  forceRefresh?: boolean
  /**
   * Seconds the token must stay valid for (capped, like every margin, at half its lifetime):
   * a cached token that expires sooner is never handed out; the caller waits for the new one.
   */
  minValidity?: number
}

/** A token as the manager hands it out: never the refresh token. Times are epoch milliseconds on the local clock. */
export interface TokenInfo {
  accessToken: string
  expiresAt: number
  receivedAt: number
  scope?: string
}

/**
 * Owns one provider client's token: cache, refresh ahead, single-flight, backoff, breaker.
 * It is the one place that knows the token rules (margins, the cache key, what is transient):
 * the hooks, the stores and the edge Worker ask it. Share one between several ky instances
 * with `withPaymentAuth({ tokens })`.
 *
 * @example
 * ```ts
 * const tokens = createTokenManager({ provider })
 * const { accessToken, expiresAt } = await tokens.getRecord({ minValidity: 60 })
 * ```
 */
export interface TokenManager {
  readonly provider: Provider
  /** The current token, acquired (once for every concurrent caller) when there is none fit to use. */
  getToken(options?: GetTokenOptions): Promise<string>
  /** Like `getToken`, with the token's times. */
  getRecord(options?: GetTokenOptions): Promise<TokenInfo>
  /**
   * Compare-and-invalidate: drops the cached token only if it is `rejectedAccessToken`; the next
   * token comes from an acquisition that starts after this call (never one already in flight).
   */
  invalidate(rejectedAccessToken: string): Promise<void>
  /** Forgets the token, the refresh token and any open breaker, here and in the store. */
  clear(): Promise<void>
  /** The cached token if it needs no work now (hot path, no promise). */
  peek(): string | undefined
}

/** Rejected tokens (and the flights that produced recent tokens) remembered per manager. */
const REMEMBERED = 16

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs `work` with a deadline; on expiry rejects with `onTimeout()`. */
function deadline<T>(work: Promise<T>, ms: number, onTimeout: () => unknown): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms)
  })
  return Promise.race([work, expired]).finally(() => timer !== undefined && clearTimeout(timer))
}

/** The host of a URL (never its path or query, which may carry credentials). */
const hostOf = (url: string) => {
  try {
    return new URL(url).host
  } catch {
    return 'an invalid URL'
  }
}

/** A Set or Map that forgets its oldest entry past `REMEMBERED`. */
function remember<K>(collection: Set<K> | Map<K, unknown>): void {
  if (collection.size > REMEMBERED) collection.delete(collection.keys().next().value!)
}

const info = ({ accessToken, expiresAt, receivedAt, scope }: TokenRecord): TokenInfo =>
  scope === undefined ? { accessToken, expiresAt, receivedAt } : { accessToken, expiresAt, receivedAt, scope }

const ManagerOptions = object({
  provider: object(
    { name: string, key: string, buildTokenRequest: func, processTokenResponse: func },
    'must be a provider, e.g. oauth2({...})',
  ),
  store: v.optional(object({ get: func, set: func, delete: func }, 'must be a TokenStore: get, set and delete')),
  refreshAhead: v.optional(nonNegative),
  fetch: v.optional(func),
  timeout: v.optional(positive),
  onEvent: v.optional(func),
  now: v.optional(func),
  backoff: v.optional(object({ limit: v.optional(nonNegative), delay: v.optional(nonNegative), maxDelay: v.optional(nonNegative) })),
  storeTimeout: v.optional(positive),
  refreshInBackground: v.optional(boolean),
  waitUntil: v.optional(func),
})

/** One acquisition in progress: every concurrent caller shares it. */
interface Flight {
  promise: Promise<TokenRecord>
  /** The rejection count when it started: a token it brings may predate a later rejection. */
  epoch: number
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
  checkOptions('createTokenManager', ManagerOptions, options)
  const { provider, refreshAhead = 60, timeout = 10_000, storeTimeout = 2000, refreshInBackground = true } = options
  const now = options.now ?? Date.now
  /** Without a store the L1 is the whole cache: nobody else could read or write a private one, so no store I/O at all. */
  const store = options.store
  const emit = safeListener(options.onEvent)
  const fetchToken = options.fetch ?? ((input: Request, init?: RequestInit) => globalThis.fetch(input, init))
  const { limit = 2, delay = 250, maxDelay = 5000 } = options.backoff ?? {}
  const name = provider.name
  const source = provider.source ?? 'network'
  /** The cache key: provider, endpoint, client id and scope (the dialect's `key`), never a secret. */
  const key = `payment-auth:${provider.key}`

  let current: TokenRecord | undefined
  let refresh: Pick<TokenRecord, 'refreshToken' | 'refreshExpiresAt'> = {}
  let flight: Flight | undefined
  let flights = 0
  /** Tells this manager's acquisitions from another's with the same provider name (one listener may hear both). */
  const managerId = crypto.randomUUID().slice(0, 8)
  /** The grant each acquisition in progress tried last, by id. */
  const lastGrant = new Map<string, TokenGrant['type']>()
  /** Rejections so far that no earlier rejection explains; a flight started before the latest one may bring a dead token. */
  let epoch = 0
  /** The flight that brought each recent token: its epoch and its number (flights are numbered as they start). */
  const broughtBy = new Map<string, { epoch: number; flight: number }>()
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
  /** Whether `r` stays valid for `minMs` more (capped at half its lifetime, like every margin). */
  const lasts = (r: TokenRecord, t: number, minMs: number) => r.expiresAt - t >= Math.min(minMs, (r.expiresAt - r.receivedAt) / 2)

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

  /** A store operation that can fail or hang without stopping the token work: reported, then `undefined`. */
  async function storeOp<T>(operation: 'get' | 'set' | 'delete', run: () => Promise<T> | T): Promise<T | undefined> {
    try {
      return await deadline(Promise.resolve().then(run), storeTimeout, () => new Error('store timeout'))
    } catch {
      emit({ type: 'store_error', provider: name, operation })
      return undefined
    }
  }

  /**
   * `work` under the store's cross-context lock when it has one. A lock that fails (not `work`)
   * is a store failure like any other: reported, and the work runs without it.
   */
  async function locked<T>(work: () => Promise<T>): Promise<T> {
    if (!store?.lock) return work()
    let started = false
    try {
      return await store.lock(key, () => {
        started = true
        return work()
      })
    } catch (error) {
      if (started) throw error
      emit({ type: 'store_error', provider: name, operation: 'lock' })
      return work()
    }
  }

  function adopt(r: TokenRecord, flightEpoch: number, flightNumber: number): TokenRecord {
    current = r
    broughtBy.set(r.accessToken, { epoch: flightEpoch, flight: flightNumber })
    remember(broughtBy)
    if (r.refreshToken) refresh = { refreshToken: r.refreshToken, refreshExpiresAt: r.refreshExpiresAt! }
    return r
  }

  function toRecord(set: Awaited<ReturnType<Provider['processTokenResponse']>>, t: number): TokenRecord {
    const life = lifetimeOf(set, t)
    if (!(life > 0))
      throw new PaymentAuthError(`${name}: the token answer has no usable lifetime`, {
        code: 'invalid_response',
        provider: name,
        status: 200,
      })
    // A relayed token keeps its full lifetime for the margins (never a receipt in the future).
    const receivedAt = set.issuedAt !== undefined && set.issuedAt < t ? set.issuedAt : t
    const r: TokenRecord = { v: 1, accessToken: set.accessToken, receivedAt, expiresAt: t + life * 1000 }
    if (set.refreshToken) {
      r.refreshToken = set.refreshToken
      if (set.refreshExpiresIn !== undefined) r.refreshExpiresAt = t + set.refreshExpiresIn * 1000
    }
    if (set.scope !== undefined) r.scope = set.scope
    return r
  }

  /** One token call, bounded by `timeout`; network failures and timeouts become typed errors. */
  async function callOnce(grant: TokenGrant, id: string, startedAt: number): Promise<TokenRecord> {
    lastGrant.set(id, grant.type)
    const controller = new AbortController()
    let request: Request
    try {
      request = await provider.buildTokenRequest(grant)
    } catch (error) {
      if (error instanceof PaymentAuthError) throw error
      // A bug in the dialect or its options, not the provider's failure: no retry, no breaker.
      throw new PaymentAuthError(`${name}: the token request could not be built`, {
        code: 'invalid_config',
        provider: name,
        cause: safeCause(error, provider.redact),
      })
    }
    const host = hostOf(request.url)
    const timedOut = () => new PaymentAuthError(`${name}: token request timed out after ${timeout} ms`, { code: 'timeout', provider: name })
    const work = (async () => {
      let response: Response
      try {
        response = await fetchToken(request, { signal: controller.signal })
      } catch (error) {
        if (controller.signal.aborted) throw timedOut()
        throw new PaymentAuthError(`${name}: token request to ${host} failed (network)`, {
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
    const expiresIn = Math.round((record.expiresAt - record.receivedAt) / 1000)
    emit({ type: 'token_acquired', provider: name, id, source, grant: grant.type, expiresIn, startedAt, ms: now() - startedAt })
    return record
  }

  /** A token call with bounded, jittered backoff for transient failures; `Retry-After` honoured up to `maxDelay`. */
  async function call(grant: TokenGrant, id: string, startedAt: number): Promise<TokenRecord> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await callOnce(grant, id, startedAt)
      } catch (thrown) {
        const error = asPaymentAuthError(thrown)
        const wait = error.retryAfter !== undefined ? error.retryAfter * 1000 : Math.random() * Math.min(maxDelay, delay * 2 ** attempt)
        const willRetry = error.retryable && attempt <= limit && wait <= maxDelay
        emit({ type: 'token_error', provider: name, id, code: error.code, retryable: error.retryable, attempt, willRetry, at: now() })
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

  /**
   * Adopt a fresh token from the store if one is there, else refresh grant, else client credentials.
   * A flight that a later rejection overtook hands its token to the callers that joined it, but
   * does not make it current: the callers after the rejection wait for the next flight.
   */
  async function obtain(
    force: boolean,
    minMs: number,
    flightEpoch: number,
    flightNumber: number,
    id: string,
    startedAt: number,
  ): Promise<TokenRecord> {
    const t = now()
    if (!force && store) {
      // Re-read (under the store's lock, if any): another context may have just stored a fresh token,
      // possibly already pushed to us while we waited. Only a token outside its soft window counts.
      const raw = readRecord(await storeOp('get', () => store.get(key)))
      // An expired access token may come with a live refresh token (e.g. after a restart): keep that.
      if (raw) lendRefreshToken(raw, t)
      const stored = usable(raw, t)
      if (stored && t < softAt(stored) && lasts(stored, t, minMs)) {
        // The acquisition's closing event, even when the store holds the token we had.
        emit({ type: 'token_adopted', provider: name, id, source: 'store', startedAt, ms: now() - startedAt })
        return adopt(stored, flightEpoch, flightNumber)
      }
    }
    let record: TokenRecord | undefined
    const { refreshToken, refreshExpiresAt } = refresh
    if (provider.refreshable && refreshToken && !(refreshExpiresAt! <= t)) {
      try {
        record = await callOnce({ type: 'refresh_token', refreshToken }, id, startedAt)
      } catch (error) {
        refresh = {}
        emit({ type: 'refresh_failed', provider: name, id, code: asPaymentAuthError(error).code, at: now() })
      }
    }
    record ??= await call(
      lastRejected ? { type: 'client_credentials', rejected: lastRejected } : { type: 'client_credentials' },
      id,
      startedAt,
    )
    lastRejected = undefined
    rejected.delete(record.accessToken)
    if (flightEpoch < epoch) {
      // Overtaken by a rejection: keep its refresh token, not its access token.
      if (record.refreshToken) refresh = { refreshToken: record.refreshToken, refreshExpiresAt: record.refreshExpiresAt! }
      broughtBy.set(record.accessToken, { epoch: flightEpoch, flight: flightNumber })
      remember(broughtBy)
      return record
    }
    adopt(record, flightEpoch, flightNumber)
    if (store)
      await storeOp('set', () => store.set(key, record, { ttlSeconds: Math.max(1, Math.ceil((usefulUntil(record) - now()) / 1000)) }))
    return record
  }

  function lendRefreshToken(r: TokenRecord, t: number): void {
    if (r.refreshToken && !refresh.refreshToken && !(r.refreshExpiresAt! <= t))
      refresh = { refreshToken: r.refreshToken, refreshExpiresAt: r.refreshExpiresAt! }
  }

  /**
   * The single flight: concurrent callers share one acquisition; failures open the breaker.
   * A flight that started before the latest rejection is not joined: the new one waits for it
   * to end (never two acquisitions at once), then starts.
   */
  function acquire(force: boolean, minMs: number): Promise<TokenRecord> {
    if (flight && flight.epoch >= epoch) return flight.promise
    const prior = flight?.promise
    const flightEpoch = epoch
    const flightNumber = ++flights
    const id = `${name}#${managerId}.${flightNumber}`
    const promise: Promise<TokenRecord> = (async () => {
      await prior?.catch(() => {})
      if (breakerOpen(now())) throw lastError
      const startedAt = now()
      try {
        const record = await locked(() => obtain(force, minMs, flightEpoch, flightNumber, id, startedAt))
        failures = 0
        lastError = undefined
        return record
      } catch (thrown) {
        const error = asPaymentAuthError(thrown)
        // The caller's mistake (options, a dialect's bug) is not the provider failing: no breaker.
        if (error.code === 'invalid_config') {
          emit({ type: 'token_failed', provider: name, id, source, ...grantOf(id), code: error.code, startedAt, ms: now() - startedAt })
          throw error
        }
        failures++
        const ms = error.retryAfter !== undefined ? error.retryAfter * 1000 : Math.min(60_000, 1000 * 2 ** (failures - 1))
        openedAt = now()
        openUntil = openedAt + ms
        lastError = error
        // Fatal (bad credentials, malformed answers): the cached token goes too.
        if (!error.retryable) current = undefined
        emit({ type: 'token_failed', provider: name, id, source, ...grantOf(id), code: error.code, startedAt, ms: now() - startedAt })
        emit({ type: 'breaker_open', provider: name, code: error.code, ms })
        throw error
      }
    })().finally(() => {
      lastGrant.delete(id)
      if (flight?.promise === promise) flight = undefined
    })
    flight = { promise, epoch: flightEpoch }
    try {
      options.waitUntil?.(promise.catch(() => {}))
    } catch {
      // Called outside a request it can extend: the acquisition goes on, as it would without one.
    }
    return promise
  }

  const grantOf = (id: string) => {
    const grant = lastGrant.get(id)
    return grant ? { grant } : {}
  }

  function peek(): string | undefined {
    const r = current
    if (!r) return undefined
    const t = now()
    return r.receivedAt <= t && t < softAt(r) && !rejected.has(r.accessToken) ? r.accessToken : undefined
  }

  async function getRecord({ forceRefresh = false, minValidity = 0 }: GetTokenOptions = {}): Promise<TokenInfo> {
    const t = now()
    const minMs = minValidity * 1000
    const r = forceRefresh ? undefined : usable(current, t)
    if (r && lasts(r, t, minMs)) {
      if (t < softAt(r)) return info(r)
      if (refreshInBackground && t < hardAt(r)) {
        // Soft window: serve this token; one background refresh (failures are kept for the breaker).
        if (!breakerOpen(t)) acquire(false, 0).catch(() => {})
        return info(r)
      }
    }
    try {
      let record = await acquire(forceRefresh, minMs)
      // Joined a flight that adopted a stored token too close to its expiry for this caller: one more.
      if (!lasts(record, now(), minMs)) record = await acquire(true, minMs)
      return info(record)
    } catch (error) {
      // A transient failure while a token is still valid: keep serving it.
      const still = forceRefresh ? undefined : usable(current, now())
      if (still && (error as PaymentAuthError).retryable) return info(still)
      throw error
    }
  }

  async function invalidate(rejectedAccessToken: string): Promise<void> {
    rejected.add(rejectedAccessToken)
    remember(rejected)
    const wasCurrent = current?.accessToken === rejectedAccessToken
    // A newer token is in use: the report is stale, and that token is reused, not refreshed again.
    const stale = current !== undefined && !wasCurrent
    if (!stale) {
      current = undefined
      lastRejected = rejectedAccessToken
      // Unless a flight that started before an earlier rejection brought it, this rejection is news:
      // flights in progress may bring tokens that died with it.
      const flightEpoch = broughtBy.get(rejectedAccessToken)?.epoch
      if (flightEpoch === undefined || flightEpoch >= epoch) epoch++
    }
    emit({ type: 'token_invalidated', provider: name, current: wasCurrent })
    if (stale || !store) return
    // Compare-and-delete under the store's lock: a newer token another context just stored stays.
    await locked(async () => {
      const stored = readRecord(await storeOp('get', () => store.get(key)))
      if (stored?.accessToken !== rejectedAccessToken) return
      lendRefreshToken(stored, now())
      await storeOp('delete', () => store.delete(key))
    })
  }

  async function clear(): Promise<void> {
    current = undefined
    refresh = {}
    rejected.clear()
    lastRejected = undefined
    failures = 0
    lastError = undefined
    if (store) await storeOp('delete', () => store.delete(key))
  }

  // Another tab stored a token: take it (unless rejected or older). It removed one: drop our copy.
  store?.subscribe?.(key, (pushed) => {
    const r = pushed && usable(readRecord(pushed), now())
    if (!pushed) current = undefined
    else if (r && r.accessToken !== current?.accessToken && !(current && current.receivedAt > r.receivedAt)) {
      emit({ type: 'token_adopted', provider: name, source: 'store' })
      adopt(r, epoch, Number.POSITIVE_INFINITY)
    }
  })

  const manager: TokenManager = {
    provider,
    getRecord,
    getToken: async (options) => (await getRecord(options)).accessToken,
    invalidate,
    clear,
    peek,
  }
  insides.set(manager, { flights: () => flights, flightOf: (accessToken) => broughtBy.get(accessToken)?.flight })
  return manager
}

/**
 * What the hook of this package may ask a manager it did not build: how many acquisitions have
 * started, and which one brought a token (to tell whether a revocation may have killed it too).
 */
export interface ManagerInsides {
  flights(): number
  flightOf(accessToken: string): number | undefined
}

/** Managers made by `createTokenManager` and their insides (another `TokenManager` implementation has none). */
export const insides = new WeakMap<TokenManager, ManagerInsides>()

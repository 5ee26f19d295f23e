/** A token as it is cached. Times are milliseconds on the local clock of whoever received it. */
export interface TokenRecord {
  /** Format version: a record of another version reads as absent. */
  v: 1
  accessToken: string
  /** When the token was received (local clock). A record stamped in the future is discarded. */
  receivedAt: number
  expiresAt: number
  refreshToken?: string
  refreshExpiresAt?: number
  scope?: string
}

/**
 * Where tokens are kept between requests. Every adapter (memory, IndexedDB, Workers KV)
 * implements this and passes one shared contract suite. Keys never contain a secret.
 *
 * `get` returns the record, or `undefined` when there is none, it has expired, or what is
 * stored is corrupt or foreign (`readRecord` checks that): never a crash.
 *
 * @example
 * ```ts
 * const store: TokenStore = {
 *   get: (key) => redis.get(key).then((s) => (s ? JSON.parse(s) : undefined)),
 *   set: (key, record, { ttlSeconds }) => redis.set(key, JSON.stringify(record), 'EX', ttlSeconds),
 *   delete: (key) => redis.del(key),
 * }
 * ```
 */
export interface TokenStore {
  get(key: string): Promise<TokenRecord | undefined> | TokenRecord | undefined
  set(key: string, record: TokenRecord, options: { ttlSeconds: number }): Promise<void> | void
  delete(key: string): Promise<void> | void
  /** Cross-context single-flight (other tabs, other processes): run `fn` while holding the key's lock. */
  lock?<T>(key: string, fn: () => Promise<T>): Promise<T>
  /**
   * Cross-context updates: `listener` hears a record another context stored under `key`, or
   * `undefined` when another context removed it (rejected or cleared). Returns an unsubscribe.
   */
  subscribe?(key: string, listener: (record: TokenRecord | undefined) => void): () => void
}

/**
 * Accepts a stored value only if it is a well-formed record of this version: a corrupt
 * or foreign value reads as absent, never as a crash or a cached `undefined`.
 */
export function readRecord(value: unknown): TokenRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const r = value as Partial<TokenRecord>
  const ok =
    r.v === 1 &&
    typeof r.accessToken === 'string' &&
    r.accessToken.length > 0 &&
    Number.isFinite(r.receivedAt) &&
    Number.isFinite(r.expiresAt) &&
    (r.refreshToken === undefined || typeof r.refreshToken === 'string') &&
    (r.refreshExpiresAt === undefined || Number.isFinite(r.refreshExpiresAt)) &&
    (r.scope === undefined || typeof r.scope === 'string')
  return ok ? (r as TokenRecord) : undefined
}

/** A record is worth keeping while its access token or its refresh token lives. */
export const usefulUntil = (r: TokenRecord): number => Math.max(r.expiresAt, r.refreshExpiresAt ?? 0)

/**
 * The default store: a per-process `Map` that honours each entry's TTL on read.
 *
 * @example
 * ```ts
 * const store = memoryStore()
 * ky.extend(withPaymentAuth({ provider, store }))
 * ```
 */
export function memoryStore(options: { now?: () => number } = {}): TokenStore {
  const now = options.now ?? Date.now
  const entries = new Map<string, { record: TokenRecord; until: number }>()
  return {
    get(key) {
      const entry = entries.get(key)
      if (!entry) return undefined
      if (entry.until > now() && usefulUntil(entry.record) > now()) return entry.record
      entries.delete(key)
      return undefined
    },
    set(key, record, { ttlSeconds }) {
      entries.set(key, { record, until: now() + ttlSeconds * 1000 })
    },
    delete(key) {
      entries.delete(key)
    },
  }
}

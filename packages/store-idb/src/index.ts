/**
 * @payment-auth/store-idb: a `TokenStore` for browsers. Tokens live in IndexedDB (idb-keyval,
 * in a database of their own), so every tab and worker of the origin shares them; `lock` makes
 * token acquisition single-flight across those contexts (Web Locks, stolen after a timeout) and
 * `subscribe` pushes fresh or removed tokens to the other contexts (BroadcastChannel).
 * Where any of those is missing it degrades (memory, no lock, no push) and says so once.
 */
import {
  checkOptions,
  func,
  memoryStore,
  nonNegative,
  object,
  readRecord,
  text,
  usefulUntil,
  type TokenRecord,
  type TokenStore,
} from '@payment-auth/ky/store'
import * as v from 'valibot'
import { createStore, del, get, promisifyRequest, set, type UseStore } from 'idb-keyval'
import { broadcaster } from './broadcast.ts'
import { webLocks, withLock } from './lock.ts'

/**
 * What `idbStore` reports through `onEvent`. Events never carry a key, token or secret.
 *
 * - `store_fallback`, at most once per reason and store: `indexeddb_unavailable` (tokens are
 *   kept in memory, per context), `locks_unavailable` (no cross-tab single-flight; the token
 *   manager still single-flights within the context), `broadcast_unavailable` (no push to
 *   other tabs; they still find the token in IndexedDB when they need one).
 * - `lock_stolen`: a context waited `lockTimeout` for the token lock and took it from its holder.
 *
 * @example
 * ```ts
 * const store = idbStore({
 *   onEvent: (e: IdbStoreEvent) => {
 *     if (e.type === 'store_fallback') console.warn(`token store degraded: ${e.reason}`)
 *   },
 * })
 * ```
 */
export type IdbStoreEvent =
  | { type: 'store_fallback'; store: 'idb'; reason: 'indexeddb_unavailable' | 'locks_unavailable' | 'broadcast_unavailable' }
  | { type: 'lock_stolen'; store: 'idb' }

/**
 * Options of `idbStore`.
 *
 * @example
 * ```ts
 * const options: IdbStoreOptions = { dbName: 'my-app-tokens', lockTimeout: 15_000, onEvent: console.info }
 * const store = idbStore(options)
 * ```
 */
export interface IdbStoreOptions {
  /** IndexedDB database (also names the BroadcastChannel). Default `'payment-auth'`. */
  dbName?: string
  /** Object store inside `dbName`. Default `'tokens'`. */
  storeName?: string
  /** Milliseconds to wait for another context's token lock before stealing it. Default 10 000. */
  lockTimeout?: number
  /** Milliseconds the first IndexedDB connection may take before the store falls back to memory. Default 1 500. */
  openTimeout?: number
  /** Degradations and stolen locks; a throwing listener is ignored. */
  onEvent?: (event: IdbStoreEvent) => void
  /** The clock, in milliseconds since the epoch, for expiry checks. Default `Date.now`. */
  now?: () => number
}

/**
 * The store `idbStore` returns: a `TokenStore` whose `lock` and `subscribe` are always present.
 *
 * @example
 * ```ts
 * const store: IdbStore = idbStore()
 * const stop = store.subscribe('payment-auth:my-key', (record) => console.log(record ? 'new token' : 'token removed'))
 * ```
 */
export type IdbStore = Required<TokenStore>

const noop = () => {}

/**
 * A token store in IndexedDB, shared by every tab and worker of the origin.
 *
 * Nothing touches IndexedDB, Web Locks or BroadcastChannel before the first use, so importing
 * and constructing it in SSR, Node or a Worker without them is harmless. Expiry is checked on
 * read (IndexedDB has no TTL): a record is served while its access or refresh token lives.
 *
 * @example
 * ```ts
 * import ky from 'ky'
 * import { withPaymentAuth, edge } from '@payment-auth/ky'
 * import { idbStore } from '@payment-auth/store-idb'
 *
 * const api = ky.create({ baseUrl: 'https://api.example.com/' }).extend(
 *   withPaymentAuth({
 *     provider: edge({ url: 'https://auth.example.com', provider: 'stablelink', credential: () => session.token }),
 *     store: idbStore(),
 *   }),
 * )
 * ```
 */
const Options = object(
  {
    dbName: v.optional(text),
    storeName: v.optional(text),
    lockTimeout: v.optional(nonNegative),
    openTimeout: v.optional(nonNegative),
    onEvent: v.optional(func),
    now: v.optional(func),
  },
  'must be an object',
)

export function idbStore(options: IdbStoreOptions = {}): IdbStore {
  checkOptions('idbStore', Options, options)
  const { dbName = 'payment-auth', storeName = 'tokens', lockTimeout = 10_000, openTimeout = 1500, onEvent } = options
  const now = options.now ?? Date.now

  const emit = (event: IdbStoreEvent) => {
    try {
      onEvent?.(event)
    } catch {
      // a broken listener must not break the store
    }
  }
  const reported = new Set<string>()
  const degraded = (reason: 'indexeddb_unavailable' | 'locks_unavailable' | 'broadcast_unavailable') => {
    if (reported.has(reason)) return
    reported.add(reason)
    emit({ type: 'store_fallback', store: 'idb', reason })
  }

  const channel = broadcaster(`payment-auth-idb:${dbName}/${storeName}`, () => degraded('broadcast_unavailable'))

  let memory: TokenStore | undefined
  let connecting: Promise<UseStore | undefined> | undefined

  /** From now on this store lives in memory (IndexedDB missing, refused, hung or failing). */
  function fallback(): TokenStore {
    if (!memory) {
      memory = memoryStore({ now })
      degraded('indexeddb_unavailable')
    }
    return memory
  }

  /** Opens the database once, on first use, and proves it with a read within `openTimeout`. */
  function connect(): Promise<UseStore | undefined> {
    connecting ??= (async () => {
      let timer: ReturnType<typeof setTimeout> | undefined
      try {
        if (typeof indexedDB === 'undefined' || !indexedDB) throw new Error('no IndexedDB')
        const use = createStore(dbName, storeName)
        const probe = use('readonly', (s) => promisifyRequest(s.count()))
        probe.catch(noop)
        const hung = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('IndexedDB open timed out')), openTimeout)
        })
        await Promise.race([probe, hung])
        return use
      } catch {
        fallback()
        return undefined
      } finally {
        clearTimeout(timer)
      }
    })()
    return connecting
  }

  /** `op` on IndexedDB (retried once: a connection the browser closed reopens), else `inMemory`. */
  async function run<T>(op: (use: UseStore) => Promise<T>, inMemory: (m: TokenStore) => T | Promise<T>): Promise<T> {
    const use = memory ? undefined : await connect()
    if (use && !memory) {
      try {
        return await op(use)
      } catch {
        try {
          return await op(use)
        } catch {
          // QuotaExceeded, a deleted database, an aborted transaction: degrade below
        }
      }
    }
    return inMemory(fallback())
  }

  const fresh = (value: unknown): TokenRecord | undefined => {
    const record = readRecord(value)
    return record && usefulUntil(record) > now() ? record : undefined
  }

  return {
    async get(key) {
      return run(
        async (use) => fresh(await get<unknown>(key, use)),
        (m) => m.get(key),
      )
    },
    async set(key, record, { ttlSeconds }) {
      await run(
        (use) => set(key, record, use),
        (m) => m.set(key, record, { ttlSeconds }),
      )
      channel.post(key, record)
    },
    async delete(key) {
      await run(
        (use) => del(key, use),
        (m) => m.delete(key),
      )
      channel.post(key, null)
    },
    async lock<T>(key: string, fn: () => Promise<T>): Promise<T> {
      const locks = webLocks()
      if (!locks) {
        degraded('locks_unavailable')
        return fn()
      }
      return withLock(locks, `payment-auth:${key}`, fn, lockTimeout, () => emit({ type: 'lock_stolen', store: 'idb' }))
    },
    subscribe(key, listener) {
      return channel.subscribe(key, listener)
    },
  }
}

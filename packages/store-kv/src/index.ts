import { checkOptions, func, object, readRecord, string, usefulUntil, type TokenStore } from '@payment-auth/ky/store'
import * as v from 'valibot'

/** The part of a Workers KV namespace binding this store uses (structural, so no Cloudflare types leak in). */
export interface KvNamespaceLike {
  get(key: string, type: 'text'): Promise<string | null>
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>
  delete(key: string): Promise<void>
}

export interface KvStoreOptions {
  /** Prepended to every key, e.g. `'tenant-a:'`. Default none (keys already start with `payment-auth:`). */
  prefix?: string
  /** The clock for the expiry check on read, ms. Default `Date.now`. */
  now?: () => number
}

/** Workers KV refuses an `expirationTtl` under 60 s. */
export const KV_MIN_TTL = 60

/**
 * Workers KV as a token *read cache*. Values are the versioned `TokenRecord` JSON (a record
 * of another version reads as absent); `expirationTtl` is floored at 60 s, so the real expiry
 * is kept inside the value and checked on read. KV is eventually consistent and has no
 * compare-and-swap: it must never arbitrate who refreshes (the edge Worker's Durable Object does).
 *
 * @example
 * ```ts
 * import { kvStore } from '@payment-auth/store-kv'
 *
 * export default {
 *   async fetch(request: Request, env: Env) {
 *     const api = ky.extend(withPaymentAuth({ provider: oauth2({ ... }), store: kvStore(env.TOKENS) }))
 *     return api.get('https://pay.example/payments/')
 *   },
 * }
 * ```
 */
const Namespace = object(
  { get: func, put: func, delete: func },
  'must be a KV namespace binding, e.g. env.TOKENS (is the binding configured?)',
)
const Options = object({ prefix: v.optional(string), now: v.optional(func) })

export function kvStore(namespace: KvNamespaceLike, options: KvStoreOptions = {}): TokenStore {
  checkOptions('kvStore', object({ namespace: Namespace, options: Options }), { namespace, options })
  const { prefix = '', now = Date.now } = options
  return {
    async get(key) {
      const text = await namespace.get(prefix + key, 'text')
      if (text === null) return undefined
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        return undefined // corrupt: absent, never a crash
      }
      const record = readRecord(value)
      return record && usefulUntil(record) > now() ? record : undefined
    },
    async set(key, record, { ttlSeconds }) {
      await namespace.put(prefix + key, JSON.stringify(record), { expirationTtl: Math.max(KV_MIN_TTL, Math.ceil(ttlSeconds)) })
    },
    async delete(key) {
      await namespace.delete(prefix + key)
    },
  }
}

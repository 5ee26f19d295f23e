/**
 * The token manager's store inside the token authority (the Durable Object):
 *
 * - the full record, refresh token included, lives in Durable Object storage. The manager
 *   awaits `set` before it answers, so the token and a rotated refresh token survive eviction;
 * - the access token alone (`publicRecord`) is mirrored to the KV read cache, which the
 *   Worker reads before it asks the authority.
 *
 * Keys are described in STORAGE.md.
 */
import { readRecord, usefulUntil, type TokenRecord, type TokenStore } from '@payment-auth/ky/store'

/** What leaves the Durable Object for the KV read cache: the access token only, never the refresh token. */
function publicRecord(record: TokenRecord): TokenRecord {
  const { v, accessToken, receivedAt, expiresAt, scope } = record
  return scope === undefined ? { v, accessToken, receivedAt, expiresAt } : { v, accessToken, receivedAt, expiresAt, scope }
}

export function authorityStore(storage: DurableObjectStorage, readCache: TokenStore): TokenStore {
  return {
    async get(key) {
      const record = readRecord(await storage.get(key))
      if (!record) return undefined
      if (usefulUntil(record) <= Date.now()) {
        await storage.delete(key)
        return undefined
      }
      return record
    },
    async set(key, record) {
      await storage.put(key, record)
      try {
        await readCache.set(key, publicRecord(record), { ttlSeconds: Math.max(1, Math.ceil((record.expiresAt - Date.now()) / 1000)) })
      } catch {
        console.warn('edge: the KV read cache could not be written; readers fall back to the authority')
      }
    },
    async delete(key) {
      await storage.delete(key)
      try {
        await readCache.delete(key)
      } catch {
        console.warn('edge: the KV read cache could not be cleared; readers may see a rejected token until it expires')
      }
    },
  }
}

/**
 * The token manager's store inside the token authority (the Durable Object):
 *
 * - the full record, refresh token included, lives in Durable Object storage. The manager
 *   awaits `set` before it answers, so the token and a rotated refresh token survive eviction;
 * - the access token alone (`publicRecord`) is mirrored to the KV read cache, which the
 *   Worker reads before it asks the authority.
 *
 * It also remembers the records it saw lately, so the authority can tell the expiry of the
 * token the manager hands out. Keys are described in STORAGE.md.
 */
import { readRecord, usefulUntil, type TokenRecord, type TokenStore } from '@payment-auth/ky'
import { publicRecord } from './issued.ts'

export interface AuthorityStore extends TokenStore {
  /** The record of an access token this store read or wrote lately. */
  recordOf(accessToken: string): TokenRecord | undefined
}

const REMEMBERED = 8

export function authorityStore(storage: DurableObjectStorage, readCache: TokenStore): AuthorityStore {
  const seen = new Map<string, TokenRecord>()
  const remember = (record: TokenRecord) => {
    seen.set(record.accessToken, record)
    if (seen.size > REMEMBERED) seen.delete(seen.keys().next().value!)
  }

  return {
    async get(key) {
      const record = readRecord(await storage.get(key))
      if (!record) return undefined
      if (usefulUntil(record) <= Date.now()) {
        await storage.delete(key)
        return undefined
      }
      remember(record)
      return record
    },
    async set(key, record) {
      await storage.put(key, record)
      remember(record)
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
    recordOf: (accessToken) => seen.get(accessToken),
  }
}

/**
 * The token manager's store inside the token authority (the Durable Object):
 *
 * - the full record, refresh token included, lives in Durable Object storage. The manager
 *   awaits `set` before it answers, so the token and a rotated refresh token survive eviction;
 * - the access token alone (`publicRecord`) is mirrored to the KV read cache, which the
 *   Worker reads before it asks the authority.
 *
 * Both hold the secret fields sealed (AES-GCM, sealing.ts) under `TOKEN_ENCRYPTION_KEYS`:
 * only this store and the isolates' KV reader (tokens.ts) open them. Keys are described in
 * STORAGE.md.
 */
import { readRecord, usefulUntil, type TokenRecord, type TokenStore } from '@payment-auth/ky/store'
import { env } from 'cloudflare:workers'
import { keyringOf, openRecord, sealRecord } from './sealing.ts'

/** What leaves the Durable Object for the KV read cache: the access token only, never the refresh token. */
function publicRecord(record: TokenRecord): TokenRecord {
  const { v, accessToken, receivedAt, expiresAt, scope } = record
  return scope === undefined ? { v, accessToken, receivedAt, expiresAt } : { v, accessToken, receivedAt, expiresAt, scope }
}

/**
 * @param keys The value of `TOKEN_ENCRYPTION_KEYS` (read at each use: the Durable Object's own env
 *   by default; tests pass another to stage a rotation).
 */
export function authorityStore(
  storage: DurableObjectStorage,
  readCache: TokenStore,
  keys: () => unknown = () => env.TOKEN_ENCRYPTION_KEYS,
): TokenStore {
  return {
    async get(key) {
      const record = readRecord(await storage.get(key))
      if (!record) return undefined
      if (usefulUntil(record) <= Date.now()) {
        await storage.delete(key)
        return undefined
      }
      // A record under a key no longer listed reads as absent: the manager gets a new token.
      return openRecord(await keyringOf(keys()), key, record)
    },
    async set(key, plain) {
      const record = await sealRecord(await keyringOf(keys()), key, plain)
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

/**
 * The Worker's token path. Reading: the isolate's L1 (a Map), then the KV read cache, then
 * the token authority (the Durable Object), which is the only one that ever calls the
 * provider. A cached record is served only while `servable` (life left beyond the
 * refresh-ahead margin). Invalidating always goes to the authority and updates L1.
 *
 * `edgeTokens` wraps this path as a `TokenManager`, so the proxy can reuse
 * `withPaymentAuth` (and its 401 replay) from `@payment-auth/ky` unchanged.
 */
import { PaymentAuthError, type TokenManager, type TokenRecord } from '@payment-auth/ky'
import { kvStore } from '@payment-auth/store-kv'
import type { AuthorityAnswer } from './authority.ts'
import { servable } from './issued.ts'
import { authorityOf, type ProviderClient } from './providers.ts'

/** L1: this isolate's copy of each current token, by cache key. */
const l1 = new Map<string, TokenRecord>()

/** Forgets every token this isolate holds in L1 (tests; the authority and KV are untouched). */
export function clearIsolateCache(): void {
  l1.clear()
}

/** The authority's answer as a record, remembered in L1; a failure becomes the `PaymentAuthError` it was. */
function adopt(client: ProviderClient, answer: AuthorityAnswer): TokenRecord {
  if (!answer.ok) {
    throw new PaymentAuthError(`${client.name}: token request failed with ${answer.code}`, {
      code: answer.code,
      provider: client.name,
      retryAfter: answer.retryAfter,
    })
  }
  l1.set(client.key, answer.record)
  return answer.record
}

/** KV is only a cache: when it fails, the authority answers instead. */
async function readCache(env: Env, key: string): Promise<TokenRecord | undefined> {
  try {
    return await kvStore(env.TOKENS).get(key)
  } catch {
    console.warn('edge: the KV read cache could not be read; asking the authority')
    return undefined
  }
}

/** A current token with life left: L1, then KV, then the authority. */
export async function readToken(env: Env, client: ProviderClient): Promise<TokenRecord> {
  const cached = l1.get(client.key)
  if (cached && servable(cached, Date.now())) return cached
  const stored = await readCache(env, client.key)
  if (stored && servable(stored, Date.now())) {
    l1.set(client.key, stored)
    return stored
  }
  return adopt(client, await authorityOf(env, client).token(client.name, client.scope))
}

/** Compare-and-invalidate at the authority; answers the current (possibly new) token. */
export async function invalidateToken(env: Env, client: ProviderClient, rejectedAccessToken: string): Promise<TokenRecord> {
  if (l1.get(client.key)?.accessToken === rejectedAccessToken) l1.delete(client.key)
  return adopt(client, await authorityOf(env, client).invalidate(client.name, rejectedAccessToken, client.scope))
}

/** The edge's token path as a `TokenManager`: `getToken` reads, `invalidate` asks the authority. */
export function edgeTokens(env: Env, client: ProviderClient): TokenManager {
  return {
    provider: client.dialect,
    async getToken() {
      return (await readToken(env, client)).accessToken
    },
    async invalidate(rejectedAccessToken) {
      await invalidateToken(env, client, rejectedAccessToken)
    },
    async clear() {
      l1.delete(client.key)
    },
    peek() {
      const cached = l1.get(client.key)
      return cached && servable(cached, Date.now()) ? cached.accessToken : undefined
    },
  }
}

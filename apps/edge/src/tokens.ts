/**
 * The isolate's step of the token path. Each provider client (and scope) has one token manager
 * per isolate: its memory is the isolate's L1, its store is the KV read cache (read only: the
 * authority writes it), and its token endpoint is the authority, the Durable Object that alone
 * calls the provider. So the manager decides, as everywhere, when a cached token may still be
 * served, and concurrent requests in an isolate make one call to the authority.
 *
 * The routes and the proxy take this manager as it is (`withPaymentAuth({ tokens })`).
 */
import { createTokenManager, type TokenManager, type TokenStore } from '@payment-auth/ky'
import { waitUntil } from 'cloudflare:workers'
import { kvStore } from '@payment-auth/store-kv'
import { authorityOf, authorityProvider, MIN_VALIDITY_SECONDS } from './authority.ts'
import type { ProviderClient } from './providers.ts'
import { keyringOf, openRecord } from './sealing.ts'

/** This isolate's managers, by the provider client's key. */
const managers = new Map<string, TokenManager>()

/** Forgets every token this isolate holds (tests: "another isolate"; the authority and KV are untouched). */
export function clearIsolateCache(): void {
  managers.clear()
}

/**
 * KV as a read cache: a failing read falls through to the authority; writes are the authority's
 * alone. The access token in KV is sealed (sealing.ts): opened here, once per KV read; the
 * manager's memory (the L1) then serves the warm path without any crypto.
 */
function readCache(kv: TokenStore, keys: unknown): TokenStore {
  return {
    async get(key) {
      try {
        const record = await kv.get(key)
        // Unreadable (a key no longer listed): absent, so the authority answers.
        return record && (await openRecord(await keyringOf(keys), key, record))
      } catch {
        console.warn('edge: the KV read cache could not be read; asking the authority')
        return undefined
      }
    },
    set() {},
    delete() {},
  }
}

/** The token manager of `client` in this isolate. */
export function tokensFor(env: Env, client: ProviderClient): TokenManager {
  let tokens = managers.get(client.dialect.key)
  if (!tokens) {
    // Resolved in the request that builds the manager: a broken binding is our bug (a plain 500), not a token failure.
    authorityOf(env, client)
    tokens = createTokenManager({
      provider: authorityProvider(client),
      store: readCache(kvStore(env.TOKENS), env.TOKEN_ENCRYPTION_KEYS),
      // A stub per call: I/O objects may not cross from one request's handler to another's.
      fetch: (request) => authorityOf(env, client).fetch(request),
      refreshAhead: MIN_VALIDITY_SECONDS,
      // Inside the margin a token no longer has the life a caller is promised (minValidity): callers wait for the authority.
      refreshInBackground: false,
      // The authority already retried; its failures reach the caller at once.
      backoff: { limit: 0 },
      // The call to the authority is I/O of the request that starts the acquisition: cancelled with
      // it (a client that goes away) unless that request waits for it, and other requests joined it.
      waitUntil,
    })
    managers.set(client.dialect.key, tokens)
  }
  return tokens
}

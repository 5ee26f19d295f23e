/**
 * `TokenAuthority`: the Durable Object that is the single token authority of one provider
 * client (binding `AUTHORITY`, named `<provider> <clientId>`). Every Worker isolate asks it
 * when its caches have nothing servable, so one client gets one token at a time, whoever
 * asks: this is how stablelink's "one live token per client id" holds for every caller.
 *
 * Inside, one `createTokenManager` per scope does the work: its in-flight promise is the
 * single flight (concurrent requests share one token call; no `blockConcurrencyWhile` around
 * the network), its store is Durable Object storage (authority-store.ts), and its
 * `invalidate(rejected)` is the compare-and-invalidate.
 *
 * The RPC methods answer `{ok: true, record}` (the access token only, never the refresh
 * token) or `{ok: false, code, retryAfter?}` for a failure of the provider's token endpoint.
 */
import { createTokenManager, isPaymentAuthError, type PaymentAuthErrorCode, type PaymentAuthEvent, type TokenManager, type TokenRecord } from '@payment-auth/ky'
import { kvStore } from '@payment-auth/store-kv'
import { DurableObject } from 'cloudflare:workers'
import { authorityStore, type AuthorityStore } from './authority-store.ts'
import { loadConfig } from './config.ts'
import { publicRecord, REFRESH_AHEAD_SECONDS, servable } from './issued.ts'
import { providerClient } from './providers.ts'

export type AuthorityAnswer =
  | { ok: true; record: TokenRecord }
  | { ok: false; code: PaymentAuthErrorCode; retryAfter?: number }

interface Authority {
  manager: TokenManager
  store: AuthorityStore
}

/** Events carry no token or secret; routine ones are left out of the log. */
function log(event: PaymentAuthEvent): void {
  if (event.type === 'token_adopted' || event.type === 'token_invalidated' || event.type === 'replay') return
  const line = `edge authority: ${JSON.stringify(event)}`
  if (event.type === 'token_acquired') console.log(line)
  else console.warn(line)
}

export class TokenAuthority extends DurableObject<Env> {
  /** One token manager per `<provider> <scope>`, for the life of this instance. */
  readonly #authorities = new Map<string, Authority>()

  /** The current token of `provider` (and `scope`): cached, or acquired once for every concurrent caller. */
  async token(provider: string, scope?: string): Promise<AuthorityAnswer> {
    const authority = this.#authority(provider, scope)
    return answer(() => issue(authority))
  }

  /**
   * Compare-and-invalidate: `rejectedAccessToken` is dropped only if it is still the current
   * token (then exactly one new token call); a stale report just gets the current token.
   */
  async invalidate(provider: string, rejectedAccessToken: string, scope?: string): Promise<AuthorityAnswer> {
    const authority = this.#authority(provider, scope)
    return answer(async () => {
      // After an eviction the manager starts empty: the rejected token is then never adopted from
      // storage, while the stored refresh token still is (the manager's re-read does both).
      await authority.manager.invalidate(rejectedAccessToken)
      return issue(authority)
    })
  }

  #authority(provider: string, scope: string | undefined): Authority {
    const id = `${provider} ${scope ?? ''}`
    let authority = this.#authorities.get(id)
    if (!authority) {
      const config = loadConfig(this.env).providers.get(provider)
      if (!config) throw new Error(`unknown provider ${provider}`)
      const client = providerClient(this.env, provider, config, scope)
      const store = authorityStore(this.ctx.storage, kvStore(this.env.TOKENS))
      const manager = createTokenManager({
        provider: client.dialect,
        store,
        refreshAhead: REFRESH_AHEAD_SECONDS,
        // One quick retry of a transient failure; callers are waiting. Longer waits are the caller's (Retry-After).
        backoff: { limit: 1, delay: 200, maxDelay: 2000 },
        onEvent: log,
      })
      authority = { manager, store }
      this.#authorities.set(id, authority)
    }
    return authority
  }
}

/**
 * The manager's current token as a record with life left. Inside the refresh-ahead window the
 * manager serves the old token while one refresh runs in the background; the authority waits
 * for that refresh instead (joining it, not starting another), so no cache holds a dying token.
 */
async function issue({ manager, store }: Authority): Promise<TokenRecord> {
  const record = known(store, await manager.getToken())
  if (servable(record, Date.now())) return publicRecord(record)
  try {
    return publicRecord(known(store, await manager.getToken({ forceRefresh: true })))
  } catch (error) {
    // The refresh failed for now, but the old token still works: hand it out.
    if (isPaymentAuthError(error) && error.retryable && Date.now() < record.expiresAt) return publicRecord(record)
    throw error
  }
}

function known(store: AuthorityStore, accessToken: string): TokenRecord {
  const record = store.recordOf(accessToken)
  if (!record) throw new Error('the token manager returned a token its store never saw')
  return record
}

/** Token-endpoint failures become an answer (their codes survive RPC); anything else is a bug and throws. */
async function answer(work: () => Promise<TokenRecord>): Promise<AuthorityAnswer> {
  try {
    return { ok: true, record: await work() }
  } catch (error) {
    if (!isPaymentAuthError(error)) throw error
    return error.retryAfter === undefined ? { ok: false, code: error.code } : { ok: false, code: error.code, retryAfter: error.retryAfter }
  }
}

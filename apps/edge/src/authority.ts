/**
 * `TokenAuthority`: the Durable Object that is the single token authority of one provider
 * client (binding `AUTHORITY`, named `<provider> <clientId>`). Every Worker isolate asks it
 * when its own caches have no token fit to hand out, so one client gets one token at a time,
 * whoever asks: this is how stablelink's "one live token per client id" holds for every caller.
 *
 * Inside, one `createTokenManager` per scope does all the token work: its in-flight promise is
 * the single flight (no `blockConcurrencyWhile` around the network), its store is Durable Object
 * storage (authority-store.ts), `invalidate(rejected)` is the compare-and-invalidate, and
 * `getRecord({minValidity})` never answers with a token inside the refresh-ahead margin.
 *
 * Isolates speak to it over `fetch` (`authorityProvider` is their side): `POST` with
 * `{provider, scope?, rejected?}` answers 200 `{access_token, expires_in, issued_at, scope?}`
 * (never the refresh token) or 502 `{error: <PaymentAuthErrorCode>, retry_after?}`.
 */
import {
  createTokenManager,
  defineProvider,
  isPaymentAuthError,
  PaymentAuthError,
  type PaymentAuthErrorCode,
  type PaymentAuthEvent,
  type Provider,
  type TokenManager,
} from '@payment-auth/ky'
import { telemetry } from '@payment-auth/otel'
import { kvStore } from '@payment-auth/store-kv'
import { DurableObject } from 'cloudflare:workers'
import { clientStatus, observe, type ClientStatus, type Observed } from './authority-status.ts'
import { authorityStore } from './authority-store.ts'
import { loadConfig } from './config.ts'
import { providerClient, type ProviderClient } from './providers.ts'

/** Seconds of life a token handed out by the edge always has left (at most half its lifetime): its refresh-ahead margin. */
export const MIN_VALIDITY_SECONDS = 60

interface AuthorityRequest {
  provider: string
  scope?: string
  /** The token an API refused: compare-and-invalidate before answering. */
  rejected?: string
}

type AuthorityAnswer =
  | { access_token: string; expires_in: number; issued_at: number; scope?: string }
  | { error: PaymentAuthErrorCode; retry_after?: number; status?: number }

/**
 * Spans and metrics of the token work through @opentelemetry/api: a no-op until a tracer or meter
 * provider is registered (an OTel SDK for Workers, or Workers tracing), then one span per
 * acquisition from the provider.
 */
const spans = telemetry()

/** Events carry no token or secret; routine ones are left out of the log, every one goes to telemetry. */
function log(event: PaymentAuthEvent): void {
  spans(event)
  if (event.type === 'token_adopted' || event.type === 'token_invalidated' || event.type === 'replay') return
  const line = `edge authority: ${JSON.stringify(event)}`
  if (event.type === 'token_acquired') console.log(line)
  else console.warn(line)
}

export class TokenAuthority extends DurableObject<Env> {
  /** One token manager per `<provider> <scope>`, for the life of this instance. */
  readonly #managers = new Map<string, TokenManager>()
  /** What `status()` reports, per `<provider> <scope>`, observed by `fetch` (authority-status.ts). */
  readonly #observed = new Map<string, Observed>()

  /** Per scope of this provider client: the stored token's age and remaining life, the last error, the breaker, token calls in the last hour. */
  async status(provider: string): Promise<ClientStatus[]> {
    const config = loadConfig(this.env).providers.get(provider)
    // The storage key of each scope served: the provider client's own key, as the managers use it.
    const keyOf = (scope: string) =>
      `payment-auth:${config ? providerClient(this.env, provider, config, scope || undefined).dialect.key : scope}`
    return clientStatus(provider, await this.ctx.storage.list(), this.#observed, keyOf)
  }

  override async fetch(request: Request): Promise<Response> {
    const { provider, scope, rejected } = (await request.json()) as AuthorityRequest
    const manager = this.#manager(provider, scope)
    const seen = observe(this.#observed, `${provider} ${scope ?? ''}`)
    try {
      if (rejected) await manager.invalidate(rejected)
      const token = await manager.getRecord({ minValidity: MIN_VALIDITY_SECONDS })
      seen.answered(token.receivedAt)
      const answer: AuthorityAnswer = {
        access_token: token.accessToken,
        expires_in: (token.expiresAt - Date.now()) / 1000,
        issued_at: token.receivedAt,
      }
      if (token.scope !== undefined) answer.scope = token.scope
      return Response.json(answer)
    } catch (error) {
      // Failures of the provider's token endpoint become an answer (their codes cross over); anything else is a bug.
      if (!isPaymentAuthError(error)) throw error
      seen.failed(error)
      const answer: AuthorityAnswer = { error: error.code }
      if (error.retryAfter !== undefined) answer.retry_after = error.retryAfter
      if (error.status !== undefined) answer.status = error.status
      return Response.json(answer, { status: 502 })
    }
  }

  #manager(provider: string, scope: string | undefined): TokenManager {
    const id = `${provider} ${scope ?? ''}`
    let manager = this.#managers.get(id)
    if (!manager) {
      const config = loadConfig(this.env).providers.get(provider)
      if (!config) throw new Error(`unknown provider ${provider}`)
      const client = providerClient(this.env, provider, config, scope)
      manager = createTokenManager({
        provider: client.dialect,
        // tls_client_auth: the mTLS certificate binding presents the client certificate.
        ...(client.fetch && { fetch: client.fetch }),
        store: authorityStore(this.ctx.storage, kvStore(this.env.TOKENS)),
        refreshAhead: MIN_VALIDITY_SECONDS,
        // One quick retry of a transient failure; callers are waiting. Longer waits are the caller's (Retry-After).
        backoff: { limit: 1, delay: 200, maxDelay: 2000 },
        onEvent: log,
      })
      this.#managers.set(id, manager)
    }
    return manager
  }
}

/**
 * The isolates' side of the authority: a provider whose "token endpoint" is the Durable Object
 * (reached through the token manager's `fetch`). Its key is the provider client's own, so the
 * isolate's manager reads the KV entries the authority writes.
 */
export function authorityProvider(client: ProviderClient): Provider {
  const { name, scope } = client
  return defineProvider({
    name,
    key: client.dialect.key,
    origins: [client.config.apiBaseUrl],
    buildTokenRequest(grant) {
      const body: AuthorityRequest = { provider: name }
      if (scope !== undefined) body.scope = scope
      if (grant.type === 'client_credentials' && grant.rejected) body.rejected = grant.rejected
      return new Request('https://authority.internal/token', { method: 'POST', body: JSON.stringify(body) })
    },
    async processTokenResponse(response) {
      const answer = (await response.json()) as AuthorityAnswer
      if ('error' in answer) {
        throw new PaymentAuthError(`${name}: token request failed with ${answer.error}`, {
          code: answer.error,
          provider: name,
          status: answer.status,
          retryAfter: answer.retry_after,
        })
      }
      const set = { accessToken: answer.access_token, expiresIn: answer.expires_in, issuedAt: answer.issued_at }
      return answer.scope === undefined ? set : { ...set, scope: answer.scope }
    },
  })
}

/** The Durable Object that is the single token authority of this provider client (every scope of it). */
export function authorityOf(env: Env, client: ProviderClient): DurableObjectStub<TokenAuthority> {
  return env.AUTHORITY.get(env.AUTHORITY.idFromName(`${client.name} ${client.clientId}`))
}

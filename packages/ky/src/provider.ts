import * as v from 'valibot'
import { PaymentAuthError, redact, type PaymentAuthErrorCode } from './errors.ts'

/** What the token manager asks a provider for. `rejected` names the token an API just refused. */
export type TokenGrant =
  | { type: 'client_credentials'; rejected?: string }
  | { type: 'refresh_token'; refreshToken: string }

/** A token answer after validation. Times are seconds. */
export interface TokenSet {
  accessToken: string
  /** Lifetime in seconds; when absent the manager reads a JWT's `exp` (or falls back to 300 s). */
  expiresIn?: number
  refreshToken?: string
  refreshExpiresIn?: number
  scope?: string
}

/**
 * A provider dialect: how to build a token request and how to process its answer
 * (the split oauth4webapi makes). Build one with a shipped factory or `defineProvider`.
 */
export interface Provider {
  /** Shown in errors and events, e.g. `stablelink`. */
  readonly name: string
  /** Cache key: provider, endpoint, client id and scope. Never a secret. */
  readonly key: string
  /** Origins the token may be sent to by default. */
  readonly origins: readonly string[]
  /** Whether `buildTokenRequest` understands `{type: 'refresh_token'}`. */
  readonly refreshable: boolean
  buildTokenRequest(grant: TokenGrant): Request | Promise<Request>
  processTokenResponse(response: Response): Promise<TokenSet>
  /** Removes this provider's secrets from a text (for causes and logs). */
  redact(text: string): string
}

export interface ProviderDefinition {
  name: string
  /** Cache identity without secrets; default: `name`. Include the client id and scope. */
  key?: string
  origins?: readonly string[]
  /** Values to scrub from any error text (client secrets, API keys). */
  secrets?: readonly (string | undefined)[]
  refreshable?: boolean
  buildTokenRequest: Provider['buildTokenRequest']
  /** Default: an RFC 6749 answer, errors mapped by status and `error`. */
  processTokenResponse?: (response: Response, provider: Provider) => Promise<TokenSet>
}

/**
 * Adds a dialect payment-auth does not ship.
 *
 * @example
 * ```ts
 * const acme = defineProvider({
 *   name: 'acme',
 *   key: `acme:${clientId}`,
 *   origins: ['https://api.acme.test'],
 *   secrets: [clientSecret],
 *   buildTokenRequest: () =>
 *     new Request('https://auth.acme.test/token', {
 *       method: 'POST',
 *       headers: { 'content-type': 'application/json' },
 *       body: JSON.stringify({ clientId, clientSecret }),
 *     }),
 * })
 * ```
 */
export function defineProvider(definition: ProviderDefinition): Provider {
  const secrets = (definition.secrets ?? []).filter((s): s is string => typeof s === 'string')
  const process = definition.processTokenResponse ?? ((response, provider) => processOAuthResponse(response, provider))
  const provider: Provider = {
    name: definition.name,
    key: definition.key ?? definition.name,
    origins: (definition.origins ?? []).map((o) => new URL(o).origin),
    refreshable: definition.refreshable ?? false,
    buildTokenRequest: definition.buildTokenRequest,
    processTokenResponse: (response) => process(response, provider),
    redact: (text) => redact(text, secrets),
  }
  return provider
}

/** `{baseUrl}` with trailing slashes trimmed (any path kept), followed by the documented path. */
export function joinUrl(baseUrl: string, path: string): string {
  return baseUrl.replace(/\/+$/, '') + path
}

const seconds = v.union([
  v.pipe(v.number(), v.finite()),
  v.pipe(v.string(), v.trim(), v.regex(/^\d+(?:\.\d+)?$/), v.transform(Number)),
])

const OAuthAnswer = v.object({
  access_token: v.pipe(v.string(), v.nonEmpty()),
  expires_in: v.nullish(seconds),
  refresh_token: v.nullish(v.string()),
  rt_expires_in: v.nullish(seconds),
  scope: v.nullish(v.string()),
})

/** Validates an RFC 6749-shaped answer (already unwrapped) into a `TokenSet`. */
export function toTokenSet(body: unknown, provider: Provider, status = 200): TokenSet {
  const parsed = v.safeParse(OAuthAnswer, body)
  if (!parsed.success) throw tokenError(provider, 'invalid_response', status)
  const a = parsed.output
  const set: TokenSet = { accessToken: a.access_token }
  if (a.expires_in != null) set.expiresIn = a.expires_in
  if (a.refresh_token) set.refreshToken = a.refresh_token
  if (a.rt_expires_in != null) set.refreshExpiresIn = a.rt_expires_in
  if (a.scope != null) set.scope = a.scope
  return set
}

/** Reads a JSON body of at most 64 KiB; anything else (too big, not JSON, truncated) is `undefined`. */
export async function readJson(response: Response, limit = 65_536): Promise<unknown> {
  if (Number(response.headers.get('content-length')) > limit) {
    await response.body?.cancel()
    return undefined
  }
  let text = ''
  if (response.body) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      text += chunk.value
      if (text.length > limit) {
        await reader.cancel()
        return undefined
      }
    }
  }
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date. */
export function retryAfterSeconds(value: string | null): number | undefined {
  if (!value) return undefined
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : Math.ceil((Date.parse(value) - Date.now()) / 1000)
  return Number.isFinite(n) ? Math.max(0, n) : undefined
}

/** HTTP status (or a provider's in-body status) to an error code. */
export function codeForStatus(status: number): PaymentAuthErrorCode {
  if (status === 401) return 'invalid_client'
  if (status === 403) return 'forbidden'
  if (status === 408) return 'timeout'
  if (status === 409) return 'conflict'
  if (status === 429) return 'rate_limited'
  if (status >= 500) return 'provider_unavailable'
  if (status >= 400) return 'invalid_request'
  return 'invalid_response'
}

/** The error for a token answer. The message names the provider, the status and a vetted error code only. */
export function tokenError(
  provider: Provider,
  code: PaymentAuthErrorCode,
  status: number,
  detail?: unknown,
  retryAfter?: number,
): PaymentAuthError {
  const shown = typeof detail === 'string' && /^[\w.-]{1,40}$/.test(detail) ? ` (${provider.redact(detail)})` : ''
  return new PaymentAuthError(`${provider.name}: token request failed with ${code}, HTTP ${status}${shown}`, {
    code,
    provider: provider.name,
    status,
    retryAfter,
  })
}

/** The error for a non-2xx token answer, from its status, RFC 6749 `error` or a provider `code`. */
export function errorForAnswer(provider: Provider, response: Response, body: unknown): PaymentAuthError {
  const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
  const named = typeof o.error === 'string' ? o.error : o.code
  const code = named === 'invalid_client' ? 'invalid_client' : codeForStatus(response.status)
  return tokenError(provider, code, response.status, named, retryAfterSeconds(response.headers.get('retry-after')))
}

/** Processes a standard RFC 6749 token answer (the `oauth2` and `stonex` dialects, and the default). */
export async function processOAuthResponse(response: Response, provider: Provider): Promise<TokenSet> {
  const body = await readJson(response)
  if (!response.ok) throw errorForAnswer(provider, response, body)
  return toTokenSet(body, provider)
}

/**
 * Processing a token answer (the second half of oauth4webapi's split): read the body safely,
 * validate it with valibot into a `TokenSet`, map errors to codes, and tell a token's lifetime.
 * Dialects compose these; `defineProvider` uses `processOAuthResponse` by default.
 */
import * as v from 'valibot'
import { PaymentAuthError, type PaymentAuthErrorCode } from './errors.ts'
import { is, object, text } from './options.ts'
import type { Provider, TokenSet } from './provider.ts'

/** Seconds: a finite number, or a string of one (some providers quote `expires_in`); absent or null. */
const seconds = v.optional(
  is<number | string | null>(
    (value) =>
      value == null ||
      (typeof value === 'number' && Number.isFinite(value)) ||
      (typeof value === 'string' && /^\s*\d+(?:\.\d+)?\s*$/.test(value)),
    '',
  ),
)
const nullableString = v.optional(is<string | null>((value) => value == null || typeof value === 'string', ''))

/** An RFC 6749 token answer, with the same checks as the options (options.ts). */
const OAuthAnswer = object({
  access_token: text,
  expires_in: seconds,
  refresh_token: nullableString,
  rt_expires_in: seconds,
  scope: nullableString,
})

/** Validates an RFC 6749-shaped answer (already unwrapped) into a `TokenSet`. */
export function toTokenSet(body: unknown, provider: Provider, status = 200): TokenSet {
  const parsed = v.safeParse(OAuthAnswer, body)
  if (!parsed.success) throw tokenError(provider, 'invalid_response', status)
  const a = parsed.output
  const set: TokenSet = { accessToken: a.access_token }
  if (a.expires_in != null) set.expiresIn = Number(a.expires_in)
  if (a.refresh_token) set.refreshToken = a.refresh_token
  if (a.rt_expires_in != null) set.refreshExpiresIn = Number(a.rt_expires_in)
  if (a.scope != null) set.scope = a.scope
  return set
}

/** Seconds a token lives when its answer does not say. */
const FALLBACK_LIFETIME = 300

/** Lifetime in seconds from a JWT's `exp` (and `iat`, so the provider's clock does not matter). */
function jwtLifetime(token: string, nowMs: number): number | undefined {
  try {
    const claims = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown; iat?: unknown }
    if (typeof claims.exp !== 'number') return undefined
    return typeof claims.iat === 'number' ? claims.exp - claims.iat : claims.exp - nowMs / 1000
  } catch {
    return undefined
  }
}

/** A token's lifetime in seconds: `expires_in`, else a JWT's `exp`, else 300 s. */
export function lifetimeOf(set: TokenSet, nowMs: number): number {
  return set.expiresIn ?? jwtLifetime(set.accessToken, nowMs) ?? FALLBACK_LIFETIME
}

/** Reads a JSON body of at most 64 KiB; anything else (too big, not JSON, truncated) is `undefined`. */
export async function readJson(response: Response, limit = 65_536): Promise<unknown> {
  if (Number(response.headers.get('content-length')) > limit) {
    await response.body?.cancel()
    return undefined
  }
  let text = ''
  if (response.body) {
    // A plain reader and TextDecoder: a TextDecoderStream pipe costs a token call ~0.1 ms more.
    const reader = response.body.getReader()
    const decoder = new TextDecoder()
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      text += decoder.decode(chunk.value, { stream: true })
      if (text.length > limit) {
        await reader.cancel()
        return undefined
      }
    }
    text += decoder.decode()
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

/** What a provider said about an error, as it may be kept: its code (a short token) and its words, redacted and cut. */
export interface ProviderSaid {
  code?: unknown
  message?: unknown
}

const MAX_PROVIDER_MESSAGE = 200

/**
 * The error for a token answer. The message names the provider, the status and the provider's
 * code when it is a plain token; `providerMessage` keeps its words, redacted, at most 200 characters.
 */
export function tokenError(
  provider: Provider,
  code: PaymentAuthErrorCode,
  status: number,
  said: ProviderSaid = {},
  retryAfter?: number,
): PaymentAuthError {
  const named = typeof said.code === 'number' ? String(said.code) : said.code
  const providerCode = typeof named === 'string' && /^[\w.:-]{1,64}$/.test(named) ? provider.redact(named) : undefined
  const providerMessage =
    typeof said.message === 'string' && said.message.trim()
      ? provider.redact(said.message.trim()).slice(0, MAX_PROVIDER_MESSAGE)
      : undefined
  const cause = new Error(`the token endpoint answered HTTP ${status}`)
  cause.name = 'HTTPError'
  return new PaymentAuthError(
    `${provider.name}: token request failed with ${code}, HTTP ${status}${providerCode ? ` (${providerCode})` : ''}`,
    {
      code,
      provider: provider.name,
      status,
      retryAfter,
      providerCode,
      providerMessage,
      cause,
    },
  )
}

/** The error for a non-2xx token answer, from its status, RFC 6749 `error`/`error_description` or a provider `code`/`text`. */
export function errorForAnswer(provider: Provider, response: Response, body: unknown): PaymentAuthError {
  const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
  const named = typeof o.error === 'string' ? o.error : o.code
  const code = named === 'invalid_client' ? 'invalid_client' : codeForStatus(response.status)
  const said = { code: named, message: o.error_description ?? o.text ?? o.message }
  return tokenError(provider, code, response.status, said, retryAfterSeconds(response.headers.get('retry-after')))
}

/** Processes a standard RFC 6749 token answer (the `oauth2` and `stonex` dialects, and the default). */
export async function processOAuthResponse(response: Response, provider: Provider): Promise<TokenSet> {
  const body = await readJson(response)
  if (!response.ok) throw errorForAnswer(provider, response, body)
  return toTokenSet(body, provider)
}

/**
 * Only deliberate errors reach the wire. Everything the Worker refuses is an `EdgeError`
 * (status, RFC 6749-style `{error, error_description}`, headers); a failure of the token work
 * is a `PaymentAuthError` mapped to 502/503 here; anything else is a plain
 * `{"error":"server_error"}` 500. No body ever carries an upstream body, a secret, a token
 * or a stack.
 */
import { isPaymentAuthError, type PaymentAuthError } from '@payment-auth/ky'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { ConfigError } from './config.ts'

export type EdgeErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'invalid_scope'
  | 'insufficient_scope'
  | 'access_denied'
  | 'forbidden'
  | 'not_found'
  | 'rate_limited'
  | 'upstream_unavailable'
  | 'upstream_error'

/** Headers every answer that carries or refuses a token has (RFC 6749 section 5.1). */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const

/** A deliberate refusal: thrown anywhere, answered by `onError` as is. */
export class EdgeError extends Error {
  override readonly name = 'EdgeError'
  readonly status: ContentfulStatusCode
  readonly code: EdgeErrorCode
  readonly headers: Record<string, string>

  constructor(status: ContentfulStatusCode, code: EdgeErrorCode, description: string, headers: Record<string, string> = {}) {
    super(description)
    this.status = status
    this.code = code
    this.headers = headers
  }

  toResponse(): Response {
    return Response.json(
      { error: this.code, error_description: this.message },
      { status: this.status, headers: { ...NO_STORE, ...this.headers } },
    )
  }
}

/**
 * A failure of the provider's token endpoint. Transient ones (the manager's `retryable`) are
 * 503 `upstream_unavailable`, with `Retry-After` when the provider said; the rest (bad
 * credentials, malformed answers) are our own upstream misconfiguration: 502 `upstream_error`.
 * The description is ours: never the provider's words.
 */
export function upstreamFailure(error: Pick<PaymentAuthError, 'provider' | 'retryable' | 'retryAfter'>): EdgeError {
  if (error.retryable) {
    const headers: Record<string, string> = error.retryAfter !== undefined ? { 'retry-after': String(Math.ceil(error.retryAfter)) } : {}
    return new EdgeError(503, 'upstream_unavailable', `the ${error.provider} token endpoint is unavailable; try again later`, headers)
  }
  return new EdgeError(502, 'upstream_error', `the ${error.provider} token endpoint refused the edge's request`)
}

/** Secret values of `env` (provider credentials, JWT key), to scrub from log lines. */
function secretsOf(env: Record<string, unknown>): string[] {
  return Object.entries(env)
    .filter(
      ([name, value]) => /(_SECRET|_API_KEY|_CLIENT_ID|^ADMIN_KEY|_KEYS)$/.test(name) && typeof value === 'string' && value.length >= 4,
    )
    .flatMap(([name, value]) => (name.endsWith('_KEYS') ? [value as string, ...(value as string).split(/[,:]/)] : [value as string]))
    .filter((value) => value.length >= 4)
}

/** A log line about an unexpected error: its name and message, query strings and secrets removed. */
export function describeForLog(error: unknown, env: Record<string, unknown>): string {
  const name = error instanceof Error ? error.name : typeof error
  let message = error instanceof Error ? error.message : ''
  message = message.replace(/\?[^\s"'<>]*/g, '?[redacted]')
  for (const secret of secretsOf(env)) message = message.split(secret).join('[redacted]')
  return `${name}: ${message.slice(0, 300)}`
}

/** `app.onError`: deliberate errors as they are, token failures mapped, everything else a plain 500. */
export function onError(error: unknown, env: Record<string, unknown>): Response {
  if (error instanceof EdgeError) return error.toResponse()
  if (isPaymentAuthError(error)) {
    console.warn(`edge: ${error.provider} token failure: ${error.code}${error.status ? ` (HTTP ${error.status})` : ''}`)
    return upstreamFailure(error).toResponse()
  }
  console.error(
    error instanceof ConfigError ? `edge: bad configuration: ${error.message}` : `edge: unexpected ${describeForLog(error, env)}`,
  )
  return Response.json({ error: 'server_error' }, { status: 500, headers: NO_STORE })
}

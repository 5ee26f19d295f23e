import { diagnose } from './diagnostics.ts'

/**
 * Every failure of the token work is a `PaymentAuthError` with a stable `code`.
 *
 * Codes from the token endpoint: `invalid_client`, `invalid_request`, `invalid_response`,
 * `provider_unavailable`, `rate_limited`, `conflict`, `network`, `timeout`,
 * `unauthorized_caller`, `forbidden`. From the hook: `body_not_replayable`. A mistake in the
 * options, thrown by the factory that was given it: `invalid_config`.
 */
export type PaymentAuthErrorCode =
  | 'invalid_client'
  | 'invalid_request'
  | 'invalid_response'
  | 'provider_unavailable'
  | 'rate_limited'
  | 'conflict'
  | 'network'
  | 'timeout'
  | 'unauthorized_caller'
  | 'forbidden'
  | 'body_not_replayable'
  | 'invalid_config'

const RETRYABLE: ReadonlySet<PaymentAuthErrorCode> = new Set(['provider_unavailable', 'rate_limited', 'conflict', 'network', 'timeout'])

export interface PaymentAuthErrorOptions {
  code: PaymentAuthErrorCode
  provider: string
  status?: number | undefined
  retryAfter?: number | undefined
  /** The provider's own error code (RFC `error`, stablelink's `retcode`, AbbeyCross's `code`). */
  providerCode?: string | undefined
  /** The provider's own words (`error_description`, `text`), already redacted and cut to 200 characters. */
  providerMessage?: string | undefined
  cause?: unknown
}

/**
 * The one error type of payment-auth. Its message, enumerable properties and
 * `cause` never contain a secret, a token or a query-string credential.
 *
 * @example
 * ```ts
 * try {
 *   await api.get('payments').json()
 * } catch (error) {
 *   if (isPaymentAuthError(error) && error.code === 'invalid_client') alertOps(error.provider)
 * }
 * ```
 */
export class PaymentAuthError extends Error {
  override readonly name = 'PaymentAuthError'
  readonly code: PaymentAuthErrorCode
  readonly provider: string
  readonly status: number | undefined
  /** Transient: the same call may succeed later (5xx, 408, 429, 409, network, timeout). */
  readonly retryable: boolean
  /** Seconds the provider asked us to wait (`Retry-After`), when it said. */
  readonly retryAfter: number | undefined
  /** What the provider called the error: RFC `error`, stablelink's `retcode`, AbbeyCross's `code`; the edge Worker's own `error`. */
  readonly providerCode: string | undefined
  /** What the provider said about it (`error_description`, `text`), secrets removed, at most 200 characters. */
  readonly providerMessage: string | undefined

  constructor(message: string, options: PaymentAuthErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = options.code
    this.provider = options.provider
    this.status = options.status
    this.retryable = RETRYABLE.has(options.code)
    this.retryAfter = options.retryAfter
    this.providerCode = options.providerCode
    this.providerMessage = options.providerMessage
    diagnose(this)
  }
}

/**
 * Guard that matches by name, so it also works across bundles and realms.
 *
 * @example
 * ```ts
 * if (isPaymentAuthError(error) && error.retryable) scheduleRetry(error.retryAfter)
 * ```
 */
export function isPaymentAuthError(value: unknown): value is PaymentAuthError {
  return value instanceof Error && value.name === 'PaymentAuthError' && 'code' in value
}

/**
 * Removes every known secret, every query string and every JWT-shaped string from a text before it can reach
 * an error, an event or a log.
 */
export function redact(text: string, secrets: readonly string[]): string {
  // Query strings, and anything shaped like a JWT (a client assertion or a token a provider echoes).
  let out = text.replace(/\?[^\s"'<>]*/g, '?[redacted]').replace(/\beyJ[\w-]*\.[\w-]+\.[\w-]*/g, '[redacted]')
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join('[redacted]')
  }
  return out
}

/** A cause safe to keep: the original error's name and redacted message, nothing else (no Request, no URL). */
export function safeCause(error: unknown, scrub: (text: string) => string): Error {
  const source = error instanceof Error ? error : new Error(String(error))
  const cause = new Error(scrub(source.message))
  cause.name = source.name
  return cause
}

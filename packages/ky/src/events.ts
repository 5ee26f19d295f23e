import type { PaymentAuthErrorCode } from './errors.ts'

/**
 * What the token work reports through `onEvent`. Events carry no token, secret or URL.
 *
 * @example
 * ```ts
 * withPaymentAuth({ provider, onEvent: (e) => e.type === 'token_error' && metrics.increment(e.code) })
 * ```
 */
export type PaymentAuthEvent =
  /** A token came from the token endpoint. */
  | { type: 'token_acquired'; provider: string; grant: 'client_credentials' | 'refresh_token'; expiresIn: number; ms: number }
  /** A token came from the store (another tab, process or manager fetched it). */
  | { type: 'token_adopted'; provider: string }
  /** An API rejected a token; `current` is false when a newer token was already in use. */
  | { type: 'token_invalidated'; provider: string; current: boolean }
  /** A cached token was dropped: stamped in the future (clock turned back) or from a store but unusable. */
  | { type: 'token_discarded'; provider: string; reason: 'future' }
  /** One token call failed; `willRetry` when a backoff follows. */
  | { type: 'token_error'; provider: string; code: PaymentAuthErrorCode; retryable: boolean; attempt: number; willRetry: boolean }
  /** The refresh grant failed; a new client-credentials grant follows. */
  | { type: 'refresh_failed'; provider: string; code: PaymentAuthErrorCode }
  /** Acquisitions keep failing: calls fail fast for `ms` without reaching the provider. */
  | { type: 'breaker_open'; provider: string; code: PaymentAuthErrorCode; ms: number }
  /** A store operation failed or hung; the manager carries on from memory. */
  | { type: 'store_error'; provider: string; operation: 'get' | 'set' | 'delete' | 'lock' }
  /** The hook replayed a request after a 401 (`status`), with a fresh token. */
  | { type: 'replay'; provider: string; status: number }

export type EventListener = (event: PaymentAuthEvent) => void

/**
 * Diagnostics: a function stored at `globalThis[Symbol.for('payment-auth.diagnostics')]` sees
 * every event of every manager and every `PaymentAuthError` created (for APM, or a test-wide
 * secret-leak guard). It must not throw; what it receives carries no secret.
 *
 * @example
 * ```ts
 * globalThis[Symbol.for('payment-auth.diagnostics')] = (item) => apm.record(item)
 * ```
 */
export const DIAGNOSTICS = Symbol.for('payment-auth.diagnostics')

export function diagnose(item: unknown): void {
  try {
    ;(globalThis as { [DIAGNOSTICS]?: (item: unknown) => void })[DIAGNOSTICS]?.(item)
  } catch {
    // diagnostics must not break anything
  }
}

/** A listener that can never break the token work: its exceptions are swallowed. */
export function safeListener(onEvent: EventListener | undefined): EventListener {
  return (event) => {
    diagnose(event)
    try {
      onEvent?.(event)
    } catch {
      // a broken listener must not break authentication
    }
  }
}

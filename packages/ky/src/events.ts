import { diagnose } from './diagnostics.ts'
import type { PaymentAuthErrorCode } from './errors.ts'

/** Where an acquisition found its token: the store (another tab, process or manager), the provider, or the edge Worker. */
export type TokenSource = 'store' | 'network' | 'edge'

/**
 * What the token work reports through `onEvent`. Events carry no token, secret or URL.
 *
 * Each acquisition (one flight, shared by every concurrent caller) has an `id`, unique across
 * managers, and ends with
 * exactly one of `token_acquired`, `token_adopted` or `token_failed`, which carry its
 * `startedAt` (epoch ms, the manager's clock) and `ms`: enough for a span per acquisition.
 * A warm hit in memory is no acquisition and reports nothing.
 *
 * @example
 * ```ts
 * withPaymentAuth({ provider, onEvent: (e) => e.type === 'token_error' && metrics.increment(e.code) })
 * ```
 */
export type PaymentAuthEvent =
  /** A token came from the token endpoint (`source` network) or the edge Worker (`edge`). */
  | {
      type: 'token_acquired'
      provider: string
      id: string
      source: 'network' | 'edge'
      grant: 'client_credentials' | 'refresh_token'
      expiresIn: number
      startedAt: number
      ms: number
    }
  /**
   * A token came from the store: found by an acquisition (`id`, `startedAt`, `ms`), or pushed
   * by another context (no `id`).
   */
  | { type: 'token_adopted'; provider: string; source: 'store'; id?: string; startedAt?: number; ms?: number }
  /** An acquisition failed; its error is `code`. */
  | {
      type: 'token_failed'
      provider: string
      id: string
      source: 'network' | 'edge'
      /** The last grant tried, when the acquisition got as far as a token call. */
      grant?: 'client_credentials' | 'refresh_token'
      code: PaymentAuthErrorCode
      startedAt: number
      ms: number
    }
  /** An API rejected a token; `current` is false when a newer token was already in use. */
  | { type: 'token_invalidated'; provider: string; current: boolean }
  /** A cached token was dropped: stamped in the future (clock turned back). */
  | { type: 'token_discarded'; provider: string; reason: 'future' }
  /** One token call of acquisition `id` failed; `willRetry` when a backoff follows. */
  | {
      type: 'token_error'
      provider: string
      id: string
      code: PaymentAuthErrorCode
      retryable: boolean
      attempt: number
      willRetry: boolean
      /** When the call failed, epoch ms on the manager's clock. */
      at: number
    }
  /** The refresh grant of acquisition `id` failed; a new client-credentials grant follows. */
  | { type: 'refresh_failed'; provider: string; id: string; code: PaymentAuthErrorCode; at: number }
  /** Acquisitions keep failing: calls fail fast for `ms` without reaching the provider. */
  | { type: 'breaker_open'; provider: string; code: PaymentAuthErrorCode; ms: number }
  /** A store operation failed or hung; the manager carries on from memory (without the lock, for `lock`). */
  | { type: 'store_error'; provider: string; operation: 'get' | 'set' | 'delete' | 'lock' }
  /** A request went out without the token: its origin is not in `origins` (once per origin per `withPaymentAuth`). */
  | { type: 'origin_skipped'; provider: string; origin: string }
  /** The hook replayed a request after a 401 (`status`), with a fresh token. */
  | { type: 'replay'; provider: string; status: number }

/**
 * Receives every `PaymentAuthEvent` (the `onEvent` option). It must not throw; if it does, the
 * exception is swallowed and the token work goes on.
 */
export type PaymentAuthEventListener = (event: PaymentAuthEvent) => void

/** A listener that can never break the token work: its exceptions are swallowed. */
export function safeListener(onEvent: PaymentAuthEventListener | undefined): PaymentAuthEventListener {
  return (event) => {
    diagnose(event)
    try {
      onEvent?.(event)
    } catch {
      // a broken listener must not break authentication
    }
  }
}

/**
 * `@payment-auth/ky/diagnostics`: a process-wide tap for APM or a test-wide secret-leak guard.
 * A function stored at `globalThis[DIAGNOSTICS]` sees every event of every manager and every
 * `PaymentAuthError` created. It must not throw; what it receives carries no secret.
 *
 * @example
 * ```ts
 * import { DIAGNOSTICS, type DiagnosticsTap } from '@payment-auth/ky/diagnostics'
 *
 * const tap: DiagnosticsTap = (item) => console.debug('payment-auth', item)
 * ;(globalThis as { [DIAGNOSTICS]?: DiagnosticsTap })[DIAGNOSTICS] = tap
 * ```
 */
export const DIAGNOSTICS: unique symbol = Symbol.for('payment-auth.diagnostics') as never

/** What the tap receives: a `PaymentAuthEvent` or a `PaymentAuthError`. */
export type DiagnosticsTap = (item: unknown) => void

/** Hands `item` to the tap, if one is installed; a throwing tap breaks nothing. */
export function diagnose(item: unknown): void {
  try {
    ;(globalThis as { [DIAGNOSTICS]?: DiagnosticsTap })[DIAGNOSTICS]?.(item)
  } catch {
    // diagnostics must not break anything
  }
}

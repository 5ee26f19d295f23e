/**
 * @payment-auth/ky: bearer tokens for payment APIs as ky hooks.
 *
 * Read top-down: `hooks.ts` (withPaymentAuth) -> `manager.ts` (cache, single-flight, refresh,
 * backoff, breaker: every token rule) -> `provider.ts` + `dialects/*` (build the token request)
 * -> the token endpoint -> `answer.ts` (process the answer). `store.ts` holds tokens,
 * `errors.ts` and `events.ts` report. Store authors: `@payment-auth/ky/store`; a process-wide
 * tap for APM: `@payment-auth/ky/diagnostics`.
 */
export { withPaymentAuth, type PaymentAuthOptions, type OwnManagerOptions, type SharedManagerOptions, type HookOptions } from './hooks.ts'
export { createTokenManager, type TokenManager, type TokenManagerOptions, type GetTokenOptions, type TokenInfo } from './manager.ts'
export { memoryStore, type TokenStore, type TokenRecord } from './store.ts'
export { PaymentAuthError, isPaymentAuthError, type PaymentAuthErrorCode } from './errors.ts'
export type { PaymentAuthEvent, PaymentAuthEventListener, TokenSource } from './events.ts'
export { defineProvider, type Provider, type ProviderDefinition, type TokenGrant, type TokenSet } from './provider.ts'
export { stablelink, type StablelinkOptions } from './dialects/stablelink.ts'
export { oauth2, type OAuth2Options, type OAuth2AuthMethod } from './dialects/oauth2.ts'
export { checkout, paypal, type CheckoutOptions, type PayPalOptions } from './dialects/presets.ts'
export type { ClientAssertionAlg, PrivateJwk } from './client-auth.ts'
export { stonex, type StonexOptions } from './dialects/stonex.ts'
export { abbeycross, type AbbeycrossOptions } from './dialects/abbeycross.ts'
export { edge, type EdgeOptions } from './dialects/edge.ts'

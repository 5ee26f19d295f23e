/**
 * @payment-auth/ky: bearer tokens for payment APIs as ky hooks.
 *
 * Read top-down: `hooks.ts` (withPaymentAuth) -> `manager.ts` (cache, single-flight, refresh,
 * backoff, breaker) -> `provider.ts` + `dialects/*` (build the token request, process the
 * answer) -> the token endpoint. `store.ts` holds tokens, `errors.ts` and `events.ts` report.
 */
export { withPaymentAuth, type PaymentAuthOptions } from './hooks.ts'
export { createTokenManager, type TokenManager, type TokenManagerOptions, type GetTokenOptions } from './manager.ts'
export { memoryStore, readRecord, usefulUntil, type TokenStore, type TokenRecord } from './store.ts'
export { PaymentAuthError, isPaymentAuthError, type PaymentAuthErrorCode } from './errors.ts'
export { DIAGNOSTICS, type PaymentAuthEvent } from './events.ts'
export { defineProvider, type Provider, type ProviderDefinition, type TokenGrant, type TokenSet } from './provider.ts'
export { stablelink, type StablelinkOptions } from './dialects/stablelink.ts'
export { oauth2, type OAuth2Options } from './dialects/oauth2.ts'
export { stonex, type StonexOptions } from './dialects/stonex.ts'
export { abbeycross, type AbbeycrossOptions } from './dialects/abbeycross.ts'
export { edge, type EdgeOptions } from './dialects/edge.ts'

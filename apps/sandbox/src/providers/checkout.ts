/**
 * Checkout.com's OAuth 2.0 access tokens: the token endpoint and the API live on two origins
 * (`https://access.sandbox.checkout.com/connect/token` and `https://api.sandbox.checkout.com`),
 * which the sandbox mounts on two path prefixes: `/checkout-access` and `/checkout-api`.
 * Give a client `baseUrl: <sandbox>/checkout-access` and `apiBaseUrl: <sandbox>/checkout-api`
 * (and, to make the origins differ too, two host names that reach the sandbox: routing is by
 * path, so `http://localhost:<port>` and `http://127.0.0.1:<port>` both work).
 *
 * `POST /checkout-access/connect/token`, form-encoded `grant_type=client_credentials`, client
 * authentication by `Authorization: Basic`, optional space-separated `scope` out of
 * `gateway vault payments` (default: all of them, as Checkout grants every scope of the access
 * key). Answers RFC 6749 `{access_token, token_type:"Bearer", expires_in, scope}`; errors are
 * `{error, error_description}`: 401 `invalid_client`, 400 `invalid_scope`,
 * `unsupported_grant_type`, `invalid_request`.
 *
 * The API: any method on `/checkout-api/<anything>` (e.g. `/checkout-api/payments`),
 * Bearer-protected, answered by the echo resource.
 */
import { randomToken } from '../http.ts'
import { applyCasing, formatExpiresIn, type ProviderState } from '../state.ts'
import type { Dialect } from './dialect.ts'
import { authenticateBasic, clientCredentialsEndpoint, formGrantOf } from './rfc6749.ts'

/** Scopes an access key may ask for. */
export const CHECKOUT_SCOPES: readonly string[] = ['gateway', 'vault', 'payments']
/** Scope granted when the client asks for none: every scope of the key. */
export const CHECKOUT_DEFAULT_SCOPE = CHECKOUT_SCOPES.join(' ')

function tokenObject(p: ProviderState, accessToken: string, scope: string): Record<string, unknown> {
  return applyCasing(p.config, {
    access_token: accessToken,
    expires_in: formatExpiresIn(p.config, p.config.tokenLifetime),
    token_type: 'Bearer',
    scope,
  })
}

const handleToken = clientCredentialsEndpoint({
  errors: { unsupported: 'unsupported_grant_type' },
  authenticate: (_state, p, request) => authenticateBasic(p, request),
  scopes: CHECKOUT_SCOPES,
  defaultScope: CHECKOUT_DEFAULT_SCOPE,
  answer: tokenObject,
})

/** The Checkout.com dialect. */
export const checkoutDialect: Dialect = {
  provider: 'checkout',
  tokenMount: 'checkout-access',
  tokenPath: '/connect/token',
  apiMount: 'checkout-api',
  isResourcePath: (below) => below.length > 1,
  grantOf: formGrantOf,
  handleToken,
  sampleAnswer: (_state, p) => Promise.resolve(tokenObject(p, randomToken(), CHECKOUT_DEFAULT_SCOPE)),
}

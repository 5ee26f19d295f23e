/**
 * PayPal's REST OAuth 2.0 token endpoint (`environment: 'sandbox'` is
 * `https://api-m.sandbox.paypal.com`; the API shares the origin).
 *
 * `POST /paypal/v1/oauth2/token`, form-encoded `grant_type=client_credentials`,
 * client authentication by `Authorization: Basic base64(id:secret)` only. Answers
 * `{scope, access_token, token_type:"Bearer", app_id, expires_in, nonce}` with tokens
 * that live hours (32400 s by default). Errors are RFC 6749 `{error, error_description}`:
 * 401 `invalid_client` ("Client Authentication failed"), 400 `unsupported_grant_type`
 * ("Grant Type is NULL" when missing), 400 `invalid_request` for a body that is not a form.
 *
 * The API: any method on `/paypal/v<n>/<anything>` (e.g. `/paypal/v2/checkout/orders`),
 * Bearer-protected, answered by the echo resource.
 */
import { randomToken, tokenJson } from '../http.ts'
import { applyCasing, formatExpiresIn, issueAccessToken, type ProviderState, type SandboxState } from '../state.ts'
import type { Dialect } from './dialect.ts'
import { authenticateBasic, clientCredentialsForm, formGrantOf, invalidClient } from './rfc6749.ts'

/** `app_id` of every answer (the sample app id of PayPal's docs). */
export const PAYPAL_APP_ID = 'APP-80W284485P519543T'
/** `scope` of every answer: what a REST app is granted by default. */
export const PAYPAL_SCOPE = [
  'https://uri.paypal.com/services/invoicing',
  'https://uri.paypal.com/services/payments/payment',
  'https://uri.paypal.com/services/payments/refund',
  'https://uri.paypal.com/services/payments/realtimepayment',
  'https://uri.paypal.com/services/disputes/read-buyer',
  'https://uri.paypal.com/services/vault/payment-tokens/read',
].join(' ')

/** PayPal access tokens start with `A21AA`. */
function paypalToken(): string {
  return `A21AA${randomToken(48)}`
}

/** `2026-01-01T00:00:00Z` followed by random characters, like PayPal's `nonce`. */
function nonce(state: SandboxState): string {
  return `${new Date(state.now()).toISOString().replace(/\.\d{3}Z$/, 'Z')}${randomToken(32)}`
}

function tokenObject(state: SandboxState, p: ProviderState, accessToken: string): Record<string, unknown> {
  return applyCasing(p.config, {
    scope: PAYPAL_SCOPE,
    access_token: accessToken,
    token_type: 'Bearer',
    app_id: PAYPAL_APP_ID,
    expires_in: formatExpiresIn(p.config, p.config.tokenLifetime),
    nonce: nonce(state),
  })
}

async function handleToken(state: SandboxState, p: ProviderState, request: Request): Promise<Response> {
  const body = await clientCredentialsForm(request, {
    missing: { error: 'unsupported_grant_type', description: 'Grant Type is NULL' },
    unsupported: 'unsupported_grant_type',
  })
  if (!body.ok) return body.response
  const auth = authenticateBasic(p, request)
  // PayPal words every failed client authentication the same way.
  if (!auth.ok) return invalidClient('Client Authentication failed')
  const token = issueAccessToken(state, p, auth.clientId, PAYPAL_SCOPE, { value: paypalToken() })
  return tokenJson(tokenObject(state, p, token.value))
}

/** The PayPal dialect. */
export const paypalDialect: Dialect = {
  provider: 'paypal',
  tokenPath: '/v1/oauth2/token',
  isResourcePath: (below) => /^\/v\d+\/[^/]/.test(below),
  grantOf: formGrantOf,
  handleToken,
  sampleAnswer: (state, p) => Promise.resolve(tokenObject(state, p, paypalToken())),
}

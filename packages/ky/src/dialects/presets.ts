/**
 * Presets for providers that speak RFC 6749 with their own defaults: PayPal and Checkout.com.
 * Both authenticate with HTTP Basic; both default to their sandbox environment.
 */
import * as v from 'valibot'
import { checkOptions, httpUrl, object, oneOf, optionalText, text } from '../options.ts'
import { joinUrl, type Provider } from '../provider.ts'
import { oauth2Provider } from './oauth2.ts'

export interface PayPalOptions {
  clientId: string
  clientSecret: string
  /** `'sandbox'` (default: `https://api-m.sandbox.paypal.com`) or `'live'` (`https://api-m.paypal.com`). */
  environment?: 'sandbox' | 'live'
  /** Another base URL for the token endpoint and the API (e.g. a local emulator); overrides `environment`. */
  baseUrl?: string
}

const Environment = v.optional(oneOf(['sandbox', 'live'], "must be 'sandbox' or 'live'"))
const PayPal = object({ clientId: text, clientSecret: text, environment: Environment, baseUrl: v.optional(httpUrl) })

/**
 * PayPal: `POST {base}/v1/oauth2/token` with Basic auth; the API shares the base. Tokens live
 * hours, and PayPal throttles clients that mint a token per call: share one instance (or one
 * `TokenManager`) per client.
 *
 * @example
 * ```ts
 * const api = ky.create({ baseUrl: 'https://api-m.sandbox.paypal.com/' }).extend(withPaymentAuth({ provider: paypal({ clientId, clientSecret }) }))
 * const order = await api.post('v2/checkout/orders', { json: { intent: 'CAPTURE', purchase_units: [] } }).json()
 * ```
 */
export function paypal(options: PayPalOptions): Provider {
  const { clientId, clientSecret, environment, baseUrl } = checkOptions('paypal', PayPal, options)
  const base = baseUrl ?? (environment === 'live' ? 'https://api-m.paypal.com' : 'https://api-m.sandbox.paypal.com')
  return oauth2Provider('paypal', { tokenUrl: joinUrl(base, '/v1/oauth2/token'), clientId, clientSecret, apiBaseUrl: base })
}

export interface CheckoutOptions {
  clientId: string
  clientSecret: string
  /** Space-separated scopes, e.g. `'gateway vault'`. */
  scope?: string
  /** `'sandbox'` (default) or `'live'`: `https://access.sandbox.checkout.com` / `https://access.checkout.com`. */
  environment?: 'sandbox' | 'live'
  /** Another base URL for the token endpoint (`{baseUrl}/connect/token`); overrides `environment`. */
  baseUrl?: string
  /** The API (default `https://api.sandbox.checkout.com` / `https://api.checkout.com`, or a merchant-prefixed one): where the token goes. */
  apiBaseUrl?: string
}

const Checkout = object({
  clientId: text,
  clientSecret: text,
  scope: optionalText,
  environment: Environment,
  baseUrl: v.optional(httpUrl),
  apiBaseUrl: v.optional(httpUrl),
})

/**
 * Checkout.com: `POST {access base}/connect/token` with Basic auth. The API is on another
 * origin than the token URL, so the default `origins` are the API's.
 *
 * @example
 * ```ts
 * const api = ky.create({ baseUrl: 'https://api.sandbox.checkout.com/' }).extend(withPaymentAuth({ provider: checkout({ clientId, clientSecret, scope: 'gateway' }) }))
 * ```
 */
export function checkout(options: CheckoutOptions): Provider {
  const { clientId, clientSecret, scope, environment, baseUrl, apiBaseUrl } = checkOptions('checkout', Checkout, options)
  const live = environment === 'live'
  const access = baseUrl ?? (live ? 'https://access.checkout.com' : 'https://access.sandbox.checkout.com')
  return oauth2Provider('checkout', {
    tokenUrl: joinUrl(access, '/connect/token'),
    clientId,
    clientSecret,
    ...(scope !== undefined && { scope }),
    apiBaseUrl: apiBaseUrl ?? (live ? 'https://api.checkout.com' : 'https://api.sandbox.checkout.com'),
  })
}

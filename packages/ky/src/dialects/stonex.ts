import { BaseUrlCredentials, checkOptions } from '../options.ts'
import { defineProvider, joinUrl, jsonCredentialsRequest, type Provider } from '../provider.ts'

export interface StonexOptions {
  /** e.g. `https://api.sandbox.payments.stonex.com`. */
  baseUrl: string
  clientId: string
  clientSecret: string
  /** The API's base URL when it is not on `baseUrl`'s origin: its origin is where the token may be sent by default. */
  apiBaseUrl?: string
}

/**
 * StoneX Payments: JSON `{client_id, client_secret}` to `/api/v/authentication`; the token is a
 * JWT whose `exp` is used when the answer has no `expires_in`.
 *
 * @example
 * ```ts
 * const provider = stonex({ baseUrl: 'https://api.sandbox.payments.stonex.com', clientId, clientSecret })
 * ```
 */
export function stonex(options: StonexOptions): Provider {
  const { baseUrl, clientId, clientSecret, apiBaseUrl } = checkOptions('stonex', BaseUrlCredentials, options)
  const url = joinUrl(baseUrl, '/api/v/authentication')
  return defineProvider({
    name: 'stonex',
    key: `stonex ${url} ${clientId}`,
    origins: [apiBaseUrl ?? baseUrl],
    secrets: [clientSecret],
    buildTokenRequest: () => jsonCredentialsRequest(url, clientId, clientSecret),
  })
}

import { type BaseUrlCredentialsOptions, jsonCredentialsProvider, type Provider } from '../provider.ts'

export type StonexOptions = BaseUrlCredentialsOptions

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
  return jsonCredentialsProvider('stonex', '/api/v/authentication', options)
}

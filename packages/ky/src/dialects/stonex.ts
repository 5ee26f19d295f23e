import { defineProvider, joinUrl, jsonCredentialsRequest, type Provider } from '../provider.ts'

export interface StonexOptions {
  /** e.g. `https://api.sandbox.payments.stonex.com`. */
  baseUrl: string
  clientId: string
  clientSecret: string
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
export function stonex({ baseUrl, clientId, clientSecret }: StonexOptions): Provider {
  const url = joinUrl(baseUrl, '/api/v/authentication')
  return defineProvider({
    name: 'stonex',
    key: `stonex ${url} ${clientId}`,
    origins: [baseUrl],
    secrets: [clientSecret],
    buildTokenRequest: () => jsonCredentialsRequest(url, clientId, clientSecret),
  })
}

import { errorForAnswer, readJson, toTokenSet } from '../answer.ts'
import { BaseUrlCredentials, checkOptions } from '../options.ts'
import { defineProvider, joinUrl, jsonCredentialsRequest, type Provider } from '../provider.ts'

export interface AbbeycrossOptions {
  baseUrl: string
  clientId: string
  clientSecret: string
  /** The API's base URL when it is not on `baseUrl`'s origin: its origin is where the token may be sent by default. */
  apiBaseUrl?: string
}

/**
 * AbbeyCross: JSON `{client_id, client_secret}` to `/v1/oauth/token`. The success body is
 * undocumented, so RFC names and camelCase (`accessToken`, `expiresIn`) are both accepted.
 * Errors are `{errorId, code, text, parameter_name, parameter_value}`: 409 is a conflict and
 * 503 means outside working hours (transient, `Retry-After` honoured). `parameter_value` echoes
 * what was sent, so it is never read.
 *
 * @example
 * ```ts
 * const provider = abbeycross({ baseUrl: 'https://api.abbeycross.example', clientId, clientSecret })
 * ```
 */
export function abbeycross(options: AbbeycrossOptions): Provider {
  const { baseUrl, clientId, clientSecret, apiBaseUrl } = checkOptions('abbeycross', BaseUrlCredentials, options)
  const url = joinUrl(baseUrl, '/v1/oauth/token')
  return defineProvider({
    name: 'abbeycross',
    key: `abbeycross ${url} ${clientId}`,
    origins: [apiBaseUrl ?? baseUrl],
    secrets: [clientSecret],
    buildTokenRequest: () => jsonCredentialsRequest(url, clientId, clientSecret),
    async processTokenResponse(response, provider) {
      const body = (await readJson(response)) as Record<string, unknown> | undefined
      if (!response.ok) throw errorForAnswer(provider, response, body)
      const o = typeof body === 'object' && body !== null ? body : {}
      return toTokenSet(
        {
          access_token: o.access_token ?? o.accessToken,
          expires_in: o.expires_in ?? o.expiresIn,
          refresh_token: o.refresh_token ?? o.refreshToken,
          scope: o.scope,
        },
        provider,
      )
    },
  })
}

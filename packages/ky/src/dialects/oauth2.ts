import * as v from 'valibot'
import { checkOptions, httpUrl, optionalText, text } from '../options.ts'
import { defineProvider, type Provider } from '../provider.ts'

export interface OAuth2Options {
  /** The token endpoint, e.g. `https://api.example.com/o/token/`. Its origin is also the default API origin. */
  tokenUrl: string
  clientId: string
  clientSecret: string
  /** Space-separated scopes, e.g. `'read write'`. */
  scope?: string
  /** How the client authenticates: HTTP Basic (default) or in the form body. */
  authMethod?: 'client_secret_basic' | 'client_secret_post'
  /** The API's base URL when it is not on the token URL's origin (e.g. `https://api.example.com`): where the token may be sent by default. */
  apiBaseUrl?: string
}

const Options = v.object(
  {
    tokenUrl: httpUrl,
    clientId: text,
    clientSecret: text,
    scope: optionalText,
    authMethod: v.optional(v.picklist(['client_secret_basic', 'client_secret_post'], 'must be client_secret_basic or client_secret_post')),
    apiBaseUrl: v.optional(httpUrl),
  },
  'must be an object',
)

/** RFC 6749 section 2.3.1: Basic credentials are form-encoded before base64. */
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+')

/**
 * An RFC 6749 client-credentials server: form-encoded body, `client_secret_basic` or
 * `client_secret_post`, optional scope, `{error, error_description}` errors.
 *
 * @example
 * ```ts
 * const provider = oauth2({ tokenUrl: 'https://pay.example/o/token/', clientId, clientSecret, scope: 'read write' })
 * const api = ky.create({ baseUrl: 'https://pay.example/' }).extend(withPaymentAuth({ provider }))
 * ```
 */
export function oauth2(options: OAuth2Options): Provider {
  const {
    tokenUrl,
    clientId,
    clientSecret,
    scope,
    authMethod = 'client_secret_basic',
    apiBaseUrl,
  } = checkOptions('oauth2', Options, options)
  return defineProvider({
    name: 'oauth2',
    key: scope ? `oauth2 ${tokenUrl} ${clientId} ${scope}` : `oauth2 ${tokenUrl} ${clientId}`,
    origins: [apiBaseUrl ?? tokenUrl],
    secrets: [clientSecret],
    buildTokenRequest() {
      const body = new URLSearchParams({ grant_type: 'client_credentials' })
      const headers = new Headers({ accept: 'application/json' })
      if (scope) body.set('scope', scope)
      if (authMethod === 'client_secret_post') {
        body.set('client_id', clientId)
        body.set('client_secret', clientSecret)
      } else {
        headers.set('authorization', `Basic ${btoa(`${formEncode(clientId)}:${formEncode(clientSecret)}`)}`)
      }
      return new Request(tokenUrl, { method: 'POST', headers, body })
    },
  })
}

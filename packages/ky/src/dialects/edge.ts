import { processOAuthResponse, readJson, tokenError } from '../answer.ts'
import * as v from 'valibot'
import { checkOptions, httpUrl, object, optionalText, stringOption, text } from '../options.ts'
import { defineProvider, joinUrl, type Provider } from '../provider.ts'

export interface EdgeOptions {
  /** The payment-auth edge Worker, e.g. `https://auth.example.com`. */
  url: string
  /** The provider's name as the Worker knows it, e.g. `'stablelink'`. */
  provider: string
  /** The caller credential (an API key or a JWT), or a function returning one (called per token request). */
  credential: string | (() => string | Promise<string>)
  scope?: string
  /** The provider API the token is for: its origin is where the token may be sent by default. */
  apiBaseUrl?: string
}

const Options = object({
  url: httpUrl,
  provider: text,
  credential: stringOption<EdgeOptions['credential']>(
    (value) => (typeof value === 'string' && value !== '') || typeof value === 'function',
    'must be a string or a function returning one',
  ),
  scope: optionalText,
  apiBaseUrl: v.optional(httpUrl),
})

/**
 * Tokens from our own edge Worker instead of the provider: the client secret stays in the
 * Worker, which is the single token authority for every caller. A rejected token is reported
 * to `/v1/token/invalidate` (compare-and-invalidate), which answers with the current token.
 *
 * @example
 * ```ts
 * const provider = edge({
 *   url: 'https://auth.example.com',
 *   provider: 'stablelink',
 *   credential: () => session.edgeKey,
 *   apiBaseUrl: 'https://openapi.dev.stablelink.app',
 * })
 * const api = ky.create({ baseUrl: 'https://openapi.dev.stablelink.app/' }).extend(withPaymentAuth({ provider, store: idbStore() }))
 * ```
 */
export function edge(options: EdgeOptions): Provider {
  const { url, provider: name, credential, scope, apiBaseUrl } = checkOptions('edge', Options, options) as EdgeOptions
  return defineProvider({
    name: `edge:${name}`,
    key: scope ? `edge ${url} ${name} ${scope}` : `edge ${url} ${name}`,
    origins: apiBaseUrl ? [apiBaseUrl] : [],
    secrets: typeof credential === 'string' ? [credential] : [],
    source: 'edge',
    async buildTokenRequest(grant) {
      const rejected = grant.type === 'client_credentials' ? grant.rejected : undefined
      const body = rejected ? { provider: name, access_token: rejected, scope } : { provider: name, scope }
      return new Request(joinUrl(url, rejected ? '/v1/token/invalidate' : '/v1/token'), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${typeof credential === 'string' ? credential : await credential()}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify(body),
      })
    },
    async processTokenResponse(response, provider) {
      // 401/403 here are about the caller, not the provider client; the Worker's own error is kept.
      if (response.status === 401 || response.status === 403) {
        const body = (await readJson(response)) as { error?: unknown; error_description?: unknown } | undefined
        throw tokenError(provider, response.status === 401 ? 'unauthorized_caller' : 'forbidden', response.status, {
          code: body?.error,
          message: body?.error_description,
        })
      }
      return processOAuthResponse(response, provider)
    },
  })
}

import { errorForAnswer, readJson, toTokenSet } from '../answer.ts'
import { type BaseUrlCredentialsOptions, jsonCredentialsProvider, type Provider } from '../provider.ts'

export type AbbeycrossOptions = BaseUrlCredentialsOptions

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
  return jsonCredentialsProvider('abbeycross', '/v1/oauth/token', options, async (response, provider) => {
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
  })
}

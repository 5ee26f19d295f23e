import { codeForStatus, errorForAnswer, readJson, toTokenSet, tokenError } from '../answer.ts'
import { checkOptions, httpUrl, object, text } from '../options.ts'
import { defineProvider, joinUrl, type Provider } from '../provider.ts'
import * as v from 'valibot'

export interface StablelinkOptions {
  /** e.g. `https://openapi.dev.stablelink.app`; any path is kept. */
  baseUrl: string
  apiKey: string
  apiSecret: string
  /** The API's base URL when it is not on `baseUrl`'s origin: its origin is where the token may be sent by default. */
  apiBaseUrl?: string
}

const Options = object({ baseUrl: httpUrl, apiKey: text, apiSecret: text, apiBaseUrl: v.optional(httpUrl) })

/**
 * The Global Payment API at stablelink: credentials in the query string, answers wrapped in
 * `{retcode, retdata, success}` (errors arrive with HTTP 200 and `success: false`), a refresh
 * grant, and only one live access token per client id.
 *
 * @example
 * ```ts
 * const api = ky.create({ baseUrl: 'https://openapi.dev.stablelink.app/' }).extend(
 *   withPaymentAuth({ provider: stablelink({ baseUrl: 'https://openapi.dev.stablelink.app', apiKey, apiSecret }) }),
 * )
 * ```
 */
export function stablelink(options: StablelinkOptions): Provider {
  const { baseUrl, apiKey, apiSecret, apiBaseUrl } = checkOptions('stablelink', Options, options)
  const url = joinUrl(baseUrl, '/user/auth/oauth2/token')
  return defineProvider({
    name: 'stablelink',
    key: `stablelink ${url} ${apiKey}`,
    origins: [apiBaseUrl ?? baseUrl],
    secrets: [apiSecret],
    refreshable: true,
    buildTokenRequest: (grant) =>
      new Request(
        `${url}?${new URLSearchParams(
          grant.type === 'refresh_token'
            ? { grant_type: 'refresh_token', refresh_token: grant.refreshToken }
            : { grant_type: 'client_credentials', api_key: apiKey, api_secret: apiSecret },
        )}`,
        { method: 'POST', headers: { accept: 'application/json' } },
      ),
    async processTokenResponse(response, provider) {
      const body = (await readJson(response)) as { retcode?: unknown; retmsg?: unknown; retdata?: unknown; success?: unknown } | undefined
      if (!response.ok) throw errorForAnswer(provider, response, body)
      if (body?.success === false || (body?.retcode !== undefined && body.retcode !== 200)) {
        // The envelope carries the real status; it maps like one (401/403 are both bad credentials here).
        const retcode = Number(body.retcode)
        const code = retcode === 403 ? 'invalid_client' : codeForStatus(retcode || 500)
        throw tokenError(provider, code, response.status, { code: String(body.retcode), message: body.retmsg })
      }
      // The client-credentials answer is wrapped; the refresh answer may come unwrapped.
      return toTokenSet(body?.retdata ?? body, provider)
    },
  })
}

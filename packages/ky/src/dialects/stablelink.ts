import { codeForStatus, errorForAnswer, readJson, toTokenSet, tokenError } from '../answer.ts'
import { defineProvider, joinUrl, type Provider } from '../provider.ts'

export interface StablelinkOptions {
  /** e.g. `https://openapi.dev.stablelink.app`; any path is kept. */
  baseUrl: string
  apiKey: string
  apiSecret: string
}

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
export function stablelink({ baseUrl, apiKey, apiSecret }: StablelinkOptions): Provider {
  const url = joinUrl(baseUrl, '/user/auth/oauth2/token')
  return defineProvider({
    name: 'stablelink',
    key: `stablelink ${url} ${apiKey}`,
    origins: [baseUrl],
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
      const body = (await readJson(response)) as { retcode?: unknown; retdata?: unknown; success?: unknown } | undefined
      if (!response.ok) throw errorForAnswer(provider, response, body)
      if (body?.success === false || (body?.retcode !== undefined && body.retcode !== 200)) {
        // The envelope carries the real status; it maps like one (401/403 are both bad credentials here).
        const retcode = Number(body.retcode)
        const code = retcode === 403 ? 'invalid_client' : codeForStatus(retcode || 500)
        throw tokenError(provider, code, response.status, String(body.retcode))
      }
      // The client-credentials answer is wrapped; the refresh answer may come unwrapped.
      return toTokenSet(body?.retdata ?? body, provider)
    },
  })
}

/**
 * The stablelink "Global Payment API" dialect (provider docs 000 and 001).
 *
 * `POST /stablelink/user/auth/oauth2/token` with everything in the query string:
 * - `grant_type=client_credentials&api_key=..&api_secret=..` answers the
 *   envelope `{retcode:200, retdata:{access_token, token_type, expires_in,
 *   refresh_token, rt_expires_in}, success:true}`;
 * - `grant_type=refresh_token&refresh_token=..` answers the token object
 *   UNWRAPPED (as doc 001 shows) and returns the same refresh token.
 *
 * Errors come back as HTTP 200 with `success:false` and the real status in
 * `retcode`. Only one access token per api key is live: issuing a new one
 * (either grant) revokes the previous one at once.
 */
import { randomToken, tokenJson } from '../http.ts'
import {
  applyCasing,
  checkClient,
  formatExpiresIn,
  isLive,
  issueAccessToken,
  issueRefreshToken,
  refreshLifetime,
  revokeClientTokens,
  type ProviderState,
  type SandboxState,
} from '../state.ts'
import type { Dialect } from './dialect.ts'

function envelopeError(retcode: number, retmsg: string): Response {
  return tokenJson({ retcode, retmsg, retdata: null, success: false })
}

function tokenObject(p: ProviderState, accessToken: string, refreshToken: string, refreshExpiresIn: number): Record<string, unknown> {
  return applyCasing(p.config, {
    access_token: accessToken,
    token_type: 'bearer',
    expires_in: formatExpiresIn(p.config, p.config.tokenLifetime),
    refresh_token: refreshToken,
    rt_expires_in: refreshExpiresIn,
  })
}

async function handleToken(state: SandboxState, p: ProviderState, request: Request): Promise<Response> {
  const query = new URL(request.url).searchParams
  const grantType = query.get('grant_type')
  if (!grantType) return envelopeError(400, 'missing parameter: grant_type')

  if (grantType === 'client_credentials') {
    const apiKey = query.get('api_key')
    const apiSecret = query.get('api_secret')
    if (!apiKey) return envelopeError(400, 'missing parameter: api_key')
    if (!apiSecret) return envelopeError(400, 'missing parameter: api_secret')
    if (!checkClient(p, apiKey, apiSecret)) return envelopeError(401, 'invalid api key or secret')
    revokeClientTokens(state, p, apiKey)
    const access = issueAccessToken(state, p, apiKey, null)
    const refresh = issueRefreshToken(state, p, apiKey)
    return tokenJson({
      retcode: 200,
      retdata: tokenObject(p, access.value, refresh.value, refreshLifetime(p.config)),
      success: true,
    })
  }

  if (grantType === 'refresh_token') {
    const value = query.get('refresh_token')
    if (!value) return envelopeError(400, 'missing parameter: refresh_token')
    const refresh = p.refreshTokens.get(value)
    const now = state.now()
    if (!refresh || !isLive(refresh, now) || !p.clients.has(refresh.clientId)) {
      return envelopeError(401, 'invalid or expired refresh token')
    }
    revokeClientTokens(state, p, refresh.clientId)
    const access = issueAccessToken(state, p, refresh.clientId, null)
    const remaining = Math.max(0, Math.floor((refresh.expiresAt - now) / 1000))
    // Doc 001: the refresh answer is not wrapped in the envelope.
    return tokenJson(tokenObject(p, access.value, refresh.value, remaining))
  }

  return envelopeError(400, `unsupported grant_type: ${grantType}`)
}

/** The stablelink dialect. */
export const stablelinkDialect: Dialect = {
  provider: 'stablelink',
  tokenPath: '/user/auth/oauth2/token',
  grantOf: (request) => Promise.resolve(new URL(request.url).searchParams.get('grant_type') ?? 'missing'),
  handleToken,
  sampleAnswer: (_state, p) =>
    Promise.resolve({
      retcode: 200,
      retdata: tokenObject(p, randomToken(), randomToken(), refreshLifetime(p.config)),
      success: true,
    }),
}

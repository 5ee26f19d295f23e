/**
 * The StoneX Payments dialect (provider doc 003).
 *
 * `POST /stonex/api/v/authentication` with JSON `{client_id, client_secret}`
 * answers `{token_type:"Bearer", expires_in, access_token, scope:"client_credentials"}`
 * where the access token is an HS256 JWT whose payload carries
 * `iss, aud, iat, exp, cid, jti` with `exp = iat + lifetime` (seconds).
 * Bad credentials: 401 `{error:"invalid_client", error_description}`;
 * a body that is not such JSON: 400 `{error:"invalid_request", ...}`.
 */
import { base64urlEncode, base64urlString, isRecord, randomToken, readJson, tokenJson } from '../http.ts'
import { applyCasing, checkClient, formatExpiresIn, issueAccessToken, type ProviderState, type SandboxState } from '../state.ts'
import { SANDBOX_ORIGIN } from '../types.ts'
import type { Dialect } from './dialect.ts'

/** `aud` of every sandbox StoneX token. */
export const STONEX_AUDIENCE = 'api://paymentsconnect'
/** `scope` of every StoneX answer. */
export const STONEX_SCOPE = 'client_credentials'

async function jwtKey(state: SandboxState): Promise<CryptoKey> {
  state.jwtKey ??= await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return state.jwtKey
}

/** Builds and signs a JWT; returns it with its `iat`/`exp` in seconds. */
async function signJwt(
  state: SandboxState,
  p: ProviderState,
  issuer: string,
  clientId: string,
): Promise<{ jwt: string; iat: number; exp: number }> {
  const iat = Math.floor(state.now() / 1000)
  const exp = iat + p.config.tokenLifetime
  const header = base64urlString(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const payload = base64urlString(
    JSON.stringify({ iss: issuer, aud: STONEX_AUDIENCE, iat, exp, cid: clientId, jti: `AT.${randomToken()}` }),
  )
  const input = `${header}.${payload}`
  const signature = await crypto.subtle.sign('HMAC', await jwtKey(state), new TextEncoder().encode(input))
  return { jwt: `${input}.${base64urlEncode(new Uint8Array(signature))}`, iat, exp }
}

function tokenObject(p: ProviderState, accessToken: string): Record<string, unknown> {
  return applyCasing(p.config, {
    token_type: 'Bearer',
    expires_in: formatExpiresIn(p.config, p.config.tokenLifetime),
    access_token: accessToken,
    scope: STONEX_SCOPE,
  })
}

function issuerOf(request: Request): string {
  return `${new URL(request.url).origin}/stonex/oauth2`
}

async function handleToken(state: SandboxState, p: ProviderState, request: Request): Promise<Response> {
  const body = await readJson(request)
  const value = body.ok ? body.value : undefined
  if (!isRecord(value) || typeof value['client_id'] !== 'string' || typeof value['client_secret'] !== 'string') {
    return tokenJson(
      { error: 'invalid_request', error_description: 'the body must be JSON {"client_id": string, "client_secret": string}' },
      400,
    )
  }
  const clientId = value['client_id']
  if (!checkClient(p, clientId, value['client_secret'])) {
    return tokenJson({ error: 'invalid_client', error_description: 'invalid client credentials' }, 401)
  }
  const { jwt, iat, exp } = await signJwt(state, p, issuerOf(request), clientId)
  issueAccessToken(state, p, clientId, STONEX_SCOPE, { value: jwt, issuedAt: iat * 1000, expiresAt: exp * 1000 })
  return tokenJson(tokenObject(p, jwt))
}

/** The StoneX dialect. */
export const stonexDialect: Dialect = {
  provider: 'stonex',
  tokenPath: '/api/v/authentication',
  grantOf: () => Promise.resolve('client_credentials'),
  handleToken,
  sampleAnswer: async (state, p) => tokenObject(p, (await signJwt(state, p, `${SANDBOX_ORIGIN}/stonex/oauth2`, 'sample')).jwt),
}

/**
 * A plain RFC 6749 client-credentials server (provider doc 002), as served
 * by e.g. Django OAuth Toolkit at `/o/token/`.
 *
 * `POST /oauth2/o/token/`, form-encoded, `grant_type=client_credentials`;
 * client authentication by `Authorization: Basic base64(id:secret)`
 * (client_secret_basic) or `client_id` + `client_secret` in the body
 * (client_secret_post), not both; optional space-separated `scope` out of
 * `read write admin` (default `read write`). Answers
 * `{access_token, token_type:"Bearer", expires_in, scope}`; errors are
 * `{error, error_description}`: 400 `invalid_request` / `invalid_scope`,
 * 401 `invalid_client` with `WWW-Authenticate: Basic`.
 */
import { base64Decode, randomToken, tokenJson } from '../http.ts'
import {
  applyCasing,
  checkClient,
  formatExpiresIn,
  issueAccessToken,
  type ProviderState,
  type SandboxState,
} from '../state.ts'
import type { Dialect } from './dialect.ts'

/** Scopes the server knows. */
export const OAUTH2_SCOPES: readonly string[] = ['read', 'write', 'admin']
/** Scope granted when the client asks for none. */
export const OAUTH2_DEFAULT_SCOPE = 'read write'

function oauthError(status: number, error: string, description: string, headers: Record<string, string> = {}): Response {
  return tokenJson({ error, error_description: description }, status, headers)
}

function invalidClient(description: string): Response {
  return oauthError(401, 'invalid_client', description, { 'www-authenticate': 'Basic realm="sandbox"' })
}

/** Reads a form body (urlencoded or multipart); `undefined` for any other content type. */
async function readForm(request: Request): Promise<URLSearchParams | undefined> {
  const type = (request.headers.get('content-type') ?? '').toLowerCase()
  if (type.startsWith('application/x-www-form-urlencoded')) return new URLSearchParams(await request.text())
  if (type.startsWith('multipart/form-data')) {
    try {
      const data = await request.formData()
      const params = new URLSearchParams()
      for (const [key, value] of data) if (typeof value === 'string') params.append(key, value)
      return params
    } catch {
      return undefined
    }
  }
  return undefined
}

/** RFC 6749 2.3.1 form-encodes id and secret before base64; accept them encoded or not. */
function formDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}

type ClientAuth = { ok: true; clientId: string } | { ok: false; response: Response }

function authenticate(p: ProviderState, request: Request, form: URLSearchParams): ClientAuth {
  const header = request.headers.get('authorization')
  const basic = header ? /^basic\s+(\S+)\s*$/i.exec(header) : null
  if (header && /^basic\b/i.test(header)) {
    if (form.has('client_secret')) {
      return {
        ok: false,
        response: oauthError(400, 'invalid_request', 'use only one client authentication method'),
      }
    }
    const decoded = basic?.[1] !== undefined ? base64Decode(basic[1]) : undefined
    const colon = decoded?.indexOf(':') ?? -1
    if (decoded === undefined || colon < 0) {
      return { ok: false, response: invalidClient('malformed Basic authorization header') }
    }
    const id = decoded.slice(0, colon)
    const secret = decoded.slice(colon + 1)
    if (checkClient(p, id, secret)) return { ok: true, clientId: id }
    const decodedId = formDecode(id)
    if (checkClient(p, decodedId, formDecode(secret))) return { ok: true, clientId: decodedId }
    return { ok: false, response: invalidClient('client authentication failed') }
  }
  const id = form.get('client_id')
  const secret = form.get('client_secret')
  if (!id || secret === null) return { ok: false, response: invalidClient('client authentication required') }
  if (!checkClient(p, id, secret)) return { ok: false, response: invalidClient('client authentication failed') }
  return { ok: true, clientId: id }
}

function tokenObject(p: ProviderState, accessToken: string, scope: string): Record<string, unknown> {
  return applyCasing(p.config, {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: formatExpiresIn(p.config, p.config.tokenLifetime),
    scope,
  })
}

async function handleToken(state: SandboxState, p: ProviderState, request: Request): Promise<Response> {
  const form = await readForm(request)
  if (!form) {
    return oauthError(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded')
  }
  const grantType = form.get('grant_type')
  if (!grantType) return oauthError(400, 'invalid_request', 'missing grant_type parameter')
  if (grantType !== 'client_credentials') {
    return oauthError(400, 'invalid_request', `unsupported grant_type: ${grantType}`)
  }

  const auth = authenticate(p, request, form)
  if (!auth.ok) return auth.response

  const requested = (form.get('scope') ?? '').split(/\s+/).filter((scope) => scope !== '')
  const unknown = requested.filter((scope) => !OAUTH2_SCOPES.includes(scope))
  if (unknown.length > 0) return oauthError(400, 'invalid_scope', `unknown scope: ${unknown.join(' ')}`)
  const scope = requested.length > 0 ? [...new Set(requested)].join(' ') : OAUTH2_DEFAULT_SCOPE

  const token = issueAccessToken(state, p, auth.clientId, scope)
  return tokenJson(tokenObject(p, token.value, scope))
}

/** The RFC 6749 dialect. */
export const oauth2Dialect: Dialect = {
  provider: 'oauth2',
  tokenPath: '/o/token/',
  grantOf: async (request) => (await readForm(request.clone()))?.get('grant_type') ?? 'missing',
  handleToken,
  sampleAnswer: (_state, p) => Promise.resolve(tokenObject(p, randomToken(), OAUTH2_DEFAULT_SCOPE)),
}

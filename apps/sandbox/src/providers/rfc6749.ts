/**
 * What the RFC 6749 dialects (oauth2, paypal, checkout) share: form bodies, error answers,
 * HTTP Basic client authentication (section 2.3.1) and scope parsing.
 */
import { base64Decode, tokenJson } from '../http.ts'
import { checkClient, issueAccessToken, type ProviderState, type SandboxState } from '../state.ts'

/** An RFC 6749 section 5.2 error answer `{error, error_description}` (with `Cache-Control: no-store`). */
export function oauthError(status: number, error: string, description: string, headers: Record<string, string> = {}): Response {
  return tokenJson({ error, error_description: description }, status, headers)
}

/** 401 `invalid_client` with `WWW-Authenticate: Basic`, as section 5.2 asks after a failed Basic authentication. */
export function invalidClient(description: string): Response {
  return oauthError(401, 'invalid_client', description, { 'www-authenticate': 'Basic realm="sandbox"' })
}

/** Reads a form body (urlencoded or multipart); `undefined` for any other content type. */
export async function readForm(request: Request): Promise<URLSearchParams | undefined> {
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

/** `grantOf` of a form-based dialect: the `grant_type` of a clone of the request, `missing` when none. */
export async function formGrantOf(request: Request): Promise<string> {
  return (await readForm(request.clone()))?.get('grant_type') ?? 'missing'
}

/** RFC 6749 2.3.1 form-encodes id and secret before base64; accept them encoded or not. */
function formDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}

/** True when the request carries an `Authorization: Basic ...` header (well-formed or not). */
export function hasBasic(request: Request): boolean {
  return /^basic\b/i.test(request.headers.get('authorization') ?? '')
}

/** The outcome of a client authentication: the client id, or the error answer to send. */
export type ClientAuthResult = { ok: true; clientId: string } | { ok: false; response: Response }

/**
 * Checks `Authorization: Basic base64(id:secret)` against the provider's clients; id and secret
 * may be form-encoded (RFC 6749 2.3.1) or not. A missing header is 401 too.
 */
export function authenticateBasic(p: ProviderState, request: Request): ClientAuthResult {
  const header = request.headers.get('authorization')
  if (!header || !hasBasic(request)) return { ok: false, response: invalidClient('client authentication required') }
  const basic = /^basic\s+(\S+)\s*$/i.exec(header)
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

/**
 * The scope to grant: the requested space-separated scopes (deduplicated, in order) when all are
 * known, `fallback` when none were asked for, or a 400 `invalid_scope` answer.
 */
export function grantScope(
  form: URLSearchParams,
  known: readonly string[],
  fallback: string,
): { ok: true; scope: string } | { ok: false; response: Response } {
  const requested = (form.get('scope') ?? '').split(/\s+/).filter((scope) => scope !== '')
  const unknown = requested.filter((scope) => !known.includes(scope))
  if (unknown.length > 0) return { ok: false, response: oauthError(400, 'invalid_scope', `unknown scope: ${unknown.join(' ')}`) }
  return { ok: true, scope: requested.length > 0 ? [...new Set(requested)].join(' ') : fallback }
}

/** How a dialect words a missing or unsupported `grant_type` (default: 400 `invalid_request`). */
export interface GrantErrors {
  /** `error` of a missing `grant_type`. */
  missing?: { error: string; description: string }
  /** `error` of a `grant_type` other than `client_credentials`. */
  unsupported?: string
}

/**
 * The checks every client-credentials request starts with: a form body and
 * `grant_type=client_credentials`. Returns the form, or the 400 answer.
 */
export async function clientCredentialsForm(
  request: Request,
  errors: GrantErrors = {},
): Promise<{ ok: true; form: URLSearchParams } | { ok: false; response: Response }> {
  const form = await readForm(request)
  if (!form) {
    return { ok: false, response: oauthError(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded') }
  }
  const grantType = form.get('grant_type')
  if (!grantType) {
    const { error, description } = errors.missing ?? { error: 'invalid_request', description: 'missing grant_type parameter' }
    return { ok: false, response: oauthError(400, error, description) }
  }
  if (grantType !== 'client_credentials') {
    return { ok: false, response: oauthError(400, errors.unsupported ?? 'invalid_request', `unsupported grant_type: ${grantType}`) }
  }
  return { ok: true, form }
}

/** How one RFC 6749 dialect answers the client-credentials grant. */
export interface ClientCredentialsGrant {
  errors?: GrantErrors
  authenticate(state: SandboxState, p: ProviderState, request: Request, form: URLSearchParams): ClientAuthResult | Promise<ClientAuthResult>
  scopes: readonly string[]
  defaultScope: string
  /** The success body for a token issued with `scope`. */
  answer(p: ProviderState, accessToken: string, scope: string): Record<string, unknown>
}

/** The client-credentials token endpoint: form, client authentication, scope, a token. */
export function clientCredentialsEndpoint(grant: ClientCredentialsGrant) {
  return async (state: SandboxState, p: ProviderState, request: Request): Promise<Response> => {
    const body = await clientCredentialsForm(request, grant.errors)
    if (!body.ok) return body.response
    const auth = await grant.authenticate(state, p, request, body.form)
    if (!auth.ok) return auth.response
    const granted = grantScope(body.form, grant.scopes, grant.defaultScope)
    if (!granted.ok) return granted.response
    const token = issueAccessToken(state, p, auth.clientId, granted.scope)
    return tokenJson(grant.answer(p, token.value, granted.scope))
  }
}

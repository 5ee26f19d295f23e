/**
 * A plain RFC 6749 client-credentials server (provider doc 002), as served
 * by e.g. Django OAuth Toolkit at `/o/token/`.
 *
 * `POST /oauth2/o/token/`, form-encoded, `grant_type=client_credentials`;
 * client authentication (exactly one of) `Authorization: Basic base64(id:secret)`
 * (client_secret_basic), `client_id` + `client_secret` in the body
 * (client_secret_post), or a `client_assertion` JWT (private_key_jwt, RFC 7523,
 * see `client-assertion.ts`); optional space-separated `scope` out of
 * `read write admin` (default `read write`). Answers
 * `{access_token, token_type:"Bearer", expires_in, scope}`; errors are
 * `{error, error_description}`: 400 `invalid_request` / `invalid_scope`,
 * 401 `invalid_client` (with `WWW-Authenticate: Basic` unless the client sent an assertion).
 */
import { randomToken, tokenJson } from '../http.ts'
import { applyCasing, checkClient, formatExpiresIn, issueAccessToken, type ProviderState, type SandboxState } from '../state.ts'
import { authenticateAssertion, hasClientAssertion } from './client-assertion.ts'
import type { Dialect } from './dialect.ts'
import {
  authenticateBasic,
  clientCredentialsForm,
  type ClientAuthResult,
  formGrantOf,
  grantScope,
  hasBasic,
  invalidClient,
  oauthError,
} from './rfc6749.ts'

/** Scopes the server knows. */
export const OAUTH2_SCOPES: readonly string[] = ['read', 'write', 'admin']
/** Scope granted when the client asks for none. */
export const OAUTH2_DEFAULT_SCOPE = 'read write'

async function authenticate(state: SandboxState, p: ProviderState, request: Request, form: URLSearchParams): Promise<ClientAuthResult> {
  const methods = [hasBasic(request), form.has('client_secret'), hasClientAssertion(form)].filter(Boolean).length
  if (methods > 1) {
    return { ok: false, response: oauthError(400, 'invalid_request', 'use only one client authentication method') }
  }
  if (hasClientAssertion(form)) return authenticateAssertion(state, p, request, form)
  if (hasBasic(request)) return authenticateBasic(p, request)
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
  const body = await clientCredentialsForm(request)
  if (!body.ok) return body.response
  const auth = await authenticate(state, p, request, body.form)
  if (!auth.ok) return auth.response
  const granted = grantScope(body.form, OAUTH2_SCOPES, OAUTH2_DEFAULT_SCOPE)
  if (!granted.ok) return granted.response

  const token = issueAccessToken(state, p, auth.clientId, granted.scope)
  return tokenJson(tokenObject(p, token.value, granted.scope))
}

/** The RFC 6749 dialect. */
export const oauth2Dialect: Dialect = {
  provider: 'oauth2',
  tokenPath: '/o/token/',
  grantOf: formGrantOf,
  handleToken,
  sampleAnswer: (_state, p) => Promise.resolve(tokenObject(p, randomToken(), OAUTH2_DEFAULT_SCOPE)),
}

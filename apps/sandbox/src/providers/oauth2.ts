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
import { randomToken } from '../http.ts'
import { applyCasing, checkClient, formatExpiresIn, type ProviderState, type SandboxState } from '../state.ts'
import { authenticateAssertion, hasClientAssertion } from './client-assertion.ts'
import type { Dialect } from './dialect.ts'
import {
  authenticateBasic,
  clientCredentialsEndpoint,
  type ClientAuthResult,
  formGrantOf,
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

const handleToken = clientCredentialsEndpoint({
  authenticate,
  scopes: OAUTH2_SCOPES,
  defaultScope: OAUTH2_DEFAULT_SCOPE,
  answer: tokenObject,
})

/** The RFC 6749 dialect. */
export const oauth2Dialect: Dialect = {
  provider: 'oauth2',
  tokenPath: '/o/token/',
  grantOf: formGrantOf,
  handleToken,
  sampleAnswer: (_state, p) => Promise.resolve(tokenObject(p, randomToken(), OAUTH2_DEFAULT_SCOPE)),
}

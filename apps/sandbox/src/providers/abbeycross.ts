/**
 * The AbbeyCross dialect (provider doc 004).
 *
 * `POST /abbeycross/v1/oauth/token` with JSON `{client_id, client_secret}`.
 * The success schema is undocumented (`{}`); the sandbox answers camelCase
 * `{accessToken, tokenType:"Bearer", expiresIn}` by default, or snake_case
 * when configured with `casing: 'snake'`. Errors use the documented shape
 * `{errorId, code, text, parameter_name?, parameter_value?}`: bad credentials
 * 401 `invalid_credentials` (echoing the sent `client_secret` as
 * `parameter_value`, as the real provider does), malformed body 400.
 */
import { isRecord, randomToken, readJson, tokenJson, uuid } from '../http.ts'
import { applyCasing, checkClient, formatExpiresIn, issueAccessToken, type ProviderState, type SandboxState } from '../state.ts'
import type { Dialect } from './dialect.ts'

/** An AbbeyCross error body. */
export function abbeyError(code: string, text: string, parameter?: { name: string; value: unknown }): Record<string, unknown> {
  const body: Record<string, unknown> = { errorId: uuid(), code, text }
  if (parameter) {
    body['parameter_name'] = parameter.name
    body['parameter_value'] = parameter.value
  }
  return body
}

function tokenObject(p: ProviderState, accessToken: string): Record<string, unknown> {
  return applyCasing(p.config, {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: formatExpiresIn(p.config, p.config.tokenLifetime),
  })
}

async function handleToken(state: SandboxState, p: ProviderState, request: Request): Promise<Response> {
  const body = await readJson(request)
  if (!body.ok || !isRecord(body.value)) {
    return tokenJson(abbeyError('invalid_request', 'The request body must be a JSON object'), 400)
  }
  for (const name of ['client_id', 'client_secret']) {
    const value = body.value[name]
    if (typeof value !== 'string' || value === '') {
      return tokenJson(abbeyError('invalid_request', `${name} is required`, { name, value: value ?? null }), 400)
    }
  }
  const clientId = body.value['client_id'] as string
  const clientSecret = body.value['client_secret'] as string
  if (!checkClient(p, clientId, clientSecret)) {
    return tokenJson(abbeyError('invalid_credentials', 'Invalid client credentials', { name: 'client_secret', value: clientSecret }), 401)
  }
  const token = issueAccessToken(state, p, clientId, null)
  return tokenJson(tokenObject(p, token.value))
}

/** The AbbeyCross dialect. */
export const abbeycrossDialect: Dialect = {
  provider: 'abbeycross',
  tokenPath: '/v1/oauth/token',
  grantOf: () => Promise.resolve('client_credentials'),
  handleToken,
  sampleAnswer: (_state, p) => Promise.resolve(tokenObject(p, randomToken())),
}

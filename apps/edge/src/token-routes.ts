/**
 * `POST /v1/token` and `POST /v1/token/invalidate`: a token for an authenticated caller.
 *
 *   /v1/token             {"provider": "<name>", "scope"?: "..."}
 *   /v1/token/invalidate  {"provider": "<name>", "access_token": "<rejected>", "scope"?: "..."}
 *
 * Both answer 200 `{access_token, token_type: "Bearer", expires_in}` with `Cache-Control: no-store`.
 */
import type { TokenInfo } from '@payment-auth/ky'
import type { Context } from 'hono'
import * as v from 'valibot'
import type { EdgeHono } from './app.ts'
import { MIN_VALIDITY_SECONDS } from './authority.ts'
import { type AuditFacts, factsOf } from './audit.ts'
import { authorize, type Caller } from './callers.ts'
import type { Config } from './config.ts'
import { EdgeError, NO_STORE } from './errors.ts'
import { configuredProvider, providerClient } from './providers.ts'
import { tokensFor } from './tokens.ts'

const TokenRequest = v.object({
  provider: v.pipe(v.string(), v.nonEmpty(), v.maxLength(64)),
  scope: v.optional(v.pipe(v.string(), v.maxLength(1024))),
})

const InvalidateRequest = v.object({
  ...TokenRequest.entries,
  access_token: v.pipe(v.string(), v.nonEmpty(), v.maxLength(8192)),
})

/** The JSON body, validated; anything else is 400 `invalid_request` (the body is never echoed). */
function parseBody<const S extends v.GenericSchema>(text: string, schema: S, expected: string): v.InferOutput<S> {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new EdgeError(400, 'invalid_request', `the body must be JSON: ${expected}`)
  }
  const parsed = v.safeParse(schema, body)
  if (!parsed.success) throw new EdgeError(400, 'invalid_request', `expected ${expected}`)
  return parsed.output
}

/** Who asks, under which configuration, and the audit facts of the decision (filled in here). */
export interface TokenAsk {
  env: Env
  config: Config
  caller: Caller
  facts: AuditFacts
}

/** The token manager for what the caller asked: 404 unknown provider, 403/400 what this caller may not use. */
function tokensAsked(ask: TokenAsk, body: { provider: string; scope?: string | undefined }) {
  const config = configuredProvider(ask.config, body.provider)
  // Only a configured provider name and an authorized scope reach the audit line, never what the caller typed.
  ask.facts.provider = body.provider
  const scope = authorize(ask.caller, body.provider, config, body.scope)
  ask.facts.scope = scope
  return tokensFor(ask.env, providerClient(ask.env, body.provider, config, scope))
}

/** 200 `{access_token, token_type: "Bearer", expires_in}` (remaining seconds), never cached by anyone. */
function tokenResponse(ask: TokenAsk, token: TokenInfo, now = Date.now()): Response {
  ask.facts.token = token.accessToken
  const body = {
    access_token: token.accessToken,
    token_type: 'Bearer',
    expires_in: Math.max(0, Math.floor((token.expiresAt - now) / 1000)),
  }
  return Response.json(body, { headers: NO_STORE })
}

/** `POST /v1/token` for an admitted caller, its body read (`text`). */
export async function tokenAnswer(ask: TokenAsk, text: string): Promise<Response> {
  const body = parseBody(text, TokenRequest, '{"provider": "<name>", "scope"?: "<scopes>"}')
  return tokenResponse(ask, await tokensAsked(ask, body).getRecord({ minValidity: MIN_VALIDITY_SECONDS }))
}

/** What the Hono routes ask with: the middlewares' configuration and caller, this request's audit facts. */
const askOf = (c: Context<EdgeHono>): TokenAsk => ({ env: c.env, config: c.get('config'), caller: c.get('caller'), facts: factsOf(c) })

/** `POST /v1/token` on the Hono path (a path index.ts does not send to `tokenEndpoint`, such as a percent-encoded one). */
export async function postToken(c: Context<EdgeHono>): Promise<Response> {
  return tokenAnswer(askOf(c), await c.req.text())
}

export async function postInvalidate(c: Context<EdgeHono>): Promise<Response> {
  const ask = askOf(c)
  const body = parseBody(
    await c.req.text(),
    InvalidateRequest,
    '{"provider": "<name>", "access_token": "<rejected token>", "scope"?: "<scopes>"}',
  )
  const tokens = tokensAsked(ask, body)
  await tokens.invalidate(body.access_token)
  return tokenResponse(ask, await tokens.getRecord({ minValidity: MIN_VALIDITY_SECONDS }))
}

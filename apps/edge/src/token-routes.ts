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
import { noteDecision } from './audit.ts'
import { authorize } from './callers.ts'
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
async function readBody<const S extends v.GenericSchema>(c: Context<EdgeHono>, schema: S, expected: string): Promise<v.InferOutput<S>> {
  let body: unknown
  try {
    body = JSON.parse(await c.req.text())
  } catch {
    throw new EdgeError(400, 'invalid_request', `the body must be JSON: ${expected}`)
  }
  const parsed = v.safeParse(schema, body)
  if (!parsed.success) throw new EdgeError(400, 'invalid_request', `expected ${expected}`)
  return parsed.output
}

/** The token manager for what the caller asked: 404 unknown provider, 403/400 what this caller may not use. */
function tokensAsked(c: Context<EdgeHono>, body: { provider: string; scope?: string | undefined }) {
  const config = configuredProvider(c.get('config'), body.provider)
  // Only a configured provider name and an authorized scope reach the audit line, never what the caller typed.
  noteDecision(c, { provider: body.provider })
  const scope = authorize(c.get('caller'), body.provider, config, body.scope)
  noteDecision(c, { scope })
  return tokensFor(c.env, providerClient(c.env, body.provider, config, scope))
}

/** 200 `{access_token, token_type: "Bearer", expires_in}` (remaining seconds), never cached by anyone. */
function tokenResponse(c: Context<EdgeHono>, token: TokenInfo, now = Date.now()): Response {
  noteDecision(c, { token: token.accessToken })
  const body = {
    access_token: token.accessToken,
    token_type: 'Bearer',
    expires_in: Math.max(0, Math.floor((token.expiresAt - now) / 1000)),
  }
  return Response.json(body, { headers: NO_STORE })
}

export async function postToken(c: Context<EdgeHono>): Promise<Response> {
  const body = await readBody(c, TokenRequest, '{"provider": "<name>", "scope"?: "<scopes>"}')
  return tokenResponse(c, await tokensAsked(c, body).getRecord({ minValidity: MIN_VALIDITY_SECONDS }))
}

export async function postInvalidate(c: Context<EdgeHono>): Promise<Response> {
  const body = await readBody(c, InvalidateRequest, '{"provider": "<name>", "access_token": "<rejected token>", "scope"?: "<scopes>"}')
  const tokens = tokensAsked(c, body)
  await tokens.invalidate(body.access_token)
  return tokenResponse(c, await tokens.getRecord({ minValidity: MIN_VALIDITY_SECONDS }))
}

/**
 * `POST /v1/token` and `POST /v1/token/invalidate`: a token for an authenticated caller.
 *
 *   /v1/token             {"provider": "<name>", "scope"?: "..."}
 *   /v1/token/invalidate  {"provider": "<name>", "access_token": "<rejected>", "scope"?: "..."}
 *
 * Both answer 200 `{access_token, token_type: "Bearer", expires_in}` with `Cache-Control: no-store`.
 */
import type { Context } from 'hono'
import * as v from 'valibot'
import type { EdgeHono } from './app.ts'
import { EdgeError } from './errors.ts'
import { tokenResponse } from './issued.ts'
import { clientFor } from './providers.ts'
import { invalidateToken, readToken } from './tokens.ts'

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

export async function postToken(c: Context<EdgeHono>): Promise<Response> {
  const body = await readBody(c, TokenRequest, '{"provider": "<name>", "scope"?: "<scopes>"}')
  const client = clientFor(c.env, c.get('config'), c.get('caller'), body.provider, body.scope)
  return tokenResponse(await readToken(c.env, client))
}

export async function postInvalidate(c: Context<EdgeHono>): Promise<Response> {
  const body = await readBody(c, InvalidateRequest, '{"provider": "<name>", "access_token": "<rejected token>", "scope"?: "<scopes>"}')
  const client = clientFor(c.env, c.get('config'), c.get('caller'), body.provider, body.scope)
  return tokenResponse(await invalidateToken(c.env, client, body.access_token))
}

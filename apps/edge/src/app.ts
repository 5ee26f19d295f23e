/**
 * The Worker's routes, read top-down: every `/v1/*` request passes, in this order,
 *
 *   audit (audit.ts: one JSON line per decision, written when the answer is known)
 *   -> configuration (loadConfig: a bad one is a plain 500)
 *   -> CORS (allow-list `CORS_ORIGINS`; preflights end here)
 *   -> body limit (8 KiB for token routes, 1 MiB for the proxy: 413)
 *   -> admin routes (admin.ts: ADMIN_KEY, not a caller; 404 without one)
 *   -> caller authentication (API key, static or from the registry, or JWT: 401)
 *   -> per-caller rate limit, shared by every isolate (rate-limit.ts: 429)
 *   -> the route (token-routes.ts, proxy.ts).
 *
 * Only deliberate errors reach the wire (errors.ts): `app.onError` answers `EdgeError`s as
 * they are, maps token failures to 502/503, and turns anything else into a plain 500.
 *
 * `POST /v1/token`, the request every caller makes most, does not go through Hono: index.ts
 * hands it to `tokenEndpoint` (at the end of this file), which takes the same steps in the same
 * order, with the same functions, as one plain function: Hono's chain (routing, a context, each
 * middleware's closure, the copy of the answer a header set after it costs) was most of the
 * Worker's own CPU time on the warm path (bench/RESULTS.md section 8).
 */
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { adminRoutes } from './admin.ts'
import { type AuditFacts, auditAnswer, auditTrail } from './audit.ts'
import { authenticate, type Caller } from './callers.ts'
import { loadConfig, type Config } from './config.ts'
import { EdgeError, onError } from './errors.ts'
import { jwksSettings } from './jwks.ts'
import { proxy } from './proxy.ts'
import { takeSharedRequest } from './rate-limit.ts'
import { registeredCaller } from './registry.ts'
import { postInvalidate, postToken, tokenAnswer } from './token-routes.ts'

/** Hono's types for this app: the Worker's `env`, and what the middlewares hand to the routes. */
export interface EdgeHono {
  Bindings: Env
  Variables: { config: Config; caller: Caller }
}

const TOKEN_BODY_LIMIT = 8 * 1024
const PROXY_BODY_LIMIT = 1024 * 1024

const tooLarge = (limit: number) => () => {
  throw new EdgeError(413, 'invalid_request', `the body is larger than ${limit} bytes`)
}

/** What an allowed origin may read of an answer (CORS), here and in `tokenEndpoint`. */
const EXPOSE_HEADERS = ['Retry-After', 'WWW-Authenticate']

/** Caller authentication (401), then the caller's rate limit shared by every isolate (429). */
async function admit(env: Env, config: Config, authorization: string | undefined, waitUntil: (work: Promise<unknown>) => void) {
  const caller = await authenticate(authorization, config, (sha256) => registeredCaller(env, sha256), jwksSettings(env))
  await takeSharedRequest(env, caller.id, caller.ratePerMinute ?? config.ratePerMinute, waitUntil)
  return caller
}

export const app = new Hono<EdgeHono>()

app.get('/healthz', (c) => c.json({ ok: true }))

// The audit trail first: every decision below, refusals included, gets its line (audit.ts).
app.use('/v1/*', auditTrail)

app.use('/v1/*', async (c, next) => {
  c.set('config', loadConfig(c.env))
  await next()
})

const allowedCors = cors({
  origin: (origin) => origin,
  allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
  exposeHeaders: EXPOSE_HEADERS,
  maxAge: 600,
})

// Hono's CORS for origins on the allow-list only: any other origin gets no CORS header at all.
app.use('/v1/*', async (c, next) => {
  if (c.get('config').corsOrigins.includes(c.req.header('origin') ?? '')) return allowedCors(c, next)
  await next()
  c.header('Vary', 'Origin', { append: true })
})

app.use('/v1/token', bodyLimit({ maxSize: TOKEN_BODY_LIMIT, onError: tooLarge(TOKEN_BODY_LIMIT) }))
app.use('/v1/token/*', bodyLimit({ maxSize: TOKEN_BODY_LIMIT, onError: tooLarge(TOKEN_BODY_LIMIT) }))
app.use('/v1/proxy/*', bodyLimit({ maxSize: PROXY_BODY_LIMIT, onError: tooLarge(PROXY_BODY_LIMIT) }))

// Admin routes (callers at run time) and the operators' status: before caller authentication.
adminRoutes(app)

app.use('/v1/*', async (c, next) => {
  c.set('caller', await admit(c.env, c.get('config'), c.req.header('authorization'), (work) => c.executionCtx.waitUntil(work)))
  await next()
})

app.post('/v1/token', postToken)
app.post('/v1/token/invalidate', postInvalidate)
app.all('/v1/proxy/:provider/*', proxy)

app.notFound(() => new EdgeError(404, 'not_found', 'no such route').toResponse())
app.onError((error, c) => onError(error, c.env))

/**
 * `POST /v1/token` without Hono (index.ts sends it here): the chain above, step by step, for this
 * one route. Audit -> configuration (a bad one: plain 500, no CORS) -> CORS (allowed origin:
 * Access-Control-Allow-Origin and -Expose-Headers; every answer `Vary: Origin`, refusals
 * included) -> body limit (8 KiB: 413) -> caller authentication (401) and rate limit (429) ->
 * the token route (token-routes.ts). Refusals and failures are answered by `onError`, as
 * `app.onError` answers them; the audit line names the caller only once it passed the rate limit.
 */
export async function tokenEndpoint(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  const waitUntil = (work: Promise<unknown>) => ctx.waitUntil(work)
  const facts: AuditFacts = {}
  let caller: Caller | undefined
  let response: Response
  try {
    const config = loadConfig(env)
    const origin = request.headers.get('origin') ?? ''
    try {
      const body = await textWithin(request, TOKEN_BODY_LIMIT)
      caller = await admit(env, config, request.headers.get('authorization') ?? undefined, waitUntil)
      response = await tokenAnswer({ env, config, caller, facts }, body)
    } catch (error) {
      response = onError(error, env)
    }
    // Our own answers (Response.json), so their headers can be set in place.
    if (config.corsOrigins.includes(origin)) {
      response.headers.set('Access-Control-Allow-Origin', origin)
      response.headers.set('Access-Control-Expose-Headers', EXPOSE_HEADERS.join(','))
    }
    response.headers.append('Vary', 'Origin')
  } catch (error) {
    response = onError(error, env)
  }
  try {
    await auditAnswer(env, { route: 'token', method: 'POST', caller, facts, response, forwarded: false }, waitUntil)
  } catch (error) {
    return onError(error, env)
  }
  return response
}

/**
 * The body of `request` as text, at most `limit` bytes, or 413 (the rule of hono/body-limit,
 * which the Hono routes use): a declared Content-Length is checked before reading; a streamed
 * body is read as it arrives and refused at the first byte over.
 */
async function textWithin(request: Request, limit: number): Promise<string> {
  if (!request.body) return ''
  const length = request.headers.get('content-length')
  if (length !== null && !request.headers.has('transfer-encoding')) {
    if (Number.parseInt(length, 10) > limit) tooLarge(limit)()
    return request.text()
  }
  const reader = request.body.getReader()
  const decoder = new TextDecoder()
  let size = 0
  let text = ''
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    size += chunk.value.byteLength
    if (size > limit) {
      await reader.cancel()
      tooLarge(limit)()
    }
    text += decoder.decode(chunk.value, { stream: true })
  }
  return text + decoder.decode()
}

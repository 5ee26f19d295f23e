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
 */
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { adminRoutes } from './admin.ts'
import { auditTrail } from './audit.ts'
import { authenticate, type Caller } from './callers.ts'
import { loadConfig, type Config } from './config.ts'
import { EdgeError, onError } from './errors.ts'
import { jwksSettings } from './jwks.ts'
import { proxy } from './proxy.ts'
import { takeSharedRequest } from './rate-limit.ts'
import { registeredCaller } from './registry.ts'
import { postInvalidate, postToken } from './token-routes.ts'

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
  exposeHeaders: ['Retry-After', 'WWW-Authenticate'],
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
  const caller = await authenticate(
    c.req.header('authorization'),
    c.get('config'),
    (sha256) => registeredCaller(c.env, sha256),
    jwksSettings(c.env),
  )
  await takeSharedRequest(c.env, caller.id, caller.ratePerMinute ?? c.get('config').ratePerMinute, (work) => c.executionCtx.waitUntil(work))
  c.set('caller', caller)
  await next()
})

app.post('/v1/token', postToken)
app.post('/v1/token/invalidate', postInvalidate)
app.all('/v1/proxy/:provider/*', proxy)

app.notFound(() => new EdgeError(404, 'not_found', 'no such route').toResponse())
app.onError((error, c) => onError(error, c.env))

/**
 * The admin routes: callers managed at run time (registry.ts). They take
 * `Authorization: Bearer <ADMIN_KEY>` (a Wrangler secret, compared in constant time) and do
 * not exist (404) when no `ADMIN_KEY` is set.
 *
 *   POST   /v1/admin/callers              {id, providers, scopes?, proxy?, requireIdempotencyKey?,
 *                                          rateLimitPerMinute?, expiresAt?}  -> 201 {id, key}
 *   POST   /v1/admin/callers/<id>/rotate  {overlapSeconds?} (default 3600)   -> 200 {id, key}
 *   DELETE /v1/admin/callers/<id>                                            -> 204
 *   GET    /v1/admin/callers                                                 -> 200 {callers: [id...]}
 *   GET    /v1/status    per provider client: token age and remaining life, last error code,
 *                        breaker, token calls in the last hour (authority-status.ts) -> 200
 *
 * A key is in the answer once and nowhere else: the registry keeps its SHA-256.
 */
import type { Context, Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import * as v from 'valibot'
import type { EdgeHono } from './app.ts'
import { authorityOf } from './authority.ts'
import { providerClient } from './providers.ts'
import { EdgeError, NO_STORE } from './errors.ts'
import { DEFAULT_OVERLAP_SECONDS, forgetCallers, NewCaller, registryOf } from './registry.ts'

const ADMIN_BODY_LIMIT = 16 * 1024
const REALM = 'Bearer realm="payment-auth-admin"'

const digest = async (text: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))

/** 404 without `ADMIN_KEY`, 401 without the right one; the admin as the audit's caller otherwise. */
export async function requireAdmin(c: Context<EdgeHono>): Promise<void> {
  const adminKey = c.env.ADMIN_KEY
  if (typeof adminKey !== 'string' || adminKey === '') throw new EdgeError(404, 'not_found', 'no such route')
  const match = /^Bearer +(\S+) *$/i.exec(c.req.header('authorization') ?? '')
  // Digests of equal length, compared in constant time: neither length nor timing tells anything.
  const presented = await digest(match?.[1] ?? '')
  if (!match || !crypto.subtle.timingSafeEqual(presented, await digest(adminKey))) {
    throw new EdgeError(401, 'invalid_token', 'an admin credential is required: Authorization: Bearer <ADMIN_KEY>', {
      'www-authenticate': match ? `${REALM}, error="invalid_token"` : REALM,
    })
  }
  c.set('caller', { id: 'admin', providers: new Set(), scopes: new Set(), proxy: [] })
}

async function jsonBody(c: Context<EdgeHono>, empty: unknown): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return empty
  try {
    return JSON.parse(text)
  } catch {
    throw new EdgeError(400, 'invalid_request', 'the body must be JSON')
  }
}

function parsed<const S extends v.GenericSchema>(schema: S, value: unknown, expected: string): v.InferOutput<S> {
  const result = v.safeParse(schema, value)
  // Paths only: a message never echoes what was sent.
  if (!result.success) {
    const where = result.issues.slice(0, 3).map((i) => v.getDotPath(i) ?? '(root)')
    throw new EdgeError(400, 'invalid_request', `expected ${expected}; invalid: ${where.join(', ')}`)
  }
  return result.output
}

const Rotate = v.object({ overlapSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(30 * 86_400))) })
const CallerId = v.pipe(v.string(), v.regex(/^[\w.:@-]{1,64}$/))

function idParam(c: Context<EdgeHono>): string {
  const id = c.req.param('id') ?? ''
  if (!v.is(CallerId, id)) throw new EdgeError(404, 'not_found', 'no such caller')
  return id
}

/** Registers the admin routes on `app` (before caller authentication: the admin is no caller). */
export function adminRoutes(app: Hono<EdgeHono>): void {
  // Operators: per provider client, what its authority reports (authority-status.ts). Never a token.
  app.get('/v1/status', async (c) => {
    await requireAdmin(c)
    const providers: Record<string, unknown> = {}
    for (const [name, config] of c.get('config').providers) {
      try {
        const client = providerClient(c.env, name, config, undefined)
        providers[name] = { clients: await authorityOf(c.env, client).status(name) }
      } catch {
        providers[name] = { error: 'unavailable' }
      }
    }
    return c.json({ providers }, 200, NO_STORE)
  })

  app.use('/v1/admin/*', async (c, next) => {
    await requireAdmin(c)
    await next()
  })
  app.use(
    '/v1/admin/*',
    bodyLimit({ maxSize: ADMIN_BODY_LIMIT, onError: () => new EdgeError(413, 'invalid_request', 'the body is too large').toResponse() }),
  )

  app.post('/v1/admin/callers', async (c) => {
    const caller = parsed(
      NewCaller,
      await jsonBody(c, undefined),
      '{id, providers, scopes?, proxy?, requireIdempotencyKey?, rateLimitPerMinute?, expiresAt?}',
    )
    const config = c.get('config')
    const unknown = caller.providers.filter((p) => !config.providers.has(p))
    if (unknown.length > 0) throw new EdgeError(400, 'invalid_request', `unknown providers: ${unknown.join(' ')}`)
    if (caller.expiresAt !== undefined && caller.expiresAt <= Date.now())
      throw new EdgeError(400, 'invalid_request', 'expiresAt is in the past')
    if (config.callers.some((s) => s.id === caller.id)) throw new EdgeError(409, 'invalid_request', `a caller ${caller.id} exists`)
    const created = await registryOf(c.env).create(caller)
    if (created === 'exists') throw new EdgeError(409, 'invalid_request', `a caller ${caller.id} exists`)
    return c.json(created, 201, NO_STORE)
  })

  app.get('/v1/admin/callers', async (c) => c.json({ callers: await registryOf(c.env).ids() }, 200, NO_STORE))

  app.post('/v1/admin/callers/:id/rotate', async (c) => {
    const id = idParam(c)
    const { overlapSeconds = DEFAULT_OVERLAP_SECONDS } = parsed(Rotate, await jsonBody(c, {}), '{overlapSeconds?}')
    const rotated = await registryOf(c.env).rotate(id, overlapSeconds)
    if (!rotated) throw new EdgeError(404, 'not_found', 'no such caller')
    return c.json(rotated, 200, NO_STORE)
  })

  app.delete('/v1/admin/callers/:id', async (c) => {
    const keys = await registryOf(c.env).remove(idParam(c))
    if (!keys) throw new EdgeError(404, 'not_found', 'no such caller')
    // This isolate refuses the keys at once; the others within CALLER_CACHE_SECONDS.
    forgetCallers(keys)
    return c.body(null, 204, NO_STORE)
  })

  app.all('/v1/admin/*', () => {
    throw new EdgeError(404, 'not_found', 'no such route')
  })
}

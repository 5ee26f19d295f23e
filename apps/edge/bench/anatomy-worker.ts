/**
 * The anatomy of the edge Worker's warm `POST /v1/token` (bench/edge.ts): the Worker's own steps,
 * from apps/edge/src, run one more at a time. `POST /_anatomy/<step>` runs every step up to and
 * including `<step>` (the order of `STEPS`) and answers; any other path is the Worker itself
 * (index.ts: `POST /v1/token` by its direct path, `tokenEndpoint`), and `POST /v1/token?hono` the
 * same request through the Hono app's chain (`app.fetch`), for comparison. Served by `wrangler dev` with the root
 * wrangler.toml (its bindings, vars and `.dev.vars`) and this file as the entry, so the Durable
 * Objects are the real ones. Only the benchmark runs it; it is never deployed.
 */
import { app } from '../src/app.ts'
import { MIN_VALIDITY_SECONDS } from '../src/authority.ts'
import { type AuditLine, tokenId, writeAudit } from '../src/audit.ts'
import { authenticate, authorize } from '../src/callers.ts'
import { loadConfig } from '../src/config.ts'
import { NO_STORE } from '../src/errors.ts'
import { jwksSettings } from '../src/jwks.ts'
import { configuredProvider, providerClient } from '../src/providers.ts'
import { takeSharedRequest } from '../src/rate-limit.ts'
import { registeredCaller } from '../src/registry.ts'
import { tokensFor } from '../src/tokens.ts'
import worker from '../src/index.ts'

export { CallerRateLimit, CallerRegistry, TokenAuthority } from '../src/index.ts'

/** The warm path's steps, in request order; each `/_anatomy/<step>` runs the ones before it too. */
export const STEPS = ['request', 'parse', 'auth', 'rate', 'token', 'audit'] as const

const EMPTY = '{"ok":true}'

async function steps(depth: number, request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  // request: the body read, a constant answer (what the empty Worker does, for a POST with a body).
  const text = await request.text()
  if (depth === 0) return new Response(EMPTY, { headers: { 'content-type': 'application/json' } })
  // parse: the configuration and the JSON body.
  const config = loadConfig(env)
  const body = JSON.parse(text) as { provider: string; scope?: string }
  if (depth === 1) return new Response(EMPTY, { headers: { 'content-type': 'application/json' } })
  // auth: the caller (API key: SHA-256 and the static callers, else the registry's cached answer).
  const caller = await authenticate(
    request.headers.get('authorization') ?? undefined,
    config,
    (sha256) => registeredCaller(env, sha256),
    jwksSettings(env),
  )
  if (depth === 2) return new Response(EMPTY, { headers: { 'content-type': 'application/json' } })
  // rate: the per-caller rate limit shared by every isolate.
  await takeSharedRequest(env, caller.id, caller.ratePerMinute ?? config.ratePerMinute, (work) => ctx.waitUntil(work))
  if (depth === 3) return new Response(EMPTY, { headers: { 'content-type': 'application/json' } })
  // token: the provider, the scope allowed, the isolate's token manager (L1) and the answer.
  const provider = configuredProvider(config, body.provider)
  const scope = authorize(caller, body.provider, provider, body.scope)
  const token = await tokensFor(env, providerClient(env, body.provider, provider, scope)).getRecord({ minValidity: MIN_VALIDITY_SECONDS })
  const response = Response.json(
    { access_token: token.accessToken, token_type: 'Bearer', expires_in: Math.max(0, Math.floor((token.expiresAt - Date.now()) / 1000)) },
    { headers: NO_STORE },
  )
  if (depth === 4) return response
  // audit: the decision's audit line.
  const line: AuditLine = {
    type: 'audit',
    ts: new Date().toISOString(),
    caller: caller.id,
    provider: body.provider,
    scope: scope ?? null,
    route: 'token',
    method: 'POST',
    outcome: 'granted',
    status: 200,
    error: null,
    tokenId: await tokenId(token.accessToken),
  }
  writeAudit(env, line, (work) => ctx.waitUntil(work))
  return response
}

export default {
  fetch(request, env, ctx) {
    const url = new URL(request.url)
    if (url.search === '?hono') return app.fetch(request, env, ctx)
    if (!url.pathname.startsWith('/_anatomy/')) return worker.fetch(request, env, ctx)
    const depth = STEPS.indexOf(url.pathname.slice('/_anatomy/'.length) as (typeof STEPS)[number])
    if (depth < 0) return new Response('unknown step', { status: 404 })
    return steps(depth, request, env, ctx)
  },
} satisfies ExportedHandler<Env>

/**
 * The audit trail: one structured JSON log line per decision the Worker makes on a `/v1/*`
 * request (a token handed out or refused, a proxy call forwarded or refused, a caller
 * refused), made when the answer is known:
 *
 *   {"type":"audit","ts":"<ISO>","caller":"key:demo-frontend","provider":"oauth2","scope":"read",
 *    "route":"token","method":"POST","outcome":"granted","status":200,"error":null,"tokenId":"3f2a9c0d1e4b"}
 *
 * - `caller`: `key:<id>`, `jwt:<sub>` or `null` (not authenticated);
 * - `route`: `token`, `invalidate`, `proxy`, `admin`, `status` or `other`;
 * - `outcome`: `granted` (2xx/3xx, and any answer the proxied API gave), `refused` (a 4xx of the
 *   edge's own: the caller's fault or policy), `failed` (a 5xx of the edge's own);
 * - `error`: the RFC 6749 `error` code of a refusal or failure, else `null`;
 * - `tokenId`: the first 12 hex digits of the SHA-256 of the provider token handed out (token
 *   routes) or attached (proxy), so a token seen elsewhere can be traced to its decision
 *   without the log holding it. Never a token, key or secret: only ids, names, codes, statuses.
 *
 * Delivery (`writeAudit`): an isolate gathers its lines for `AUDIT_FLUSH_MS` (default 100) and
 * writes them after the answers in one `console.log`, one JSON object per line of the message;
 * a log call per decision cost a warm request more than everything else it does (bench/RESULTS.md
 * section 8). `AUDIT_FLUSH_MS = 0` writes each line at once, in its own call.
 *
 * With an Analytics Engine binding `AUDIT` configured, each decision is also a data point, written
 * at once (blobs: caller, provider, scope, route, outcome, error, tokenId; doubles: status; index: caller).
 */
import { durationVar } from './config.ts'
import type { Context, Next } from 'hono'
import type { EdgeHono } from './app.ts'

export interface AuditFacts {
  provider?: string
  scope?: string | undefined
  token?: string
}

export type AuditLine = {
  type: 'audit'
  ts: string
  caller: string | null
  provider: string | null
  scope: string | null
  route: string
  method: string
  outcome: 'granted' | 'refused' | 'failed'
  status: number
  error: string | null
  tokenId: string | null
}

/** The facts of each request's decision on the Hono path, filled in by the routes (`factsOf`). */
const facts = new WeakMap<Request, AuditFacts>()

/** The facts of this request's decision, for the routes to fill in (provider, scope, token). */
export function factsOf(c: Context<EdgeHono>): AuditFacts {
  const known = facts.get(c.req.raw)
  if (known) return known
  const fresh: AuditFacts = {}
  facts.set(c.req.raw, fresh)
  return fresh
}

/** Records what a route decided about (provider, scope) and the token it handed out or used. */
export function noteDecision(c: Context<EdgeHono>, more: AuditFacts): void {
  Object.assign(factsOf(c), more)
}

/** Recent tokens' ids: a warm request hands out the same token again, so it is hashed once (the L1 holds these tokens anyway). */
const ids = new Map<string, string>()
const MAX_IDS = 256

/** The first 12 hex digits of the SHA-256 of `token`. */
export async function tokenId(token: string): Promise<string> {
  const known = ids.get(token)
  if (known) return known
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token)))
  let hex = ''
  for (const byte of digest.subarray(0, 6)) hex += byte.toString(16).padStart(2, '0')
  ids.set(token, hex)
  if (ids.size > MAX_IDS) ids.delete(ids.keys().next().value!)
  return hex
}

/** The `route` of a request's path. */
export function routeOf(pathname: string): string {
  if (pathname === '/v1/token') return 'token'
  if (pathname === '/v1/token/invalidate') return 'invalidate'
  if (pathname.startsWith('/v1/proxy/')) return 'proxy'
  if (pathname.startsWith('/v1/admin/')) return 'admin'
  if (pathname === '/v1/status') return 'status'
  return 'other'
}

/** The `error` code of an edge answer (its own JSON error body), or `null`. */
async function errorCode(response: Response): Promise<string | null> {
  if (response.status < 400 || !response.headers.get('content-type')?.includes('application/json')) return null
  try {
    const body = (await response.clone().json()) as { error?: unknown }
    return typeof body.error === 'string' ? body.error.slice(0, 64) : null
  } catch {
    return null
  }
}

/** What one answered request's audit line is made of. */
export interface Answered {
  route: string
  method: string
  /** The authenticated caller, if the request got that far. */
  caller: { id: string } | undefined
  facts: AuditFacts
  response: Response
  /** A proxied API's own answer (any status): a call the edge let through. */
  forwarded: boolean
}

/** Writes the audit line of an answered request (`writeAudit`). */
export async function auditAnswer(env: Env, a: Answered, waitUntil?: (work: Promise<unknown>) => void): Promise<void> {
  const status = a.response.status
  const f = a.facts
  const line: AuditLine = {
    type: 'audit',
    ts: new Date().toISOString(),
    caller: a.caller?.id ?? null,
    provider: f.provider ?? null,
    scope: f.scope ?? null,
    route: a.route,
    method: a.method,
    outcome: a.forwarded || status < 400 ? 'granted' : status < 500 ? 'refused' : 'failed',
    status,
    error: a.forwarded ? null : await errorCode(a.response),
    tokenId: f.token === undefined ? null : (ids.get(f.token) ?? (await tokenId(f.token))),
  }
  writeAudit(env, line, waitUntil)
}

/** Hono middleware: lets the request through, then writes its audit line (preflights are not decisions). */
export async function auditTrail(c: Context<EdgeHono>, next: Next): Promise<void> {
  await next()
  if (c.req.method === 'OPTIONS' && !c.get('caller')) return
  const route = routeOf(c.req.path)
  const f = facts.get(c.req.raw) ?? {}
  const forwarded = route === 'proxy' && f.token !== undefined && c.error === undefined
  await auditAnswer(c.env, { route, method: c.req.method, caller: c.get('caller'), facts: f, response: c.res, forwarded }, waitUntilOf(c))
}

/** The request's `waitUntil`, when it has an execution context. */
function waitUntilOf(c: Context<EdgeHono>): ((work: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx
    return (work) => ctx.waitUntil(work)
  } catch {
    return undefined
  }
}

/**
 * How long an isolate gathers audit lines before it writes them (the var `AUDIT_FLUSH_MS`,
 * default 100, at most 10000; 0: each line is written at once, with its own `console.log`).
 */
export function auditFlushMs(env: Env): number {
  return durationVar(env.AUDIT_FLUSH_MS, DEFAULT_AUDIT_FLUSH_MS, 10_000)
}
export const DEFAULT_AUDIT_FLUSH_MS = 100
/** A buffer this full is written at once, without waiting for its timer. */
const MAX_BUFFERED_LINES = 100

/** This isolate's audit lines not yet written, and the write that is scheduled for them. */
let buffered: string[] = []
let scheduled: Promise<void> | undefined

/** Writes the buffered lines: one `console.log`, one JSON object per line. */
function flush(): void {
  if (buffered.length === 0) return
  const lines = buffered
  buffered = []
  console.log(lines.join('\n'))
}

/** Resolves once every audit line recorded so far has been written (tests). */
export async function auditWritten(): Promise<void> {
  while (scheduled) await scheduled
}

/**
 * Records one decision: its data point at once when `AUDIT` is bound, and its JSON line into
 * this isolate's buffer, written with the lines of the other decisions of the next
 * `AUDIT_FLUSH_MS` in one `console.log` (a log call per decision is what a warm request cost
 * most). The write runs after the answer (`waitUntil` of the request that opened the buffer), so
 * no line waits longer than that and none is lost when no request follows; a full buffer is
 * written at once. Without `waitUntil`, or with `AUDIT_FLUSH_MS` 0, the line is written at once.
 */
export function writeAudit(env: Env, line: AuditLine, waitUntil?: (work: Promise<unknown>) => void): void {
  const dataset = env.AUDIT
  if (dataset) {
    try {
      dataset.writeDataPoint({
        indexes: [(line.caller ?? '-').slice(0, 96)],
        blobs: [line.caller, line.provider, line.scope, line.route, line.outcome, line.error, line.tokenId],
        doubles: [line.status],
      })
    } catch {
      console.warn('edge: the audit data point could not be written')
    }
  }
  const ms = auditFlushMs(env)
  buffered.push(JSON.stringify(line))
  if (ms === 0 || !waitUntil || buffered.length >= MAX_BUFFERED_LINES) {
    flush()
    return
  }
  if (scheduled) return
  const write = new Promise<void>((resolve) => setTimeout(resolve, ms)).then(() => {
    scheduled = undefined
    flush()
  })
  scheduled = write
  waitUntil(write)
}

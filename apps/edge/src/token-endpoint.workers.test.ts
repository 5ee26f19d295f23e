/**
 * `POST /v1/token` takes index.ts's direct path (`tokenEndpoint`, app.ts) and not Hono's chain:
 * for every kind of answer it must be what the Hono app itself answers for the same request
 * (status, headers, body) and write the same audit line.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { app } from './app.ts'
import { type AuditLine, auditWritten } from './audit.ts'
import worker from './index.ts'
import * as edge from '../test/support.ts'

const ALLOWED = 'http://localhost:5173'

/** What each `console.log` call wrote. */
let logged: string[] = []

beforeEach(async () => {
  await auditWritten()
  await edge.coldStart()
  logged = []
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(' ')))
  vi.spyOn(console, 'error').mockImplementation(() => {})
  vi.spyOn(console, 'warn').mockImplementation(() => {})
})
afterEach(() => {
  vi.restoreAllMocks()
})

interface Seen {
  status: number
  headers: [string, string][]
  body: unknown
  line: Omit<AuditLine, 'ts'>
}

/** One request through `handler`: its answer, and the audit line it wrote. */
async function through(
  handler: (request: Request<unknown, IncomingRequestCfProperties>, env: Env, ctx: ExecutionContext) => Response | Promise<Response>,
  vars: Record<string, unknown>,
  request: Request,
): Promise<Seen> {
  await auditWritten()
  logged = []
  const ctx = createExecutionContext()
  const response = await handler(
    request as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...vars, AUDIT_FLUSH_MS: '0' } as Env,
    ctx,
  )
  await waitOnExecutionContext(ctx)
  const text = await response.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
    // A warm token's remaining life may tick between the two requests.
    if (typeof body === 'object' && body !== null && 'expires_in' in body) body = { ...body, expires_in: 'n' }
  } catch {
    // not JSON: compared as text
  }
  const lines = logged.flatMap((l) => l.split('\n')).filter((l) => l.startsWith('{"type":"audit"'))
  expect(lines).toHaveLength(1)
  const { ts: _, ...line } = JSON.parse(lines[0]!) as AuditLine
  return { status: response.status, headers: [...response.headers].sort(), body, line }
}

const streamed = (bytes: number) =>
  new Request(`${edge.EDGE}/v1/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${edge.CALLER_KEY}` },
    body: new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`{"provider":"stonex"}${' '.repeat(bytes - 21)}`))
        controller.close()
      },
    }),
    duplex: 'half',
  } as RequestInit)

interface Case {
  what: string
  vars?: Record<string, unknown>
  request: () => Request
  /** A caller JWT instead of the sample API key. */
  jwt?: Record<string, unknown>
  /** The provider fails its token calls with a 503. */
  failing?: boolean
}

const cases: Case[] = [
  { what: 'a token (no origin)', request: () => edge.request('/v1/token', { body: { provider: 'stonex' } }) },
  {
    what: 'a token with a scope, for an allowed origin',
    request: () => edge.request('/v1/token', { body: { provider: 'oauth2', scope: 'read' }, headers: { origin: ALLOWED } }),
  },
  {
    what: 'a token for another origin',
    request: () => edge.request('/v1/token', { body: { provider: 'stonex' }, headers: { origin: 'https://evil.example' } }),
  },
  {
    what: 'no credential, allowed origin (401)',
    request: () => edge.request('/v1/token', { credential: null, body: { provider: 'stonex' }, headers: { origin: ALLOWED } }),
  },
  { what: 'a wrong key (401)', request: () => edge.request('/v1/token', { credential: 'pa_wrong', body: { provider: 'stonex' } }) },
  { what: 'a JWT caller', jwt: {}, request: () => edge.request('/v1/token', { body: { provider: 'stonex' } }) },
  { what: 'not JSON (400)', request: () => edge.request('/v1/token', { body: '{"provider":' }) },
  { what: 'no body (400)', request: () => edge.request('/v1/token') },
  { what: 'the wrong shape (400)', request: () => edge.request('/v1/token', { body: { provider: 7 } }) },
  { what: 'an unknown provider (404)', request: () => edge.request('/v1/token', { body: { provider: 'nope' } }) },
  { what: 'an unknown scope (400)', request: () => edge.request('/v1/token', { body: { provider: 'oauth2', scope: 'bogus' } }) },
  {
    what: 'a scope this caller may not have (403)',
    request: () => edge.request('/v1/token', { body: { provider: 'oauth2', scope: 'admin' } }),
  },
  {
    what: 'a provider the caller may not use (403)',
    jwt: { providers: ['stonex'] },
    request: () => edge.request('/v1/token', { body: { provider: 'stablelink' } }),
  },
  {
    what: 'over 8 KiB with Content-Length (413)',
    request: () =>
      edge.request('/v1/token', {
        body: JSON.stringify({ provider: 'stonex', pad: 'x'.repeat(8200) }),
        headers: { 'content-length': '8230' },
      }),
  },
  { what: 'exactly 8 KiB, streamed', request: () => streamed(8 * 1024) },
  { what: 'over 8 KiB, streamed (413)', request: () => streamed(8 * 1024 + 1) },
  {
    what: 'the rate limit (429)',
    vars: { RATE_LIMIT_PER_MINUTE: '1' },
    request: () => edge.request('/v1/token', { body: { provider: 'stonex' } }),
  },
  {
    what: 'a bad configuration (500)',
    vars: { PROVIDERS: '{' },
    request: () => edge.request('/v1/token', { body: { provider: 'stonex' } }),
  },
  {
    what: 'a token failure (503)',
    failing: true,
    request: () => edge.request('/v1/token', { body: { provider: 'abbeycross' }, headers: { origin: ALLOWED } }),
  },
]

describe('POST /v1/token without Hono answers what the Hono app answers', () => {
  for (const c of cases) {
    it(c.what, async () => {
      const vars = c.vars ?? {}
      const jwt = c.jwt && (await edge.callerJwt(c.jwt))
      const build = () => {
        const request = c.request()
        if (jwt) request.headers.set('authorization', `Bearer ${jwt}`)
        return request
      }
      if (c.failing) await edge.sandbox.inject('abbeycross', { fault: '503', retryAfter: 5, count: 100 })
      // A warm token (a cold one is another path), the rate limit's first request spent; a bad configuration has neither.
      else if (!('PROVIDERS' in vars)) await through(worker.fetch, vars, edge.request('/v1/token', { body: { provider: 'stonex' } }))
      const direct = await through(worker.fetch, vars, build())
      const hono = await through(app.fetch, vars, build())
      expect(direct.status).toBe(Number(/\((\d{3})\)/.exec(c.what)?.[1] ?? 200))
      expect(direct).toEqual(hono)
    })
  }
})

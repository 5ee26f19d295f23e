/**
 * The audit trail (issue 13): one JSON line per decision with caller, provider, scope, route,
 * outcome, status and tokenId (the first 12 hex digits of the token's SHA-256), never a token,
 * key or secret; and the same as an Analytics Engine data point when `AUDIT` is bound.
 */
import { createExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { auditWritten, tokenId, type AuditLine } from './audit.ts'
import worker from './index.ts'
import * as edge from '../test/support.ts'
import { CALLER_KEY } from '../test/support.ts'
import type { TokenAnswer } from '../test/support.ts'

/** What each `console.log` call wrote. */
let logged: string[] = []

beforeEach(async () => {
  // The lines of the previous test's requests are written before this test watches the log.
  await auditWritten()
  await edge.coldStart()
  logged = []
  const original = console.log
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    logged.push(args.map(String).join(' '))
    original(...args)
  })
})
afterEach(() => {
  vi.restoreAllMocks()
})

/** The audit lines written so far, once the buffered ones are written: one JSON object per line of a log call. */
async function auditLines(): Promise<AuditLine[]> {
  await auditWritten()
  return logged
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.startsWith('{"type":"audit"'))
    .map((l) => JSON.parse(l) as AuditLine)
}

/** The audit line of the last request, checked to leak nothing. */
async function lastLine(tokens: string[] = []): Promise<AuditLine> {
  const lines = await auditLines()
  expect(lines.length).toBeGreaterThan(0)
  for (const l of logged) edge.assertLeaksNothing(l, [...tokens, CALLER_KEY])
  return lines.at(-1)!
}

describe('audit lines', () => {
  it('a token handed out: caller, provider, scope, route, outcome granted, status 200 and the tokenId, never the token', async () => {
    const answer = await edge.json<TokenAnswer>(await edge.token('oauth2', { scope: 'read' }))
    const lines = await auditLines()
    expect(lines).toHaveLength(1)
    expect(await lastLine([answer.access_token])).toMatchObject({
      caller: 'key:demo-frontend',
      provider: 'oauth2',
      scope: 'read',
      route: 'token',
      method: 'POST',
      outcome: 'granted',
      status: 200,
      error: null,
      tokenId: await tokenId(answer.access_token),
    })
    expect(lines[0]!.tokenId).toMatch(/^[0-9a-f]{12}$/)
    expect(Date.parse(lines[0]!.ts)).not.toBeNaN()
  })

  it('invalidate is its own route and names the new token', async () => {
    const first = await edge.json<TokenAnswer>(await edge.token('stonex'))
    const fresh = await edge.json<TokenAnswer>(
      await edge.call('/v1/token/invalidate', { body: { provider: 'stonex', access_token: first.access_token } }),
    )
    expect(await lastLine([first.access_token, fresh.access_token])).toMatchObject({
      route: 'invalidate',
      provider: 'stonex',
      outcome: 'granted',
      tokenId: await tokenId(fresh.access_token),
    })
  })

  it('an unauthenticated caller is refused: caller null, error invalid_token, the presented credential nowhere', async () => {
    await edge.call('/v1/token', { credential: 'pa_wrong_key_not_logged', body: { provider: 'oauth2' } })
    const line = await lastLine(['pa_wrong_key_not_logged'])
    expect(line).toMatchObject({
      caller: null,
      provider: null,
      route: 'token',
      outcome: 'refused',
      status: 401,
      error: 'invalid_token',
      tokenId: null,
    })
  })

  it('a provider the caller may not use: the provider is named, no scope, no token', async () => {
    await edge.call('/v1/token', { credential: await edge.callerJwt({ providers: ['stonex'] }), body: { provider: 'oauth2' } })
    expect(await lastLine()).toMatchObject({
      caller: 'jwt:test-user',
      provider: 'oauth2',
      scope: null,
      status: 403,
      error: 'access_denied',
      outcome: 'refused',
    })
  })

  it('what a caller typed is never logged: an unknown provider or scope named with a token stays out of the line', async () => {
    const issued = (await edge.json<TokenAnswer>(await edge.token('stonex'))).access_token
    await edge.call('/v1/token', { body: { provider: issued.slice(0, 60) } })
    expect(await lastLine([issued, issued.slice(0, 60)])).toMatchObject({ provider: null, status: 404, error: 'not_found' })
    await edge.call('/v1/token', { body: { provider: 'oauth2', scope: `read ${issued}` } })
    expect(await lastLine([issued])).toMatchObject({ provider: 'oauth2', scope: null, status: 400, error: 'invalid_scope' })
  })

  it('a proxied call: outcome granted with the tokenId of the token attached, whatever the API answered', async () => {
    const response = await edge.call('/v1/proxy/oauth2/payments', { method: 'GET' })
    expect(response.status).toBe(200)
    const live = await edge.sandbox.liveTokens('oauth2')
    expect(live).toHaveLength(1)
    expect(await lastLine(live)).toMatchObject({
      caller: 'key:demo-frontend',
      provider: 'oauth2',
      scope: 'read write',
      route: 'proxy',
      method: 'GET',
      outcome: 'granted',
      status: 200,
      error: null,
      tokenId: await tokenId(live[0]!),
    })
  })

  it('a proxy call outside the allow-list: refused, forbidden, no tokenId', async () => {
    await edge.call('/v1/proxy/stablelink/payouts/1', { method: 'DELETE' })
    expect(await lastLine()).toMatchObject({
      route: 'proxy',
      provider: 'stablelink',
      outcome: 'refused',
      status: 403,
      error: 'forbidden',
      tokenId: null,
    })
  })

  it('a failure of the token endpoint: outcome failed, its code, its status', async () => {
    await edge.sandbox.inject('abbeycross', { fault: '503', retryAfter: 5 })
    await edge.token('abbeycross')
    expect(await lastLine()).toMatchObject({
      provider: 'abbeycross',
      outcome: 'failed',
      status: 503,
      error: 'upstream_unavailable',
      tokenId: null,
    })
  })

  it('one line per request, and none for a CORS preflight or /healthz', async () => {
    await edge.token('stonex')
    await edge.token('stonex')
    await edge.call('/healthz', { method: 'GET' })
    await edge.call('/v1/token', {
      method: 'OPTIONS',
      credential: null,
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
    })
    expect(await auditLines()).toHaveLength(2)
  })
})

/** The `console.log` calls so far that wrote audit lines, and the lines each wrote. */
const auditCalls = () => logged.filter((l) => l.startsWith('{"type":"audit"')).map((l) => l.split('\n').length)

/** The Worker with `vars`, its `waitUntil` work left running (nothing waits for it). */
const fetchWith = (vars: Record<string, unknown>, request: Request) =>
  worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, { ...env, ...vars } as Env, createExecutionContext())

describe('audit delivery: the lines of an isolate are written together, after the answers', () => {
  it('20 concurrent decisions give 20 lines, none lost, in fewer console.log calls than lines', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => edge.token('stonex')))
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200))
    const lines = await auditLines()
    expect(lines).toHaveLength(20)
    expect(lines.filter((l) => l.route === 'token' && l.outcome === 'granted' && l.provider === 'stonex')).toHaveLength(20)
    expect(auditCalls().length).toBeLessThan(20)
  })

  it('a line is written after the answer, within AUDIT_FLUSH_MS (100), with no other request following', async () => {
    const response = await edge.token('stonex')
    expect(response.status).toBe(200)
    expect(auditCalls()).toEqual([])
    const started = Date.now()
    await vi.waitFor(() => expect(auditCalls()).toEqual([1]), { timeout: 2000, interval: 10 })
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('with AUDIT_FLUSH_MS 0 each decision is its own console.log, written before the answer', async () => {
    const first = await fetchWith({ AUDIT_FLUSH_MS: '0' }, edge.request('/v1/token', { body: { provider: 'stonex' } }))
    expect(first.status).toBe(200)
    expect(auditCalls()).toEqual([1])
    await fetchWith({ AUDIT_FLUSH_MS: '0' }, edge.request('/v1/token', { credential: null, body: { provider: 'stonex' } }))
    expect(auditCalls()).toEqual([1, 1])
  })

  it('a full buffer (100 lines) is written at once, without waiting for its timer', async () => {
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => fetchWith({ AUDIT_FLUSH_MS: '1000' }, edge.request('/v1/token', { body: { provider: 'stonex' } }))),
    )
    expect(answers.filter((r) => r.status === 200)).toHaveLength(100)
    expect(auditCalls()).toEqual([100])
  })
})

describe('Analytics Engine', () => {
  it('with an AUDIT dataset bound, each decision is also a data point (no token, no key)', async () => {
    const points: AnalyticsEngineDataPoint[] = []
    const AUDIT = { writeDataPoint: (point?: AnalyticsEngineDataPoint) => void points.push(point!) }
    const response = await edge.callWith({ AUDIT }, edge.request('/v1/token', { body: { provider: 'stonex' } }))
    const issued = (await edge.json<TokenAnswer>(response)).access_token
    await edge.callWith({ AUDIT }, edge.request('/v1/token', { credential: null, body: { provider: 'stonex' } }))
    expect(points).toHaveLength(2)
    expect(points[0]).toEqual({
      indexes: ['key:demo-frontend'],
      blobs: ['key:demo-frontend', 'stonex', null, 'token', 'granted', null, await tokenId(issued)],
      doubles: [200],
    })
    expect(points[1]).toMatchObject({
      indexes: ['-'],
      blobs: [null, null, null, 'token', 'refused', 'invalid_token', null],
      doubles: [401],
    })
    edge.assertLeaksNothing(JSON.stringify(points), [issued, CALLER_KEY])
  })

  it('a failing dataset costs the caller nothing', async () => {
    const AUDIT = {
      writeDataPoint: () => {
        throw new Error('dataset down')
      },
    }
    expect((await edge.callWith({ AUDIT }, edge.request('/v1/token', { body: { provider: 'stonex' } }))).status).toBe(200)
  })
})

import ky from 'ky'
import { describe, expect, it } from 'vitest'
import { withPaymentAuth } from '../hooks.ts'
import { createTokenManager } from '../manager.ts'
import { json } from '@payment-auth/test-support/provider'
import { fakeClock } from '@payment-auth/test-support/clock'
import { edge } from './edge.ts'

/** A fake edge Worker: /v1/token and /v1/token/invalidate with compare-and-invalidate, counting calls. */
function fakeEdge() {
  const state = {
    current: 'edge-tok-1',
    n: 1,
    calls: [] as Array<{ path: string; body: Record<string, unknown>; authorization: string | null }>,
  }
  const fetch = async (input: Request | URL | string, init?: RequestInit) => {
    const request = new Request(input, init)
    const path = new URL(request.url).pathname
    const body = (await request.json()) as Record<string, unknown>
    state.calls.push({ path, body, authorization: request.headers.get('authorization') })
    if (request.headers.get('authorization') !== 'Bearer caller-key') return json({ error: 'invalid_token' }, 401)
    if (path === '/v1/token/invalidate' && body.access_token === state.current) state.current = `edge-tok-${++state.n}`
    return json({ access_token: state.current, token_type: 'Bearer', expires_in: 300 }, 200, { 'cache-control': 'no-store' })
  }
  return Object.assign(state, { fetch })
}

describe('edge dialect', () => {
  it('asks POST {url}/v1/token with the caller credential as Bearer and {provider, scope}', async () => {
    const e = fakeEdge()
    const tokens = createTokenManager({
      provider: edge({ url: 'https://auth.test/', provider: 'stablelink', credential: 'caller-key', scope: 'read' }),
      fetch: e.fetch,
    })
    expect(await tokens.getToken()).toBe('edge-tok-1')
    expect(e.calls).toEqual([{ path: '/v1/token', body: { provider: 'stablelink', scope: 'read' }, authorization: 'Bearer caller-key' }])
  })

  it('calls a credential function for each token request', async () => {
    const e = fakeEdge()
    let asked = 0
    const tokens = createTokenManager({
      provider: edge({ url: 'https://auth.test', provider: 'oauth2', credential: async () => (asked++, 'caller-key') }),
      fetch: e.fetch,
    })
    await tokens.getToken()
    await tokens.getToken({ forceRefresh: true })
    expect(asked).toBe(2)
  })

  it('a 401 from the API reports the rejected token to /v1/token/invalidate once, and later acquisitions go to /v1/token', async () => {
    const e = fakeEdge()
    let apiAccepts = 'edge-tok-2'
    const api = async (input: Request | URL | string, init?: RequestInit) => {
      const auth = new Request(input, init).headers.get('authorization')
      return auth === `Bearer ${apiAccepts}` ? json({ ok: true }) : json({ error: 'invalid_token' }, 401)
    }
    const clock = fakeClock()
    const client = ky.create({ fetch: api }).extend(
      withPaymentAuth({
        provider: edge({
          url: 'https://auth.test',
          provider: 'stablelink',
          credential: 'caller-key',
          apiBaseUrl: 'https://api.provider.test',
        }),
        fetch: e.fetch,
        now: clock.now,
      }),
    )
    expect(await client.get('https://api.provider.test/x').json()).toEqual({ ok: true })
    expect(e.calls.map((c) => c.path)).toEqual(['/v1/token', '/v1/token/invalidate'])
    expect(e.calls[1]!.body).toEqual({ provider: 'stablelink', access_token: 'edge-tok-1' })
    clock.t += 400_000 // expired: an ordinary acquisition
    apiAccepts = 'edge-tok-2'
    await client.get('https://api.provider.test/y').json()
    expect(e.calls.map((c) => c.path)).toEqual(['/v1/token', '/v1/token/invalidate', '/v1/token'])
  })

  it('sends the token only to apiBaseUrl (no default origin without it)', async () => {
    expect(edge({ url: 'https://auth.test', provider: 'p', credential: 'k', apiBaseUrl: 'https://api.p.test/v2' }).origins).toEqual([
      'https://api.p.test',
    ])
    expect(edge({ url: 'https://auth.test', provider: 'p', credential: 'k' }).origins).toEqual([])
  })

  it('maps the edge statuses: 401 unauthorized_caller, 403 forbidden, 503 provider_unavailable with retryAfter', async () => {
    const p = edge({ url: 'https://auth.test', provider: 'p', credential: 'k' })
    const fail = (r: Response) => p.processTokenResponse(r).catch((e: unknown) => e)
    expect(await fail(json({ error: 'invalid_token' }, 401))).toMatchObject({ code: 'unauthorized_caller', retryable: false })
    expect(await fail(json({ error: 'insufficient_scope' }, 403))).toMatchObject({ code: 'forbidden' })
    expect(await fail(json({ error: 'upstream_unavailable' }, 503, { 'retry-after': '30' }))).toMatchObject({
      code: 'provider_unavailable',
      retryAfter: 30,
    })
    expect(await fail(json({ error: 'upstream_error' }, 502))).toMatchObject({ code: 'provider_unavailable' })
  })

  it('the caller credential never appears in an error', async () => {
    const tokens = createTokenManager({
      provider: edge({ url: 'https://auth.test', provider: 'p', credential: 'caller-key-SECRET-123' }),
      fetch: async () => {
        throw new TypeError('connect failed: Authorization Bearer caller-key-SECRET-123')
      },
      backoff: { limit: 0 },
    })
    const error = (await tokens.getToken().catch((e: unknown) => e)) as Error
    expect(error).toMatchObject({ code: 'network' })
    expect(`${error.message} ${String(error.cause)} ${JSON.stringify(error)}`).not.toContain('caller-key-SECRET-123')
  })
})

describe('edge dialect: a revocation the Worker has not seen yet', () => {
  it('a stale report answered with a token the same revocation killed costs no request: one more report, one more replay', async () => {
    const e = fakeEdge()
    e.current = 'edge-tok-2' // the Worker moved on already (another client's report); this client still holds tok-1
    let accepted = new Set(['edge-tok-1', 'edge-tok-2'])
    const api = async (input: Request | URL | string, init?: RequestInit) => {
      const auth = new Request(input, init).headers.get('authorization') ?? ''
      return accepted.has(auth.replace('Bearer ', '')) ? json({ ok: true }) : json({ error: 'invalid_token' }, 401)
    }
    const tokens = createTokenManager({
      provider: edge({ url: 'https://auth.test', provider: 'oauth2', credential: 'caller-key', apiBaseUrl: 'https://api.provider.test' }),
      fetch: e.fetch,
    })
    e.current = 'edge-tok-1'
    const client = ky.create({ fetch: api, retry: 0 }).extend(withPaymentAuth({ tokens }))
    await client.get('https://api.provider.test/warm').json() // this client caches tok-1
    e.current = 'edge-tok-2'
    e.n = 2
    accepted = new Set(['edge-tok-3']) // a revocation killed tok-1 and tok-2; only the next token works
    expect(await client.post('https://api.provider.test/pay', { json: { a: 1 } }).json()).toEqual({ ok: true })
    expect(e.calls.map((c) => [c.path, c.body.access_token])).toEqual([
      ['/v1/token', undefined],
      ['/v1/token/invalidate', 'edge-tok-1'], // stale at the Worker: answers tok-2, dead too
      ['/v1/token/invalidate', 'edge-tok-2'], // current at the Worker: tok-3
    ])
  })
})

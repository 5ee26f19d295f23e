import { exports } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { upstreamUrl } from './proxy.ts'
import * as edge from '../test/support.ts'
import { CALLER_KEY, coldStart, request } from '../test/support.ts'
import type { ErrorAnswer, TokenAnswer } from '../test/support.ts'

beforeEach(coldStart)
afterEach(() => {
  vi.restoreAllMocks()
})

interface Echo {
  method: string
  path: string
  query: Record<string, string>
  headers: Record<string, string>
  body: string
  client: string
  scope: string | null
}

/** Records every request the Worker sends to a provider API (`/<provider>/api/`, stonex's token route aside), then lets it through. */
function recordApiRequests(): Request[] {
  const seen: Request[] = []
  const original = globalThis.fetch
  vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    const request = new Request(input, init)
    const path = new URL(request.url).pathname
    if (/^\/\w+\/api\//.test(path) && !path.endsWith('/v/authentication')) seen.push(request.clone())
    return original(request)
  })
  return seen
}

describe('ANY /v1/proxy/<provider>/<path>', () => {
  it('forwards method, path, query, body and headers to the provider API with the provider token, and streams the answer back', async () => {
    const seen = recordApiRequests()
    const response = await edge.call('/v1/proxy/stablelink/payments/42?ref=abc&page=2', {
      method: 'PUT',
      body: { amount: 100, currency: 'EUR' },
      headers: { 'x-request-id': 'r-1', accept: 'application/json' },
    })
    expect(response.status).toBe(200)
    const echo = await edge.json<Echo>(response)
    expect(echo).toMatchObject({
      method: 'PUT',
      path: '/stablelink/api/payments/42',
      query: { ref: 'abc', page: '2' },
      body: '{"amount":100,"currency":"EUR"}',
    })
    expect(echo.headers).toMatchObject({ 'x-request-id': 'r-1', 'content-type': 'application/json', accept: 'application/json' })
    // The token the provider saw is the provider's, never the caller's key.
    const [sent] = seen
    expect(sent!.headers.get('authorization')).toMatch(/^Bearer \S+$/)
    expect(sent!.headers.get('authorization')).not.toContain(CALLER_KEY)
    expect(await edge.sandbox.liveTokens('stablelink')).toContain(sent!.headers.get('authorization')!.slice('Bearer '.length))
  })

  it("never forwards the caller's Authorization, Cookie or hop-by-hop headers", async () => {
    const seen = recordApiRequests()
    const response = await edge.call('/v1/proxy/oauth2/payments', {
      body: '{}',
      headers: {
        cookie: 'session=s3cr3t',
        connection: 'x-hop-secret',
        'x-hop-secret': '1',
        'proxy-authorization': 'Basic abc',
        te: 'trailers',
        'x-kept': 'yes',
      },
    })
    expect(response.status).toBe(200)
    const sent = seen[0]!
    expect(sent.headers.get('cookie')).toBeNull()
    expect(sent.headers.get('x-hop-secret')).toBeNull()
    expect(sent.headers.get('proxy-authorization')).toBeNull()
    expect(sent.headers.get('te')).toBeNull()
    expect(sent.headers.get('x-kept')).toBe('yes')
    expect(sent.headers.get('authorization')).not.toContain(CALLER_KEY)
    expect((await edge.json<Echo>(response)).headers).not.toHaveProperty('x-hop-secret')
  })

  it('replays once on a 401 with a fresh token and the body intact: exactly one new token call', async () => {
    // Warm: a token is cached everywhere.
    expect((await edge.call('/v1/proxy/abbeycross/ping', { method: 'GET' })).status).toBe(200)
    expect((await edge.sandbox.stats('abbeycross')).tokenCalls).toBe(1)
    await edge.sandbox.revoke('abbeycross')

    const payment = { amount: 250, currency: 'GBP', note: 'replayed intact' }
    const response = await edge.call('/v1/proxy/abbeycross/payments', { body: payment })
    expect(response.status).toBe(200)
    const echo = await edge.json<Echo>(response)
    expect(JSON.parse(echo.body)).toEqual(payment)
    const stats = await edge.sandbox.stats('abbeycross')
    expect(stats.tokenCalls).toBe(2)
    expect(stats.resource401s).toBe(1)
    expect(stats.resourceCalls).toBe(3)
  })

  it('a proxied request whose client goes away while it acquires the token does not take down the requests that joined it: 1 token call, each answered', async () => {
    await edge.sandbox.configure('abbeycross', { tokenLatencyMs: 300 })
    const leaving = new AbortController()
    const first = exports.default.fetch(new Request(request('/v1/proxy/abbeycross/ping', { method: 'GET' }), { signal: leaving.signal }))
    await scheduler.wait(30) // the first request has started the isolate's acquisition
    const joined = Array.from({ length: 3 }, () => edge.call('/v1/proxy/abbeycross/ping', { method: 'GET' }))
    await scheduler.wait(30)
    leaving.abort()
    await expect(first).rejects.toThrow()
    const answers = await Promise.race([Promise.all(joined), scheduler.wait(3000).then(() => 'still waiting' as const)])
    expect(answers === 'still waiting' ? answers : answers.map((r) => r.status)).toEqual([200, 200, 200])
    expect((await edge.sandbox.stats('abbeycross')).tokenCalls).toBe(1)
  })

  it('stablelink: the replay gets its new token by the refresh grant, and /v1/token then hands out that same token', async () => {
    const first = (await edge.json<TokenAnswer>(await edge.token('stablelink'))).access_token
    await edge.sandbox.revoke('stablelink', first)
    const response = await edge.call('/v1/proxy/stablelink/orders', {
      body: 'a=1&b=2',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })
    expect((await edge.json<Echo>(response)).body).toBe('a=1&b=2')
    expect((await edge.sandbox.stats('stablelink')).byGrant).toEqual({ client_credentials: 1, refresh_token: 1 })
    const current = (await edge.json<TokenAnswer>(await edge.token('stablelink'))).access_token
    expect(current).not.toBe(first)
    expect(await edge.sandbox.liveTokens('stablelink')).toEqual([current])
  })

  it('a 401 that survives the one replay reaches the caller as the API answered it: two attempts, never a loop', async () => {
    const original = globalThis.fetch
    let attempts = 0
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      const request = new Request(input, init)
      if (!new URL(request.url).pathname.includes('/api/payments')) return original(request)
      attempts++
      return Promise.resolve(Response.json({ error: 'invalid_token' }, { status: 401 }))
    })
    const response = await edge.call('/v1/proxy/oauth2/payments', { method: 'GET' })
    expect(response.status).toBe(401)
    expect(await response.json()).toEqual({ error: 'invalid_token' })
    expect(attempts).toBe(2)
    expect((await edge.sandbox.stats('oauth2')).tokenCalls).toBe(2)
  })

  it.each([
    ['an encoded slash', '/v1/proxy/stablelink/..%2F..%2Foauth2/api/x'],
    ['an encoded dot segment', '/v1/proxy/stablelink/x/%2e%2e%2f%2e%2e%2fadmin'],
    ['an encoded backslash', '/v1/proxy/stablelink/..%5C..%5Cadmin'],
    ['double encoding', '/v1/proxy/stablelink/%252e%252e/%252e%252e/admin'],
    ['an empty segment (//host)', '/v1/proxy/stablelink//evil.example/x'],
    ['an empty segment inside', '/v1/proxy/stablelink/a//b'],
  ])('a path with %s is 400 invalid_request and reaches no API', async (_, path) => {
    const response = await edge.call(path, { method: 'GET' })
    expect(response.status).toBe(400)
    expect((await edge.json<ErrorAnswer>(response)).error).toBe('invalid_request')
    const stats = await Promise.all((['stablelink', 'oauth2'] as const).map((p) => edge.sandbox.stats(p)))
    expect(stats.map((s) => s.resourceCalls)).toEqual([0, 0])
  })

  it('dot segments are resolved before routing, so they can never climb out of /v1/proxy/<provider>/ either', async () => {
    const response = await edge.call('/v1/proxy/stablelink/%2e%2e/%2e%2e/%2e%2e/oauth2/o/token/', { method: 'GET' })
    expect(response.status).toBe(404)
    expect((await edge.sandbox.stats('oauth2')).tokenCalls + (await edge.sandbox.stats('oauth2')).resourceCalls).toBe(0)
  })

  it('a request body over 1 MiB is 413 and reaches no API', async () => {
    const response = await edge.call('/v1/proxy/stonex/uploads', {
      body: 'x'.repeat(1024 * 1024 + 1),
      headers: { 'content-type': 'text/plain' },
    })
    expect(response.status).toBe(413)
    expect((await edge.json<ErrorAnswer>(response)).error).toBe('invalid_request')
    expect((await edge.sandbox.stats('stonex')).resourceCalls).toBe(0)
  })

  it('an unknown provider is 404 and a provider the caller may not use is 403, with no call at all', async () => {
    expect((await edge.call('/v1/proxy/nope/x', { method: 'GET' })).status).toBe(404)
    const key = 'pa_stonex_only_key'
    const vars = { CALLERS: [{ id: 'stonex-only', keySha256: await edge.sha256Hex(key), providers: ['stonex'] }] }
    const response = await edge.callWith(vars, request('/v1/proxy/stablelink/x', { method: 'GET', credential: key }))
    expect(response.status).toBe(403)
    expect((await edge.sandbox.stats('stablelink')).tokenCalls + (await edge.sandbox.stats('stablelink')).resourceCalls).toBe(0)
  })

  it('a token endpoint that is down is 503 with its Retry-After, and the API is never called', async () => {
    await edge.sandbox.inject('oauth2', { fault: '503', retryAfter: 45 })
    const response = await edge.call('/v1/proxy/oauth2/payments', { method: 'GET' })
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('45')
    edge.assertLeaksNothing(await response.text())
    expect((await edge.sandbox.stats('oauth2')).resourceCalls).toBe(0)
  })

  it('an unreachable API is 502 upstream_error', async () => {
    const original = globalThis.fetch
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      const request = new Request(input, init)
      if (new URL(request.url).pathname.includes('/api/payments')) return Promise.reject(new TypeError('Network connection lost'))
      return original(request)
    })
    const response = await edge.call('/v1/proxy/stonex/payments', { method: 'GET' })
    expect(response.status).toBe(502)
    expect((await edge.json<ErrorAnswer>(response)).error).toBe('upstream_error')
  })

  it("the API's Set-Cookie and CORS headers never reach the caller; its status and other headers do", async () => {
    const original = globalThis.fetch
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      const request = new Request(input, init)
      if (!new URL(request.url).pathname.includes('/api/payments')) return original(request)
      return Promise.resolve(
        new Response('{"created":true}', {
          status: 201,
          headers: {
            'content-type': 'application/json',
            'set-cookie': 'provider=1',
            'access-control-allow-origin': '*',
            'x-provider-request': 'p-9',
          },
        }),
      )
    })
    const response = await edge.call('/v1/proxy/stonex/payments', { body: {} })
    expect(response.status).toBe(201)
    expect(response.headers.get('set-cookie')).toBeNull()
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
    expect(response.headers.get('x-provider-request')).toBe('p-9')
    expect(await response.json()).toEqual({ created: true })
  })
})

describe('upstreamUrl', () => {
  const base = 'https://api.example.com/v2'
  it.each([
    ['payments', 'https://api.example.com/v2/payments'],
    ['payments/42/refunds', 'https://api.example.com/v2/payments/42/refunds'],
    ['', 'https://api.example.com/v2/'],
    ['a%20b', 'https://api.example.com/v2/a%20b'],
  ])('keeps %j under the API base', (path, expected) => {
    expect(upstreamUrl(base, path, '')?.href).toBe(expected)
  })

  it.each(['..', '../x', 'a/../../x', '.', '/evil.example', '//evil.example/x', 'a%2fb', 'a%5cb', '%2e%2e', 'a%252e', 'a\\b', 'a//b'])(
    'refuses %j',
    (path) => {
      expect(upstreamUrl(base, path, '')).toBeUndefined()
    },
  )

  it('keeps the query string as sent', () => {
    expect(upstreamUrl(base, 'x', '?a=1&b=%2F')?.href).toBe('https://api.example.com/v2/x?a=1&b=%2F')
  })
})

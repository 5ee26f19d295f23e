import { env, exports } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as edge from '../test/support.ts'
import { coldStart, EDGE, PROVIDERS } from '../test/support.ts'
import type { ErrorAnswer, TokenAnswer } from '../test/support.ts'

beforeEach(coldStart)
afterEach(() => {
  vi.restoreAllMocks()
})

const ALLOWED = 'http://localhost:5173'
const OTHER = 'https://evil.example'

describe('GET /healthz', () => {
  it('is 200 {ok: true}, without a caller credential', async () => {
    const response = await exports.default.fetch(new Request(`${EDGE}/healthz`))
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ ok: true })
  })
})

describe('routing', () => {
  it('an unknown route is 404 not_found (JSON)', async () => {
    const response = await exports.default.fetch(new Request(`${EDGE}/nope`))
    expect(response.status).toBe(404)
    expect(await edge.json<ErrorAnswer>(response)).toMatchObject({ error: 'not_found' })
  })

  it('under /v1 the caller is authenticated first: 401 without a credential, 404 with one', async () => {
    expect((await edge.call('/v1/nope', { credential: null })).status).toBe(401)
    expect((await edge.call('/v1/nope')).status).toBe(404)
  })
})

describe('CORS (allow-list CORS_ORIGINS)', () => {
  it('an allowed origin gets Access-Control-Allow-Origin on the token route, errors included', async () => {
    const ok = await edge.token('stonex', { headers: { origin: ALLOWED } })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    expect(ok.headers.get('vary')).toContain('Origin')
    const refused = await edge.token('stonex', { credential: null, headers: { origin: ALLOWED } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    expect(refused.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate')
  })

  const corsHeaders = (response: Response) => [...response.headers.keys()].filter((name) => name.startsWith('access-control-'))

  it('another origin, or none, gets no CORS headers at all', async () => {
    const other = await edge.token('stonex', { headers: { origin: OTHER } })
    expect(other.status).toBe(200)
    expect(corsHeaders(other)).toEqual([])
    expect(other.headers.get('vary')).toContain('Origin')
    const refused = await edge.token('stonex', { credential: null, headers: { origin: OTHER } })
    expect(corsHeaders(refused)).toEqual([])
    expect(corsHeaders(await edge.token('stonex'))).toEqual([])
  })

  it('a preflight from an allowed origin is 204 with the methods and the requested headers, before any authentication', async () => {
    const response = await exports.default.fetch(
      new Request(`${EDGE}/v1/proxy/stablelink/payments`, {
        method: 'OPTIONS',
        headers: {
          origin: ALLOWED,
          'access-control-request-method': 'PUT',
          'access-control-request-headers': 'authorization, content-type',
        },
      }),
    )
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED)
    expect(response.headers.get('access-control-allow-methods')).toContain('PUT')
    expect(response.headers.get('access-control-allow-headers')).toBe('authorization,content-type')
    expect(response.headers.get('access-control-allow-credentials')).toBeNull()
  })

  it('a preflight from another origin gets no CORS headers', async () => {
    const response = await exports.default.fetch(
      new Request(`${EDGE}/v1/token`, { method: 'OPTIONS', headers: { origin: OTHER, 'access-control-request-method': 'POST' } }),
    )
    expect(corsHeaders(response)).toEqual([])
  })

  it('the proxy answers carry CORS headers for an allowed origin too', async () => {
    const response = await edge.call('/v1/proxy/oauth2/payments', { method: 'GET', headers: { origin: ALLOWED } })
    expect(response.status).toBe(200)
    expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED)
  })

  it('CORS_ORIGINS is the list: with it changed, the sample origin is no longer allowed', async () => {
    const response = await edge.callWith(
      { CORS_ORIGINS: 'https://app.example.com' },
      edge.request('/v1/token', { body: { provider: 'stonex' }, headers: { origin: ALLOWED } }),
    )
    expect(response.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('body limits', () => {
  it('a token request body over 8 KiB is 413, before any token work', async () => {
    const response = await edge.call('/v1/token', { body: JSON.stringify({ provider: 'stonex', pad: 'x'.repeat(8 * 1024) }) })
    expect(response.status).toBe(413)
    expect(await edge.json<ErrorAnswer>(response)).toMatchObject({ error: 'invalid_request' })
    expect((await edge.sandbox.stats('stonex')).tokenCalls).toBe(0)
  })

  it('a token request body of exactly 8 KiB is accepted', async () => {
    const body = JSON.stringify({ provider: 'stonex' })
    const response = await edge.call('/v1/token', { body: body + ' '.repeat(8 * 1024 - body.length) })
    expect(response.status).toBe(200)
  })

  it('a streamed body (no Content-Length) over the limit is 413 too', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(4096))
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 3) controller.enqueue(chunk)
        else controller.close()
      },
    })
    const req = new Request(`${EDGE}/v1/token/invalidate`, {
      method: 'POST',
      headers: { authorization: 'Bearer pa_demo_caller_key_0001' },
      body: stream,
      duplex: 'half',
    } as RequestInit)
    const response = await exports.default.fetch(req)
    expect(response.status).toBe(413)
  })
})

describe('only deliberate errors reach the wire', () => {
  it('an invalid PROVIDERS var is a plain 500 {"error":"server_error"}; the log names the var, not values', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const response = await edge.callWith(
      { PROVIDERS: '{"stablelink": {"dialect": "stablelink", "baseUrl": "not a url"' },
      edge.request('/v1/token', { body: { provider: 'stablelink' } }),
    )
    expect(response.status).toBe(500)
    expect(await response.text()).toBe('{"error":"server_error"}')
    expect(errors.mock.calls.flat().join(' ')).toContain('PROVIDERS')
  })

  it('a provider without its secret is a plain 500; the log names the missing secret', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const response = await edge.callWith({ STONEX_CLIENT_SECRET: undefined }, edge.request('/v1/token', { body: { provider: 'stonex' } }))
    expect(response.status).toBe(500)
    expect(await response.json()).toEqual({ error: 'server_error' })
    expect(errors.mock.calls.flat().join(' ')).toContain('STONEX_CLIENT_SECRET')
  })

  it('a too-short JWT_SECRET is a configuration error (500), not a weak key', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const response = await edge.callWith({ JWT_SECRET: 'short' }, edge.request('/v1/token', { body: { provider: 'stonex' } }))
    expect(response.status).toBe(500)
  })

  it('an unexpected failure is a plain 500; neither the answer nor the log carries the secret in its message', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const secret = env.OAUTH2_CLIENT_SECRET as string
    const broken = {
      idFromName: () => {
        throw new Error(`authority exploded at https://do.example/?key=${secret} with ${secret}`)
      },
    }
    const response = await edge.callWith({ AUTHORITY: broken }, edge.request('/v1/token', { body: { provider: 'oauth2', scope: 'read' } }))
    expect(response.status).toBe(500)
    expect(await response.text()).toBe('{"error":"server_error"}')
    const logged = errors.mock.calls.flat().join(' ')
    expect(logged).toContain('authority exploded')
    for (const value of edge.secrets()) expect(logged).not.toContain(value)
  })

  it('a failing KV read cache is only a cache: the authority answers instead', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    const broken = { get: () => Promise.reject(new Error('kv down')), put: () => Promise.resolve(), delete: () => Promise.resolve() }
    const response = await edge.callWith({ TOKENS: broken }, edge.request('/v1/token', { body: { provider: 'oauth2', scope: 'read' } }))
    expect(response.status).toBe(200)
  })

  it('no error answer of any route ever contains a secret, an access token or a stack', async () => {
    const issued = await Promise.all(PROVIDERS.map(async (p) => (await edge.json<TokenAnswer>(await edge.token(p))).access_token))
    await edge.sandbox.inject('abbeycross', { fault: '503', retryAfter: 5 })
    await edge.sandbox.revoke('abbeycross')
    const answers = [
      await edge.call('/v1/token', { credential: null, body: { provider: 'oauth2' } }),
      await edge.call('/v1/token', { credential: issued[0]!, body: { provider: 'oauth2' } }),
      await edge.call('/v1/token', { credential: await edge.callerJwt({}, { issuer: 'x' }), body: { provider: 'oauth2' } }),
      await edge.call('/v1/token', { body: `{"provider": "${issued[1]}"` }),
      await edge.call('/v1/token', { body: { provider: issued[1] } }),
      await edge.call('/v1/token', { body: { provider: 'oauth2', scope: issued[1] } }),
      await edge.invalidate('abbeycross', issued[3]!),
      await edge.call('/v1/proxy/stablelink/%2e%2e%2f', { method: 'GET' }),
      await edge.call(`/v1/proxy/${issued[0]}/x`, { method: 'GET' }),
      await edge.call('/v1/token', { body: { provider: 'stonex', pad: `${issued[2]}`.repeat(400) } }),
    ]
    expect(answers.map((r) => r.status)).toEqual([401, 401, 401, 400, 404, 400, 503, 400, 404, 413])
    for (const answer of answers) edge.assertLeaksNothing(await answer.text(), issued)
  })
})

import { evictAllDurableObjects } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import * as edge from '../test/support.ts'
import { coldStart, PROVIDERS } from '../test/support.ts'
import type { ErrorAnswer, Provider, TokenAnswer } from '../test/support.ts'
import { clearIsolateCache } from './tokens.ts'

beforeEach(coldStart)

const accessToken = async (provider: Provider, scope?: string) => {
  const response = await edge.token(provider, scope === undefined ? {} : { scope })
  expect(response.status).toBe(200)
  return (await edge.json<TokenAnswer>(response)).access_token
}

/** Another isolate (empty L1) is served `first` again, and the provider saw no new token call. */
async function expectServedAgainWithoutACall(provider: Provider, first: string) {
  clearIsolateCache()
  expect(await accessToken(provider)).toBe(first)
  expect((await edge.sandbox.stats(provider)).tokenCalls).toBe(1)
}

describe('POST /v1/token', () => {
  it.each(PROVIDERS)(
    'hands the sample caller a live %s token: 200 {access_token, token_type: "Bearer", expires_in}, not cacheable',
    async (provider) => {
      const response = await edge.token(provider)
      expect(response.status).toBe(200)
      expect(response.headers.get('cache-control')).toBe('no-store')
      const body = await edge.json<TokenAnswer>(response)
      expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'token_type'])
      expect(body.token_type).toBe('Bearer')
      expect(body.expires_in).toBeGreaterThan(3500)
      expect(body.expires_in).toBeLessThanOrEqual(3600)
      expect(await edge.sandbox.liveTokens(provider)).toContain(body.access_token)
      expect((await edge.sandbox.stats(provider)).tokenCalls).toBe(1)
    },
  )

  it('50 concurrent cold requests for one provider make exactly one upstream token call, and 50 warm ones make none', async () => {
    await edge.sandbox.configure('stablelink', { tokenLatencyMs: 300 })
    const cold = await Promise.all(Array.from({ length: 50 }, () => edge.token('stablelink')))
    expect(cold.map((r) => r.status)).toEqual(Array(50).fill(200))
    const tokens = new Set(await Promise.all(cold.map(async (r) => (await edge.json<TokenAnswer>(r)).access_token)))
    expect(tokens.size).toBe(1)
    expect((await edge.sandbox.stats('stablelink')).tokenCalls).toBe(1)
    expect((await edge.sandbox.stats('stablelink')).maxConcurrentTokenCalls).toBe(1)

    const warm = await Promise.all(Array.from({ length: 50 }, () => edge.token('stablelink')))
    expect(warm.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect((await edge.sandbox.stats('stablelink')).tokenCalls).toBe(1)
  })

  it('a request whose client goes away while it acquires the token does not take the requests that joined it down: they get the token, from 1 upstream call', async () => {
    await edge.sandbox.configure('stablelink', { tokenLatencyMs: 300 })
    const leaving = new AbortController()
    const first = exports.default.fetch(
      new Request(edge.request('/v1/token', { body: { provider: 'stablelink' } }), { signal: leaving.signal }),
    )
    await scheduler.wait(30) // the first request has started the isolate's acquisition
    const joined = Array.from({ length: 5 }, () => edge.token('stablelink'))
    await scheduler.wait(30)
    leaving.abort() // its client goes away; the runtime cancels that request
    await expect(first).rejects.toThrow()
    // Without waitUntil the acquisition died with the first request and the others waited on it for good.
    const answers = await Promise.race([Promise.all(joined), scheduler.wait(3000).then(() => 'still waiting' as const)])
    expect(answers === 'still waiting' ? answers : answers.map((r) => r.status)).toEqual(Array(5).fill(200))
    const tokens = new Set(await Promise.all((answers as Response[]).map(async (r) => (await edge.json<TokenAnswer>(r)).access_token)))
    expect(tokens.size).toBe(1)
    expect(await accessToken('stablelink')).toBe([...tokens][0])
    expect((await edge.sandbox.stats('stablelink')).tokenCalls).toBe(1)
  })

  it('another isolate (empty L1) is served from the KV read cache, which holds the access token but never the refresh token', async () => {
    const first = await accessToken('stablelink')
    const { keys } = await env.TOKENS.list()
    expect(keys.map((k) => k.name)).toEqual([
      `payment-auth:stablelink http://127.0.0.1:8790/stablelink/user/auth/oauth2/token ${env.STABLELINK_API_KEY}`,
    ])
    const stored = JSON.parse((await env.TOKENS.get(keys[0]!.name))!) as Record<string, unknown>
    // Sealed at rest (TOKEN_ENCRYPTION_KEYS, sealing.ts): the KV value never holds the token itself.
    expect(stored.accessToken).toMatch(/^sealed\.v1\.k2\./)
    expect(JSON.stringify(stored)).not.toContain(first)
    expect(stored).not.toHaveProperty('refreshToken')

    await expectServedAgainWithoutACall('stablelink', first)
  })

  it('the token survives eviction of its authority (Durable Object storage), so an evicted, uncached edge makes no new call', async () => {
    const first = await accessToken('oauth2')
    await evictAllDurableObjects()
    for (const key of (await env.TOKENS.list()).keys) await env.TOKENS.delete(key.name)
    await expectServedAgainWithoutACall('oauth2', first)
  })

  it('stablelink: the refresh token survives eviction too; a rejected token is then replaced with the refresh grant', async () => {
    const first = await accessToken('stablelink')
    await evictAllDurableObjects()
    clearIsolateCache()
    await edge.sandbox.revoke('stablelink', first)
    const response = await edge.invalidate('stablelink', first)
    const second = (await edge.json<TokenAnswer>(response)).access_token
    expect(second).not.toBe(first)
    expect((await edge.sandbox.stats('stablelink')).byGrant).toEqual({ client_credentials: 1, refresh_token: 1 })
  })

  it('callers always get a token with life left: inside the refresh-ahead margin the edge waits for the next token', async () => {
    await edge.sandbox.configure('stonex', { tokenLifetime: 4 })
    const first = await edge.token('stonex')
    expect((await edge.json<TokenAnswer>(first)).expires_in).toBeGreaterThanOrEqual(3)
    await new Promise((resolve) => setTimeout(resolve, 2200)) // past half the lifetime: the margin
    const second = await edge.json<TokenAnswer>(await edge.token('stonex'))
    expect(second.expires_in).toBeGreaterThanOrEqual(3)
    expect((await edge.sandbox.stats('stonex')).tokenCalls).toBe(2)
  })

  it('an unknown provider is 404 not_found, without any upstream call', async () => {
    const response = await edge.token('nope')
    expect(response.status).toBe(404)
    expect(await edge.json<ErrorAnswer>(response)).toEqual({ error: 'not_found', error_description: 'unknown provider' })
  })

  it.each([
    ['not JSON', '{"provider" oops'],
    ['a JSON array', '["stablelink"]'],
    ['no provider', '{"scope": "read"}'],
    ['a provider that is not a string', '{"provider": 42}'],
    ['an empty body', ''],
  ])('a malformed body (%s) is 400 invalid_request', async (_, body) => {
    const response = await edge.call('/v1/token', { body })
    expect(response.status).toBe(400)
    const answer = await edge.json<ErrorAnswer>(response)
    expect(answer.error).toBe('invalid_request')
    if (body) expect(answer.error_description).not.toContain(body)
  })
})

describe('scopes', () => {
  it('oauth2 with scope "read": the token is for that scope', async () => {
    const read = await accessToken('oauth2', 'read')
    const readWrite = await accessToken('oauth2', 'read write')
    expect(read).not.toBe(readWrite)
    expect((await edge.sandbox.stats('oauth2')).tokenCalls).toBe(2)
  })

  it('"write read" and "read write" are one scope, so one token', async () => {
    expect(await accessToken('oauth2', 'write read')).toBe(await accessToken('oauth2', 'read write'))
    expect((await edge.sandbox.stats('oauth2')).tokenCalls).toBe(1)
  })

  it('no scope means every scope the caller may use (never the provider default)', async () => {
    expect(await accessToken('oauth2')).toBe(await accessToken('oauth2', 'read write'))
  })

  it('a scope the caller may not use is 403 insufficient_scope, without any upstream call', async () => {
    const response = await edge.token('oauth2', { scope: 'read admin' })
    expect(response.status).toBe(403)
    expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope"')
    expect((await edge.json<ErrorAnswer>(response)).error).toBe('insufficient_scope')
    expect((await edge.sandbox.stats('oauth2')).tokenCalls).toBe(0)
  })

  it('a scope the provider does not offer is 400 invalid_scope', async () => {
    const unknown = await edge.token('oauth2', { scope: 'delete' })
    expect(unknown.status).toBe(400)
    expect((await edge.json<ErrorAnswer>(unknown)).error).toBe('invalid_scope')
    const unscoped = await edge.token('stablelink', { scope: 'read' })
    expect(unscoped.status).toBe(400)
    expect((await edge.json<ErrorAnswer>(unscoped)).error).toBe('invalid_scope')
  })
})

describe('POST /v1/token/invalidate (compare-and-invalidate)', () => {
  it('reporting the current token replaces it with exactly one upstream call; the answer is the new token, not cacheable', async () => {
    const first = await accessToken('abbeycross')
    const response = await edge.invalidate('abbeycross', first)
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const body = await edge.json<TokenAnswer>(response)
    expect(body.token_type).toBe('Bearer')
    expect(body.access_token).not.toBe(first)
    expect((await edge.sandbox.stats('abbeycross')).tokenCalls).toBe(2)
    // This isolate now serves the new token.
    expect(await accessToken('abbeycross')).toBe(body.access_token)
  })

  it('a stale report (the token was already replaced) makes no upstream call and answers the current token', async () => {
    const first = await accessToken('stablelink')
    const second = (await edge.json<TokenAnswer>(await edge.invalidate('stablelink', first))).access_token
    const callsBefore = (await edge.sandbox.stats('stablelink')).tokenCalls
    const again = await edge.invalidate('stablelink', first)
    expect((await edge.json<TokenAnswer>(again)).access_token).toBe(second)
    expect((await edge.sandbox.stats('stablelink')).tokenCalls).toBe(callsBefore)
  })

  it('concurrent reports of the same rejected token make one upstream call in all', async () => {
    const first = await accessToken('oauth2', 'read')
    const answers = await Promise.all(Array.from({ length: 20 }, () => edge.invalidate('oauth2', first, 'read')))
    const tokens = new Set(await Promise.all(answers.map(async (r) => (await edge.json<TokenAnswer>(r)).access_token)))
    expect(tokens.size).toBe(1)
    expect((await edge.sandbox.stats('oauth2')).tokenCalls).toBe(2)
  })

  it('a body without access_token is 400 invalid_request', async () => {
    const response = await edge.call('/v1/token/invalidate', { body: { provider: 'stablelink' } })
    expect(response.status).toBe(400)
    expect((await edge.json<ErrorAnswer>(response)).error).toBe('invalid_request')
  })
})

describe('upstream failures', () => {
  const failure = async (provider: Provider) => {
    const response = await edge.token(provider)
    const text = await response.text()
    edge.assertLeaksNothing(text, await edge.sandbox.liveTokens(provider))
    return { response, body: JSON.parse(text) as ErrorAnswer }
  }

  it('a 503 with Retry-After is 503 upstream_unavailable with the same Retry-After, and the body leaks nothing', async () => {
    await edge.sandbox.inject('stonex', { fault: '503', retryAfter: 30 })
    const { response, body } = await failure('stonex')
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('30')
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(body.error).toBe('upstream_unavailable')
    expect(body.error_description).not.toMatch(/temporarily_unavailable/)
  })

  it("AbbeyCross outside working hours is 503 with the provider's Retry-After", async () => {
    await edge.sandbox.inject('abbeycross', { fault: 'non_working_hours', retryAfter: 600 })
    const { response, body } = await failure('abbeycross')
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('600')
    expect(body.error).toBe('upstream_unavailable')
  })

  it.each([
    ['503 without Retry-After', '503'],
    ['429', '429'],
    ['409 conflict', '409'],
    ['a dropped connection', 'network'],
  ])('a transient failure (%s, twice: the one retry fails too) is 503 upstream_unavailable', async (_, fault) => {
    await edge.sandbox.inject('oauth2', { fault, count: 2 })
    const { response, body } = await failure('oauth2')
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBeNull()
    expect(body.error).toBe('upstream_unavailable')
    expect((await edge.sandbox.stats('oauth2')).tokenCalls).toBe(2)
  })

  it.each([
    ['an answer without access_token', 'malformed'],
    ['an HTML maintenance page', 'html'],
    ['a truncated answer', 'truncated'],
  ])('%s is 502 upstream_error', async (_, fault) => {
    await edge.sandbox.inject('stonex', { fault })
    const { response, body } = await failure('stonex')
    expect(response.status).toBe(502)
    expect(body).toEqual({ error: 'upstream_error', error_description: "the stonex token endpoint refused the edge's request" })
  })

  it("rejected credentials are 502 upstream_error (our misconfiguration), and AbbeyCross's echo of the secret never reaches the caller", async () => {
    await fetch('http://sandbox.test/_control/clients', {
      method: 'POST',
      body: JSON.stringify({ provider: 'abbeycross', id: env.ABBEYCROSS_CLIENT_ID, secret: 'rotated-elsewhere' }),
    })
    try {
      const { response, body } = await failure('abbeycross')
      expect(response.status).toBe(502)
      expect(body.error).toBe('upstream_error')
    } finally {
      await fetch('http://sandbox.test/_control/clients', {
        method: 'POST',
        body: JSON.stringify({ provider: 'abbeycross', id: env.ABBEYCROSS_CLIENT_ID, secret: env.ABBEYCROSS_CLIENT_SECRET }),
      })
    }
  })
})

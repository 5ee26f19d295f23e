import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import * as edge from '../test/support.ts'
import { CALLER_KEY, coldStart } from '../test/support.ts'
import type { ErrorAnswer, TokenAnswer } from '../test/support.ts'

beforeEach(coldStart)

const base64url = (value: unknown) => btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')

/** A 401 with `WWW-Authenticate: Bearer ...`, body `invalid_token`, and no token call made. */
async function expectUnauthorized(response: Response) {
  expect(response.status).toBe(401)
  expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="payment-auth"/)
  const text = await response.text()
  edge.assertLeaksNothing(text)
  expect((JSON.parse(text) as ErrorAnswer).error).toBe('invalid_token')
  expect((await edge.sandbox.stats('oauth2')).tokenCalls).toBe(0)
}

describe('API-key callers', () => {
  it('a request without Authorization is 401 with WWW-Authenticate: Bearer', async () => {
    const response = await edge.token('oauth2', { credential: null })
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="payment-auth"')
    await expectUnauthorized(response)
  })

  it('a wrong API key is 401, error="invalid_token"', async () => {
    const response = await edge.token('oauth2', { credential: 'pa_demo_caller_key_0002' })
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="payment-auth", error="invalid_token"')
    await expectUnauthorized(response)
  })

  it('the SHA-256 of the key is not the key: presenting the configured hash is 401', async () => {
    await expectUnauthorized(await edge.token('oauth2', { credential: await edge.sha256Hex(CALLER_KEY) }))
  })

  it('another scheme (Basic) is 401', async () => {
    await expectUnauthorized(
      await edge.token('oauth2', { credential: null, headers: { authorization: `Basic ${btoa(`demo:${CALLER_KEY}`)}` } }),
    )
  })

  it('the scheme is case-insensitive: "bearer <key>" works', async () => {
    const response = await edge.token('oauth2', { credential: null, headers: { authorization: `bearer ${CALLER_KEY}` } })
    expect(response.status).toBe(200)
  })

  it('a caller limited to stonex with scope read: another provider is 403 access_denied, another scope 403 insufficient_scope', async () => {
    const key = 'pa_limited_caller_key'
    const vars = { CALLERS: [{ id: 'limited', keySha256: await edge.sha256Hex(key), providers: ['stonex', 'oauth2'], scopes: ['read'] }] }
    const asLimited = (body: unknown) => edge.callWith(vars, edge.request('/v1/token', { credential: key, body }))

    const stonex = await asLimited({ provider: 'stonex' })
    expect(stonex.status).toBe(200)
    const stablelink = await asLimited({ provider: 'stablelink' })
    expect(stablelink.status).toBe(403)
    expect((await edge.json<ErrorAnswer>(stablelink)).error).toBe('access_denied')
    const write = await asLimited({ provider: 'oauth2', scope: 'write' })
    expect(write.status).toBe(403)
    expect((await edge.json<ErrorAnswer>(write)).error).toBe('insufficient_scope')
    // Without a scope it gets what it may use: read, not the provider's wider default.
    expect((await asLimited({ provider: 'oauth2' })).status).toBe(200)
    expect((await edge.sandbox.stats('stablelink')).tokenCalls).toBe(0)
  })
})

describe('JWT callers', () => {
  it('a valid HS256 JWT with the right issuer and audience gets a token for a provider and scope its claims allow', async () => {
    const response = await edge.token('oauth2', { credential: await edge.callerJwt(), scope: 'read' })
    expect(response.status).toBe(200)
    expect((await edge.json<TokenAnswer>(response)).token_type).toBe('Bearer')
  })

  it('an expired JWT is 401', async () => {
    await expectUnauthorized(
      await edge.token('oauth2', {
        credential: await edge.callerJwt({}, { expiresIn: Math.floor(Date.now() / 1000) - 60 }),
        scope: 'read',
      }),
    )
  })

  it('a JWT without exp is 401', async () => {
    await expectUnauthorized(await edge.token('oauth2', { credential: await edge.callerJwt({}, { expiresIn: null }), scope: 'read' }))
  })

  it('a JWT for another audience is 401', async () => {
    await expectUnauthorized(
      await edge.token('oauth2', { credential: await edge.callerJwt({}, { audience: 'someone-else' }), scope: 'read' }),
    )
  })

  it('a JWT from another issuer is 401', async () => {
    await expectUnauthorized(
      await edge.token('oauth2', { credential: await edge.callerJwt({}, { issuer: 'https://evil.example' }), scope: 'read' }),
    )
  })

  it('an unsigned JWT (alg: none) is 401', async () => {
    const now = Math.floor(Date.now() / 1000)
    const payload = {
      iss: 'https://auth.example.test',
      aud: 'payment-auth-edge',
      sub: 'x',
      iat: now,
      exp: now + 300,
      providers: ['oauth2'],
      scope: 'read',
    }
    await expectUnauthorized(
      await edge.token('oauth2', { credential: `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`, scope: 'read' }),
    )
  })

  it('a JWT signed with another secret is 401', async () => {
    await expectUnauthorized(
      await edge.token('oauth2', {
        credential: await edge.callerJwt({}, { secret: 'another-secret-that-is-also-32-bytes-long' }),
        scope: 'read',
      }),
    )
  })

  it('a JWT signed with the right secret but another algorithm (HS512) is 401: HS256 only', async () => {
    await expectUnauthorized(await edge.token('oauth2', { credential: await edge.callerJwt({}, { alg: 'HS512' }), scope: 'read' }))
  })

  it('a provider outside its providers claim is 403 access_denied', async () => {
    const response = await edge.token('stablelink', { credential: await edge.callerJwt() })
    expect(response.status).toBe(403)
    expect((await edge.json<ErrorAnswer>(response)).error).toBe('access_denied')
    expect((await edge.sandbox.stats('stablelink')).tokenCalls).toBe(0)
  })

  it('a scope outside its scope claim is 403 insufficient_scope', async () => {
    const response = await edge.token('oauth2', { credential: await edge.callerJwt({ scope: 'read' }), scope: 'read write' })
    expect(response.status).toBe(403)
    expect((await edge.json<ErrorAnswer>(response)).error).toBe('insufficient_scope')
  })

  it('without JWT_SECRET, JWT callers are refused (401)', async () => {
    const response = await edge.callWith(
      { JWT_SECRET: undefined },
      edge.request('/v1/token', { credential: await edge.callerJwt(), body: { provider: 'oauth2', scope: 'read' } }),
    )
    await expectUnauthorized(response)
  })
})

describe('rate limit', () => {
  it('a burst beyond RATE_LIMIT_PER_MINUTE is 429 rate_limited with Retry-After; other callers are unaffected', async () => {
    const key = 'pa_bursty_caller_key'
    const vars = {
      RATE_LIMIT_PER_MINUTE: '3',
      CALLERS: [{ id: 'bursty', keySha256: await edge.sha256Hex(key), providers: ['stonex'] }, ...(env.CALLERS as unknown[])],
    }
    const statuses: number[] = []
    let limited: Response | undefined
    for (let i = 0; i < 5; i++) {
      const response = await edge.callWith(vars, edge.request('/v1/token', { credential: key, body: { provider: 'stonex' } }))
      statuses.push(response.status)
      if (response.status === 429) limited = response
      else await response.body?.cancel()
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await edge.json<ErrorAnswer>(limited!)).toMatchObject({ error: 'rate_limited' })
    const other = await edge.callWith(vars, edge.request('/v1/token', { body: { provider: 'stonex' } }))
    expect(other.status).toBe(200)
  })
})

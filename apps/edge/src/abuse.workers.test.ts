/**
 * Edge abuse (issue: reliability and security): what a hostile caller tries beyond the
 * route tests, each answered with the right status and an RFC 6749 body that leaks nothing,
 * and no upstream call where none is due.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import * as edge from '../test/support.ts'
import { coldStart } from '../test/support.ts'
import type { ErrorAnswer, TokenAnswer } from '../test/support.ts'

beforeEach(coldStart)

async function expectError(response: Response, status: number, error?: string) {
  expect(response.status).toBe(status)
  const text = await response.text()
  edge.assertLeaksNothing(text)
  const body = JSON.parse(text) as ErrorAnswer
  expect(typeof body.error).toBe('string')
  if (error) expect(body.error).toBe(error)
}

describe('hostile provider names and scopes', () => {
  it.each([
    '../oauth2',
    'oauth2/../stablelink',
    '__proto__',
    'constructor',
    'toString',
    'OAUTH2',
    'oauth2 ',
    'oauth2\r\nx-injected: 1',
    '',
  ])('provider %j is refused (400 or 404) without any upstream call', async (provider) => {
    const response = await edge.call('/v1/token', { body: { provider } })
    expect([400, 404]).toContain(response.status)
    await expectError(response, response.status)
    const calls = await Promise.all(
      (['stablelink', 'oauth2', 'stonex', 'abbeycross'] as const).map(async (p) => (await edge.sandbox.stats(p)).tokenCalls),
    )
    expect(calls).toEqual([0, 0, 0, 0])
  })

  it.each([
    ['a non-string provider', { provider: ['oauth2'] }],
    ['a non-string scope', { provider: 'oauth2', scope: { $gt: '' } }],
    ['a JSON array', [{ provider: 'oauth2' }]],
    ['JSON null', null],
  ])('%s is 400 invalid_request', async (_, body) => {
    await expectError(await edge.call('/v1/token', { body }), 400, 'invalid_request')
  })

  it('a scope escalation (read write admin for a read write caller) is 403 insufficient_scope, no upstream call', async () => {
    await expectError(await edge.token('oauth2', { scope: 'read write admin' }), 403, 'insufficient_scope')
    expect((await edge.sandbox.stats('oauth2')).tokenCalls).toBe(0)
  })

  it('a JWT that claims more providers than it was given cannot widen itself: a provider outside its claim is 403', async () => {
    const jwt = await edge.callerJwt({ providers: ['stonex'], scope: 'read' })
    await expectError(await edge.token('stablelink', { credential: jwt }), 403)
  })
})

describe('header injection and spoofing', () => {
  it('Host, X-Forwarded-Host and Forwarded from the caller never redirect the proxy to another host', async () => {
    const response = await edge.call('/v1/proxy/oauth2/payments', {
      method: 'POST',
      body: { amount: 1 },
      headers: { 'x-forwarded-host': 'evil.example', forwarded: 'host=evil.example', 'x-original-url': '/stablelink/api/x' },
    })
    expect(response.status).toBe(200)
    const echo = (await response.json()) as { provider: string; path: string }
    expect(echo.provider).toBe('oauth2')
    expect(echo.path).toBe('/oauth2/api/payments')
  })

  it("the caller's Authorization, Cookie and Proxy-Authorization never reach the provider", async () => {
    const response = await edge.call('/v1/proxy/oauth2/payments', {
      method: 'GET',
      headers: { cookie: 'session=victim', 'proxy-authorization': 'Basic eDp5' },
    })
    const echo = (await response.json()) as { headers: Record<string, string> }
    expect(echo.headers.cookie).toBeUndefined()
    expect(echo.headers['proxy-authorization']).toBeUndefined()
    expect(JSON.stringify(echo.headers)).not.toContain('pa_demo_caller_key_0001')
  })

  it('two Authorization values or a credential with spaces is 401, not a partial match', async () => {
    await expectError(
      await edge.call('/v1/token', { body: { provider: 'oauth2' }, credential: 'pa_demo_caller_key_0001, pa_demo_caller_key_0001' }),
      401,
    )
    await expectError(await edge.call('/v1/token', { body: { provider: 'oauth2' }, credential: 'pa_demo_caller_key_0001 x' }), 401)
  })

  it('an absolute URL in the proxy path never leaves the provider API', async () => {
    const response = await edge.call('/v1/proxy/oauth2/http:%2F%2Fevil.example%2Fx', { method: 'GET' })
    expect(response.status).toBe(400)
    expect((await edge.sandbox.stats('oauth2')).resourceCalls).toBe(0)
  })
})

describe('answers that help an attacker nothing', () => {
  it('the error for a wrong key and for a missing key say nothing about which callers exist', async () => {
    const a = await edge.call('/v1/token', { body: { provider: 'oauth2' }, credential: 'pa_demo_caller_key_0002' })
    const b = await edge.call('/v1/token', { body: { provider: 'oauth2' }, credential: 'nonsense' })
    expect(a.status).toBe(401)
    expect(b.status).toBe(401)
    expect(await edge.json<ErrorAnswer>(a)).toEqual(await edge.json<ErrorAnswer>(b))
  })

  it('a successful answer is not cacheable and carries only the token fields', async () => {
    const response = await edge.token('oauth2', { scope: 'read' })
    expect(response.headers.get('cache-control')).toContain('no-store')
    expect(Object.keys(await edge.json<TokenAnswer>(response)).sort()).toEqual(['access_token', 'expires_in', 'token_type'])
  })
})

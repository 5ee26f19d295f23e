import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { type FakeClock, fakeClock } from '@payment-auth/test-support/clock'
import {
  SANDBOX_CREDENTIALS,
  SANDBOX_ORIGIN,
  createSandbox,
  type Fault,
  type ResourceEcho,
  type Sandbox,
  type SandboxProvider,
} from './index.ts'
import { startSandboxServer } from './serve.ts'

const SL = SANDBOX_CREDENTIALS.stablelink
const OA = SANDBOX_CREDENTIALS.oauth2
const SX = SANDBOX_CREDENTIALS.stonex
const AC = SANDBOX_CREDENTIALS.abbeycross
/** A sandbox on a clock the test moves by hand (started on a whole second, like a JWT's `iat`). */
function clocked(options: { tokenLifetime?: number } = {}): { sandbox: Sandbox; clock: FakeClock; advance(seconds: number): void } {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000)
  const sandbox = createSandbox({ now: clock.now, ...options })
  return { sandbox, clock, advance: (seconds) => clock.advance(seconds * 1000) }
}

function slToken(sandbox: Sandbox, params: Record<string, string>): Promise<Response> {
  return sandbox.fetch(`${SANDBOX_ORIGIN}/stablelink/user/auth/oauth2/token?${new URLSearchParams(params)}`, {
    method: 'POST',
    body: new FormData(),
  })
}

function slClientCredentials(sandbox: Sandbox, secret: string = SL.apiSecret): Promise<Response> {
  return slToken(sandbox, { grant_type: 'client_credentials', api_key: SL.apiKey, api_secret: secret })
}

function basic(id: string, secret: string): string {
  return `Basic ${btoa(`${id}:${secret}`)}`
}

function oaToken(sandbox: Sandbox, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return sandbox.fetch(`${SANDBOX_ORIGIN}/oauth2/o/token/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  })
}

function oaBasic(sandbox: Sandbox, form: Record<string, string> = { grant_type: 'client_credentials' }): Promise<Response> {
  return oaToken(sandbox, form, { authorization: basic(OA.clientId, OA.clientSecret) })
}

function postJson(sandbox: Sandbox, path: string, body: unknown): Promise<Response> {
  return sandbox.fetch(`${SANDBOX_ORIGIN}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

function sxToken(sandbox: Sandbox, secret: string = SX.clientSecret): Promise<Response> {
  return postJson(sandbox, '/stonex/api/v/authentication', { client_id: SX.clientId, client_secret: secret })
}

function acToken(sandbox: Sandbox, secret: string = AC.clientSecret): Promise<Response> {
  return postJson(sandbox, '/abbeycross/v1/oauth/token', { client_id: AC.clientId, client_secret: secret })
}

/** Gets a token the normal way for any provider. */
async function tokenOf(sandbox: Sandbox, provider: SandboxProvider): Promise<string> {
  switch (provider) {
    case 'stablelink': {
      const body = (await (await slClientCredentials(sandbox)).json()) as { retdata: { access_token: string } }
      return body.retdata.access_token
    }
    case 'oauth2':
      return ((await (await oaBasic(sandbox)).json()) as { access_token: string }).access_token
    case 'stonex':
      return ((await (await sxToken(sandbox)).json()) as { access_token: string }).access_token
    case 'abbeycross':
      return ((await (await acToken(sandbox)).json()) as { accessToken: string }).accessToken
  }
}

function callResource(sandbox: Sandbox, provider: SandboxProvider, token: string | undefined, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`)
  return sandbox.fetch(`${SANDBOX_ORIGIN}/${provider}/api/echo`, { ...init, headers })
}

function decodeJwtPart(part: string | undefined): Record<string, unknown> {
  const base64 = (part ?? '').replace(/-/g, '+').replace(/_/g, '/')
  return JSON.parse(atob(base64)) as Record<string, unknown>
}

describe('stablelink dialect', () => {
  it('issues a token wrapped in the retcode envelope with the documented fields', async () => {
    const sandbox = createSandbox()
    const res = await slClientCredentials(sandbox)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).not.toContain(SL.apiSecret)
    const body = JSON.parse(text) as { retcode: number; success: boolean; retdata: Record<string, unknown> }
    expect(body.retcode).toBe(200)
    expect(body.success).toBe(true)
    expect(Object.keys(body.retdata).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'rt_expires_in', 'token_type'])
    expect(body.retdata['token_type']).toBe('bearer')
    expect(body.retdata['expires_in']).toBe(3600)
    expect(body.retdata['rt_expires_in']).toBe(7200)
    expect(String(body.retdata['access_token'])).toMatch(/^[A-Za-z0-9_-]{24,}$/)
    expect(body.retdata['refresh_token']).not.toBe(body.retdata['access_token'])
    expect(sandbox.control.liveTokens('stablelink')).toEqual([body.retdata['access_token']])
  })

  it('answers a bad secret with HTTP 200, retcode 401 and success false, and issues nothing', async () => {
    const sandbox = createSandbox()
    const res = await slClientCredentials(sandbox, 'wrong-secret')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ retcode: 401, retmsg: 'invalid api key or secret', retdata: null, success: false })
    expect(sandbox.control.liveTokens('stablelink')).toEqual([])
  })

  it('answers missing parameters and an unknown grant with an HTTP 200 envelope carrying retcode 400', async () => {
    const sandbox = createSandbox()
    for (const params of [{}, { grant_type: 'client_credentials', api_key: SL.apiKey }, { grant_type: 'password' }, { grant_type: 'refresh_token' }]) {
      const res = await slToken(sandbox, params)
      expect(res.status).toBe(200)
      const body = (await res.json()) as Record<string, unknown>
      expect(body).toMatchObject({ retcode: 400, success: false, retdata: null })
    }
  })

  it('keeps only one live access token per api key, so a second token makes the first one fail with 401', async () => {
    const sandbox = createSandbox()
    const first = await tokenOf(sandbox, 'stablelink')
    expect((await callResource(sandbox, 'stablelink', first)).status).toBe(200)
    const second = await tokenOf(sandbox, 'stablelink')
    expect(second).not.toBe(first)
    expect((await callResource(sandbox, 'stablelink', first)).status).toBe(401)
    expect((await callResource(sandbox, 'stablelink', second)).status).toBe(200)
    expect(sandbox.control.liveTokens('stablelink')).toEqual([second])
  })

  it('answers the refresh grant unwrapped, returns the same refresh token and revokes the old access token', async () => {
    const { sandbox, advance } = clocked()
    const issued = (await (await slClientCredentials(sandbox)).json()) as {
      retdata: { access_token: string; refresh_token: string }
    }
    advance(600)
    const res = await slToken(sandbox, { grant_type: 'refresh_token', refresh_token: issued.retdata.refresh_token })
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'rt_expires_in', 'token_type'])
    expect(body['refresh_token']).toBe(issued.retdata.refresh_token)
    expect(body['token_type']).toBe('bearer')
    expect(body['expires_in']).toBe(3600)
    expect(body['rt_expires_in']).toBe(7200 - 600)
    expect(body['access_token']).not.toBe(issued.retdata.access_token)
    expect((await callResource(sandbox, 'stablelink', issued.retdata.access_token)).status).toBe(401)
    expect((await callResource(sandbox, 'stablelink', String(body['access_token']))).status).toBe(200)
    expect(sandbox.control.stats('stablelink').byGrant).toEqual({ client_credentials: 1, refresh_token: 1 })
  })

  it('rejects unknown and expired refresh tokens with an HTTP 200 envelope carrying retcode 401', async () => {
    const { sandbox, advance } = clocked()
    sandbox.control.configure('stablelink', { refreshLifetime: 100 })
    const issued = (await (await slClientCredentials(sandbox)).json()) as { retdata: { refresh_token: string; rt_expires_in: number } }
    expect(issued.retdata.rt_expires_in).toBe(100)
    const unknown = await slToken(sandbox, { grant_type: 'refresh_token', refresh_token: 'not-a-token' })
    expect(unknown.status).toBe(200)
    expect(await unknown.json()).toMatchObject({ retcode: 401, success: false })
    advance(100)
    const expired = await slToken(sandbox, { grant_type: 'refresh_token', refresh_token: issued.retdata.refresh_token })
    expect(expired.status).toBe(200)
    expect(await expired.json()).toMatchObject({ retcode: 401, success: false })
  })
})

describe('oauth2 dialect', () => {
  it('issues a token with client_secret_basic and grants the default scope "read write"', async () => {
    const sandbox = createSandbox()
    const res = await oaBasic(sandbox)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = (await res.json()) as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type'])
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'read write' })
    const echo = (await (await callResource(sandbox, 'oauth2', String(body['access_token']))).json()) as ResourceEcho
    expect(echo.client).toBe(OA.clientId)
    expect(echo.scope).toBe('read write')
  })

  it('issues a token with client_secret_post and records the requested scope on it', async () => {
    const sandbox = createSandbox()
    const res = await oaToken(sandbox, {
      grant_type: 'client_credentials',
      client_id: OA.clientId,
      client_secret: OA.clientSecret,
      scope: 'read write admin',
    })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { access_token: string; scope: string }
    expect(body.scope).toBe('read write admin')
    const echo = (await (await callResource(sandbox, 'oauth2', body.access_token)).json()) as ResourceEcho
    expect(echo.scope).toBe('read write admin')
  })

  it('accepts a form-encoded Basic credential as RFC 6749 section 2.3.1 describes', async () => {
    const sandbox = createSandbox()
    sandbox.control.addClient('oauth2', 'id with space', 'p@ss:word')
    const header = `Basic ${btoa(`${encodeURIComponent('id with space')}:${encodeURIComponent('p@ss:word')}`)}`
    const res = await oaToken(sandbox, { grant_type: 'client_credentials' }, { authorization: header })
    expect(res.status).toBe(200)
  })

  it('answers a missing or unsupported grant_type with 400 invalid_request', async () => {
    const sandbox = createSandbox()
    const missing = await oaBasic(sandbox, {})
    expect(missing.status).toBe(400)
    expect(await missing.json()).toMatchObject({ error: 'invalid_request', error_description: expect.any(String) })
    const password = await oaBasic(sandbox, { grant_type: 'password' })
    expect(password.status).toBe(400)
    expect(await password.json()).toMatchObject({ error: 'invalid_request' })
  })

  it('answers an unknown scope with 400 invalid_scope and issues nothing', async () => {
    const sandbox = createSandbox()
    const res = await oaBasic(sandbox, { grant_type: 'client_credentials', scope: 'read superuser' })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error: 'invalid_scope' })
    expect(sandbox.control.liveTokens('oauth2')).toEqual([])
  })

  it('answers bad or missing client credentials with 401 invalid_client and WWW-Authenticate Basic', async () => {
    const sandbox = createSandbox()
    const attempts = [
      oaToken(sandbox, { grant_type: 'client_credentials' }, { authorization: basic(OA.clientId, 'nope') }),
      oaToken(sandbox, { grant_type: 'client_credentials', client_id: OA.clientId, client_secret: 'nope' }),
      oaToken(sandbox, { grant_type: 'client_credentials' }),
      oaToken(sandbox, { grant_type: 'client_credentials' }, { authorization: 'Basic !!!' }),
    ]
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic/)
      const text = await res.text()
      expect(text).not.toContain(OA.clientSecret)
      expect(JSON.parse(text)).toMatchObject({ error: 'invalid_client', error_description: expect.any(String) })
    }
  })

  it('refuses two client authentication methods at once and a body that is not a form', async () => {
    const sandbox = createSandbox()
    const both = await oaToken(
      sandbox,
      { grant_type: 'client_credentials', client_id: OA.clientId, client_secret: OA.clientSecret },
      { authorization: basic(OA.clientId, OA.clientSecret) },
    )
    expect(both.status).toBe(400)
    expect(await both.json()).toMatchObject({ error: 'invalid_request' })
    const asJson = await postJson(sandbox, '/oauth2/o/token/', { grant_type: 'client_credentials' })
    expect(asJson.status).toBe(400)
    expect(await asJson.json()).toMatchObject({ error: 'invalid_request' })
  })
})

describe('stonex dialect', () => {
  it('issues an HS256 JWT whose exp is iat plus the configured lifetime', async () => {
    const { sandbox, clock } = clocked()
    sandbox.control.configure('stonex', { tokenLifetime: 900 })
    const res = await sxToken(sandbox)
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, unknown>
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'client_credentials' })
    const parts = String(body['access_token']).split('.')
    expect(parts).toHaveLength(3)
    expect(parts[2]).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(decodeJwtPart(parts[0])).toEqual({ alg: 'HS256', typ: 'JWT' })
    const payload = decodeJwtPart(parts[1])
    expect(Object.keys(payload).sort()).toEqual(['aud', 'cid', 'exp', 'iat', 'iss', 'jti'])
    expect(payload['iat']).toBe(clock.t / 1000)
    expect(payload['exp']).toBe(clock.t / 1000 + 900)
    expect(payload['cid']).toBe(SX.clientId)
    expect((await callResource(sandbox, 'stonex', String(body['access_token']))).status).toBe(200)
  })

  it('uses a default lifetime of 3600 seconds and leaves expires_in out when told to', async () => {
    const sandbox = createSandbox()
    sandbox.control.configure('stonex', { omitExpiresIn: true })
    const body = (await (await sxToken(sandbox)).json()) as Record<string, unknown>
    expect(body).not.toHaveProperty('expires_in')
    const payload = decodeJwtPart(String(body['access_token']).split('.')[1])
    expect(Number(payload['exp']) - Number(payload['iat'])).toBe(3600)
  })

  it('answers bad credentials with 401 invalid_client and a malformed body with 400', async () => {
    const sandbox = createSandbox()
    const bad = await sxToken(sandbox, 'wrong')
    expect(bad.status).toBe(401)
    const text = await bad.text()
    expect(JSON.parse(text)).toEqual({ error: 'invalid_client', error_description: expect.any(String) })
    expect(text).not.toContain('wrong')
    const malformed = await postJson(sandbox, '/stonex/api/v/authentication', '{not json')
    expect(malformed.status).toBe(400)
    expect(await malformed.json()).toMatchObject({ error: 'invalid_request' })
    expect(sandbox.control.liveTokens('stonex')).toEqual([])
  })
})

describe('abbeycross dialect', () => {
  it('answers camelCase by default and snake_case when configured', async () => {
    const sandbox = createSandbox()
    const camel = (await (await acToken(sandbox)).json()) as Record<string, unknown>
    expect(Object.keys(camel).sort()).toEqual(['accessToken', 'expiresIn', 'tokenType'])
    expect(camel).toMatchObject({ tokenType: 'Bearer', expiresIn: 3600 })
    sandbox.control.configure('abbeycross', { casing: 'snake', expiresInAsString: true })
    const snake = (await (await acToken(sandbox)).json()) as Record<string, unknown>
    expect(Object.keys(snake).sort()).toEqual(['access_token', 'expires_in', 'token_type'])
    expect(snake).toMatchObject({ token_type: 'Bearer', expires_in: '3600' })
    expect(sandbox.control.liveTokens('abbeycross')).toEqual([camel['accessToken'], snake['access_token']])
  })

  it('answers bad credentials with 401 and an error body echoing the sent secret as parameter_value', async () => {
    const sandbox = createSandbox()
    const res = await acToken(sandbox, 'not-the-secret')
    expect(res.status).toBe(401)
    const body = (await res.json()) as Record<string, unknown>
    expect(body).toEqual({
      errorId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      code: 'invalid_credentials',
      text: expect.any(String),
      parameter_name: 'client_secret',
      parameter_value: 'not-the-secret',
    })
  })

  it('answers a malformed body with 400 in the same error shape', async () => {
    const sandbox = createSandbox()
    const notJson = await postJson(sandbox, '/abbeycross/v1/oauth/token', 'client_id=x')
    expect(notJson.status).toBe(400)
    expect(await notJson.json()).toMatchObject({ errorId: expect.any(String), code: 'invalid_request', text: expect.any(String) })
    const missing = await postJson(sandbox, '/abbeycross/v1/oauth/token', { client_id: AC.clientId })
    expect(missing.status).toBe(400)
    expect(await missing.json()).toMatchObject({ parameter_name: 'client_secret', parameter_value: null })
  })

  it('camelCases other dialects too when configured', async () => {
    const sandbox = createSandbox()
    sandbox.control.configure('oauth2', { casing: 'camel' })
    const body = (await (await oaBasic(sandbox)).json()) as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(['accessToken', 'expiresIn', 'scope', 'tokenType'])
  })
})

describe('protected resources', () => {
  it('echo the method, path, query, headers and body of the request and who the token belongs to', async () => {
    const sandbox = createSandbox()
    const token = await tokenOf(sandbox, 'oauth2')
    const res = await sandbox.fetch(`${SANDBOX_ORIGIN}/oauth2/api/payments/?page=2&q=a%20b`, {
      method: 'PUT',
      headers: {
        Authorization: `Bearer ${token}`,
        Cookie: 'session=secret',
        'Content-Type': 'application/json',
        'X-Request-Id': 'req-1',
      },
      body: JSON.stringify({ amount: '10.00', note: 'café' }),
    })
    expect(res.status).toBe(200)
    const echo = (await res.json()) as ResourceEcho
    expect(echo).toMatchObject({
      ok: true,
      provider: 'oauth2',
      method: 'PUT',
      path: '/oauth2/api/payments/',
      query: { page: '2', q: 'a b' },
      contentType: 'application/json',
      body: '{"amount":"10.00","note":"café"}',
      bodyBytes: 33,
      client: OA.clientId,
      scope: 'read write',
    })
    expect(echo.headers['x-request-id']).toBe('req-1')
    expect(echo.headers).not.toHaveProperty('authorization')
    expect(echo.headers).not.toHaveProperty('cookie')
  })

  it('echo an empty body as "" and accept the Bearer scheme in any case', async () => {
    const sandbox = createSandbox()
    const token = await tokenOf(sandbox, 'abbeycross')
    const res = await sandbox.fetch(`${SANDBOX_ORIGIN}/abbeycross/api/v1/rates`, { headers: { authorization: `bEaReR ${token}` } })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ method: 'GET', body: '', bodyBytes: 0, contentType: null, scope: null, client: AC.clientId })
  })

  it('answer 401 invalid_token without a token, with another scheme, an unknown token or a token of another provider', async () => {
    const sandbox = createSandbox()
    const stonexToken = await tokenOf(sandbox, 'stonex')
    const attempts = [
      callResource(sandbox, 'oauth2', undefined),
      sandbox.fetch(`${SANDBOX_ORIGIN}/oauth2/api/echo`, { headers: { authorization: basic(OA.clientId, OA.clientSecret) } }),
      callResource(sandbox, 'oauth2', 'made-up-token'),
      callResource(sandbox, 'oauth2', stonexToken),
    ]
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      expect(await res.json()).toEqual({ error: 'invalid_token' })
    }
    expect(sandbox.control.stats('oauth2')).toMatchObject({ resourceCalls: 4, resource401s: 4 })
  })

  it('answer 401 once a token is revoked, singly or all at once', async () => {
    const sandbox = createSandbox()
    const a = await tokenOf(sandbox, 'oauth2')
    const b = await tokenOf(sandbox, 'oauth2')
    const c = await tokenOf(sandbox, 'oauth2')
    sandbox.control.revoke('oauth2', a)
    expect((await callResource(sandbox, 'oauth2', a)).status).toBe(401)
    expect((await callResource(sandbox, 'oauth2', b)).status).toBe(200)
    expect(sandbox.control.liveTokens('oauth2')).toEqual([b, c])
    sandbox.control.revoke('oauth2')
    expect((await callResource(sandbox, 'oauth2', b)).status).toBe(401)
    expect((await callResource(sandbox, 'oauth2', c)).status).toBe(401)
    expect(sandbox.control.liveTokens('oauth2')).toEqual([])
    expect(sandbox.control.stats('oauth2')).toMatchObject({ resourceCalls: 4, resource401s: 3 })
  })

  it('answer 401 once a token expires by the injected clock', async () => {
    const { sandbox, advance } = clocked({ tokenLifetime: 60 })
    const token = await tokenOf(sandbox, 'abbeycross')
    advance(59)
    expect((await callResource(sandbox, 'abbeycross', token)).status).toBe(200)
    advance(1)
    expect((await callResource(sandbox, 'abbeycross', token)).status).toBe(401)
    expect(sandbox.control.liveTokens('abbeycross')).toEqual([])
  })

  it('expire stonex tokens at the JWT exp', async () => {
    const { sandbox, advance } = clocked()
    const token = await tokenOf(sandbox, 'stonex')
    advance(3599)
    expect((await callResource(sandbox, 'stonex', token)).status).toBe(200)
    advance(1)
    expect((await callResource(sandbox, 'stonex', token)).status).toBe(401)
  })
})

describe('routing', () => {
  it('answers /healthz, 404 for unknown paths, 405 for a GET on a token route, and accepts bare paths and any origin', async () => {
    const sandbox = createSandbox()
    expect(await (await sandbox.fetch('/healthz')).json()).toEqual({ ok: true })
    expect((await sandbox.fetch('https://elsewhere.example:8443/healthz')).status).toBe(200)
    for (const path of ['/nope', '/oauth2/o/other', '/stablelink/api', '/unknown/api/x']) {
      const res = await sandbox.fetch(path)
      expect(res.status).toBe(404)
      expect(await res.json()).toMatchObject({ error: 'not_found' })
    }
    const get = await sandbox.fetch('/oauth2/o/token/')
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toBe('POST')
  })

  it('does not share state between two sandboxes', async () => {
    const one = createSandbox()
    const two = createSandbox()
    const token = await tokenOf(one, 'oauth2')
    one.control.inject('oauth2', { fault: '500' })
    expect((await callResource(two, 'oauth2', token)).status).toBe(401)
    expect((await oaBasic(two)).status).toBe(200)
    expect(one.control.stats().tokenCalls).toBe(1)
    expect(two.control.stats().tokenCalls).toBe(1)
  })
})

interface FaultCase {
  fault: Fault
  provider: SandboxProvider
  retryAfter?: number
  check(res: Response): Promise<void>
}

const FAULT_CASES: FaultCase[] = [
  {
    fault: '500',
    provider: 'oauth2',
    check: async (res) => {
      expect(res.status).toBe(500)
      expect(await res.json()).toMatchObject({ error: 'server_error' })
    },
  },
  {
    fault: '502',
    provider: 'stonex',
    check: async (res) => {
      expect(res.status).toBe(502)
      expect(await res.text()).toContain('502 Bad Gateway')
    },
  },
  {
    fault: '503',
    provider: 'stablelink',
    retryAfter: 7,
    check: async (res) => {
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('7')
      expect(await res.json()).toMatchObject({ error: 'temporarily_unavailable' })
    },
  },
  {
    fault: '409',
    provider: 'abbeycross',
    check: async (res) => {
      expect(res.status).toBe(409)
      expect(await res.json()).toMatchObject({ errorId: expect.any(String), code: 'conflict', text: expect.any(String) })
    },
  },
  {
    fault: '429',
    provider: 'oauth2',
    retryAfter: 3,
    check: async (res) => {
      expect(res.status).toBe(429)
      expect(res.headers.get('retry-after')).toBe('3')
    },
  },
  {
    fault: 'malformed',
    provider: 'stonex',
    check: async (res) => {
      expect(res.status).toBe(200)
      const body = (await res.json()) as Record<string, unknown>
      expect(body).not.toHaveProperty('access_token')
      expect(body).toEqual({ token_type: 'bearer', expires_in: 'abc' })
    },
  },
  {
    fault: 'html',
    provider: 'abbeycross',
    check: async (res) => {
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(await res.text()).toMatch(/^<!DOCTYPE html>/)
    },
  },
  {
    fault: 'truncated',
    provider: 'stablelink',
    check: async (res) => {
      expect(res.status).toBe(200)
      const text = await res.text()
      expect(text.startsWith('{"retcode":200')).toBe(true)
      expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError)
    },
  },
  {
    fault: 'envelope_error',
    provider: 'oauth2',
    check: async (res) => {
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ retcode: 500, retmsg: 'system busy', success: false })
    },
  },
  {
    fault: 'non_working_hours',
    provider: 'abbeycross',
    check: async (res) => {
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('3600')
      expect(await res.json()).toEqual({
        errorId: expect.any(String),
        code: 'non_working_hours',
        text: 'The server is currently unavailable due to non-working hours',
      })
    },
  },
]

function tokenCall(sandbox: Sandbox, provider: SandboxProvider, init: RequestInit = {}): Promise<Response> {
  switch (provider) {
    case 'stablelink':
      return sandbox.fetch(
        `${SANDBOX_ORIGIN}/stablelink/user/auth/oauth2/token?grant_type=client_credentials&api_key=${SL.apiKey}&api_secret=${SL.apiSecret}`,
        { method: 'POST', ...init },
      )
    case 'oauth2':
      return sandbox.fetch(`${SANDBOX_ORIGIN}/oauth2/o/token/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(OA.clientId, OA.clientSecret) },
        body: 'grant_type=client_credentials',
        ...init,
      })
    case 'stonex':
      return sandbox.fetch(`${SANDBOX_ORIGIN}/stonex/api/v/authentication`, {
        method: 'POST',
        body: JSON.stringify({ client_id: SX.clientId, client_secret: SX.clientSecret }),
        ...init,
      })
    case 'abbeycross':
      return sandbox.fetch(`${SANDBOX_ORIGIN}/abbeycross/v1/oauth/token`, {
        method: 'POST',
        body: JSON.stringify({ client_id: AC.clientId, client_secret: AC.clientSecret }),
        ...init,
      })
  }
}

async function expectNormalToken(res: Response): Promise<void> {
  expect(res.status).toBe(200)
  const text = await res.text()
  expect(text).toMatch(/"(access_token|accessToken)":"[^"]{24,}"/)
}

describe('fault injection', () => {
  it.each(FAULT_CASES)('answers the $fault fault for the next 2 $provider token calls, issues nothing, then recovers', async (c) => {
    const sandbox = createSandbox()
    sandbox.control.inject(c.provider, { fault: c.fault, count: 2, ...(c.retryAfter !== undefined ? { retryAfter: c.retryAfter } : {}) })
    await c.check(await tokenCall(sandbox, c.provider))
    await c.check(await tokenCall(sandbox, c.provider))
    expect(sandbox.control.liveTokens(c.provider)).toEqual([])
    await expectNormalToken(await tokenCall(sandbox, c.provider))
    expect(sandbox.control.liveTokens(c.provider)).toHaveLength(1)
    expect(sandbox.control.stats(c.provider).tokenCalls).toBe(3)
  })

  it('rejects with TypeError("fetch failed") for the network fault, then recovers', async () => {
    const sandbox = createSandbox()
    sandbox.control.inject('oauth2', { fault: 'network', count: 2 })
    await expect(tokenCall(sandbox, 'oauth2')).rejects.toThrow(new TypeError('fetch failed'))
    await expect(tokenCall(sandbox, 'oauth2')).rejects.toBeInstanceOf(TypeError)
    await expectNormalToken(await tokenCall(sandbox, 'oauth2'))
    expect(sandbox.control.stats('oauth2').tokenCalls).toBe(3)
  })

  it('delays the slow fault by delayMs and then answers normally', async () => {
    const sandbox = createSandbox()
    sandbox.control.inject('stonex', { fault: 'slow', count: 2, delayMs: 80 })
    for (let i = 0; i < 2; i++) {
      const started = performance.now()
      await expectNormalToken(await tokenCall(sandbox, 'stonex'))
      expect(performance.now() - started).toBeGreaterThanOrEqual(75)
    }
    const started = performance.now()
    await expectNormalToken(await tokenCall(sandbox, 'stonex'))
    expect(performance.now() - started).toBeLessThan(75)
  })

  it('waits 2000 ms by default for the slow fault and gives up when the request is aborted', async () => {
    const sandbox = createSandbox()
    sandbox.control.inject('abbeycross', { fault: 'slow' })
    const controller = new AbortController()
    let settled = false
    const call = tokenCall(sandbox, 'abbeycross', { signal: controller.signal }).finally(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(settled).toBe(false)
    controller.abort(new Error('gave up'))
    await expect(call).rejects.toThrow('gave up')
    expect(sandbox.control.liveTokens('abbeycross')).toEqual([])
  })

  it('sends Retry-After on 503 and 429 only when retryAfter is given', async () => {
    const sandbox = createSandbox()
    sandbox.control.inject('oauth2', { fault: '503' })
    sandbox.control.inject('oauth2', { fault: '429' })
    sandbox.control.inject('oauth2', { fault: 'non_working_hours', retryAfter: 60 })
    const first = await tokenCall(sandbox, 'oauth2')
    expect(first.status).toBe(503)
    expect(first.headers.has('retry-after')).toBe(false)
    const second = await tokenCall(sandbox, 'oauth2')
    expect(second.status).toBe(429)
    expect(second.headers.has('retry-after')).toBe(false)
    const third = await tokenCall(sandbox, 'oauth2')
    expect(third.headers.get('retry-after')).toBe('60')
  })

  it('applies queued faults in order, to their own provider only', async () => {
    const sandbox = createSandbox()
    sandbox.control.inject('stablelink', { fault: '500' })
    sandbox.control.inject('stablelink', { fault: 'envelope_error', count: 2 })
    await expectNormalToken(await tokenCall(sandbox, 'oauth2'))
    expect((await tokenCall(sandbox, 'stablelink')).status).toBe(500)
    expect(await (await tokenCall(sandbox, 'stablelink')).json()).toMatchObject({ retcode: 500, success: false })
    expect(await (await tokenCall(sandbox, 'stablelink')).json()).toMatchObject({ retcode: 500, success: false })
    await expectNormalToken(await tokenCall(sandbox, 'stablelink'))
  })

  it('applies faults to token calls only, never to resources', async () => {
    const sandbox = createSandbox()
    const token = await tokenOf(sandbox, 'stonex')
    sandbox.control.inject('stonex', { fault: '500' })
    expect((await callResource(sandbox, 'stonex', token)).status).toBe(200)
    expect((await tokenCall(sandbox, 'stonex')).status).toBe(500)
  })

  it('rejects unknown faults and bad counts', () => {
    const sandbox = createSandbox()
    expect(() => sandbox.control.inject('oauth2', { fault: 'teapot' as Fault })).toThrow(TypeError)
    expect(() => sandbox.control.inject('oauth2', { fault: '500', count: 0 })).toThrow(TypeError)
    expect(() => sandbox.control.inject('nobody' as SandboxProvider, { fault: '500' })).toThrow(TypeError)
  })
})

describe('counters', () => {
  it('count every token call, including failed and faulted ones, by grant', async () => {
    const sandbox = createSandbox()
    const issued = (await (await slClientCredentials(sandbox)).json()) as { retdata: { refresh_token: string } }
    await slClientCredentials(sandbox, 'bad')
    await slToken(sandbox, { grant_type: 'refresh_token', refresh_token: issued.retdata.refresh_token })
    sandbox.control.inject('stablelink', { fault: '500' })
    await slToken(sandbox, { grant_type: 'refresh_token', refresh_token: issued.retdata.refresh_token })
    await oaBasic(sandbox)
    await oaBasic(sandbox, { grant_type: 'client_credentials', scope: 'bogus' })
    await sxToken(sandbox, 'bad')
    await acToken(sandbox)
    expect(sandbox.control.stats('stablelink')).toEqual({
      tokenCalls: 4,
      byGrant: { client_credentials: 2, refresh_token: 2 },
      resourceCalls: 0,
      resource401s: 0,
      maxConcurrentTokenCalls: 1,
    })
    expect(sandbox.control.stats('oauth2')).toMatchObject({ tokenCalls: 2, byGrant: { client_credentials: 2 } })
    expect(sandbox.control.stats()).toMatchObject({ tokenCalls: 8, byGrant: { client_credentials: 6, refresh_token: 2 } })
  })

  it('record the high-water mark of concurrent token calls, delays included', async () => {
    const sandbox = createSandbox()
    sandbox.control.configure('oauth2', { tokenLatencyMs: 30 })
    sandbox.control.configure('stonex', { tokenLatencyMs: 30 })
    const started = performance.now()
    const answers = await Promise.all([
      ...Array.from({ length: 5 }, () => tokenCall(sandbox, 'oauth2')),
      ...Array.from({ length: 2 }, () => tokenCall(sandbox, 'stonex')),
    ])
    expect(performance.now() - started).toBeGreaterThanOrEqual(25)
    for (const res of answers) expect(res.status).toBe(200)
    await tokenCall(sandbox, 'oauth2')
    expect(sandbox.control.stats('oauth2').maxConcurrentTokenCalls).toBe(5)
    expect(sandbox.control.stats('stonex').maxConcurrentTokenCalls).toBe(2)
    expect(sandbox.control.stats().maxConcurrentTokenCalls).toBe(7)
    expect(sandbox.control.stats('stablelink').maxConcurrentTokenCalls).toBe(0)
  })

  it('count sequential calls as a concurrency of one and the slow fault as in progress', async () => {
    const sandbox = createSandbox()
    sandbox.control.inject('abbeycross', { fault: 'slow', delayMs: 30 })
    const slow = tokenCall(sandbox, 'abbeycross')
    await tokenCall(sandbox, 'abbeycross')
    await slow
    expect(sandbox.control.stats('abbeycross').maxConcurrentTokenCalls).toBe(2)
    const other = createSandbox()
    await tokenCall(other, 'abbeycross')
    await tokenCall(other, 'abbeycross')
    expect(other.control.stats('abbeycross').maxConcurrentTokenCalls).toBe(1)
  })

  it('go back to zero on reset, with tokens, faults and configuration forgotten and added clients kept', async () => {
    const sandbox = createSandbox()
    sandbox.control.addClient('abbeycross', 'extra', 'extra-secret')
    const token = await tokenOf(sandbox, 'abbeycross')
    sandbox.control.configure('abbeycross', { casing: 'snake', tokenLifetime: 5 })
    sandbox.control.inject('abbeycross', { fault: '500', count: 5 })
    sandbox.control.reset()
    expect(sandbox.control.stats()).toEqual({ tokenCalls: 0, byGrant: {}, resourceCalls: 0, resource401s: 0, maxConcurrentTokenCalls: 0 })
    expect((await callResource(sandbox, 'abbeycross', token)).status).toBe(401)
    const body = (await (await acToken(sandbox)).json()) as Record<string, unknown>
    expect(body).toMatchObject({ tokenType: 'Bearer', expiresIn: 3600 })
    const extra = await postJson(sandbox, '/abbeycross/v1/oauth/token', { client_id: 'extra', client_secret: 'extra-secret' })
    expect(extra.status).toBe(200)
  })
})

describe('control API', () => {
  it('validates configuration and adds clients', async () => {
    const sandbox = createSandbox()
    expect(() => sandbox.control.configure('oauth2', { tokenLifetime: -1 })).toThrow(TypeError)
    expect(() => sandbox.control.configure('oauth2', { casing: 'kebab' as 'snake' })).toThrow(TypeError)
    sandbox.control.addClient('stablelink', 'key2', 'secret2')
    const res = await slToken(sandbox, { grant_type: 'client_credentials', api_key: 'key2', api_secret: 'secret2' })
    expect(await res.json()).toMatchObject({ retcode: 200, success: true })
    // One live token per api key, not per provider.
    await slClientCredentials(sandbox)
    expect(sandbox.control.liveTokens('stablelink')).toHaveLength(2)
  })

  it('works over HTTP with the same semantics', async () => {
    const sandbox = createSandbox()
    const control = (path: string, body?: unknown): Promise<Response> =>
      body === undefined ? sandbox.fetch(`/_control/${path}`) : postJson(sandbox, `/_control/${path}`, body)

    expect((await control('inject', { provider: 'oauth2', fault: '503', count: 2, retryAfter: 4 })).status).toBe(200)
    expect((await tokenCall(sandbox, 'oauth2')).headers.get('retry-after')).toBe('4')
    expect((await tokenCall(sandbox, 'oauth2')).status).toBe(503)
    const token = await tokenOf(sandbox, 'oauth2')

    expect(await (await control('tokens?provider=oauth2')).json()).toEqual({ provider: 'oauth2', tokens: [token] })
    expect(await (await control('stats?provider=oauth2')).json()).toMatchObject({ tokenCalls: 3, byGrant: { client_credentials: 3 } })
    expect(await (await control('stats')).json()).toMatchObject({ tokenCalls: 3 })

    expect(await (await control('revoke', { provider: 'oauth2', accessToken: token })).json()).toEqual({ ok: true, revoked: 1 })
    expect((await callResource(sandbox, 'oauth2', token)).status).toBe(401)

    expect((await control('configure', { provider: 'oauth2', expiresInAsString: true, tokenLifetime: 10 })).status).toBe(200)
    expect(await (await oaBasic(sandbox)).json()).toMatchObject({ expires_in: '10' })

    expect((await control('clients', { provider: 'stonex', id: 'sx2', secret: 's2' })).status).toBe(200)
    expect((await postJson(sandbox, '/stonex/api/v/authentication', { client_id: 'sx2', client_secret: 's2' })).status).toBe(200)

    expect(await (await control('reset', {})).json()).toEqual({ ok: true })
    expect(sandbox.control.stats().tokenCalls).toBe(0)
  })

  it('answers bad control input with 400 JSON, a wrong method with 405 and an unknown action with 404', async () => {
    const sandbox = createSandbox()
    const bad = [
      postJson(sandbox, '/_control/inject', { provider: 'oauth2', fault: 'teapot' }),
      postJson(sandbox, '/_control/inject', { provider: 'nobody', fault: '500' }),
      postJson(sandbox, '/_control/configure', { provider: 'oauth2', tokenLifetime: 'long' }),
      postJson(sandbox, '/_control/configure', { provider: 'oauth2', colour: 'blue' }),
      postJson(sandbox, '/_control/revoke', '{oops'),
      sandbox.fetch('/_control/tokens'),
      sandbox.fetch('/_control/stats?provider=nobody'),
    ]
    for (const res of await Promise.all(bad)) {
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'bad_request', error_description: expect.any(String) })
    }
    expect((await sandbox.fetch('/_control/reset')).status).toBe(405)
    expect((await postJson(sandbox, '/_control/stats', {})).status).toBe(405)
    expect((await sandbox.fetch('/_control/nothing')).status).toBe(404)
    expect(sandbox.control.stats().tokenCalls).toBe(0)
  })
})

describe('serve.ts', () => {
  it('starts on port 0, answers /healthz and echoes a streamed body over real loopback, then closes', async () => {
    const server = await startSandboxServer({ port: 0 })
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const health = await fetch(`${server.url}/healthz`)
      expect(health.status).toBe(200)
      expect(await health.json()).toEqual({ ok: true })

      const tokenRes = await fetch(`${server.url}/oauth2/o/token/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(OA.clientId, OA.clientSecret) },
        body: 'grant_type=client_credentials&scope=admin',
      })
      const { access_token: token } = (await tokenRes.json()) as { access_token: string }
      const echo = await fetch(`${server.url}/oauth2/api/payments?x=1`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
        body: 'hello loopback',
      })
      expect(await echo.json()).toMatchObject({ method: 'POST', query: { x: '1' }, body: 'hello loopback', bodyBytes: 14, scope: 'admin' })
      expect(server.sandbox.control.stats('oauth2')).toMatchObject({ tokenCalls: 1, resourceCalls: 1 })

      server.sandbox.control.inject('oauth2', { fault: 'network' })
      await expect(fetch(`${server.url}/oauth2/o/token/`, { method: 'POST' })).rejects.toThrow('fetch failed')
    } finally {
      await server.close()
    }
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow()
  })

  it('serves a given sandbox instance', async () => {
    const sandbox = createSandbox()
    const server = await startSandboxServer({ port: 0, sandbox })
    try {
      expect(server.sandbox).toBe(sandbox)
      await fetch(`${server.url}/abbeycross/v1/oauth/token`, { method: 'POST', body: '{}' })
      expect(sandbox.control.stats('abbeycross').tokenCalls).toBe(1)
    } finally {
      await server.close()
    }
  })

  it('runs as a CLI that prints its address and exits cleanly on SIGTERM', async () => {
    const script = fileURLToPath(new URL('./serve.ts', import.meta.url))
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, SANDBOX_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = ''
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          if (out.includes('\n')) resolve(out.trim())
        })
        child.once('exit', (code) => reject(new Error(`exited early with ${code}`)))
      })
      const match = /^sandbox listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line)
      expect(match).not.toBeNull()
      expect((await fetch(`${match?.[1]}/healthz`)).status).toBe(200)
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  }, 15_000)
  it('as a CLI on a port that is taken, fails at once naming the port and SANDBOX_PORT', async () => {
    const holder = await startSandboxServer({ port: 0 })
    const port = new URL(holder.url).port
    try {
      const script = fileURLToPath(new URL('./serve.ts', import.meta.url))
      const child = spawn(process.execPath, [script], { env: { ...process.env, SANDBOX_PORT: port }, stdio: ['ignore', 'pipe', 'pipe'] })
      let err = ''
      child.stderr.on('data', (chunk: Buffer) => (err += chunk))
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
      expect(code).toBe(1)
      expect(err).toContain(`port ${port} is already in use`)
      expect(err).toContain('SANDBOX_PORT')
    } finally {
      await holder.close()
    }
  }, 15_000)
})

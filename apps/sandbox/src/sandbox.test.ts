import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { type FakeClock, fakeClock } from '@payment-auth/test-support/clock'
import { guardPrivateJwk } from '@payment-auth/test-support/guard'
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
const PP = SANDBOX_CREDENTIALS.paypal
const CK = SANDBOX_CREDENTIALS.checkout
const JC = SANDBOX_CREDENTIALS.oauth2Jwt
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

function postForm(sandbox: Sandbox, url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return sandbox.fetch(url.startsWith('/') ? `${SANDBOX_ORIGIN}${url}` : url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  })
}

function ppToken(
  sandbox: Sandbox,
  form: Record<string, string> = { grant_type: 'client_credentials' },
  headers: Record<string, string> = { authorization: basic(PP.clientId, PP.clientSecret) },
): Promise<Response> {
  return postForm(sandbox, '/paypal/v1/oauth2/token', form, headers)
}

function ckToken(
  sandbox: Sandbox,
  form: Record<string, string> = { grant_type: 'client_credentials' },
  headers: Record<string, string> = { authorization: basic(CK.clientId, CK.clientSecret) },
  origin = SANDBOX_ORIGIN,
): Promise<Response> {
  return postForm(sandbox, `${origin}/checkout-access/connect/token`, form, headers)
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
    case 'paypal':
      return ((await (await ppToken(sandbox)).json()) as { access_token: string }).access_token
    case 'checkout':
      return ((await (await ckToken(sandbox)).json()) as { access_token: string }).access_token
  }
}

/** A protected resource of each provider: `/<provider>/api/...`, PayPal's `/v<n>/...`, Checkout's other prefix. */
const RESOURCE_PATHS: Record<SandboxProvider, string> = {
  stablelink: '/stablelink/api/echo',
  oauth2: '/oauth2/api/echo',
  stonex: '/stonex/api/echo',
  abbeycross: '/abbeycross/api/echo',
  paypal: '/paypal/v2/checkout/orders',
  checkout: '/checkout-api/payments',
}

function callResource(sandbox: Sandbox, provider: SandboxProvider, token: string | undefined, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`)
  return sandbox.fetch(`${SANDBOX_ORIGIN}${RESOURCE_PATHS[provider]}`, { ...init, headers })
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
    for (const params of [
      {},
      { grant_type: 'client_credentials', api_key: SL.apiKey },
      { grant_type: 'password' },
      { grant_type: 'refresh_token' },
    ]) {
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

/** A token answer: 200 and never cached; its body as text. */
async function tokenAnswerText(res: Response): Promise<string> {
  expect(res.status).toBe(200)
  expect(res.headers.get('cache-control')).toBe('no-store')
  return res.text()
}

describe('oauth2 dialect', () => {
  it('issues a token with client_secret_basic and grants the default scope "read write"', async () => {
    const sandbox = createSandbox()
    const body = JSON.parse(await tokenAnswerText(await oaBasic(sandbox))) as Record<string, unknown>
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

describe('paypal dialect', () => {
  it('issues a Bearer token with app_id and nonce that lives 32400 s, and opens the API on the same base', async () => {
    const sandbox = createSandbox()
    const text = await tokenAnswerText(await ppToken(sandbox))
    expect(text).not.toContain(PP.clientSecret)
    const body = JSON.parse(text) as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(['access_token', 'app_id', 'expires_in', 'nonce', 'scope', 'token_type'])
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 32400, app_id: 'APP-80W284485P519543T' })
    expect(String(body['access_token'])).toMatch(/^A21AA[A-Za-z0-9_-]{40,}$/)
    expect(String(body['nonce'])).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ[A-Za-z0-9_-]+$/)
    expect(String(body['scope'])).toContain('https://uri.paypal.com/services/payments/payment')
    const echo = (await (
      await callResource(sandbox, 'paypal', String(body['access_token']), { method: 'POST', body: '{"intent":"CAPTURE"}' })
    ).json()) as ResourceEcho
    expect(echo).toMatchObject({
      provider: 'paypal',
      path: '/paypal/v2/checkout/orders',
      client: PP.clientId,
      body: '{"intent":"CAPTURE"}',
    })
    const v1 = await sandbox.fetch('/paypal/v1/payments/payment', { headers: { authorization: `Bearer ${String(body['access_token'])}` } })
    expect(v1.status).toBe(200)
    expect(sandbox.control.stats('paypal')).toMatchObject({ tokenCalls: 1, byGrant: { client_credentials: 1 }, resourceCalls: 2 })
  })

  it('takes its lifetime from createSandbox, configure and reset like the others', async () => {
    const short = createSandbox({ tokenLifetime: 600 })
    expect(await (await ppToken(short)).json()).toMatchObject({ expires_in: 600 })
    const sandbox = createSandbox()
    sandbox.control.configure('paypal', { tokenLifetime: 28800, expiresInAsString: true })
    expect(await (await ppToken(sandbox)).json()).toMatchObject({ expires_in: '28800' })
    sandbox.control.reset()
    expect(await (await ppToken(sandbox)).json()).toMatchObject({ expires_in: 32400 })
    expect(await (await oaBasic(sandbox)).json()).toMatchObject({ expires_in: 3600 })
  })

  it('answers bad, missing or body credentials with 401 invalid_client, and a bad grant with 400, issuing nothing', async () => {
    const sandbox = createSandbox()
    const refused = [
      ppToken(sandbox, { grant_type: 'client_credentials' }, { authorization: basic(PP.clientId, 'wrong') }),
      ppToken(sandbox, { grant_type: 'client_credentials' }, {}),
      ppToken(sandbox, { grant_type: 'client_credentials', client_id: PP.clientId, client_secret: PP.clientSecret }, {}),
    ]
    for (const res of await Promise.all(refused)) {
      expect(res.status).toBe(401)
      const text = await res.text()
      expect(text).not.toContain(PP.clientSecret)
      expect(JSON.parse(text)).toEqual({ error: 'invalid_client', error_description: 'Client Authentication failed' })
    }
    const missing = await ppToken(sandbox, {})
    expect(missing.status).toBe(400)
    expect(await missing.json()).toEqual({ error: 'unsupported_grant_type', error_description: 'Grant Type is NULL' })
    const password = await ppToken(sandbox, { grant_type: 'password' })
    expect(password.status).toBe(400)
    expect(await password.json()).toMatchObject({ error: 'unsupported_grant_type' })
    const asJson = await postJson(sandbox, '/paypal/v1/oauth2/token', { grant_type: 'client_credentials' })
    expect(asJson.status).toBe(400)
    expect(await asJson.json()).toMatchObject({ error: 'invalid_request' })
    expect(sandbox.control.liveTokens('paypal')).toEqual([])
    expect(sandbox.control.stats('paypal')).toMatchObject({ tokenCalls: 6, byGrant: { client_credentials: 3, missing: 2, password: 1 } })
  })
})

describe('checkout dialect', () => {
  it('issues on the access prefix a token the API prefix accepts, whatever the two origins', async () => {
    const sandbox = createSandbox()
    const res = await ckToken(sandbox, undefined, undefined, 'http://access.checkout.test')
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = (await res.json()) as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type'])
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'gateway vault payments' })
    const api = await sandbox.fetch('http://api.checkout.test/checkout-api/payments', {
      method: 'POST',
      headers: { authorization: `Bearer ${String(body['access_token'])}`, 'content-type': 'application/json' },
      body: '{"amount":100}',
    })
    expect(api.status).toBe(200)
    expect(await api.json()).toMatchObject({
      provider: 'checkout',
      path: '/checkout-api/payments',
      client: CK.clientId,
      scope: 'gateway vault payments',
    })
    expect((await callResource(sandbox, 'checkout', 'not-a-token')).status).toBe(401)
    expect(sandbox.control.stats('checkout')).toMatchObject({ tokenCalls: 1, resourceCalls: 2, resource401s: 1 })
  })

  it('grants the requested scopes and answers an unknown one with 400 invalid_scope', async () => {
    const sandbox = createSandbox()
    const gateway = await ckToken(sandbox, { grant_type: 'client_credentials', scope: 'gateway vault gateway' })
    expect(await gateway.json()).toMatchObject({ scope: 'gateway vault' })
    const unknown = await ckToken(sandbox, { grant_type: 'client_credentials', scope: 'gateway admin' })
    expect(unknown.status).toBe(400)
    expect(await unknown.json()).toEqual({ error: 'invalid_scope', error_description: 'unknown scope: admin' })
    expect(sandbox.control.liveTokens('checkout')).toHaveLength(1)
  })

  it('answers bad credentials with 401 invalid_client, and keeps the token and API prefixes apart', async () => {
    const sandbox = createSandbox()
    const bad = await ckToken(sandbox, undefined, { authorization: basic(CK.clientId, 'wrong') })
    expect(bad.status).toBe(401)
    expect(bad.headers.get('www-authenticate')).toMatch(/^Basic/)
    expect(await bad.json()).toMatchObject({ error: 'invalid_client', error_description: expect.any(String) })
    const none = await ckToken(sandbox, undefined, {})
    expect(none.status).toBe(401)
    const grant = await ckToken(sandbox, { grant_type: 'password' })
    expect(await grant.json()).toMatchObject({ error: 'unsupported_grant_type' })
    for (const path of ['/checkout/connect/token', '/checkout-access/payments', '/checkout-api/', '/checkout-access/']) {
      expect((await sandbox.fetch(path, { method: 'POST' })).status).toBe(404)
    }
    expect(sandbox.control.stats('checkout').tokenCalls).toBe(3)
  })
})

const TOKEN_URL = `${SANDBOX_ORIGIN}/oauth2/o/token/`

interface AssertionOptions {
  alg?: string
  kid?: string
  iss?: string
  sub?: string
  aud?: string
  iat?: number
  lifetime?: number
  jti?: string
}

/** A client assertion (RFC 7523) signed by `key`, for the demo JWT client unless told otherwise. */
async function signAssertion(key: CryptoKey | Uint8Array, o: AssertionOptions = {}): Promise<string> {
  const iat = o.iat ?? Math.floor(Date.now() / 1000)
  const jwt = new SignJWT({ jti: o.jti ?? crypto.randomUUID() })
    .setProtectedHeader({ alg: o.alg ?? 'ES256', typ: 'JWT', ...(o.kid !== undefined ? { kid: o.kid } : {}) })
    .setIssuer(o.iss ?? JC.clientId)
    .setSubject(o.sub ?? JC.clientId)
    .setAudience(o.aud ?? TOKEN_URL)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (o.lifetime ?? 60))
  return jwt.sign(key)
}

const demoKey = (): Promise<CryptoKey | Uint8Array> => importJWK({ ...JC.privateJwk }, 'ES256')

function jwtToken(
  sandbox: Sandbox,
  assertion: string,
  extra: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<Response> {
  return oaToken(
    sandbox,
    {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      ...extra,
    },
    headers,
  )
}

async function expectInvalidClient(res: Response, assertion: string, description: RegExp): Promise<void> {
  expect(res.status).toBe(401)
  const text = await res.text()
  expect(text).not.toContain(assertion.split('.')[2])
  expect(JSON.parse(text)).toEqual({ error: 'invalid_client', error_description: expect.stringMatching(description) })
}

describe('oauth2 private_key_jwt (RFC 7523)', () => {
  it('issues a token to the demo JWT client for an ES256 assertion, with or without client_id', async () => {
    const sandbox = createSandbox()
    const key = await demoKey()
    const withId = await jwtToken(sandbox, await signAssertion(key, { kid: JC.keyId }), { client_id: JC.clientId })
    expect(withId.status).toBe(200)
    const body = (await withId.json()) as { access_token: string; scope: string }
    expect(body.scope).toBe('read write')
    const echo = (await (await callResource(sandbox, 'oauth2', body.access_token)).json()) as ResourceEcho
    expect(echo.client).toBe(JC.clientId)
    expect((await jwtToken(sandbox, await signAssertion(key), { scope: 'admin' })).status).toBe(200)
    expect(sandbox.control.stats('oauth2')).toMatchObject({ tokenCalls: 2, byGrant: { client_credentials: 2 } })
  })

  it.each(['RS256', 'PS256', 'ES256', 'EdDSA'])('accepts a %s assertion signed by a key registered over the control API', async (alg) => {
    const sandbox = createSandbox()
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
    const jwk = { ...(await exportJWK(publicKey)), kid: `k-${alg}` }
    sandbox.control.addClientKey('oauth2', 'jwt_client_2', jwk)
    const assertion = await signAssertion(privateKey, { alg, kid: `k-${alg}`, iss: 'jwt_client_2', sub: 'jwt_client_2' })
    const res = await jwtToken(sandbox, assertion)
    expect(res.status).toBe(200)
    const token = ((await res.json()) as { access_token: string }).access_token
    expect(((await (await callResource(sandbox, 'oauth2', token)).json()) as ResourceEcho).client).toBe('jwt_client_2')
  })

  it('answers an assertion signed by another key with 401 invalid_client, never echoing it', async () => {
    const sandbox = createSandbox()
    const { privateKey } = await generateKeyPair('ES256')
    const assertion = await signAssertion(privateKey)
    await expectInvalidClient(await jwtToken(sandbox, assertion), assertion, /signature verification failed/)
    const rsa = await generateKeyPair('RS256')
    const wrongType = await signAssertion(rsa.privateKey, { alg: 'RS256' })
    await expectInvalidClient(await jwtToken(sandbox, wrongType), wrongType, /no registered key/)
    const unknown = await signAssertion(privateKey, { iss: 'nobody', sub: 'nobody' })
    await expectInvalidClient(await jwtToken(sandbox, unknown), unknown, /no key is registered/)
    expect(sandbox.control.liveTokens('oauth2')).toEqual([])
  })

  it('checks iss = sub = client_id, aud = the token URL, the 60 s lifetime, expiry and a fresh jti', async () => {
    const { sandbox, clock, advance } = clocked()
    const key = await demoKey()
    const iat = clock.t / 1000
    const cases: Array<[AssertionOptions, Record<string, string>, RegExp]> = [
      [{ sub: 'someone_else' }, {}, /no key is registered|sub/],
      [{ iss: 'someone_else' }, {}, /iss/],
      [{}, { client_id: 'oa_demo_client' }, /no key is registered/],
      [{ aud: `${SANDBOX_ORIGIN}/elsewhere/token` }, {}, /aud/],
      [{ lifetime: 61 }, {}, /60 s/],
      [{ iat: iat - 120, lifetime: 60 }, {}, /expired|iat/],
    ]
    for (const [options, extra, description] of cases) {
      const assertion = await signAssertion(key, options)
      await expectInvalidClient(await jwtToken(sandbox, assertion, extra), assertion, description)
    }
    const once = await signAssertion(key, { jti: 'jti-1', iat })
    expect((await jwtToken(sandbox, once)).status).toBe(200)
    await expectInvalidClient(await jwtToken(sandbox, once), once, /jti already used/)
    const later = await signAssertion(key, { jti: 'jti-2', iat })
    advance(60 + 5) // past exp by the 5 s of clock skew the sandbox tolerates
    await expectInvalidClient(await jwtToken(sandbox, later), later, /expired/)
    expect(sandbox.control.liveTokens('oauth2')).toHaveLength(1)
  })

  it('accepts the token URL without its trailing slash as aud, and any origin the client called', async () => {
    const sandbox = createSandbox()
    const key = await demoKey()
    expect((await jwtToken(sandbox, await signAssertion(key, { aud: `${SANDBOX_ORIGIN}/oauth2/o/token` }))).status).toBe(200)
    const elsewhere = 'https://as.example:8443/oauth2/o/token/'
    const res = await postForm(sandbox, elsewhere, {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await signAssertion(key, { aud: elsewhere }),
    })
    expect(res.status).toBe(200)
  })

  it('refuses an assertion next to another method, a wrong assertion type and a missing assertion with 400', async () => {
    const sandbox = createSandbox()
    const assertion = await signAssertion(await demoKey())
    const both = await jwtToken(sandbox, assertion, {}, { authorization: basic(OA.clientId, OA.clientSecret) })
    expect(both.status).toBe(400)
    expect(await both.json()).toMatchObject({ error: 'invalid_request' })
    const withSecret = await jwtToken(sandbox, assertion, { client_secret: 'x' })
    expect(withSecret.status).toBe(400)
    const wrongType = await jwtToken(sandbox, assertion, {
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer',
    })
    expect(wrongType.status).toBe(400)
    expect(await wrongType.json()).toMatchObject({ error: 'invalid_request' })
    const missing = await oaToken(sandbox, {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    })
    expect(missing.status).toBe(400)
    const garbage = await jwtToken(sandbox, 'not.a.jwt')
    expect(garbage.status).toBe(401)
    expect(sandbox.control.liveTokens('oauth2')).toEqual([])
  })

  it('registers keys over HTTP, refuses private JWKs and other providers, and forgets used jtis on reset', async () => {
    const sandbox = createSandbox()
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true })
    const privateJwk = await exportJWK(privateKey)
    guardPrivateJwk('sandbox test EdDSA', privateJwk)
    expect(() => sandbox.control.addClientKey('oauth2', 'c', privateJwk)).toThrow(/PUBLIC/)
    expect(() => sandbox.control.addClientKey('paypal', 'c', { kty: 'OKP' })).toThrow(TypeError)
    const refused = await postJson(sandbox, '/_control/keys', { provider: 'oauth2', id: 'c', jwk: privateJwk })
    expect(refused.status).toBe(400)
    expect(await refused.text()).not.toContain(String(privateJwk.d))
    const added = await postJson(sandbox, '/_control/keys', { provider: 'oauth2', id: 'http_client', jwk: await exportJWK(publicKey) })
    expect(await added.json()).toEqual({ ok: true, provider: 'oauth2', id: 'http_client', keys: 1 })
    const assertion = await signAssertion(privateKey, { alg: 'EdDSA', iss: 'http_client', sub: 'http_client', jti: 'same' })
    expect((await jwtToken(sandbox, assertion)).status).toBe(200)
    expect((await jwtToken(sandbox, assertion)).status).toBe(401)
    sandbox.control.reset()
    expect((await jwtToken(sandbox, assertion)).status).toBe(200)
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

/** An answer with `status` and `Retry-After: retryAfter`. */
const statusWithRetryAfter = (status: number, retryAfter: string) => async (res: Response) => {
  expect(res.status).toBe(status)
  expect(res.headers.get('retry-after')).toBe(retryAfter)
}

/** A 200 whose JSON body starts like `prefix` and is cut off. */
const truncatedJson = (prefix: string) => async (res: Response) => {
  expect(res.status).toBe(200)
  const text = await res.text()
  expect(text.startsWith(prefix)).toBe(true)
  expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError)
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
  { fault: '429', provider: 'oauth2', retryAfter: 3, check: statusWithRetryAfter(429, '3') },
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
  { fault: 'truncated', provider: 'stablelink', check: truncatedJson('{"retcode":200') },
  {
    fault: 'envelope_error',
    provider: 'oauth2',
    check: async (res) => {
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ retcode: 500, retmsg: 'system busy', success: false })
    },
  },
  { fault: '503', provider: 'paypal', retryAfter: 5, check: statusWithRetryAfter(503, '5') },
  { fault: 'truncated', provider: 'checkout', check: truncatedJson('{"access_token":"') },
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
    case 'paypal':
      return sandbox.fetch(`${SANDBOX_ORIGIN}/paypal/v1/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(PP.clientId, PP.clientSecret) },
        body: 'grant_type=client_credentials',
        ...init,
      })
    case 'checkout':
      return sandbox.fetch(`${SANDBOX_ORIGIN}/checkout-access/connect/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(CK.clientId, CK.clientSecret) },
        body: 'grant_type=client_credentials',
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

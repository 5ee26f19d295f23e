import { describe, expect, it } from 'vitest'
import { defineProvider, type Provider } from '../provider.ts'
import { json } from '@payment-auth/test-support/provider'
import { abbeycross } from './abbeycross.ts'
import { oauth2 } from './oauth2.ts'
import { stablelink } from './stablelink.ts'
import { stonex } from './stonex.ts'
import { checkout, paypal } from './presets.ts'
import { createTokenManager } from '../manager.ts'

const failure = (provider: Provider, response: Response) =>
  provider.processTokenResponse(response).then(
    () => {
      throw new Error('expected a PaymentAuthError')
    },
    (e: unknown) => e,
  )

describe('stablelink', () => {
  const provider = stablelink({ baseUrl: 'https://openapi.dev.stablelink.app/gp//', apiKey: 'key-1', apiSecret: 'sec-1' })

  it('asks for client credentials with POST and the credentials in the query string', async () => {
    const request = await provider.buildTokenRequest({ type: 'client_credentials' })
    const url = new URL(request.url)
    expect(request.method).toBe('POST')
    expect(url.origin + url.pathname).toBe('https://openapi.dev.stablelink.app/gp/user/auth/oauth2/token')
    expect(Object.fromEntries(url.searchParams)).toEqual({ grant_type: 'client_credentials', api_key: 'key-1', api_secret: 'sec-1' })
  })

  it('asks for the refresh grant with only the refresh token', async () => {
    const request = await provider.buildTokenRequest({ type: 'refresh_token', refreshToken: 'rt-9' })
    expect(Object.fromEntries(new URL(request.url).searchParams)).toEqual({ grant_type: 'refresh_token', refresh_token: 'rt-9' })
  })

  it('unwraps the {retcode, retdata, success} envelope', async () => {
    const set = await provider.processTokenResponse(
      json({
        retcode: 200,
        retdata: { access_token: 'a', token_type: 'bearer', expires_in: 21600, refresh_token: 'r', rt_expires_in: 43200 },
        success: true,
      }),
    )
    expect(set).toEqual({ accessToken: 'a', expiresIn: 21600, refreshToken: 'r', refreshExpiresIn: 43200 })
  })

  it('accepts the refresh answer unwrapped', async () => {
    const set = await provider.processTokenResponse(
      json({ access_token: 'b', expires_in: 21600, refresh_token: 'r', rt_expires_in: 43200, token_type: 'bearer' }),
    )
    expect(set.accessToken).toBe('b')
  })

  it.each([
    [401, 'invalid_client'],
    [403, 'invalid_client'],
    [400, 'invalid_request'],
    [500, 'provider_unavailable'],
  ])('success:false with retcode %i and HTTP 200 is %s', async (retcode, code) => {
    const error = await failure(provider, json({ retcode, retmsg: 'no', success: false }))
    expect(error).toMatchObject({ name: 'PaymentAuthError', code, provider: 'stablelink', status: 200 })
  })

  it('retcode != 200 is an error even without success:false', async () => {
    expect(await failure(provider, json({ retcode: 401, retdata: { access_token: 'x' } }))).toMatchObject({ code: 'invalid_client' })
  })

  it('is refreshable and its default origin is the baseUrl origin', () => {
    expect(provider.refreshable).toBe(true)
    expect(provider.origins).toEqual(['https://openapi.dev.stablelink.app'])
    expect(provider.key).not.toContain('sec-1')
  })
})

describe('oauth2', () => {
  const base = { tokenUrl: 'https://pay.example/o/token/', clientId: 'my id', clientSecret: 's3cr:et', scope: 'read write' }

  it('client_secret_basic (default): form body, Basic credentials form-encoded per RFC 6749', async () => {
    const request = await oauth2(base).buildTokenRequest({ type: 'client_credentials' })
    expect(request.method).toBe('POST')
    expect(request.url).toBe('https://pay.example/o/token/')
    expect(request.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/)
    expect(request.headers.get('authorization')).toBe(`Basic ${btoa('my+id:s3cr%3Aet')}`)
    expect(Object.fromEntries(new URLSearchParams(await request.text()))).toEqual({ grant_type: 'client_credentials', scope: 'read write' })
  })

  it('client_secret_post puts the credentials in the body and sends no Authorization', async () => {
    const request = await oauth2({ ...base, authMethod: 'client_secret_post' }).buildTokenRequest({ type: 'client_credentials' })
    expect(request.headers.get('authorization')).toBeNull()
    expect(Object.fromEntries(new URLSearchParams(await request.text()))).toEqual({
      grant_type: 'client_credentials',
      scope: 'read write',
      client_id: 'my id',
      client_secret: 's3cr:et',
    })
  })

  it('parses the RFC 6749 answer, token_type in any case', async () => {
    const set = await oauth2(base).processTokenResponse(
      json({ access_token: 'd1U', token_type: 'BEARER', expires_in: 36000, scope: 'read write' }),
    )
    expect(set).toEqual({ accessToken: 'd1U', expiresIn: 36000, scope: 'read write' })
  })

  it('maps RFC errors: 400 invalid_request, 401 invalid_client, 429 rate_limited with Retry-After', async () => {
    const p = oauth2(base)
    expect(await failure(p, json({ error: 'invalid_request', error_description: 'x' }, 400))).toMatchObject({
      code: 'invalid_request',
      status: 400,
      retryable: false,
    })
    expect(await failure(p, json({ error: 'invalid_client' }, 401))).toMatchObject({ code: 'invalid_client', status: 401 })
    expect(await failure(p, json({ error: 'invalid_client' }, 400))).toMatchObject({ code: 'invalid_client' })
    expect(await failure(p, json({}, 429, { 'retry-after': '7' }))).toMatchObject({ code: 'rate_limited', retryable: true, retryAfter: 7 })
  })

  it('scope is part of the cache key; the secret is not; the origin is the token URL origin', () => {
    expect(oauth2(base).key).not.toBe(oauth2({ ...base, scope: 'read' }).key)
    expect(oauth2(base).key).not.toContain('s3cr')
    expect(oauth2(base).origins).toEqual(['https://pay.example'])
  })
})

describe('stonex', () => {
  it('posts JSON {client_id, client_secret} to {baseUrl}/api/v/authentication', async () => {
    const request = await stonex({
      baseUrl: 'https://api.sandbox.payments.stonex.com/',
      clientId: 'c',
      clientSecret: 's',
    }).buildTokenRequest({ type: 'client_credentials' })
    expect(request.url).toBe('https://api.sandbox.payments.stonex.com/api/v/authentication')
    expect(request.headers.get('content-type')).toBe('application/json')
    expect(await request.json()).toEqual({ client_id: 'c', client_secret: 's' })
  })

  it('parses the answer; a missing expires_in is left for the JWT exp', async () => {
    const p = stonex({ baseUrl: 'https://x.test', clientId: 'c', clientSecret: 's' })
    expect(await p.processTokenResponse(json({ token_type: 'Bearer', access_token: 'e.y.z', scope: 'client_credentials' }))).toEqual({
      accessToken: 'e.y.z',
      scope: 'client_credentials',
    })
  })
})

describe('abbeycross', () => {
  const p = abbeycross({ baseUrl: 'https://ac.example/api', clientId: 'c', clientSecret: 's' })

  it('posts JSON to {baseUrl}/v1/oauth/token with the path kept', async () => {
    const request = await p.buildTokenRequest({ type: 'client_credentials' })
    expect(request.url).toBe('https://ac.example/api/v1/oauth/token')
    expect(await request.json()).toEqual({ client_id: 'c', client_secret: 's' })
  })

  it('accepts camelCase and snake_case answers', async () => {
    expect(await p.processTokenResponse(json({ accessToken: 'cc', expiresIn: '900', tokenType: 'Bearer' }))).toEqual({
      accessToken: 'cc',
      expiresIn: 900,
    })
    expect(await p.processTokenResponse(json({ access_token: 'sc', expires_in: 900 }))).toEqual({ accessToken: 'sc', expiresIn: 900 })
  })

  it('maps 409 to conflict and 503 outside working hours to provider_unavailable with retryAfter', async () => {
    const body = (code: string) => ({ errorId: 'e1', code, text: 't', parameter_name: null, parameter_value: null })
    expect(await failure(p, json(body('conflict'), 409))).toMatchObject({ code: 'conflict', retryable: true })
    expect(await failure(p, json(body('non_working_hours'), 503, { 'retry-after': '1800' }))).toMatchObject({
      code: 'provider_unavailable',
      retryable: true,
      retryAfter: 1800,
      status: 503,
    })
    expect(await failure(p, json(body('invalid_credentials'), 401))).toMatchObject({ code: 'invalid_client' })
  })
})

describe('defineProvider', () => {
  it('uses the default RFC processing and a custom one when given', async () => {
    const plain = defineProvider({ name: 'acme', buildTokenRequest: () => new Request('https://acme.test/t', { method: 'POST' }) })
    expect(await plain.processTokenResponse(json({ access_token: 'a', expires_in: 5 }))).toEqual({ accessToken: 'a', expiresIn: 5 })
    const custom = defineProvider({
      name: 'acme',
      buildTokenRequest: () => new Request('https://acme.test/t'),
      processTokenResponse: async (response) => ({ accessToken: (await response.text()).trim(), expiresIn: 60 }),
    })
    expect(await custom.processTokenResponse(new Response(' raw-token '))).toEqual({ accessToken: 'raw-token', expiresIn: 60 })
    expect(plain.key).toBe('acme')
  })
})

describe('client authentication of oauth2 and the presets', () => {
  const built = async (provider: Provider) => provider.buildTokenRequest({ type: 'client_credentials' })

  it('private_key_jwt: client_id, the assertion type and a fresh assertion per call, aud = the token URL, exp - iat = 60', async () => {
    const { privateKey, publicKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
    const provider = oauth2({ tokenUrl: 'https://auth.test/token', clientId: 'client-1', privateKey, keyId: 'k1' })
    const forms = await Promise.all([built(provider), built(provider)].map(async (r) => new URLSearchParams(await (await r).text())))
    const [a, b] = forms.map((f) => f.get('client_assertion')!)
    expect(a).not.toBe(b)
    for (const form of forms) {
      expect(form.get('client_id')).toBe('client-1')
      expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
    }
    const [header, claims, signature] = a!.split('.')
    const decode = (part: string) => JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')))
    expect(decode(header!)).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'k1' })
    const c = decode(claims!)
    expect(c).toMatchObject({ iss: 'client-1', sub: 'client-1', aud: 'https://auth.test/token' })
    expect(c.exp - c.iat).toBe(60)
    const raw = Uint8Array.from(atob(signature!.replace(/-/g, '+').replace(/_/g, '/')), (ch) => ch.charCodeAt(0))
    const ok = await crypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      publicKey,
      raw,
      new TextEncoder().encode(`${header}.${claims}`),
    )
    expect(ok).toBe(true)
    expect((await built(provider)).headers.get('authorization')).toBeNull()
  })

  it('tls_client_auth: only client_id in the body, no secret anywhere', async () => {
    const request = await built(oauth2({ tokenUrl: 'https://auth.test/token', clientId: 'c', authMethod: 'tls_client_auth' }))
    expect(await request.text()).toBe('grant_type=client_credentials&client_id=c')
    expect(request.headers.get('authorization')).toBeNull()
  })

  it('what a method needs must be given: invalid_config naming it', () => {
    expect(() => oauth2({ tokenUrl: 'https://auth.test/token', clientId: 'c', authMethod: 'private_key_jwt' })).toThrow(
      expect.objectContaining({
        code: 'invalid_config',
        message: 'oauth2: `privateKey` is required for private_key_jwt (got undefined) (is an environment variable unset?)',
      }),
    )
    expect(() =>
      oauth2({ tokenUrl: 'https://auth.test/token', clientId: 'c', privateKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' } }),
    ).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })

  it('a private JWK never reaches an error, even when the provider echoes it', async () => {
    const jwk = await crypto.subtle.exportKey(
      'jwk',
      (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign'])).privateKey,
    )
    const provider = oauth2({ tokenUrl: 'https://auth.test/token', clientId: 'c', privateKey: jwk })
    const tokens = createTokenManager({
      provider,
      fetch: async () => new Response(JSON.stringify({ error: 'invalid_client', error_description: `bad key ${jwk.d}` }), { status: 401 }),
    })
    const error = await tokens.getToken().catch((e: unknown) => e)
    expect(JSON.stringify(error)).not.toContain(jwk.d)
    expect((error as { providerMessage: string }).providerMessage).toBe('bad key [redacted]')
  })

  it('a client assertion the provider echoes never reaches the error', async () => {
    const { privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
    const provider = oauth2({ tokenUrl: 'https://auth.test/token', clientId: 'c', privateKey })
    const tokens = createTokenManager({
      provider,
      fetch: async (request) => {
        const assertion = new URLSearchParams(await request.text()).get('client_assertion')!
        return new Response(JSON.stringify({ error: 'invalid_client', error_description: `assertion ${assertion} is not valid` }), {
          status: 401,
        })
      },
    })
    const error = (await tokens.getToken().catch((e: unknown) => e)) as { providerMessage: string }
    expect(error.providerMessage).toBe('assertion [redacted] is not valid')
  })

  it('paypal(): the sandbox by default, Basic auth, the API on the same base', async () => {
    const provider = paypal({ clientId: 'AaB-c_d.e', clientSecret: 'pp-secret' })
    const request = await built(provider)
    expect(request.url).toBe('https://api-m.sandbox.paypal.com/v1/oauth2/token')
    expect(request.headers.get('authorization')).toBe(`Basic ${btoa('AaB-c_d.e:pp-secret')}`)
    expect(provider.origins).toEqual(['https://api-m.sandbox.paypal.com'])
    expect((await built(paypal({ clientId: 'a', clientSecret: 'b', environment: 'live' }))).url).toBe(
      'https://api-m.paypal.com/v1/oauth2/token',
    )
    expect(provider.name).toBe('paypal')
  })

  it('checkout(): the token at access.*, the token goes to api.* by default (the split host)', async () => {
    const provider = checkout({ clientId: 'ack_1', clientSecret: 'sk_sbox', scope: 'gateway' })
    const request = await built(provider)
    expect(request.url).toBe('https://access.sandbox.checkout.com/connect/token')
    expect(await request.text()).toBe('grant_type=client_credentials&scope=gateway')
    expect(provider.origins).toEqual(['https://api.sandbox.checkout.com'])
    expect(
      checkout({ clientId: 'a', clientSecret: 'b', environment: 'live', apiBaseUrl: 'https://pk123.api.checkout.com' }).origins,
    ).toEqual(['https://pk123.api.checkout.com'])
    expect(() => checkout({ clientId: 'a', clientSecret: 'b', environment: 'prod' as never })).toThrow(
      expect.objectContaining({ message: "checkout: `environment` must be 'sandbox' or 'live' (got string)" }),
    )
  })
})

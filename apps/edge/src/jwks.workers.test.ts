/**
 * Caller JWTs from an identity provider (issue 13): RS256, ES256 and EdDSA verified against a
 * JWKS (cached, `kid` rotation, issuer, audience, expiry, clock tolerance), a claim mapping to
 * providers and scopes. The JWKS is served by a handler in front of the Worker's outbound fetch
 * (the identity provider), which counts its fetches.
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { guardPrivateJwk } from '@payment-auth/test-support/guard'
import * as edge from '../test/support.ts'
import type { ErrorAnswer } from '../test/support.ts'

const IDP = 'https://idp.example.test/'
const JWKS_URL = `${IDP}.well-known/jwks.json`
const AUDIENCE = 'https://payments.example.test/api'
const VARS = { JWKS_URL, JWKS_ISSUER: IDP, JWKS_AUDIENCE: AUDIENCE }

interface Signer {
  alg: 'RS256' | 'ES256' | 'EdDSA'
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
}

async function signer(alg: Signer['alg'], kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  guardPrivateJwk(`jwks test key ${kid}`, (await exportJWK(privateKey)) as JsonWebKey)
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

let published: Signer[] = []
let jwksFetches = 0
let idpDown = false

beforeEach(async () => {
  await edge.coldStart()
  published = []
  jwksFetches = 0
  idpDown = false
  const original = globalThis.fetch
  vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    const req = new Request(input, init)
    if (req.url !== JWKS_URL) return original(req)
    jwksFetches++
    if (idpDown) return Promise.reject(new TypeError('Network connection lost'))
    return Promise.resolve(Response.json({ keys: published.map((s) => s.publicJwk) }))
  })
})
afterEach(() => {
  vi.restoreAllMocks()
})

async function jwt(
  s: Signer,
  claims: Record<string, unknown> = {},
  { issuer = IDP, audience = AUDIENCE, exp = '5m' as string | number | null } = {},
) {
  const t = new SignJWT({ providers: ['stonex', 'oauth2'], scope: 'read', ...claims })
    .setProtectedHeader({ alg: s.alg, kid: s.kid })
    .setSubject('user-42')
    .setIssuedAt()
    .setIssuer(issuer)
    .setAudience(audience)
  if (exp !== null) t.setExpirationTime(exp)
  return t.sign(s.privateKey)
}

const ask = (credential: string, body: Record<string, unknown> = { provider: 'stonex' }, vars: Record<string, unknown> = VARS) =>
  edge.callWith(vars, edge.request('/v1/token', { credential, body }))

async function expectError(response: Response, status: number, error: string) {
  expect(response.status).toBe(status)
  const text = await response.text()
  edge.assertLeaksNothing(text)
  expect((JSON.parse(text) as ErrorAnswer).error).toBe(error)
}

describe('JWKS caller JWTs', () => {
  it.each(['RS256', 'ES256', 'EdDSA'] as const)('%s: verified against the JWKS, its claims say what the caller may use', async (alg) => {
    const s = await signer(alg, `key-${alg}`)
    published = [s]
    expect((await ask(await jwt(s))).status).toBe(200)
    await expectError(await ask(await jwt(s), { provider: 'stablelink' }), 403, 'access_denied')
    await expectError(await ask(await jwt(s), { provider: 'oauth2', scope: 'write' }), 403, 'insufficient_scope')
  })

  it('the key set is fetched once and cached', async () => {
    const s = await signer('ES256', 'a')
    published = [s]
    for (let i = 0; i < 3; i++) expect((await ask(await jwt(s))).status).toBe(200)
    expect(jwksFetches).toBe(1)
  })

  it('issuer, audience and expiry are checked; a small clock skew is tolerated', async () => {
    const s = await signer('ES256', 'a')
    published = [s]
    await expectError(await ask(await jwt(s, {}, { issuer: 'https://evil.example/' })), 401, 'invalid_token')
    await expectError(await ask(await jwt(s, {}, { audience: 'someone-else' })), 401, 'invalid_token')
    await expectError(await ask(await jwt(s, {}, { exp: null })), 401, 'invalid_token')
    const now = Math.floor(Date.now() / 1000)
    const expired = await ask(await jwt(s, {}, { exp: now - 120 }))
    await expectError(expired, 401, 'invalid_token')
    expect((await ask(await jwt(s, {}, { exp: now - 10 }))).status).toBe(200) // inside the 30 s tolerance
    const strict = { ...VARS, JWKS_CLOCK_TOLERANCE_SECONDS: '0' }
    await expectError(await ask(await jwt(s, {}, { exp: now - 10 }), undefined, strict), 401, 'invalid_token')
  })

  it('an unknown kid is 401, and refetches the key set at most once per cooldown', async () => {
    const known = await signer('ES256', 'known')
    const stranger = await signer('ES256', 'stranger')
    published = [known]
    expect((await ask(await jwt(known))).status).toBe(200)
    for (let i = 0; i < 5; i++) await expectError(await ask(await jwt(stranger)), 401, 'invalid_token')
    expect(jwksFetches).toBe(1) // within the 30 s cooldown: no refetch at all
  })

  it('kid rotation at the identity provider: a new kid is fetched and accepted, a withdrawn one refused', async () => {
    const vars = { ...VARS, JWKS_COOLDOWN_SECONDS: '0' }
    const k1 = await signer('RS256', 'k1')
    const k2 = await signer('RS256', 'k2')
    published = [k1]
    expect((await ask(await jwt(k1), undefined, vars)).status).toBe(200)
    published = [k2] // the identity provider rotates
    expect((await ask(await jwt(k2), undefined, vars)).status).toBe(200)
    expect(jwksFetches).toBe(2)
    await expectError(await ask(await jwt(k1), undefined, vars), 401, 'invalid_token')
  })

  it('a token signed with another key under a known kid is refused', async () => {
    const real = await signer('ES256', 'shared-kid')
    const forger = await signer('ES256', 'shared-kid')
    published = [real]
    await expectError(await ask(await jwt(forger)), 401, 'invalid_token')
  })

  it('claim mapping: namespaced providers claim, scopes as an array', async () => {
    const s = await signer('ES256', 'a')
    published = [s]
    const vars = { ...VARS, JWKS_PROVIDERS_CLAIM: 'https://example.test/providers', JWKS_SCOPE_CLAIM: 'permissions' }
    const token = await jwt(s, {
      providers: undefined,
      scope: undefined,
      'https://example.test/providers': 'oauth2',
      permissions: ['read'],
    })
    expect((await ask(token, { provider: 'oauth2', scope: 'read' }, vars)).status).toBe(200)
    await expectError(await ask(token, { provider: 'stonex' }, vars), 403, 'access_denied')
    await expectError(await ask(await jwt(s, { permissions: 7 }), { provider: 'oauth2' }, vars), 401, 'invalid_token')
  })

  it('HS256 callers keep working next to the JWKS; an RS256 token without JWKS_URL is refused', async () => {
    const s = await signer('RS256', 'a')
    published = [s]
    expect((await ask(await edge.callerJwt())).status).toBe(200)
    await expectError(await ask(await jwt(s), undefined, {}), 401, 'invalid_token')
  })

  it('JWKS callers have no proxy access', async () => {
    const s = await signer('ES256', 'a')
    published = [s]
    const response = await edge.callWith(VARS, edge.request('/v1/proxy/stonex/payments', { method: 'GET', credential: await jwt(s) }))
    await expectError(response, 403, 'forbidden')
  })

  it('an identity provider that cannot be reached is 503 upstream_unavailable with Retry-After, not 401', async () => {
    const s = await signer('ES256', 'a')
    published = [s]
    idpDown = true
    const response = await ask(await jwt(s))
    expect(response.headers.get('retry-after')).toBe('5')
    await expectError(response, 503, 'upstream_unavailable')
  })

  it('JWKS_URL without JWKS_ISSUER or JWKS_AUDIENCE is a configuration error (plain 500)', async () => {
    const response = await ask('pa_demo_caller_key_0001', undefined, { JWKS_URL })
    expect(response.status).toBe(500)
    expect(await response.json()).toEqual({ error: 'server_error' })
  })
})

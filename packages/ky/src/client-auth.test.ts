import { decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createSandbox, SANDBOX_CREDENTIALS, SANDBOX_ORIGIN } from '../../../apps/sandbox/src/index.ts'
import { guardPrivateJwk } from '@payment-auth/test-support/guard'
import {
  CLIENT_ASSERTION_LIFETIME,
  type ClientAssertionAlg,
  type ClientAuth,
  clientSecretBasic,
  clientSecretPost,
  JWT_BEARER_ASSERTION_TYPE,
  privateKeyJwt,
  tlsClientAuth,
} from './client-auth.ts'
import { isPaymentAuthError } from './errors.ts'
import { SECRET } from '@payment-auth/test-support/provider'

const TOKEN_URL = 'https://as.example/oauth2/token'
const CLIENT = 'client-1'

/** Runs a ClientAuth on a fresh client-credentials request and returns what it produced. */
async function apply(auth: ClientAuth, clientId = CLIENT, tokenUrl = TOKEN_URL) {
  const body = new URLSearchParams({ grant_type: 'client_credentials' })
  const headers = new Headers({ accept: 'application/json' })
  await auth(clientId, body, headers, tokenUrl)
  return { body, headers }
}

/** The error a call throws or rejects with, checked to be `invalid_config` and free of `secrets`. */
async function configError(run: () => unknown, secrets: readonly string[]): Promise<Error> {
  let caught: unknown
  try {
    await run()
  } catch (error) {
    caught = error
  }
  expect(isPaymentAuthError(caught)).toBe(true)
  const error = caught as Error & { code: string }
  expect(error.code).toBe('invalid_config')
  const text = `${error.message} ${error.stack ?? ''} ${JSON.stringify(error)}`
  for (const secret of secrets) expect(text).not.toContain(secret)
  return error
}

/** The private members of a JWK, i.e. what must never show. */
const privateParts = (jwk: JsonWebKey) =>
  (['d', 'p', 'q', 'dp', 'dq', 'qi'] as const).map((m) => jwk[m]).filter((v): v is string => typeof v === 'string')

describe('clientSecretBasic', () => {
  it('sends Basic base64(id:secret) and leaves the body alone', async () => {
    const { body, headers } = await apply(clientSecretBasic(SECRET))
    expect(headers.get('authorization')).toBe(`Basic ${btoa(`${CLIENT}:${SECRET}`)}`)
    expect(body.toString()).toBe('grant_type=client_credentials')
  })

  it('form-encodes id and secret before base64 (RFC 6749 2.3.1), as URLSearchParams does', async () => {
    const id = 'id with space:and/slash'
    const secret = "p@ss:w%rd+~!'()*-._é✓"
    const { headers } = await apply(clientSecretBasic(secret), id)
    const encoded = atob(headers.get('authorization')!.replace(/^Basic /, ''))
    expect(encoded).toBe(`id+with+space%3Aand%2Fslash:p%40ss%3Aw%25rd%2B%7E%21%27%28%29*-._%C3%A9%E2%9C%93`)
    // The serializer of the URL Standard: what a form body would carry.
    const [user, pass] = encoded.split(':') as [string, string]
    expect(user).toBe(new URLSearchParams({ x: id }).toString().slice(2))
    expect(pass).toBe(new URLSearchParams({ x: secret }).toString().slice(2))
    // Exactly one colon: the one between the encoded id and secret.
    expect(encoded.split(':')).toHaveLength(2)
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))
    expect([decode(user), decode(pass)]).toEqual([id, secret])
  })

  it('keeps ids made of letters, digits, "-", "_" and "." as they are (PayPal client ids)', async () => {
    const id = 'AZDxjDScFpQtjWTOUtWKbyN_bDt4OgqaF4eYXlewfBP4-8aqX3PiV8e1GWU6liB2CUXlkA59kJXE7M6R.x'
    const { headers } = await apply(clientSecretBasic(SECRET), id)
    expect(atob(headers.get('authorization')!.slice(6))).toBe(`${id}:${SECRET}`)
  })

  it('refuses an empty or missing secret with invalid_config, naming the option', async () => {
    const error = await configError(() => clientSecretBasic(''), [])
    expect(error.message).toMatch(/clientSecret/)
    await configError(() => clientSecretBasic(undefined as unknown as string), [])
  })
})

describe('clientSecretPost', () => {
  it('puts client_id and client_secret in the body and sends no Authorization', async () => {
    const { body, headers } = await apply(clientSecretPost(SECRET))
    expect(Object.fromEntries(body)).toEqual({ grant_type: 'client_credentials', client_id: CLIENT, client_secret: SECRET })
    expect(headers.has('authorization')).toBe(false)
  })

  it('refuses an empty secret with invalid_config', async () => {
    await configError(() => clientSecretPost(''), [])
  })
})

describe('tlsClientAuth', () => {
  it('puts only client_id in the body: the certificate is the fetch’s business', async () => {
    const { body, headers } = await apply(tlsClientAuth())
    expect(Object.fromEntries(body)).toEqual({ grant_type: 'client_credentials', client_id: CLIENT })
    expect(headers.has('authorization')).toBe(false)
  })
})

interface TestKey {
  alg: ClientAssertionAlg
  publicKey: CryptoKey
  privateKey: CryptoKey
  privateJwk: JsonWebKey
}

const keys = {} as Record<ClientAssertionAlg, TestKey>
const ALGS: ClientAssertionAlg[] = ['RS256', 'PS256', 'ES256', 'EdDSA']

beforeAll(async () => {
  for (const alg of ALGS) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
    const privateJwk = await exportJWK(privateKey)
    guardPrivateJwk(`client-auth test ${alg}`, privateJwk)
    keys[alg] = { alg, publicKey, privateKey, privateJwk }
  }
})

afterEach(() => {
  vi.restoreAllMocks()
})

/** Verifies an assertion with jose against the public key and returns its header and claims. */
async function verify(assertion: string, key: TestKey, audience = TOKEN_URL, currentDate?: Date) {
  const { payload, protectedHeader } = await jwtVerify(assertion, key.publicKey, {
    algorithms: [key.alg],
    issuer: CLIENT,
    subject: CLIENT,
    audience,
    requiredClaims: ['jti', 'iat', 'exp'],
    ...(currentDate && { currentDate }),
  })
  return { payload, protectedHeader }
}

describe('privateKeyJwt', () => {
  describe.each(ALGS)('%s', (alg) => {
    // An RSA JWK signs RS256 unless told otherwise (DESIGN: RSA -> RS256); a PS256 CryptoKey is an RSA-PSS key.
    const jwkOptions = alg === 'PS256' ? { alg } : {}

    it.each(['CryptoKey', 'JWK'] as const)('signs a JWT jose verifies against the public key (%s input)', async (input) => {
      const key = keys[alg]
      const auth =
        input === 'CryptoKey'
          ? privateKeyJwt(key.privateKey, { keyId: 'k1' })
          : privateKeyJwt(key.privateJwk, { keyId: 'k1', ...jwkOptions })
      const { body, headers } = await apply(auth)
      expect([...body.keys()]).toEqual(['grant_type', 'client_id', 'client_assertion_type', 'client_assertion'])
      expect(body.get('client_id')).toBe(CLIENT)
      expect(body.get('client_assertion_type')).toBe(JWT_BEARER_ASSERTION_TYPE)
      expect(headers.has('authorization')).toBe(false)
      const { payload, protectedHeader } = await verify(body.get('client_assertion')!, key)
      expect(protectedHeader).toEqual({ alg, typ: 'JWT', kid: 'k1' })
      expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'sub'])
      expect(payload.aud).toBe(TOKEN_URL)
      expect(payload.jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60)
      expect(payload.exp! - payload.iat!).toBe(CLIENT_ASSERTION_LIFETIME)
      expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(5)
    })
  })

  it('takes the algorithm from the key by default, and kid from the JWK unless keyId says otherwise', async () => {
    const expected: Record<ClientAssertionAlg, ClientAssertionAlg> = { RS256: 'RS256', PS256: 'RS256', ES256: 'ES256', EdDSA: 'EdDSA' }
    for (const alg of ALGS) {
      const { body } = await apply(privateKeyJwt({ ...keys[alg].privateJwk, kid: 'from-jwk' }))
      expect(decodeProtectedHeader(body.get('client_assertion')!)).toEqual({ alg: expected[alg], typ: 'JWT', kid: 'from-jwk' })
      const { body: cryptoBody } = await apply(privateKeyJwt(keys[alg].privateKey))
      expect(decodeProtectedHeader(cryptoBody.get('client_assertion')!)).toEqual({ alg, typ: 'JWT' })
    }
    const { body } = await apply(privateKeyJwt({ ...keys.ES256.privateJwk, kid: 'from-jwk' }, { keyId: 'override' }))
    expect(decodeProtectedHeader(body.get('client_assertion')!).kid).toBe('override')
    const ps = await apply(privateKeyJwt({ ...keys.RS256.privateJwk, alg: 'PS256' }))
    expect(decodeProtectedHeader(ps.body.get('client_assertion')!).alg).toBe('PS256')
  })

  it('uses a fresh jti on every call, imports a JWK once, and follows audience and now', async () => {
    const importKey = vi.spyOn(crypto.subtle, 'importKey')
    const t = 1_000_000_000_123
    const auth = privateKeyJwt(keys.ES256.privateJwk, { audience: 'https://as.example', now: () => t })
    const jtis = new Set<unknown>()
    for (let i = 0; i < 5; i++) {
      const { body } = await apply(auth)
      const { payload } = await verify(body.get('client_assertion')!, keys.ES256, 'https://as.example', new Date(t))
      expect(payload.iat).toBe(1_000_000_000)
      expect(payload.exp).toBe(1_000_000_060)
      jtis.add(payload.jti)
    }
    expect(jtis.size).toBe(5)
    expect(importKey).toHaveBeenCalledTimes(1)
  })

  it('signs concurrently with one import', async () => {
    const importKey = vi.spyOn(crypto.subtle, 'importKey')
    const auth = privateKeyJwt(keys.RS256.privateJwk)
    const results = await Promise.all(Array.from({ length: 10 }, () => apply(auth)))
    expect(new Set(results.map(({ body }) => body.get('client_assertion'))).size).toBe(10)
    expect(importKey).toHaveBeenCalledTimes(1)
  })

  it('throws invalid_config for a public key, never showing key material', async () => {
    const publicJwk = await exportJWK(keys.ES256.publicKey)
    const fromJwk = await configError(() => privateKeyJwt(publicJwk), [publicJwk.x!])
    expect(fromJwk.message).toMatch(/privateKey.*PRIVATE/)
    await configError(() => privateKeyJwt(keys.RS256.publicKey), [])
  })

  it('throws invalid_config for a key that cannot sign with the asked algorithm', async () => {
    const cases: Array<[CryptoKey | JsonWebKey, ClientAssertionAlg]> = [
      [keys.RS256.privateKey, 'PS256'],
      [keys.RS256.privateKey, 'ES256'],
      [keys.PS256.privateKey, 'RS256'],
      [keys.ES256.privateKey, 'EdDSA'],
      [keys.EdDSA.privateKey, 'ES256'],
      [keys.RS256.privateJwk, 'ES256'],
      [keys.ES256.privateJwk, 'RS256'],
      [keys.EdDSA.privateJwk, 'ES256'],
      [{ ...keys.RS256.privateJwk, alg: 'RS256' }, 'PS256'],
    ]
    for (const [key, alg] of cases) {
      const secrets = 'kty' in key ? privateParts(key) : []
      const error = await configError(() => privateKeyJwt(key, { alg }), secrets)
      expect(error.message).toContain(alg)
    }
    await configError(() => privateKeyJwt(keys.ES256.privateKey, { alg: 'HS256' as ClientAssertionAlg }), [])
  })

  it('throws invalid_config for unsupported keys: P-384, RSA under 2048 bits, not a key at all, a key agreement key', async () => {
    const p384 = await generateKeyPair('ES384', { extractable: true })
    const p384Jwk = await exportJWK(p384.privateKey)
    guardPrivateJwk('client-auth test ES384', p384Jwk)
    await configError(() => privateKeyJwt(p384.privateKey), [])
    await configError(() => privateKeyJwt(p384Jwk), privateParts(p384Jwk))

    const small = await crypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )
    const smallJwk = await crypto.subtle.exportKey('jwk', small.privateKey)
    guardPrivateJwk('client-auth test RSA 1024', smallJwk)
    await configError(() => privateKeyJwt(small.privateKey), [])
    // A JWK shows its size only once imported: the first call rejects.
    const fromJwk = privateKeyJwt(smallJwk)
    await configError(() => apply(fromJwk), privateParts(smallJwk))

    await configError(() => privateKeyJwt('-----BEGIN PRIVATE KEY-----' as unknown as JsonWebKey), [])
    await configError(() => privateKeyJwt(null as unknown as JsonWebKey), [])

    // A P-256 private key made for key agreement, not signatures.
    const ecdh = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits'])
    await configError(() => privateKeyJwt(ecdh.privateKey), [])
  })

  it('rejects invalid_config on first use for a JWK WebCrypto refuses, and keeps refusing', async () => {
    const broken = { ...keys.ES256.privateJwk, d: 'AAAA' }
    const auth = privateKeyJwt(broken)
    await configError(() => apply(auth), privateParts(keys.ES256.privateJwk))
    await configError(() => apply(auth), [])
    const forEncryption = { ...keys.ES256.privateJwk, use: 'enc' }
    await configError(() => apply(privateKeyJwt(forEncryption)), privateParts(keys.ES256.privateJwk))
  })
})

describe('privateKeyJwt against the sandbox (task: the sandbox accepts what we sign)', () => {
  const J = SANDBOX_CREDENTIALS.oauth2Jwt
  const url = `${SANDBOX_ORIGIN}/oauth2/o/token/`

  async function token(sandbox: ReturnType<typeof createSandbox>, auth: ClientAuth, clientId: string) {
    const { body, headers } = await apply(auth, clientId, url)
    headers.set('content-type', 'application/x-www-form-urlencoded')
    return sandbox.fetch(url, { method: 'POST', headers, body })
  }

  it('gets a token for the demo JWT client with its JWK, then a second one with a fresh jti', async () => {
    const sandbox = createSandbox()
    const auth = privateKeyJwt({ ...J.privateJwk }, { keyId: J.keyId })
    for (let i = 0; i < 2; i++) {
      const res = await token(sandbox, auth, J.clientId)
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ token_type: 'Bearer', scope: 'read write' })
    }
    expect(sandbox.control.stats('oauth2').tokenCalls).toBe(2)
  })

  it.each(ALGS)('gets a token with a %s key registered for a client (CryptoKey input)', async (alg) => {
    const sandbox = createSandbox()
    sandbox.control.addClientKey('oauth2', 'ca-client', { ...(await exportJWK(keys[alg].publicKey)), kid: 'ca-1' })
    const res = await token(sandbox, privateKeyJwt(keys[alg].privateKey, { keyId: 'ca-1' }), 'ca-client')
    expect(res.status).toBe(200)
    const [live] = sandbox.control.liveTokens('oauth2')
    expect((await sandbox.fetch('/oauth2/api/echo', { headers: { authorization: `Bearer ${live}` } })).status).toBe(200)
  })

  it('is refused with 401 invalid_client when signed by another key', async () => {
    const sandbox = createSandbox()
    const res = await token(sandbox, privateKeyJwt(keys.ES256.privateKey), J.clientId)
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ error: 'invalid_client' })
  })

  it('gets tokens with clientSecretBasic and clientSecretPost for the demo secret client, special characters too', async () => {
    const sandbox = createSandbox()
    const O = SANDBOX_CREDENTIALS.oauth2
    for (const auth of [clientSecretBasic(O.clientSecret), clientSecretPost(O.clientSecret)]) {
      expect((await token(sandbox, auth, O.clientId)).status).toBe(200)
    }
    const secret = "s3cr3t with: spaces+~!'()é"
    sandbox.control.addClient('oauth2', 'id:with space', secret)
    expect((await token(sandbox, clientSecretBasic(secret), 'id:with space')).status).toBe(200)
    expect((await token(sandbox, clientSecretBasic(SECRET), O.clientId)).status).toBe(401)
  })
})

/**
 * The oidc-provider harness (e2e/oidc/server.ts) proven with plain fetch and the client
 * authentication factories of @payment-auth/ky: a real RFC 6749/7523/8705 server accepts what
 * they send, and refuses a missing certificate or a wrong key with 401 invalid_client.
 */
import { generateKeyPair } from 'jose'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ClientAuth, clientSecretBasic, clientSecretPost, privateKeyJwt, tlsClientAuth } from '../../packages/ky/src/client-auth.ts'
import { guardPrivateJwk, guardSecret } from '@payment-auth/test-support/guard'
import { OIDC_TOKEN_TTL, type StartedOidc, startOidc, type TestFetch } from './server.ts'

let oidc: StartedOidc

/** A line from the end of a PEM private key (its private part), for the leak guard. */
const pemTail = (pem: string) => pem.trim().split('\n').slice(-3, -2)[0]!

beforeAll(async () => {
  oidc = await startOidc()
  guardSecret('oidc basic client secret', oidc.clients.basic.clientSecret)
  guardPrivateJwk('oidc RS256 client', oidc.clients.jwtRs256.privateJwk)
  guardPrivateJwk('oidc ES256 client', oidc.clients.jwtEs256.privateJwk)
  guardSecret('oidc tls client key', pemTail(oidc.clients.tls.key))
  guardSecret('oidc rogue tls client key', pemTail(oidc.clients.tls.rogue.key))
}, 60_000)

afterAll(() => oidc?.close())

interface TokenAnswer {
  status: number
  body: Record<string, unknown>
}

/** A client credentials token request authenticated by `auth`, sent with `send`. */
async function token(
  auth: ClientAuth,
  clientId: string,
  extra: Record<string, string> = {},
  send: TestFetch = oidc.fetch,
): Promise<TokenAnswer> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', ...extra })
  const headers = new Headers({ accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' })
  await auth(clientId, body, headers, oidc.tokenUrl)
  const res = await send(oidc.tokenUrl, { method: 'POST', headers, body })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function callResource(accessToken: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await oidc.fetch(oidc.resourceUrl, { headers: { authorization: `Bearer ${String(accessToken)}` } })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

function expectToken(answer: TokenAnswer): string {
  expect(answer.status).toBe(200)
  expect(answer.body).toMatchObject({ token_type: 'Bearer', expires_in: OIDC_TOKEN_TTL })
  expect(typeof answer.body['access_token']).toBe('string')
  return answer.body['access_token'] as string
}

function expectInvalidClient(answer: TokenAnswer): void {
  expect(answer.status).toBe(401)
  expect(answer.body).toMatchObject({ error: 'invalid_client' })
}

describe('oidc-provider harness', () => {
  it('client_secret_basic: a token for the resource, with the scope asked for, counted by the server', async () => {
    const { basic } = oidc.clients
    const before = oidc.stats()
    const accessToken = expectToken(await token(clientSecretBasic(basic.clientSecret), basic.clientId, { scope: 'payments:read' }))
    const answer = await token(clientSecretBasic(basic.clientSecret), basic.clientId)
    expect(answer.status).toBe(200)
    const echo = await callResource(accessToken)
    expect(echo).toEqual({
      status: 200,
      body: { ok: true, method: 'GET', path: '/api/payments', client: basic.clientId, scope: 'payments:read' },
    })
    const after = oidc.stats()
    expect(after.tokenCalls - before.tokenCalls).toBe(2)
    expect((after.issued[basic.clientId] ?? 0) - (before.issued[basic.clientId] ?? 0)).toBe(2)
  })

  it('client_secret_basic: a wrong secret or an unknown client is 401 invalid_client (post works too, as oidc-provider allows)', async () => {
    const { basic } = oidc.clients
    expectInvalidClient(await token(clientSecretBasic('not-the-secret'), basic.clientId))
    expectInvalidClient(await token(clientSecretPost('not-the-secret'), basic.clientId))
    expectInvalidClient(await token(clientSecretBasic(basic.clientSecret), 'nobody'))
    expectToken(await token(clientSecretPost(basic.clientSecret), basic.clientId))
  })

  it('private_key_jwt: RS256 from a JWK and ES256 from a CryptoKey, made by privateKeyJwt()', async () => {
    const { jwtRs256, jwtEs256 } = oidc.clients
    const rs = expectToken(await token(privateKeyJwt(jwtRs256.privateJwk), jwtRs256.clientId))
    const es = expectToken(await token(privateKeyJwt(jwtEs256.privateKey, { keyId: jwtEs256.keyId }), jwtEs256.clientId))
    expect((await callResource(rs)).body).toMatchObject({ client: jwtRs256.clientId })
    expect((await callResource(es)).body).toMatchObject({ client: jwtEs256.clientId })
  })

  it('private_key_jwt: the issuer as audience works too; a replayed assertion is refused', async () => {
    const { jwtEs256 } = oidc.clients
    expectToken(await token(privateKeyJwt(jwtEs256.privateKey, { audience: oidc.issuer }), jwtEs256.clientId))
    // One assertion, sent twice: the server's replay detection refuses the second.
    const body = new URLSearchParams({ grant_type: 'client_credentials' })
    await privateKeyJwt(jwtEs256.privateKey)(jwtEs256.clientId, body, new Headers(), oidc.tokenUrl)
    const send = () => oidc.fetch(oidc.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
    expect((await send()).status).toBe(200)
    const replay = await send()
    expect(replay.status).toBe(401)
    expect(await replay.json()).toMatchObject({ error: 'invalid_client' })
  })

  it('private_key_jwt: a wrong key is 401 invalid_client', async () => {
    const { jwtRs256, jwtEs256 } = oidc.clients
    const stranger = await generateKeyPair('ES256')
    expectInvalidClient(await token(privateKeyJwt(stranger.privateKey), jwtEs256.clientId))
    // The other client's key (and algorithm) for this client id.
    expectInvalidClient(await token(privateKeyJwt(jwtEs256.privateKey), jwtRs256.clientId))
    expect(oidc.stats().errors['invalid_client']).toBeGreaterThanOrEqual(2)
  })

  it('tls_client_auth: a token through an undici Agent presenting the client certificate', async () => {
    const { tls } = oidc.clients
    const accessToken = expectToken(await token(tlsClientAuth(), tls.clientId, {}, tls.fetch))
    expect((await callResource(accessToken)).body).toMatchObject({ client: tls.clientId })
    expect(tls.subjectDn).toBe('CN=tls-client,O=payment-auth e2e')
  })

  it('tls_client_auth: no certificate, or one from a CA the server does not trust, is 401 invalid_client', async () => {
    const { tls } = oidc.clients
    expectInvalidClient(await token(tlsClientAuth(), tls.clientId))
    const rogue = new Agent({ connect: { ca: oidc.ca, cert: tls.rogue.cert, key: tls.rogue.key } })
    try {
      const rogueFetch: TestFetch = (input, init) => fetch(input, { ...init, dispatcher: rogue } as RequestInit)
      expectInvalidClient(await token(tlsClientAuth(), tls.clientId, {}, rogueFetch))
    } finally {
      await rogue.close()
    }
  })

  it('the resource answers 401 for an unknown token and for revoked ones, singly or all at once', async () => {
    const { basic } = oidc.clients
    expect(await callResource('not-a-token')).toEqual({ status: 401, body: { error: 'invalid_token' } })
    const one = expectToken(await token(clientSecretBasic(basic.clientSecret), basic.clientId))
    const two = expectToken(await token(clientSecretBasic(basic.clientSecret), basic.clientId))
    expect(await oidc.revoke(one)).toBe(1)
    expect((await callResource(one)).status).toBe(401)
    expect((await callResource(two)).status).toBe(200)
    expect(await oidc.revoke()).toBeGreaterThanOrEqual(1)
    expect((await callResource(two)).status).toBe(401)
    const stats = oidc.stats()
    expect(stats.resource401s).toBeGreaterThanOrEqual(3)
    expect(stats.resourceCalls).toBeGreaterThan(stats.resource401s)
  })
})

/**
 * @payment-auth/ky against a real, certified OAuth server (oidc-provider), with the client
 * authentication regulated payment APIs require: private_key_jwt and tls_client_auth give the
 * same one-call-per-lifetime, single-flight and 401 replay as a shared secret.
 */
import ky, { HTTPError } from 'ky'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { oauth2, type PaymentAuthEvent, withPaymentAuth } from '../../packages/ky/src/index.ts'
import { guardPrivateJwk } from '@payment-auth/test-support/guard'
import { type StartedOidc, startOidc } from './server.ts'

let oidc: StartedOidc
beforeAll(async () => {
  oidc = await startOidc()
  // The leak guard also watches the keys made for this run.
  guardPrivateJwk('oidc RS256 client', oidc.clients.jwtRs256.privateJwk)
  guardPrivateJwk('oidc ES256 client', oidc.clients.jwtEs256.privateJwk)
}, 60_000)
afterAll(() => oidc?.close())

/** A ky client for the oidc-provider resource, its API calls through `oidc.fetch` (which trusts the test CA). */
function client(provider: ReturnType<typeof oauth2>, tokenFetch: (input: Request, init?: RequestInit) => Promise<Response>) {
  const events: PaymentAuthEvent[] = []
  const api = ky
    .create({ fetch: oidc.fetch, retry: 0 })
    .extend(withPaymentAuth({ provider, fetch: tokenFetch, onEvent: (e) => events.push(e) }))
  return { api, events }
}

const issuedTo = (clientId: string) => oidc.stats().issued[clientId] ?? 0

describe('private_key_jwt against oidc-provider', () => {
  it('50 concurrent requests make one token call; the token reaches the resource', async () => {
    const { jwtRs256 } = oidc.clients
    const provider = oauth2({
      tokenUrl: oidc.tokenUrl,
      clientId: jwtRs256.clientId,
      privateKey: jwtRs256.privateJwk as JsonWebKey,
      apiBaseUrl: oidc.issuer,
    })
    const { api } = client(provider, oidc.fetch)
    const before = issuedTo(jwtRs256.clientId)
    const answers = await Promise.all(Array.from({ length: 50 }, () => api.get(oidc.resourceUrl).json<{ client: string }>()))
    expect(new Set(answers.map((a) => a.client))).toEqual(new Set([jwtRs256.clientId]))
    expect(issuedTo(jwtRs256.clientId) - before).toBe(1)
  })

  it('a revoked token is replaced with a fresh assertion (one new token call) and the request replayed once', async () => {
    const { jwtEs256 } = oidc.clients
    const provider = oauth2({
      tokenUrl: oidc.tokenUrl,
      clientId: jwtEs256.clientId,
      privateKey: jwtEs256.privateKey,
      keyId: jwtEs256.keyId,
      apiBaseUrl: oidc.issuer,
    })
    const { api, events } = client(provider, oidc.fetch)
    await api.get(oidc.resourceUrl).json()
    const before = issuedTo(jwtEs256.clientId)
    expect(await oidc.revoke()).toBeGreaterThan(0)
    // A replayed assertion would be refused (jti reuse): this works only with a fresh one.
    expect(await api.get(oidc.resourceUrl).json()).toMatchObject({ client: jwtEs256.clientId })
    expect(issuedTo(jwtEs256.clientId) - before).toBe(1)
    expect(events.filter((e) => e.type === 'replay')).toHaveLength(1)
  })

  it('a wrong key is invalid_client, with what the server said', async () => {
    const { jwtRs256, jwtEs256 } = oidc.clients
    const provider = oauth2({
      tokenUrl: oidc.tokenUrl,
      clientId: jwtRs256.clientId,
      privateKey: jwtEs256.privateKey,
      apiBaseUrl: oidc.issuer,
    })
    const { api } = client(provider, oidc.fetch)
    await expect(api.get(oidc.resourceUrl)).rejects.toMatchObject({
      name: 'PaymentAuthError',
      code: 'invalid_client',
      providerCode: 'invalid_client',
    })
  })
})

describe('tls_client_auth against oidc-provider (Node: an undici Agent presents the certificate)', () => {
  it('many requests, one token call, and the certificate-bound client reaches the resource', async () => {
    const { tls } = oidc.clients
    const provider = oauth2({ tokenUrl: oidc.tokenUrl, clientId: tls.clientId, authMethod: 'tls_client_auth', apiBaseUrl: oidc.issuer })
    const { api } = client(provider, tls.fetch)
    const before = issuedTo(tls.clientId)
    const answers = await Promise.all(Array.from({ length: 20 }, () => api.get(oidc.resourceUrl).json<{ client: string }>()))
    expect(answers.every((a) => a.client === tls.clientId)).toBe(true)
    expect(issuedTo(tls.clientId) - before).toBe(1)
    expect(await oidc.revoke()).toBeGreaterThan(0)
    expect(await api.get(oidc.resourceUrl).json()).toMatchObject({ client: tls.clientId })
    expect(issuedTo(tls.clientId) - before).toBe(2)
  })

  it('without the certificate it is invalid_client', async () => {
    const { tls } = oidc.clients
    const provider = oauth2({ tokenUrl: oidc.tokenUrl, clientId: tls.clientId, authMethod: 'tls_client_auth', apiBaseUrl: oidc.issuer })
    const { api } = client(provider, oidc.fetch)
    const error = await api.get(oidc.resourceUrl).catch((e: unknown) => e)
    expect(error).not.toBeInstanceOf(HTTPError)
    expect(error).toMatchObject({ code: 'invalid_client' })
  })
})

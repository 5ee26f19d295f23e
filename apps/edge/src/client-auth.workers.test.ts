/**
 * The provider client's own authentication at the edge: private_key_jwt with the private JWK as
 * a Wrangler secret, and tls_client_auth through a Workers mTLS certificate binding, whose fetch
 * serves both the provider's token endpoint and the proxied API calls.
 */
import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import * as edge from '../test/support.ts'
import { CALLER_KEY, coldStart } from '../test/support.ts'
import type { TokenAnswer } from '../test/support.ts'

beforeEach(coldStart)

interface MtlsStats {
  tokenCalls: number
  apiCalls: number
  tokenBodies: string[]
  tokenAuthorization: Array<string | null>
  apiAuthorization: Array<string | null>
}
const binding = () => (env as unknown as { PAY_CERT: Fetcher }).PAY_CERT
const mtlsStats = async () => (await (await binding().fetch('https://mtls.provider.test/_mtls/stats')).json()) as MtlsStats

describe('private_key_jwt: the edge signs a fresh client assertion with the private JWK secret', () => {
  it('50 concurrent cold requests: one upstream token call, accepted by the provider on the assertion alone', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, () => edge.token('oauth2-jwt')))
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200))
    const tokens = new Set(await Promise.all(answers.map(async (a) => (await edge.json<TokenAnswer>(a)).access_token)))
    expect(tokens.size).toBe(1)
    expect((await edge.sandbox.stats('oauth2')).tokenCalls).toBe(1)
    expect(await edge.sandbox.liveTokens('oauth2')).toContain([...tokens][0])
  })

  it('a revoked token is replaced with a new assertion (a replayed one would be refused)', async () => {
    const first = (await edge.json<TokenAnswer>(await edge.token('oauth2-jwt'))).access_token
    await edge.sandbox.revoke('oauth2', first)
    const second = (
      await edge.json<TokenAnswer>(await edge.call('/v1/token/invalidate', { body: { provider: 'oauth2-jwt', access_token: first } }))
    ).access_token
    expect(second).not.toBe(first)
    expect((await edge.sandbox.stats('oauth2')).tokenCalls).toBe(2)
  })

  it('a missing private key secret is a plain 500 whose log names the secret, never a key', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const response = await edge.callWith(
      { OAUTH2_JWT_PRIVATE_KEY: undefined },
      edge.request('/v1/proxy/oauth2-jwt/payments', { method: 'GET' }),
    )
    expect(response.status).toBe(500)
    expect(await response.text()).toBe('{"error":"server_error"}')
    expect(errors.mock.calls.flat().join(' ')).toContain('the secret OAUTH2_JWT_PRIVATE_KEY is not set')
  })
})

describe('tls_client_auth: the mTLS certificate binding carries the token call and the API calls', () => {
  it('the token endpoint is reached through the binding with client_id alone (no secret, no Authorization)', async () => {
    const caller = await edge.callerJwt({ providers: ['oauth2-mtls'] })
    const before = await mtlsStats()
    const answers = await Promise.all(Array.from({ length: 20 }, () => edge.token('oauth2-mtls', { credential: caller })))
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200))
    const after = await mtlsStats()
    expect(after.tokenCalls - before.tokenCalls).toBe(1)
    expect(after.tokenBodies.at(-1)).toBe('grant_type=client_credentials&client_id=oa_mtls_client')
    expect(after.tokenAuthorization.at(-1)).toBeNull()
  })

  it('a proxied call goes through the same binding, with the provider token', async () => {
    // The sample caller of wrangler.toml, allowed this provider too (its proxy rules cover */payments/**).
    const callers = [
      {
        id: 'mtls-caller',
        keySha256: await edge.sha256Hex(CALLER_KEY),
        providers: ['oauth2-mtls'],
        proxy: [{ method: 'GET', path: '*/payments/**' }],
      },
    ]
    const before = await mtlsStats()
    const response = await edge.callWith({ CALLERS: callers }, edge.request('/v1/proxy/oauth2-mtls/payments', { method: 'GET' }))
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ ok: true, path: '/api/payments' })
    const after = await mtlsStats()
    expect(after.apiCalls - before.apiCalls).toBe(1)
    expect(after.apiAuthorization.at(-1)).toMatch(/^Bearer mtls-tok-\d+$/)
  })

  it('a provider naming a binding that is not configured is a plain 500 naming it', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const caller = await edge.callerJwt({ providers: ['oauth2-mtls'] })
    const response = await edge.callWith(
      { PAY_CERT: undefined },
      edge.request('/v1/proxy/oauth2-mtls/payments', { method: 'GET', credential: caller }),
    )
    expect(response.status).toBe(500)
    expect(errors.mock.calls.flat().join(' ')).toContain('the mTLS certificate binding PAY_CERT is not configured')
  })
})

describe('configuration', () => {
  it('tls_client_auth without mtlsBinding is refused when the configuration loads (a plain 500 and a log line saying so)', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const providers = {
      pay: { dialect: 'oauth2', tokenUrl: 'https://pay.test/token', apiBaseUrl: 'https://pay.test/api', authMethod: 'tls_client_auth' },
    }
    const response = await edge.callWith({ PROVIDERS: providers }, edge.request('/v1/token', { body: { provider: 'pay' } }))
    expect(response.status).toBe(500)
    expect(errors.mock.calls.flat().join(' ')).toContain('a provider with authMethod tls_client_auth needs mtlsBinding')
  })
})

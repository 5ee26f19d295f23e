/**
 * A user's first mistakes, each with one clear, typed answer at the place it was made:
 * a split host, a missing environment variable, a typo'd URL, an unknown scope.
 */
import ky, { HTTPError } from 'ky'
import { describe, expect, it } from 'vitest'
import { abbeycross } from './dialects/abbeycross.ts'
import { edge } from './dialects/edge.ts'
import { oauth2 } from './dialects/oauth2.ts'
import { stablelink } from './dialects/stablelink.ts'
import { stonex } from './dialects/stonex.ts'
import { isPaymentAuthError, type PaymentAuthError } from './errors.ts'
import type { PaymentAuthEvent } from './events.ts'
import { withPaymentAuth } from './hooks.ts'
import { createTokenManager } from './manager.ts'
import { defineProvider } from './provider.ts'
import { json, SECRET } from '@payment-auth/test-support/provider'

const caught = (run: () => unknown): PaymentAuthError => {
  try {
    run()
  } catch (error) {
    if (isPaymentAuthError(error)) return error
    throw error
  }
  throw new Error('expected a PaymentAuthError')
}

const tokenAnswer = () => json({ access_token: 'tok-1', token_type: 'bearer', expires_in: 3600 })

describe('a split host (the API on another origin than the token URL)', () => {
  it('a request to another origin goes out without the token, and origin_skipped says so once per origin, with no token call', async () => {
    let tokenCalls = 0
    const seen: Array<string | null> = []
    const events: PaymentAuthEvent[] = []
    const api = ky.create({
      baseUrl: 'http://localhost:8790/api/',
      retry: 0,
      throwHttpErrors: false,
      fetch: async (input: Request | URL | string, init?: RequestInit) => (
        seen.push(new Request(input, init).headers.get('authorization')), json({}, 401)
      ),
    })
    const client = api.extend(
      withPaymentAuth({
        provider: oauth2({ tokenUrl: 'http://127.0.0.1:8790/oauth2/o/token/', clientId: 'id', clientSecret: SECRET }),
        fetch: async () => (tokenCalls++, tokenAnswer()),
        onEvent: (e) => events.push(e),
      }),
    )
    await client.get('a')
    await client.get('b')
    expect(seen).toEqual([null, null])
    expect(tokenCalls).toBe(0)
    expect(events).toEqual([{ type: 'origin_skipped', provider: 'oauth2', origin: 'http://localhost:8790' }])
  })

  it('apiBaseUrl makes the API origin the default, so the token reaches it', async () => {
    const seen: Array<string | null> = []
    const client = ky
      .create({
        baseUrl: 'https://api.pay.test/v1/',
        retry: 0,
        fetch: async (input: Request | URL | string, init?: RequestInit) => (
          seen.push(new Request(input, init).headers.get('authorization')), json({})
        ),
      })
      .extend(
        withPaymentAuth({
          provider: oauth2({
            tokenUrl: 'https://access.pay.test/connect/token',
            clientId: 'id',
            clientSecret: SECRET,
            apiBaseUrl: 'https://api.pay.test/v1',
          }),
          fetch: async () => tokenAnswer(),
        }),
      )
    await client.get('payments').json()
    expect(seen).toEqual(['Bearer tok-1'])
  })

  it('every dialect takes apiBaseUrl', () => {
    const api = 'https://api.split.test/base'
    expect(stablelink({ baseUrl: 'https://auth.test', apiKey: 'k', apiSecret: SECRET, apiBaseUrl: api }).origins).toEqual([
      'https://api.split.test',
    ])
    expect(stonex({ baseUrl: 'https://auth.test', clientId: 'c', clientSecret: SECRET, apiBaseUrl: api }).origins).toEqual([
      'https://api.split.test',
    ])
    expect(abbeycross({ baseUrl: 'https://auth.test', clientId: 'c', clientSecret: SECRET, apiBaseUrl: api }).origins).toEqual([
      'https://api.split.test',
    ])
    expect(oauth2({ tokenUrl: 'https://auth.test/t', clientId: 'c', clientSecret: SECRET, apiBaseUrl: api }).origins).toEqual([
      'https://api.split.test',
    ])
  })
})

describe('options are checked by the factory that was given them (invalid_config, the option named, never its value)', () => {
  it("edge({url: 'not a url'})", () => {
    const error = caught(() => edge({ url: 'not a url', provider: 'stablelink', credential: 'pa_key_secret_123' }))
    expect(error.code).toBe('invalid_config')
    expect(error.message).toBe('edge: `url` must be an absolute http(s) URL (got string)')
  })

  it("oauth2({tokenUrl: ''})", () => {
    const error = caught(() => oauth2({ tokenUrl: '', clientId: 'id', clientSecret: SECRET }))
    expect(error.message).toBe('oauth2: `tokenUrl` must be an absolute http(s) URL (got string)')
  })

  it('a clientSecret from an unset environment variable (undefined) fails before any request, without a token call', () => {
    const error = caught(() =>
      oauth2({ tokenUrl: 'https://auth.test/token', clientId: 'id', clientSecret: undefined as unknown as string }),
    )
    expect(error.code).toBe('invalid_config')
    expect(error.message).toBe(
      'oauth2: `clientSecret` is required for client_secret_basic (got undefined) (is an environment variable unset?)',
    )
  })

  it('any string option left undefined asks whether an environment variable is unset; other missing options do not', () => {
    const missing = (run: () => unknown) => caught(run).message
    expect(missing(() => stablelink({ baseUrl: 'https://auth.test', apiKey: undefined as never, apiSecret: 's' }))).toBe(
      'stablelink: `apiKey` must be a string (got undefined) (is an environment variable unset?)',
    )
    expect(missing(() => stonex({ baseUrl: undefined as never, clientId: 'c', clientSecret: 's' }))).toBe(
      'stonex: `baseUrl` must be a URL string (got undefined) (is an environment variable unset?)',
    )
    expect(missing(() => edge({ url: 'https://edge.test', provider: 'stablelink', credential: undefined as never }))).toMatch(
      /^edge: `credential` .* \(got undefined\) \(is an environment variable unset\?\)$/,
    )
    const provider = defineProvider({ name: 'p', buildTokenRequest: () => new Request('https://auth.test') })
    expect(missing(() => createTokenManager({ provider, store: {} as never }))).not.toContain('environment variable')
    expect(missing(() => stablelink({ baseUrl: 'https://auth.test', apiKey: null as never, apiSecret: 's' }))).toBe(
      'stablelink: `apiKey` must be a string (got null)',
    )
  })

  it('a secret of the wrong type is named, and its value never shown', () => {
    const error = caught(() => stablelink({ baseUrl: 'https://auth.test', apiKey: 'k', apiSecret: 12345678 as unknown as string }))
    expect(error.message).toBe('stablelink: `apiSecret` must be a string (got number)')
    expect(error.message).not.toContain('12345678')
  })

  it('a URL that carries a credential is not echoed', () => {
    const error = caught(() => stonex({ baseUrl: `ftp://user:${SECRET}@auth.test`, clientId: 'c', clientSecret: 's' }))
    expect(error.message).toBe('stonex: `baseUrl` must be an absolute http(s) URL (got string)')
  })

  it('withPaymentAuth, createTokenManager and defineProvider check theirs', () => {
    const provider = defineProvider({ name: 'p', buildTokenRequest: () => new Request('https://auth.test') })
    expect(caught(() => withPaymentAuth({ provider, origins: ['api.test'] })).message).toBe(
      'withPaymentAuth: `origins.0` must be an absolute http(s) URL (got string)',
    )
    expect(caught(() => createTokenManager({ provider, refreshAhead: -1 })).message).toBe(
      'createTokenManager: `refreshAhead` must not be negative (got number)',
    )
    expect(caught(() => createTokenManager({ provider, store: {} as never })).message).toBe(
      'createTokenManager: `store.get` must be a TokenStore: get, set and delete (got undefined)',
    )
    expect(caught(() => defineProvider({ name: '', buildTokenRequest: () => new Request('https://a.test') })).message).toBe(
      'defineProvider: `name` must not be empty (got string)',
    )
  })
})

describe('what the provider said is kept, redacted (providerCode, providerMessage)', () => {
  const fail = async (provider: ReturnType<typeof oauth2>, answer: Response) => {
    const tokens = createTokenManager({ provider, fetch: async () => answer.clone(), backoff: { limit: 0 } })
    return (await tokens.getToken().catch((e: unknown) => e)) as PaymentAuthError
  }

  it('RFC 6749: error and error_description', async () => {
    const error = await fail(
      oauth2({ tokenUrl: 'https://auth.test/t', clientId: 'c', clientSecret: SECRET, scope: 'bogus' }),
      json({ error: 'invalid_scope', error_description: 'unknown scope: bogus' }, 400),
    )
    expect(error).toMatchObject({
      code: 'invalid_request',
      status: 400,
      providerCode: 'invalid_scope',
      providerMessage: 'unknown scope: bogus',
    })
    expect(error.cause).toMatchObject({ name: 'HTTPError', message: 'the token endpoint answered HTTP 400' })
  })

  it('stablelink: retcode and retmsg from the envelope', async () => {
    const error = await fail(
      stablelink({ baseUrl: 'https://auth.test', apiKey: 'k', apiSecret: SECRET }),
      json({ retcode: 401, retmsg: 'invalid api key', success: false }),
    )
    expect(error).toMatchObject({ code: 'invalid_client', providerCode: '401', providerMessage: 'invalid api key' })
  })

  it('AbbeyCross: code and text; an echoed secret is removed, and the message is cut at 200 characters', async () => {
    const text = `client_secret ${SECRET} is wrong. ${'x'.repeat(400)}`
    const error = await fail(
      abbeycross({ baseUrl: 'https://auth.test', clientId: 'c', clientSecret: SECRET }),
      json({ errorId: 'e1', code: 'AUTH_FAILED', text }, 401),
    )
    expect(error.providerCode).toBe('AUTH_FAILED')
    expect(error.providerMessage).toHaveLength(200)
    expect(error.providerMessage).toContain('client_secret [redacted] is wrong.')
    expect(JSON.stringify(error)).not.toContain(SECRET)
  })

  it("the edge Worker's own error reaches an edge client as providerCode", async () => {
    const provider = edge({ url: 'https://edge.test', provider: 'oauth2', credential: 'caller-key-123' })
    const error = await fail(
      provider,
      json({ error: 'insufficient_scope', error_description: 'the requested scope is not allowed for this caller' }, 403),
    )
    expect(error).toMatchObject({
      code: 'forbidden',
      providerCode: 'insufficient_scope',
      providerMessage: 'the requested scope is not allowed for this caller',
    })
    const denied = await fail(
      provider,
      json({ error: 'access_denied', error_description: 'this caller may not use the provider oauth2' }, 403),
    )
    expect(denied).toMatchObject({ code: 'forbidden', providerCode: 'access_denied' })
  })

  it('a network error names the host, never the path or the query (stablelink puts its secret there)', async () => {
    const provider = stablelink({ baseUrl: 'https://auth.stablelink.test/base', apiKey: 'k', apiSecret: SECRET })
    const tokens = createTokenManager({ provider, fetch: async () => Promise.reject(new TypeError('fetch failed')), backoff: { limit: 0 } })
    const error = (await tokens.getToken().catch((e: unknown) => e)) as PaymentAuthError
    expect(error.code).toBe('network')
    expect(error.message).toBe('stablelink: token request to auth.stablelink.test failed (network)')
    expect(error.cause).toMatchObject({ name: 'TypeError', message: 'fetch failed' })
  })
})

describe('transparent to ky', () => {
  /** A Request from another realm or a polyfill: not an instance of this realm's Request. */
  class ForeignRequest {
    readonly url: string
    readonly method: string
    readonly headers: Headers
    readonly body: ReadableStream | null
    readonly signal: AbortSignal
    readonly redirect = 'follow' as const
    readonly credentials = 'same-origin' as const
    get [Symbol.toStringTag]() {
      return 'Request' // how ky 2 recognises a Request from another realm
    }
    clone() {
      return this
    }
    constructor(real: Request) {
      this.url = real.url
      this.method = real.method
      this.headers = new Headers(real.headers)
      this.body = real.body
      this.signal = real.signal
    }
  }

  it('a beforeRequest hook may return a Request-like object, for the token origin and for others', async () => {
    const seen: Array<{ url: string; authorization: string | null; body: string }> = []
    const inner = async (input: Request | URL | string, init?: RequestInit) => {
      const isForeign = input instanceof ForeignRequest
      const request = isForeign ? new Request((input as ForeignRequest).url) : new Request(input, init)
      seen.push({
        url: request.url,
        authorization: isForeign ? 'untouched foreign request' : request.headers.get('authorization'),
        body: isForeign ? '' : await request.text(),
      })
      return json({ ok: true })
    }
    const client = ky
      .create({ retry: 0, fetch: inner, hooks: { beforeRequest: [({ request }) => new ForeignRequest(request) as unknown as Request] } })
      .extend(
        withPaymentAuth({
          provider: oauth2({ tokenUrl: 'https://api.test/token', clientId: 'c', clientSecret: SECRET }),
          fetch: async () => tokenAnswer(),
        }),
      )
    await client.post('https://api.test/pay', { json: { amount: 1 } }).json()
    await client.get('https://elsewhere.test/x').json()
    expect(seen).toEqual([
      { url: 'https://api.test/pay', authorization: 'Bearer tok-1', body: '{"amount":1}' },
      { url: 'https://elsewhere.test/x', authorization: 'untouched foreign request', body: '' },
    ])
  })

  it('a token request that cannot be built is invalid_config, not invalid_response, and opens no breaker', async () => {
    let broken = true
    let tokenCalls = 0
    const provider = defineProvider({
      name: 'acme',
      buildTokenRequest: () => {
        if (broken) throw new Error('Headers is not a constructor')
        return new Request('https://auth.acme.test/token', { method: 'POST' })
      },
    })
    const events: PaymentAuthEvent[] = []
    const tokens = createTokenManager({ provider, fetch: async () => (tokenCalls++, tokenAnswer()), onEvent: (e) => events.push(e) })
    await expect(tokens.getToken()).rejects.toMatchObject({ code: 'invalid_config', message: 'acme: the token request could not be built' })
    broken = false
    expect(await tokens.getToken()).toBe('tok-1') // no breaker held it back
    expect(tokenCalls).toBe(1)
    expect(events.some((e) => e.type === 'breaker_open')).toBe(false)
  })

  it('a 401 that survives the replay is still ky HTTPError', async () => {
    const client = ky.create({ retry: 0, fetch: async () => json({}, 401) }).extend(
      withPaymentAuth({
        provider: oauth2({ tokenUrl: 'https://api.test/token', clientId: 'c', clientSecret: SECRET }),
        fetch: async () => tokenAnswer(),
      }),
    )
    await expect(client.get('https://api.test/x')).rejects.toThrow(HTTPError)
  })
})

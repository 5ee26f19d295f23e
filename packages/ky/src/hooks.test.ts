import ky, { HTTPError, isHTTPError } from 'ky'
import { describe, expect, it, vi } from 'vitest'
import { isPaymentAuthError } from './errors.ts'
import type { PaymentAuthEvent } from './events.ts'
import { withPaymentAuth, type PaymentAuthOptions } from './hooks.ts'
import { createTokenManager } from './manager.ts'
import { issue, json, testProvider, tick, tokenEndpoint } from '@payment-auth/test-support/provider'

/**
 * An API at https://api.test that accepts only the tokens in `valid`, echoes what it got,
 * and counts calls and 401s. `revoke()` makes every token issued so far invalid.
 */
function fakeApi() {
  const api = {
    valid: new Set<string>(),
    calls: 0,
    unauthorized: 0,
    seen: [] as Array<{ url: string; authorization: string | null }>,
    async fetch(input: Request | URL | string, init?: RequestInit): Promise<Response> {
      const request = new Request(input, init)
      api.calls++
      const authorization = request.headers.get('authorization')
      api.seen.push({ url: request.url, authorization })
      if (!authorization || !api.valid.has(authorization.replace(/^Bearer /, ''))) {
        api.unauthorized++
        return json({ error: 'invalid_token' }, 401)
      }
      const body = request.body ? await request.text() : ''
      return json({
        method: request.method,
        body,
        contentType: request.headers.get('content-type'),
        custom: request.headers.get('x-custom'),
        token: authorization,
      })
    },
  }
  return api
}

/** Token endpoint whose tokens the API accepts; `revoked` tokens are dropped from the API. */
function setup(options: Partial<PaymentAuthOptions> = {}, latencyMs = 0) {
  const api = fakeApi()
  const endpoint = tokenEndpoint(
    [
      (n) => {
        api.valid.add(`tok-${n + 1}`)
        return issue()(n)
      },
    ],
    latencyMs,
  )
  const events: PaymentAuthEvent[] = []
  const client = ky.create({ baseUrl: 'https://api.test/', fetch: api.fetch, retry: 0 }).extend(
    withPaymentAuth({
      provider: testProvider(),
      fetch: endpoint.fetch,
      backoff: { delay: 1, maxDelay: 20 },
      onEvent: (e) => events.push(e),
      ...options,
    }),
  )
  const revokeAll = () => api.valid.clear()
  return { api, endpoint, client, events, revokeAll }
}

describe('attaching the token', () => {
  it('sends Authorization: Bearer <token> with a capital B whatever the provider token_type', async () => {
    const { client, api } = setup()
    const body = await client.get('echo').json<{ token: string }>()
    expect(body.token).toBe('Bearer tok-1')
    expect(api.seen[0]!.authorization).toBe('Bearer tok-1')
  })

  it('1,000 concurrent requests on a cold cache make exactly 1 token call', async () => {
    const { client, endpoint, api } = setup({}, 20)
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => client.get(`echo/${i}`).json()))
    expect(results).toHaveLength(1000)
    expect(endpoint.calls).toBe(1)
    expect(api.unauthorized).toBe(0)
  })

  it('never sends the token to another origin, but still sends the request', async () => {
    const { client, api } = setup()
    await client.get('https://api.test.evil.example/steal', { throwHttpErrors: false })
    await client.get('http://api.test/plain-http', { throwHttpErrors: false })
    await client.get('https://other.test/x', { throwHttpErrors: false })
    expect(api.seen.map((s) => s.authorization)).toEqual([null, null, null])
  })

  it('the origins option replaces the default allow-list', async () => {
    const { client, api } = setup({ origins: ['https://gateway.test'] })
    await client.get('https://gateway.test/a').json()
    await client.get('https://api.test/b', { throwHttpErrors: false })
    expect(api.seen.map((s) => s.authorization)).toEqual(['Bearer tok-1', null])
  })

  it("ky's own Request never carries the token, so HTTPError.request does not either", async () => {
    const { client, revokeAll } = setup({ retryUnauthorized: false })
    await client.get('echo').json()
    revokeAll()
    const error = await client.get('echo').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(HTTPError)
    expect((error as HTTPError).request.headers.get('authorization')).toBeNull()
  })

  it("requests go through ky's fetch option even when it is set after withPaymentAuth", async () => {
    const { client, api } = setup()
    const other = fakeApi()
    other.valid = api.valid
    await client.extend({ fetch: other.fetch }).get('echo').json()
    expect(other.calls).toBe(1)
    expect(api.calls).toBe(0)
    expect(other.seen[0]!.authorization).toBe('Bearer tok-1')
  })

  it('a fetch given for one request is used, with the token', async () => {
    const { client, api } = setup()
    const other = fakeApi()
    other.valid = api.valid
    await client.get('echo', { fetch: other.fetch }).json()
    expect([other.calls, api.calls]).toEqual([1, 0])
    expect(other.seen[0]!.authorization).toBe('Bearer tok-1')
  })

  it('ky.create(withPaymentAuth(...)) works on its own, with the global fetch', async () => {
    const api = fakeApi()
    const endpoint = tokenEndpoint([
      (n) => {
        api.valid.add(`tok-${n + 1}`)
        return issue()(n)
      },
    ])
    vi.stubGlobal('fetch', api.fetch)
    try {
      const client = ky.create(withPaymentAuth({ provider: testProvider(), fetch: endpoint.fetch }))
      await client.get('https://api.test/a').json()
      api.valid.clear()
      expect(await client.get('https://api.test/b').json()).toMatchObject({ token: 'Bearer tok-2' })
      expect([api.calls, api.unauthorized, endpoint.calls]).toEqual([3, 1, 2])
    } finally {
      vi.unstubAllGlobals()
    }
  })

  it('the token work failing rejects with the PaymentAuthError itself, not wrapped', async () => {
    const endpoint = tokenEndpoint([() => json({ error: 'invalid_client' }, 401)])
    const api = fakeApi()
    const client = ky.extend({ fetch: api.fetch }).extend(withPaymentAuth({ provider: testProvider(), fetch: endpoint.fetch }))
    const error = await client.get('https://api.test/x').catch((e: unknown) => e)
    expect(isPaymentAuthError(error)).toBe(true)
    expect(error).toMatchObject({ code: 'invalid_client', provider: 'test' })
    expect(api.calls).toBe(0)
  })

  it('a missing provider is a typed error at setup', () => {
    // @ts-expect-error: neither a provider nor a shared manager
    expect(() => withPaymentAuth({})).toThrow(expect.objectContaining({ name: 'PaymentAuthError', code: 'invalid_config' }))
  })

  it('a shared token manager serves several ky instances with one token call', async () => {
    const endpoint = tokenEndpoint([issue()])
    const api = fakeApi()
    api.valid.add('tok-1')
    const tokens = createTokenManager({ provider: testProvider(), fetch: endpoint.fetch })
    const a = ky.create({ fetch: api.fetch }).extend(withPaymentAuth({ tokens }))
    const b = ky.create({ fetch: api.fetch, headers: { 'x-custom': 'b' } }).extend(withPaymentAuth({ tokens }))
    await Promise.all([a.get('https://api.test/1').json(), b.get('https://api.test/2').json()])
    expect(endpoint.calls).toBe(1)
  })

  it('an aborted request stops waiting for a slow token without cancelling it for others', async () => {
    const { client, endpoint } = setup({}, 100)
    const controller = new AbortController()
    const aborted = client.get('echo', { signal: controller.signal }).catch((e: unknown) => e)
    const other = client.get('echo').json<{ token: string }>()
    await tick(10)
    controller.abort()
    expect((await aborted) as Error).toMatchObject({ name: 'AbortError' })
    expect((await other).token).toBe('Bearer tok-1')
    expect(endpoint.calls).toBe(1)
  })
})

describe('401: compare-and-invalidate and replay once', () => {
  const bodies: Array<[string, () => Record<string, unknown>, (echo: { body: string; contentType: string | null }) => void]> = [
    [
      'JSON',
      () => ({ json: { amount: 100, currency: 'EUR' } }),
      (e) => expect(JSON.parse(e.body)).toEqual({ amount: 100, currency: 'EUR' }),
    ],
    ['URLSearchParams', () => ({ body: new URLSearchParams({ a: '1', b: 'two' }) }), (e) => expect(e.body).toBe('a=1&b=two')],
    ['text', () => ({ body: 'plain text body' }), (e) => expect(e.body).toBe('plain text body')],
    ['Blob', () => ({ body: new Blob(['blob-bytes'], { type: 'application/octet-stream' }) }), (e) => expect(e.body).toBe('blob-bytes')],
    [
      'FormData with a file',
      () => {
        const form = new FormData()
        form.set('note', 'hello')
        form.set('file', new File(['file-content-123'], 'receipt.txt', { type: 'text/plain' }))
        return { body: form }
      },
      (e) => {
        expect(e.contentType).toMatch(/^multipart\/form-data; boundary=/)
        expect(e.body).toContain('hello')
        expect(e.body).toContain('filename="receipt.txt"')
        expect(e.body).toContain('file-content-123')
      },
    ],
  ]

  it.each(bodies)('replays a %s body exactly once with the same method, headers and body', async (_, make, check) => {
    const { client, endpoint, api, revokeAll } = setup()
    await client.get('warm').json()
    revokeAll()
    const echo = await client
      .post('payments', { ...make(), headers: { 'x-custom': 'kept' } })
      .json<{ method: string; body: string; contentType: string | null; custom: string; token: string }>()
    expect(echo.method).toBe('POST')
    expect(echo.custom).toBe('kept')
    expect(echo.token).toBe('Bearer tok-2')
    check(echo)
    expect(endpoint.calls).toBe(2)
    expect(api.calls).toBe(3) // warm, 401, replay
  })

  it('works with ky retry: 0 and adds no ky retry (beforeRetry never runs)', async () => {
    const { client, revokeAll, endpoint } = setup()
    let beforeRetry = 0
    const strict = client.extend({ retry: 0, hooks: { beforeRetry: [() => void beforeRetry++] } })
    await strict.get('a').json()
    revokeAll()
    await strict.get('b').json()
    expect(beforeRetry).toBe(0)
    expect(endpoint.calls).toBe(2)
  })

  it("keeps the user's hooks and retry settings intact", async () => {
    const { client, revokeAll, api } = setup()
    const calls: string[] = []
    const custom = client.extend({
      retry: { limit: 3, statusCodes: [500] },
      hooks: {
        beforeRequest: [({ request }) => void request.headers.set('x-custom', 'from-hook')],
        afterResponse: [({ response }) => void calls.push(`after ${response.status}`)],
      },
    })
    await custom.get('a').json()
    revokeAll()
    const echo = await custom.get('b').json<{ custom: string }>()
    expect(echo.custom).toBe('from-hook')
    expect(calls).toEqual(['after 200', 'after 200']) // ky saw only the replayed answer
    expect(api.unauthorized).toBe(1)
  })

  it('a 401 that survives the one replay reaches the caller as ky HTTPError, after exactly 2 API calls', async () => {
    const api = fakeApi() // accepts no token at all
    const endpoint = tokenEndpoint([issue()])
    const client = ky.create({ fetch: api.fetch }).extend(withPaymentAuth({ provider: testProvider(), fetch: endpoint.fetch }))
    const error = await client.get('https://api.test/x').catch((e: unknown) => e)
    expect(isHTTPError(error) && error.response.status).toBe(401)
    expect(api.calls).toBe(2)
    expect(endpoint.calls).toBe(2)
  })

  it("a replayed request without a body leaves ky's Request without the token, and each send had its own token", async () => {
    const api = fakeApi() // accepts no token at all
    const endpoint = tokenEndpoint([issue()])
    const client = ky.create({ fetch: api.fetch }).extend(withPaymentAuth({ provider: testProvider(), fetch: endpoint.fetch }))
    const error = await client.get('https://api.test/x', { headers: { authorization: 'mine' } }).catch((e: unknown) => e)
    expect((error as HTTPError).request.headers.get('authorization')).toBe('mine')
    expect(api.seen.map((s) => s.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2'])
  })

  it("drops each 401's body, also when the token work then fails", async () => {
    let cancelled = 0
    const unauthorized = () =>
      new Response(new ReadableStream({ cancel: () => void cancelled++ }), { status: 401, headers: { 'content-type': 'application/json' } })
    const endpoint = tokenEndpoint([issue(), () => json({ error: 'invalid_client' }, 401)])
    const client = ky
      .create({ fetch: async () => unauthorized(), retry: 0 })
      .extend(withPaymentAuth({ provider: testProvider(), fetch: endpoint.fetch }))
    await expect(client.get('https://api.test/x')).rejects.toMatchObject({ code: 'invalid_client' })
    await tick()
    expect(cancelled).toBe(1)
  })

  it('the token endpoint itself is never retried on 401', async () => {
    const endpoint = tokenEndpoint([() => json({ error: 'invalid_client' }, 401)])
    const client = ky
      .create({ fetch: fakeApi().fetch, retry: 5 })
      .extend(withPaymentAuth({ provider: testProvider(), fetch: endpoint.fetch }))
    await expect(client.get('https://api.test/x')).rejects.toMatchObject({ code: 'invalid_client' })
    expect(endpoint.calls).toBe(1)
  })

  it('retryUnauthorized: false passes the 401 through without a replay', async () => {
    const { client, revokeAll, api, endpoint } = setup({ retryUnauthorized: false })
    await client.get('a').json()
    revokeAll()
    await expect(client.get('b')).rejects.toBeInstanceOf(HTTPError)
    expect(api.calls).toBe(2)
    expect(endpoint.calls).toBe(1)
  })

  it('a one-shot stream body gives body_not_replayable, never an empty replay', async () => {
    const { client, revokeAll, api } = setup()
    await client.get('a').json()
    revokeAll()
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'))
        controller.close()
      },
    })
    const error = await client.post('upload', { body: stream }).catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'PaymentAuthError', code: 'body_not_replayable', status: 401 })
    expect(api.calls).toBe(2) // no replay was sent
  })

  it('a revocation storm: 50 requests whose 401s arrive over ~200 ms make exactly 1 token call and 0 failures', async () => {
    const { client, endpoint, api, revokeAll } = setup({}, 30)
    await client.get('warm').json()
    revokeAll()
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, async (_, i) => {
        await tick(i * 4) // staggered over ~200 ms
        return i % 2 ? client.post('pay', { json: { i } }).json<{ body: string }>() : client.get(`get/${i}`).json<{ body: string }>()
      }),
    )
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(0)
    results.forEach((r, i) => {
      if (i % 2 && r.status === 'fulfilled') expect(JSON.parse(r.value.body)).toEqual({ i })
    })
    expect(endpoint.calls - 1).toBe(1)
    expect(api.unauthorized).toBeGreaterThan(0)
  })

  it('emits a replay event and no event carries the token', async () => {
    const { client, revokeAll, events } = setup()
    await client.get('a').json()
    revokeAll()
    await client.get('b').json()
    expect(events.filter((e) => e.type === 'replay')).toHaveLength(1)
    expect(JSON.stringify(events)).not.toMatch(/tok-\d/)
  })
})

describe('a revocation landing during a background refresh (the double fault)', () => {
  it('costs no request: the replay waits for a token acquired after the rejection, with one extra token call', async () => {
    const api = fakeApi()
    let clockT = Date.now()
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const endpoint = tokenEndpoint([
      (n) => (api.valid.add(`tok-${n + 1}`), issue(3600)(n)),
      // The background refresh: tok-2 is issued, then the revocation kills it before it is used.
      async (n) => (await gate, issue(3600)(n)),
      (n) => (api.valid.add(`tok-${n + 1}`), issue(3600)(n)),
    ])
    const client = ky
      .create({ baseUrl: 'https://api.test/', fetch: api.fetch, retry: 0 })
      .extend(withPaymentAuth({ provider: testProvider(), fetch: endpoint.fetch, now: () => clockT }))
    await client.get('warm').json()
    clockT += 3600_000 - 30_000 // soft window
    await client.get('starts-the-refresh').json() // served with tok-1; the refresh (tok-2) is held
    api.valid.clear() // the revocation: tok-1 and tok-2 die
    const answer = client.post('pay', { json: { amount: 100 } }).json<{ body: string; token: string }>()
    await tick(5)
    release()
    const paid = await answer
    expect(paid.token).toBe('Bearer tok-3')
    expect(JSON.parse(paid.body)).toEqual({ amount: 100 })
    expect(endpoint.calls).toBe(3)
  })

  it('costs no request when the refresh lands before the 401 does: a suspect replay token gets one more replay, after a new acquisition', async () => {
    const api = fakeApi()
    let clockT = Date.now()
    let releaseRefresh!: () => void
    const refreshHeld = new Promise<void>((resolve) => (releaseRefresh = resolve))
    let releaseApi!: () => void
    const apiHeld = new Promise<void>((resolve) => (releaseApi = resolve))
    const endpoint = tokenEndpoint([
      (n) => (api.valid.add(`tok-${n + 1}`), issue(3600)(n)),
      async (n) => (await refreshHeld, api.valid.add(`tok-${n + 1}`), issue(3600)(n)), // the background refresh: tok-2
      (n) => (api.valid.add(`tok-${n + 1}`), issue(3600)(n)),
    ])
    const slowApi = async (input: Request | URL | string, init?: RequestInit) => {
      const request = new Request(input, init)
      if (new URL(request.url).pathname === '/slow' && request.headers.get('authorization') === 'Bearer tok-1') await apiHeld
      return api.fetch(request)
    }
    const client = ky
      .create({ baseUrl: 'https://api.test/', fetch: slowApi, retry: 0 })
      .extend(withPaymentAuth({ provider: testProvider(), fetch: endpoint.fetch, now: () => clockT }))
    await client.get('warm').json()
    clockT += 3600_000 - 30_000 // soft window
    await client.get('starts-the-refresh').json() // tok-1, and the refresh starts (held)
    const slow = client.post('slow', { json: { amount: 7 } }).json<{ body: string; token: string }>() // sent with tok-1
    await tick(5)
    releaseRefresh()
    await tick(5) // tok-2 is current now
    api.valid.clear() // the revocation: tok-1 and tok-2 die
    releaseApi() // the slow request's 401 arrives only now
    const paid = await slow
    expect(paid.token).toBe('Bearer tok-3')
    expect(JSON.parse(paid.body)).toEqual({ amount: 7 })
    expect(endpoint.calls).toBe(3)
  })

  it('a permanent 401 does not loop: each request is sent twice at most and costs at most one token call', async () => {
    const { client, endpoint, api, revokeAll } = setup()
    await client.get('warm').json()
    revokeAll()
    const before = { calls: api.calls, tokens: endpoint.calls }
    api.valid.add = () => api.valid // the API accepts nothing any more
    for (let i = 0; i < 5; i++) await expect(client.get(`x/${i}`)).rejects.toThrow(HTTPError)
    expect(api.calls - before.calls).toBe(10)
    expect(endpoint.calls - before.tokens).toBeLessThanOrEqual(5)
  })
})

describe('options', () => {
  it('a manager option next to a shared `tokens` manager is invalid_config naming the option', () => {
    const tokens = createTokenManager({ provider: testProvider() })
    for (const option of ['refreshAhead', 'timeout', 'store', 'provider'] as const) {
      const options = { tokens, [option]: option === 'provider' ? testProvider() : option === 'store' ? {} : 5 }
      expect(() => withPaymentAuth(options as never)).toThrow(
        expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining(`\`${option}\``) }),
      )
    }
  })

  it('`tokens` that is not a token manager is invalid_config', () => {
    expect(() => withPaymentAuth({ tokens: {} as never })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })
})

/**
 * The proxy allow-list per caller (issue 13): deny by default, `{method, path}` rules with `*`,
 * matched after the traversal and encoding refusals, a refused call reaches no provider at all;
 * and the optional idempotency header on POSTs.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { proxyAllowed } from './proxy-rules.ts'
import * as edge from '../test/support.ts'
import { coldStart } from '../test/support.ts'
import type { Provider } from '../test/support.ts'

beforeEach(coldStart)

const KEY = 'pa_rules_caller_key'

async function withCaller(
  caller: Record<string, unknown>,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; credential?: string } = {},
) {
  const vars = {
    CALLERS: [
      { id: 'rules', keySha256: await edge.sha256Hex(KEY), providers: ['stablelink', 'oauth2', 'stonex'], scopes: ['read'], ...caller },
    ],
  }
  return edge.callWith(
    vars,
    edge.request(path, { method: init.method ?? 'GET', body: init.body, headers: init.headers ?? {}, credential: init.credential ?? KEY }),
  )
}

/** An RFC 6749 refusal with `status` and `error` (test support). */
const expectRefused = edge.expectErrorAnswer

async function nothingSent(...providers: Provider[]) {
  for (const provider of providers) {
    const stats = await edge.sandbox.stats(provider)
    expect(stats.tokenCalls + stats.resourceCalls).toBe(0)
  }
}

describe('the proxy allow-list', () => {
  it('a caller without a proxy list has no proxy access: 403 forbidden, no token call, no API call', async () => {
    await expectRefused(await withCaller({}, '/v1/proxy/stablelink/payments'), 403, 'forbidden')
    await expectRefused(await withCaller({ proxy: [] }, '/v1/proxy/stonex/payments', { method: 'POST', body: {} }), 403, 'forbidden')
    await nothingSent('stablelink', 'stonex')
  })

  it('a JWT caller has no proxy access', async () => {
    const jwt = await edge.callerJwt({ providers: ['stonex'] })
    await expectRefused(await withCaller({}, '/v1/proxy/stonex/payments', { credential: jwt }), 403, 'forbidden')
    await nothingSent('stonex')
  })

  it('an allowed method and path is forwarded; another method or path on the same provider is 403 with no upstream call', async () => {
    const caller = { proxy: [{ method: 'GET', path: 'stablelink/payments/*' }] }
    expect((await withCaller(caller, '/v1/proxy/stablelink/payments/42?x=1')).status).toBe(200)
    expect((await edge.sandbox.stats('stablelink')).resourceCalls).toBe(1)
    await expectRefused(await withCaller(caller, '/v1/proxy/stablelink/payments/42', { method: 'POST', body: {} }), 403, 'forbidden')
    await expectRefused(await withCaller(caller, '/v1/proxy/stablelink/payments/42/refunds'), 403, 'forbidden')
    await expectRefused(await withCaller(caller, '/v1/proxy/stablelink/payouts/1'), 403, 'forbidden')
    await expectRefused(await withCaller(caller, '/v1/proxy/stonex/payments/42'), 403, 'forbidden')
    expect((await edge.sandbox.stats('stablelink')).resourceCalls).toBe(1)
    await nothingSent('stonex')
  })

  it('traversal and encoding tricks are refused (400) before the allow-list is consulted, even with a match-all rule', async () => {
    const caller = { proxy: [{ method: '*', path: '*/**' }] }
    for (const path of [
      '/v1/proxy/stablelink/payments/..%2F..%2Fpayouts',
      '/v1/proxy/stablelink/a//b',
      '/v1/proxy/stablelink/%252e%252e/x',
    ]) {
      await expectRefused(await withCaller(caller, path), 400, 'invalid_request')
    }
    await nothingSent('stablelink')
  })

  it('a provider the caller may not use stays 403 access_denied whatever its rules say', async () => {
    const caller = { providers: ['stonex'], proxy: [{ method: '*', path: '*/**' }] }
    await expectRefused(await withCaller(caller, '/v1/proxy/stablelink/payments'), 403, 'access_denied')
    await nothingSent('stablelink')
  })

  it('a bad rule is a configuration error (plain 500), not an open proxy', async () => {
    const response = await withCaller({ proxy: [{ method: 'GET', path: 'stablelink/../x' }] }, '/v1/proxy/stablelink/x')
    expect(response.status).toBe(500)
    expect(await response.json()).toEqual({ error: 'server_error' })
  })
})

describe('requireIdempotencyKey', () => {
  const rules = [{ method: 'POST', path: 'stonex/payments' }]

  it('true: a POST without Idempotency-Key is 400 invalid_request with no upstream call; with it, forwarded', async () => {
    const caller = { proxy: rules, requireIdempotencyKey: true }
    await expectRefused(await withCaller(caller, '/v1/proxy/stonex/payments', { method: 'POST', body: {} }), 400, 'invalid_request')
    await nothingSent('stonex')
    const ok = await withCaller(caller, '/v1/proxy/stonex/payments', { method: 'POST', body: {}, headers: { 'idempotency-key': 'k-1' } })
    expect(ok.status).toBe(200)
  })

  it("a header name: the provider's own (PayPal-Request-Id) is required instead", async () => {
    const caller = { proxy: rules, requireIdempotencyKey: 'PayPal-Request-Id' }
    const without = await withCaller(caller, '/v1/proxy/stonex/payments', {
      method: 'POST',
      body: {},
      headers: { 'idempotency-key': 'k-1' },
    })
    await expectRefused(without, 400, 'invalid_request')
    const ok = await withCaller(caller, '/v1/proxy/stonex/payments', { method: 'POST', body: {}, headers: { 'paypal-request-id': 'r-1' } })
    expect(ok.status).toBe(200)
  })

  it('only POSTs need it', async () => {
    const caller = { proxy: [{ method: 'GET', path: 'stonex/payments' }], requireIdempotencyKey: true }
    expect((await withCaller(caller, '/v1/proxy/stonex/payments')).status).toBe(200)
  })
})

describe('proxyAllowed', () => {
  const r = (method: string, path: string) => ({ method, path })
  it.each([
    [[r('GET', 'a/b')], 'GET', 'a/b', true],
    [[r('GET', 'a/b')], 'get', 'a/b', true],
    [[r('GET', 'a/b')], 'GET', 'a/b/c', false],
    [[r('*', 'a/*')], 'DELETE', 'a/x', true],
    [[r('*', 'a/*')], 'GET', 'a/x/y', false],
    [[r('*', 'a/*')], 'GET', 'a/', true],
    [[r('GET', 'a/**')], 'GET', 'a', true],
    [[r('GET', 'a/**')], 'GET', 'a/x/y', true],
    [[r('GET', 'a/**')], 'GET', 'ab', false],
    [[r('GET', 'a/p*s')], 'GET', 'a/payments', true],
    [[r('GET', 'a.b')], 'GET', 'aXb', false],
    [[], 'GET', 'a', false],
  ])('%j allows %s %s: %s', (rules, method, path, allowed) => {
    expect(proxyAllowed(rules, method, path)).toBe(allowed)
  })
})

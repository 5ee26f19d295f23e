/**
 * Callers managed at run time (issue 13): the admin routes, ADMIN_KEY, keys shown once and
 * stored as SHA-256, rotation with overlap, deletion refused everywhere within the stated bound
 * (CALLER_CACHE_SECONDS), expiry, per-caller limits; static callers keep working.
 */
import { runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import { guardSecret } from '@payment-auth/test-support/guard'
import { registryOf } from './registry.ts'
import { forgetRateLimits } from './rate-limit.ts'
import { forgetCallers } from './registry.ts'
import * as edge from '../test/support.ts'
import { coldStart } from '../test/support.ts'
import type { CallOptions } from '../test/support.ts'

beforeEach(coldStart)

const ADMIN = env.ADMIN_KEY as string
const admin = (path: string, options: CallOptions = {}) => edge.call(path, { credential: ADMIN, ...options })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function create(body: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const response = await admin('/v1/admin/callers', { body })
  expect(response.status).toBe(201)
  expect(response.headers.get('cache-control')).toBe('no-store')
  const created = await edge.json<{ id: string; key: string }>(response)
  guardSecret(`registry key of ${created.id}`, created.key)
  return created
}

/** An RFC 6749 refusal with `status` and `error` (test support). */
const expectError = edge.expectErrorAnswer

/** Another isolate: nothing remembered about callers or rate limits. */
function freshIsolate() {
  forgetCallers()
  forgetRateLimits()
}

describe('admin authentication', () => {
  it('without ADMIN_KEY every admin route is 404 not_found, even with a credential', async () => {
    const off = { ADMIN_KEY: undefined }
    const routes: Array<[string, string]> = [
      ['POST', '/v1/admin/callers'],
      ['GET', '/v1/admin/callers'],
      ['POST', '/v1/admin/callers/x/rotate'],
      ['DELETE', '/v1/admin/callers/x'],
      ['GET', '/v1/admin/anything'],
    ]
    for (const [method, path] of routes) {
      await expectError(
        await edge.callWith(off, edge.request(path, { method, credential: ADMIN, body: method === 'POST' ? {} : undefined })),
        404,
        'not_found',
      )
    }
  })

  it('a missing or wrong admin key (a caller key included) is 401 invalid_token with WWW-Authenticate', async () => {
    for (const credential of [null, 'wrong-admin-key', 'pa_demo_caller_key_0001', `${ADMIN}x`]) {
      const response = await edge.call('/v1/admin/callers', { credential, body: { id: 'x', providers: ['stonex'] } })
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="payment-auth-admin"/)
      await expectError(response, 401, 'invalid_token')
    }
    expect(await registryOf(env).ids()).toEqual([])
  })

  it('the admin key is no caller credential', async () => {
    await expectError(await edge.token('stonex', { credential: ADMIN }), 401, 'invalid_token')
  })
})

describe('POST /v1/admin/callers', () => {
  it('creates a caller: the key is shown once, works at once, and only its SHA-256 is stored', async () => {
    const { id, key } = await create({ id: 'shop-1', providers: ['stonex', 'oauth2'], scopes: ['read'] })
    expect(id).toBe('shop-1')
    expect(key).toMatch(/^pa_[\w-]{43}$/)
    expect((await edge.token('stonex', { credential: key })).status).toBe(200)
    expect((await edge.token('oauth2', { credential: key, scope: 'read' })).status).toBe(200)
    await expectError(await edge.token('oauth2', { credential: key, scope: 'write' }), 403, 'insufficient_scope')
    await expectError(await edge.token('stablelink', { credential: key }), 403, 'access_denied')
    // No proxy list: no proxy access.
    await expectError(await edge.call('/v1/proxy/stonex/payments', { method: 'GET', credential: key }), 403, 'forbidden')

    const stored = await runInDurableObject(registryOf(env), async (_i, state) => [...(await state.storage.list()).entries()])
    const text = JSON.stringify(stored)
    expect(text).not.toContain(key)
    expect(stored.map(([k]) => k)).toContain(`key:${await edge.sha256Hex(key)}`)
    expect(await edge.json<{ callers: string[] }>(await admin('/v1/admin/callers', { method: 'GET' }))).toEqual({ callers: ['shop-1'] })
  })

  it('its proxy rules, idempotency header and own rate limit apply', async () => {
    const { key } = await create({
      id: 'shop-2',
      providers: ['stonex'],
      proxy: [{ method: 'POST', path: 'stonex/payments' }],
      requireIdempotencyKey: true,
      rateLimitPerMinute: 3,
    })
    await expectError(await edge.call('/v1/proxy/stonex/payments', { credential: key, body: {} }), 400, 'invalid_request')
    expect(
      (await edge.call('/v1/proxy/stonex/payments', { credential: key, body: {}, headers: { 'idempotency-key': 'i-1' } })).status,
    ).toBe(200)
    await expectError(await edge.call('/v1/proxy/stonex/payments', { method: 'GET', credential: key }), 403, 'forbidden')
    await expectError(await edge.token('stonex', { credential: key }), 429, 'rate_limited')
  })

  it.each([
    ['not JSON', '{"id":'],
    ['no providers', { id: 'a' }],
    ['a bad id', { id: 'a b', providers: ['stonex'] }],
    ['an unknown provider', { id: 'a', providers: ['nope'] }],
    ['an unknown field', { id: 'a', providers: ['stonex'], keySha256: 'x' }],
    ['a bad proxy rule', { id: 'a', providers: ['stonex'], proxy: [{ method: 'GET', path: '../x' }] }],
    ['an expiry in the past', { id: 'a', providers: ['stonex'], expiresAt: 1000 }],
  ])('refuses %s: 400 invalid_request', async (_what, body) => {
    await expectError(await admin('/v1/admin/callers', { body }), 400, 'invalid_request')
  })

  it('an id in use, by a registered or a static caller, is 409', async () => {
    await create({ id: 'twice', providers: ['stonex'] })
    await expectError(await admin('/v1/admin/callers', { body: { id: 'twice', providers: ['stonex'] } }), 409, 'invalid_request')
    await expectError(await admin('/v1/admin/callers', { body: { id: 'demo-frontend', providers: ['stonex'] } }), 409, 'invalid_request')
  })

  it('expiresAt: the key stops working then, cache or not', async () => {
    const { key } = await create({ id: 'brief', providers: ['stonex'], expiresAt: new Date(Date.now() + 1000).toISOString() })
    expect((await edge.token('stonex', { credential: key })).status).toBe(200)
    await sleep(1100)
    await expectError(await edge.token('stonex', { credential: key }), 401, 'invalid_token')
  })

  it('static callers keep working next to the registry', async () => {
    await create({ id: 'other', providers: ['stonex'] })
    expect((await edge.token('stonex')).status).toBe(200)
  })
})

describe('rotation and deletion', () => {
  it('rotate: a new key; the old one keeps working for overlapSeconds, then not', async () => {
    const { key: old } = await create({ id: 'rotating', providers: ['stonex'] })
    const response = await admin('/v1/admin/callers/rotating/rotate', { body: { overlapSeconds: 1 } })
    expect(response.status).toBe(200)
    const { id, key } = await edge.json<{ id: string; key: string }>(response)
    guardSecret('rotated key', key)
    expect(id).toBe('rotating')
    expect(key).not.toBe(old)
    expect((await edge.token('stonex', { credential: key })).status).toBe(200)
    expect((await edge.token('stonex', { credential: old })).status).toBe(200)
    await sleep(1100)
    // Even this isolate, which cached the old key, refuses it once its overlap ends.
    await expectError(await edge.token('stonex', { credential: old }), 401, 'invalid_token')
    expect((await edge.token('stonex', { credential: key })).status).toBe(200)
  })

  it('rotate without a body: the overlap is 3600 s', async () => {
    const { key: old } = await create({ id: 'default-overlap', providers: ['stonex'] })
    expect((await admin('/v1/admin/callers/default-overlap/rotate')).status).toBe(200)
    freshIsolate()
    expect((await edge.token('stonex', { credential: old })).status).toBe(200)
    const stored = await runInDurableObject(registryOf(env), (_i, state) =>
      state.storage.get<{ keys: Array<{ notAfter?: number }> }>('caller:default-overlap'),
    )
    const end = stored!.keys[0]!.notAfter!
    expect(end - Date.now()).toBeGreaterThan(3590_000)
    expect(end - Date.now()).toBeLessThanOrEqual(3600_000)
  })

  it('delete: 204, then refused by any isolate that did not cache the key', async () => {
    const { key } = await create({ id: 'gone', providers: ['stonex'] })
    expect((await edge.token('stonex', { credential: key })).status).toBe(200)
    const response = await admin('/v1/admin/callers/gone', { method: 'DELETE' })
    expect(response.status).toBe(204)
    freshIsolate()
    await expectError(await edge.token('stonex', { credential: key }), 401, 'invalid_token')
    await expectError(await admin('/v1/admin/callers/gone', { method: 'DELETE' }), 404, 'not_found')
  })

  it('the revocation bound: an isolate that cached the key refuses it within CALLER_CACHE_SECONDS', async () => {
    const vars = { CALLER_CACHE_SECONDS: '1' }
    const { key } = await create({ id: 'cached', providers: ['stonex'] })
    const ask = () => edge.callWith(vars, edge.request('/v1/token', { credential: key, body: { provider: 'stonex' } }))
    expect((await ask()).status).toBe(200)
    // Deleted through another isolate (the one that handles DELETE forgets the key at once, see below).
    await registryOf(env).remove('cached')
    // Inside the bound this isolate may still serve it from its cache...
    expect((await ask()).status).toBe(200)
    await sleep(1100)
    // ...past it, never.
    await expectError(await ask(), 401, 'invalid_token')
  })

  it('the isolate that handles the DELETE refuses the key at once, cache or not', async () => {
    const { key } = await create({ id: 'here', providers: ['stonex'] })
    expect((await edge.token('stonex', { credential: key })).status).toBe(200)
    expect((await admin('/v1/admin/callers/here', { method: 'DELETE' })).status).toBe(204)
    await expectError(await edge.token('stonex', { credential: key }), 401, 'invalid_token')
  })

  it('unknown callers: rotate and delete are 404', async () => {
    await expectError(await admin('/v1/admin/callers/nobody/rotate', { body: {} }), 404, 'not_found')
    await expectError(await admin('/v1/admin/callers/nobody', { method: 'DELETE' }), 404, 'not_found')
    await expectError(await admin('/v1/admin/callers/nobody/rotate', { body: { overlapSeconds: -1 } }), 400, 'invalid_request')
  })
})

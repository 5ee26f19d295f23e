import { env } from 'cloudflare:workers'
import { createTokenManager, defineProvider, type TokenRecord, type TokenStore } from '@payment-auth/ky'
import { describe, expect, it } from 'vitest'
import { fakeClock } from '@payment-auth/test-support/clock'
import { storeContract } from '@payment-auth/test-support/store-contract'
import { kvStore, type KvNamespaceLike } from './index.ts'

const TOKENS = (env as unknown as { TOKENS: KVNamespace }).TOKENS
let n = 0
const uniquePrefix = () => `t${++n}-${crypto.randomUUID()}:`
const prefixes = new WeakMap<TokenStore, string>()

storeContract({
  name: 'kvStore (workerd, miniflare KV)',
  create: ({ now }) => {
    const prefix = uniquePrefix()
    const store = kvStore(TOKENS, { prefix, now })
    prefixes.set(store, prefix)
    return store
  },
  writeRaw: (store, key, value) => TOKENS.put(prefixes.get(store)! + key, typeof value === 'string' ? value : JSON.stringify(value)),
  rawKeys: async (store) => (await TOKENS.list({ prefix: prefixes.get(store)! })).keys.map((k) => k.name),
})

const clock = () => fakeClock()
const record = (t: number, lifeMs: number): TokenRecord => ({
  v: 1,
  accessToken: `at-${crypto.randomUUID()}`,
  receivedAt: t,
  expiresAt: t + lifeMs,
})

describe('kvStore specifics', () => {
  it('floors expirationTtl at 60 s: a 5-second token is accepted by KV and expires at 60 s at the earliest', async () => {
    const prefix = uniquePrefix()
    const store = kvStore(TOKENS, { prefix })
    const before = Math.floor(Date.now() / 1000)
    await store.set('payment-auth:short', record(Date.now(), 5_000), { ttlSeconds: 5 })
    const [key] = (await TOKENS.list({ prefix })).keys
    expect(key!.expiration! - before).toBeGreaterThanOrEqual(59)
    expect(key!.expiration! - before).toBeLessThanOrEqual(62)
  })

  it('the real expiry inside the value wins over the floored TTL: a 5-second token is absent after 6 s while KV still holds it', async () => {
    const c = clock()
    const prefix = uniquePrefix()
    const store = kvStore(TOKENS, { prefix, now: c.now })
    const r = record(c.t, 5_000)
    await store.set('payment-auth:short', r, { ttlSeconds: 5 })
    expect(await store.get('payment-auth:short')).toEqual(r)
    c.t += 6_000
    expect(await store.get('payment-auth:short')).toBeUndefined()
    expect(await TOKENS.get(`${prefix}payment-auth:short`)).not.toBeNull()
  })

  it('a value of another format version reads as absent', async () => {
    const prefix = uniquePrefix()
    await TOKENS.put(`${prefix}payment-auth:old`, JSON.stringify({ ...record(Date.now(), 60_000), v: 0 }))
    expect(await kvStore(TOKENS, { prefix }).get('payment-auth:old')).toBeUndefined()
  })

  it('the prefix isolates tenants sharing one namespace', async () => {
    const a = kvStore(TOKENS, { prefix: uniquePrefix() })
    const b = kvStore(TOKENS, { prefix: uniquePrefix() })
    await a.set('payment-auth:k', record(Date.now(), 60_000), { ttlSeconds: 60 })
    expect(await b.get('payment-auth:k')).toBeUndefined()
  })
})

describe('the token manager over kvStore', () => {
  const provider = defineProvider({
    name: 'kvtest',
    key: `kvtest ${crypto.randomUUID()}`,
    buildTokenRequest: () => new Request('https://auth.test/token', { method: 'POST' }),
  })
  const endpoint = () => {
    const e = { calls: 0, fetch: async () => (e.calls++, Response.json({ access_token: `tok-${e.calls}`, expires_in: 3600 })) }
    return e
  }
  const counting = (inner: KvNamespaceLike) => {
    const c = {
      reads: 0,
      ns: {
        ...inner,
        get: (k: string, t: 'text') => (c.reads++, inner.get(k, t)),
        put: inner.put.bind(inner),
        delete: inner.delete.bind(inner),
      },
    }
    return c
  }

  it('1,000 warm requests make 0 KV reads: the in-memory L1 answers', async () => {
    const kv = counting(TOKENS)
    const e = endpoint()
    const tokens = createTokenManager({ provider, store: kvStore(kv.ns, { prefix: uniquePrefix() }), fetch: e.fetch })
    await tokens.getToken()
    const reads = kv.reads
    for (let i = 0; i < 1000; i++) await tokens.getToken()
    expect(kv.reads - reads).toBe(0)
    expect(e.calls).toBe(1)
  })

  it('a second isolate (another manager) adopts the token from KV with 0 token calls', async () => {
    const prefix = uniquePrefix()
    const first = endpoint()
    const second = endpoint()
    await createTokenManager({ provider, store: kvStore(TOKENS, { prefix }), fetch: first.fetch }).getToken()
    const token = await createTokenManager({ provider, store: kvStore(TOKENS, { prefix }), fetch: second.fetch }).getToken()
    expect(token).toBe('tok-1')
    expect(second.calls).toBe(0)
  })
})

describe('options', () => {
  it('a missing binding is invalid_config from kvStore itself, not a crash on the first request', () => {
    expect(() => kvStore(undefined as unknown as KvNamespaceLike)).toThrow(
      expect.objectContaining({
        code: 'invalid_config',
        message: 'kvStore: `namespace` must be a KV namespace binding, e.g. env.TOKENS (is the binding configured?) (got undefined)',
      }),
    )
    expect(() => kvStore(env.TOKENS, { prefix: 7 as unknown as string })).toThrow(
      expect.objectContaining({ message: 'kvStore: `options.prefix` must be a string (got number)' }),
    )
  })
})

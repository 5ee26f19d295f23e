import 'fake-indexeddb/auto'
import { createTokenManager, type PaymentAuthEvent, type TokenRecord } from '@payment-auth/ky'
import { createStore, keys, set as idbSet } from 'idb-keyval'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { idbStore, type IdbStore, type IdbStoreEvent } from './index.ts'
import { fakeClock } from '@payment-auth/test-support/clock'
import { testProvider, tick, tokenEndpoint } from '@payment-auth/test-support/provider'
import { idbContract, uniqueDb } from '../test/util.ts'

afterEach(() => {
  vi.restoreAllMocks()
  vi.unstubAllGlobals()
})

idbContract('idbStore (fake-indexeddb)')

/** Every store of this file reads this clock, and its records are stamped by it. */
const clock = fakeClock()
const now = clock.t
const record = (over: Partial<TokenRecord> = {}): TokenRecord => ({
  v: 1,
  accessToken: 'tok-' + Math.random().toString(36).slice(2),
  receivedAt: now,
  expiresAt: now + 3600_000,
  ...over,
})

function withEvents(options: Parameters<typeof idbStore>[0] = {}) {
  const events: IdbStoreEvent[] = []
  const store = idbStore({ now: clock.now, dbName: uniqueDb(), onEvent: (e) => events.push(e), ...options })
  return { store, events }
}

describe('idbStore on IndexedDB', () => {
  it('uses its own database and object store, never idb-keyval’s default one', async () => {
    const dbName = uniqueDb()
    const store = idbStore({ dbName, now: clock.now })
    const r = record()
    await store.set('payment-auth:own', r, { ttlSeconds: 60 })
    expect(await keys(createStore(dbName, 'tokens'))).toEqual(['payment-auth:own'])
    const names = (await indexedDB.databases()).map((d) => d.name)
    expect(names).toContain(dbName)
    expect(names).not.toContain('keyval-store')
  })

  it('honours the storeName option', async () => {
    const dbName = uniqueDb()
    const store = idbStore({ dbName, storeName: 'other', now: clock.now })
    await store.set('payment-auth:x', record(), { ttlSeconds: 60 })
    expect(await keys(createStore(dbName, 'other'))).toEqual(['payment-auth:x'])
  })

  it('a record whose access token expired is still served while its refresh token lives, not after', async () => {
    let t = now
    const store = idbStore({ dbName: uniqueDb(), now: () => t })
    const r = record({ expiresAt: now + 1000, refreshToken: 'rt', refreshExpiresAt: now + 5000 })
    await store.set('payment-auth:rt', r, { ttlSeconds: 5 })
    t = now + 2000
    expect(await store.get('payment-auth:rt')).toEqual(r)
    t = now + 5000
    expect(await store.get('payment-auth:rt')).toBeUndefined()
  })

  it('does not open IndexedDB before the first use, and opens it once', async () => {
    const open = vi.spyOn(indexedDB, 'open')
    const store = idbStore({ dbName: uniqueDb(), now: clock.now })
    expect(open).toHaveBeenCalledTimes(0)
    await store.get('payment-auth:a')
    await store.set('payment-auth:a', record(), { ttlSeconds: 60 })
    await store.get('payment-auth:a')
    expect(open).toHaveBeenCalledTimes(1)
  })

  it('reports nothing while IndexedDB works', async () => {
    const { store, events } = withEvents()
    await store.set('payment-auth:a', record(), { ttlSeconds: 60 })
    await store.get('payment-auth:a')
    await store.delete('payment-auth:a')
    expect(events).toEqual([])
  })
})

describe('degradation to memory', () => {
  const fallbackEvent = { type: 'store_fallback', store: 'idb', reason: 'indexeddb_unavailable' }

  async function stillWorks(store: IdbStore) {
    const r = record()
    expect(await store.get('payment-auth:d')).toBeUndefined()
    await store.set('payment-auth:d', r, { ttlSeconds: 60 })
    expect(await store.get('payment-auth:d')).toEqual(r)
    await store.delete('payment-auth:d')
    expect(await store.get('payment-auth:d')).toBeUndefined()
  }

  it('without indexedDB it keeps working in memory and reports it exactly once', async () => {
    vi.stubGlobal('indexedDB', undefined)
    const { store, events } = withEvents()
    await stillWorks(store)
    await stillWorks(store)
    expect(events).toEqual([fallbackEvent])
  })

  it('when open fails (private mode, refused) it keeps working in memory, reports once and stops retrying IndexedDB', async () => {
    const open = vi.spyOn(indexedDB, 'open').mockImplementation(() => {
      const request = {} as IDBOpenDBRequest & { error: DOMException }
      setTimeout(() => {
        request.error = new DOMException(
          'A mutation operation was attempted on a database that did not allow mutations.',
          'InvalidStateError',
        )
        request.onerror?.(new Event('error'))
      })
      return request
    })
    const { store, events } = withEvents()
    await stillWorks(store)
    await stillWorks(store)
    expect(open).toHaveBeenCalledTimes(1)
    expect(events).toEqual([fallbackEvent])
  })

  it('when open throws synchronously (sandboxed frame) it keeps working in memory', async () => {
    vi.spyOn(indexedDB, 'open').mockImplementation(() => {
      throw new DOMException('denied', 'SecurityError')
    })
    const { store, events } = withEvents()
    await stillWorks(store)
    expect(events).toEqual([fallbackEvent])
  })

  it('when open hangs (blocked upgrade) it falls back after openTimeout', async () => {
    vi.spyOn(indexedDB, 'open').mockImplementation(() => ({}) as IDBOpenDBRequest)
    const { store, events } = withEvents({ openTimeout: 50 })
    const started = Date.now()
    expect(await store.get('payment-auth:h')).toBeUndefined()
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
    await stillWorks(store)
    expect(events).toEqual([fallbackEvent])
  })

  it('when a write fails (QuotaExceeded) the record is kept in memory and still served', async () => {
    const { store, events } = withEvents()
    await store.get('payment-auth:q') // connected and healthy
    expect(events).toEqual([])
    const put = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('quota', 'QuotaExceededError')
    })
    const r = record()
    await store.set('payment-auth:q', r, { ttlSeconds: 60 })
    expect(put).toHaveBeenCalledTimes(2) // tried, retried once, then memory
    expect(await store.get('payment-auth:q')).toEqual(r)
    expect(events).toEqual([fallbackEvent])
  })

  it('a throwing onEvent listener does not break the store', async () => {
    vi.stubGlobal('indexedDB', undefined)
    let calls = 0
    const store = idbStore({
      now: clock.now,
      onEvent: () => {
        calls++
        throw new Error('listener bug')
      },
    })
    await stillWorks(store)
    expect(calls).toBe(1)
  })

  it('without Web Locks, lock runs the work directly and reports it once', async () => {
    expect((navigator as Navigator & { locks?: unknown }).locks ?? undefined).toBeUndefined() // happy-dom: null
    const { store, events } = withEvents()
    expect(await store.lock('payment-auth:l', async () => 'a')).toBe('a')
    expect(await store.lock('payment-auth:l', async () => 'b')).toBe('b')
    await expect(store.lock('payment-auth:l', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(events).toEqual([{ type: 'store_fallback', store: 'idb', reason: 'locks_unavailable' }])
  })

  it('without BroadcastChannel, subscribe is a no-op, set still stores, and it is reported once', async () => {
    vi.stubGlobal('BroadcastChannel', undefined)
    const { store, events } = withEvents()
    const heard: unknown[] = []
    const stop = store.subscribe('payment-auth:b', (r) => heard.push(r))
    const r = record()
    await store.set('payment-auth:b', r, { ttlSeconds: 60 })
    await store.delete('payment-auth:b')
    stop()
    expect(heard).toEqual([])
    expect(events).toEqual([{ type: 'store_fallback', store: 'idb', reason: 'broadcast_unavailable' }])
  })
})

describe('subscribe (BroadcastChannel between stores of one database)', () => {
  function pair() {
    const dbName = uniqueDb()
    const a = idbStore({ dbName, now: clock.now })
    const b = idbStore({ dbName, now: clock.now })
    const heardA: Array<TokenRecord | undefined> = []
    const heardB: Array<TokenRecord | undefined> = []
    const stops = [a.subscribe('payment-auth:k', (r) => heardA.push(r)), b.subscribe('payment-auth:k', (r) => heardB.push(r))]
    return { dbName, a, b, heardA, heardB, stop: () => stops.forEach((s) => s()) }
  }

  it('another store hears a set (the record) and a delete (undefined); the writer does not hear itself', async () => {
    const { a, heardA, heardB, stop } = pair()
    const r = record()
    await a.set('payment-auth:k', r, { ttlSeconds: 60 })
    await vi.waitFor(() => expect(heardB).toHaveLength(1))
    await a.delete('payment-auth:k')
    await vi.waitFor(() => expect(heardB).toHaveLength(2))
    await tick(20)
    expect(heardB).toEqual([r, undefined])
    expect(heardA).toEqual([])
    stop()
  })

  it('other keys, foreign and corrupt messages on the channel are ignored', async () => {
    const { dbName, a, heardB, stop } = pair()
    const intruder = new BroadcastChannel(`payment-auth-idb:${dbName}/tokens`)
    intruder.postMessage('garbage')
    intruder.postMessage(null)
    intruder.postMessage({ key: 'payment-auth:k', record: { v: 2, accessToken: 'x' } })
    intruder.postMessage({ key: 'payment-auth:k', record: 'tok' })
    intruder.postMessage({ key: 'payment-auth:k' })
    await a.set('payment-auth:other', record(), { ttlSeconds: 60 })
    const r = record()
    intruder.postMessage({ key: 'payment-auth:k', record: r }) // well-formed: delivered
    await vi.waitFor(() => expect(heardB).toHaveLength(1))
    await tick(20)
    expect(heardB).toEqual([r])
    intruder.close()
    stop()
  })

  it('a push is delivered even while this store holds the lock (the manager adopts it; its re-read then agrees)', async () => {
    const { a, b, heardB, stop } = pair()
    const r1 = record()
    await b.lock('payment-auth:k', async () => {
      await a.set('payment-auth:k', r1, { ttlSeconds: 60 })
      await vi.waitFor(() => expect(heardB).toEqual([r1]))
    })
    expect(await b.get('payment-auth:k')).toEqual(r1) // what the holder re-reads
    stop()
  })

  it('after unsubscribe nothing more is heard', async () => {
    const { a, heardB, stop } = pair()
    stop()
    await a.set('payment-auth:k', record(), { ttlSeconds: 60 })
    await tick(30)
    expect(heardB).toEqual([])
  })
})

describe('a token manager over idbStore', () => {
  it('1,000 warm getToken() calls make 0 store reads and 0 IndexedDB reads (the in-memory L1)', async () => {
    const endpoint = tokenEndpoint()
    const store = idbStore({ dbName: uniqueDb() })
    const tokens = createTokenManager({ provider: testProvider(), store, fetch: endpoint.fetch })
    expect(await tokens.getToken()).toBe('tok-1')
    const storeGets = vi.spyOn(store, 'get')
    const idbGets = vi.spyOn(IDBObjectStore.prototype, 'get')
    for (let i = 0; i < 1000; i++) expect(await tokens.getToken()).toBe('tok-1')
    expect(storeGets).toHaveBeenCalledTimes(0)
    expect(idbGets).toHaveBeenCalledTimes(0)
    expect(endpoint.calls).toBe(1)
    // the spies do count: a cold manager over the same store reads it
    const cold = createTokenManager({ provider: testProvider(), store, fetch: endpoint.fetch })
    expect(await cold.getToken()).toBe('tok-1')
    expect(storeGets).toHaveBeenCalledTimes(1)
    expect(idbGets).toHaveBeenCalledTimes(1)
  })

  it('a second manager on the same database (another tab) adopts the first one’s token with 0 token calls', async () => {
    const dbName = uniqueDb()
    const endpoint = tokenEndpoint(10)
    const first = createTokenManager({ provider: testProvider(), store: idbStore({ dbName }), fetch: endpoint.fetch })
    expect(await first.getToken()).toBe('tok-1')
    expect(endpoint.calls).toBe(1)

    const events: PaymentAuthEvent[] = []
    const second = createTokenManager({
      provider: testProvider(),
      store: idbStore({ dbName }),
      fetch: endpoint.fetch,
      onEvent: (e) => events.push(e),
    })
    expect(await second.getToken()).toBe('tok-1')
    expect(endpoint.calls).toBe(1)
    expect(events.map((e) => e.type)).toEqual(['token_adopted'])
  })

  it('after one manager replaces a rejected token, the other serves the new one without a token call', async () => {
    const dbName = uniqueDb()
    const endpoint = tokenEndpoint(10)
    const a = createTokenManager({ provider: testProvider(), store: idbStore({ dbName }), fetch: endpoint.fetch })
    const b = createTokenManager({ provider: testProvider(), store: idbStore({ dbName }), fetch: endpoint.fetch })
    expect(await a.getToken()).toBe('tok-1')
    expect(await b.getToken()).toBe('tok-1')
    expect(endpoint.calls).toBe(1)
    await a.invalidate('tok-1')
    expect(await a.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
    await vi.waitFor(() => expect(b.peek()).toBe('tok-2')) // pushed over BroadcastChannel
    expect(await b.getToken()).toBe('tok-2')
    expect(endpoint.calls).toBe(2)
  })
})

describe('options', () => {
  it('a mistake is invalid_config from idbStore itself, naming the option', () => {
    expect(() => idbStore({ lockTimeout: -1 })).toThrow(
      expect.objectContaining({ code: 'invalid_config', message: 'idbStore: `lockTimeout` must not be negative (got number)' }),
    )
    expect(() => idbStore({ dbName: '' })).toThrow(
      expect.objectContaining({ code: 'invalid_config', message: 'idbStore: `dbName` must not be empty (got string)' }),
    )
  })
})

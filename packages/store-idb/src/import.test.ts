import { describe, expect, it } from 'vitest'

describe('@payment-auth/store-idb in Node (no IndexedDB, no Web Locks)', () => {
  it('importing the module and constructing idbStore() does not throw or touch IndexedDB', async () => {
    expect(typeof (globalThis as { indexedDB?: unknown }).indexedDB).toBe('undefined')
    const events: unknown[] = []
    const { idbStore } = await import('./index.ts')
    const store = idbStore({ onEvent: (e) => events.push(e) })
    expect(typeof store.get).toBe('function')
    expect(events).toEqual([]) // construction is lazy: nothing probed, nothing reported
  })

  it('on first use it falls back to memory, keeps working and reports it once', async () => {
    const { idbStore } = await import('./index.ts')
    const events: unknown[] = []
    const store = idbStore({ onEvent: (e) => events.push(e) })
    const record = { v: 1 as const, accessToken: 'tok-node', receivedAt: Date.now(), expiresAt: Date.now() + 60_000 }
    expect(await store.get('payment-auth:k')).toBeUndefined()
    await store.set('payment-auth:k', record, { ttlSeconds: 60 })
    expect(await store.get('payment-auth:k')).toEqual(record)
    await store.delete('payment-auth:k')
    expect(await store.get('payment-auth:k')).toBeUndefined()
    expect(events).toEqual([{ type: 'store_fallback', store: 'idb', reason: 'indexeddb_unavailable' }])
  })
})

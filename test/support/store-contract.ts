/**
 * The contract every `TokenStore` passes (memory, IndexedDB, Workers KV). Call it from an
 * adapter's test file with a factory; `writeRaw` plants a corrupt or foreign value.
 */
import { describe, expect, it } from 'vitest'
import type { TokenRecord, TokenStore } from '@payment-auth/ky'
import { fakeClock } from './clock.ts'
import { tokenRecord } from './record.ts'

export interface StoreContractOptions {
  name: string
  /** A fresh, empty store reading time from `now` (ms). */
  create(options: { now: () => number }): TokenStore | Promise<TokenStore>
  /** Writes a raw value under a key, bypassing the adapter (to plant corrupt records). */
  writeRaw?(store: TokenStore, key: string, value: unknown): Promise<void> | void
  /** Every key the backend holds, as stored (prefixes included). */
  rawKeys?(store: TokenStore): Promise<string[]> | string[]
}

export function storeContract({ name, create, writeRaw, rawKeys }: StoreContractOptions) {
  describe(`TokenStore contract: ${name}`, () => {
    const clock = fakeClock()
    const record = (over: Partial<TokenRecord> = {}): TokenRecord =>
      tokenRecord(clock, {
        accessToken: 'at-ünïcødé-€-' + Math.random().toString(36).slice(2),
        refreshToken: 'rt-1',
        refreshExpiresAt: clock.t + 7200_000,
        scope: 'read write',
        ...over,
      })
    const fresh = () => create({ now: clock.now })

    it('get on an empty store is undefined', async () => {
      expect(await (await fresh()).get('payment-auth:missing')).toBeUndefined()
    })

    it('a record survives a round trip unchanged', async () => {
      const store = await fresh()
      const r = record()
      await store.set('payment-auth:a', r, { ttlSeconds: 7200 })
      expect(await store.get('payment-auth:a')).toEqual(r)
    })

    it('a record without optional fields survives unchanged', async () => {
      const store = await fresh()
      const r = tokenRecord(clock, { accessToken: 'x', lifeMs: 60_000 })
      await store.set('payment-auth:min', r, { ttlSeconds: 60 })
      expect(await store.get('payment-auth:min')).toEqual(r)
    })

    it('set replaces, delete removes, keys are independent', async () => {
      const store = await fresh()
      const [a, b, c] = [record(), record(), record()]
      await store.set('payment-auth:k1', a, { ttlSeconds: 3600 })
      await store.set('payment-auth:k2', b, { ttlSeconds: 3600 })
      await store.set('payment-auth:k1', c, { ttlSeconds: 3600 })
      expect(await store.get('payment-auth:k1')).toEqual(c)
      await store.delete('payment-auth:k1')
      expect(await store.get('payment-auth:k1')).toBeUndefined()
      expect(await store.get('payment-auth:k2')).toEqual(b)
      await store.delete('payment-auth:never-set') // deleting nothing is fine
    })

    it('expiry is honoured on read', async () => {
      const store = await fresh()
      await store.set('payment-auth:ttl', record({ expiresAt: clock.t + 30_000, refreshExpiresAt: clock.t + 30_000 }), { ttlSeconds: 30 })
      clock.t += 31_000
      expect(await store.get('payment-auth:ttl')).toBeUndefined()
    })

    it('concurrent sets and gets never return a torn or foreign record', async () => {
      const store = await fresh()
      const records = Array.from({ length: 20 }, () => record())
      const reads = await Promise.all(
        records.flatMap((r) => [store.set('payment-auth:race', r, { ttlSeconds: 3600 }), store.get('payment-auth:race')]),
      )
      for (const read of reads) if (read !== undefined) expect(records).toContainEqual(read)
      expect(records).toContainEqual(await store.get('payment-auth:race'))
    })

    if (writeRaw) {
      it.each([
        ['a string', 'not json {'],
        ['a number', 42],
        ['null', null],
        ['another version', { v: 2, accessToken: 'x', receivedAt: 1, expiresAt: 2 }],
        ['a record without a token', { v: 1, receivedAt: clock.t, expiresAt: clock.t + 3600_000 }],
        ['a prototype-pollution attempt', JSON.parse('{"__proto__":{"polluted":true},"v":1}')],
      ])('a corrupt or foreign value (%s) reads as absent', async (_, value) => {
        const store = await fresh()
        await writeRaw(store, 'payment-auth:corrupt', value)
        expect(await store.get('payment-auth:corrupt')).toBeUndefined()
        expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      })
    }

    if (rawKeys) {
      it('stores nothing under a key but the one it was given (plus its prefix)', async () => {
        const store = await fresh()
        await store.set('payment-auth:oauth2 https://x.test/o/token/ client-1 read', record(), { ttlSeconds: 60 })
        const keys = await rawKeys(store)
        expect(keys).toHaveLength(1)
        expect(keys[0]).toContain('payment-auth:oauth2 https://x.test/o/token/ client-1 read')
      })
    }
  })
}

import { defineProvider, type Provider } from '@payment-auth/ky'
import { createStore, keys, set as idbSet } from 'idb-keyval'
import { storeContract } from '../../../ky/src/store.contract.ts'
import { idbStore } from '../index.ts'

let seq = 0
/** A database name no other test uses. */
export const uniqueDb = (prefix = 'payment-auth-test') => `${prefix}-${Date.now().toString(36)}-${(seq++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`

/** A minimal provider whose token request goes to `https://auth.test/token` (answered by a fake fetch). */
export function testProvider(): Provider {
  return defineProvider({
    name: 'test',
    key: 'test https://auth.test/token client-1',
    origins: ['https://api.test'],
    buildTokenRequest: () => new Request('https://auth.test/token', { method: 'POST', body: '{}' }),
  })
}

/** A token endpoint that counts its calls and issues `tok-1`, `tok-2`, ... after `latencyMs`. */
export function tokenEndpoint(latencyMs = 0) {
  const state = { calls: 0 }
  const fetch = async (_input: Request, _init?: RequestInit) => {
    const n = ++state.calls
    if (latencyMs) await new Promise((r) => setTimeout(r, latencyMs))
    return new Response(JSON.stringify({ access_token: `tok-${n}`, token_type: 'Bearer', expires_in: 3600 }), {
      headers: { 'content-type': 'application/json' },
    })
  }
  return Object.assign(state, { fetch })
}

export const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms))

/** The shared TokenStore contract against idbStore, one fresh database per store (happy-dom and Chromium). */
export function idbContract(name: string): void {
  const dbOf = new WeakMap<object, string>()
  storeContract({
    name,
    create: ({ now }) => {
      const dbName = uniqueDb()
      const store = idbStore({ now, dbName })
      dbOf.set(store, dbName)
      return store
    },
    writeRaw: (store, key, value) => idbSet(key, value, createStore(dbOf.get(store)!, 'tokens')),
    rawKeys: async (store) => (await keys(createStore(dbOf.get(store)!, 'tokens'))).map(String),
  })
}

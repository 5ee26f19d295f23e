/** Test support of store-idb (happy-dom and Chromium): fresh databases and the shared store contract. */
import { storeContract } from '@payment-auth/test-support/store-contract'
import { createStore, keys, set as idbSet } from 'idb-keyval'
import { idbStore } from '../src/index.ts'

let seq = 0
/** A database name no other test uses. */
export const uniqueDb = (prefix = 'payment-auth-test') =>
  `${prefix}-${Date.now().toString(36)}-${(seq++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`

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

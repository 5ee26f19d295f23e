/**
 * oidc-provider's storage for one test server: a Map per server with expiry, instead of the
 * library's development adapter (one LRU of 1,000 entries shared by every server in the
 * process, which warns at start and would evict tokens in a long test).
 */
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider'

interface Entry {
  payload: AdapterPayload
  /** Epoch ms, or Infinity. */
  expiresAt: number
}

/** An adapter factory whose models all live in one private Map. */
export function memoryAdapter(): AdapterFactory {
  const store = new Map<string, Entry>()
  const live = (key: string): AdapterPayload | undefined => {
    const entry = store.get(key)
    if (!entry) return undefined
    if (entry.expiresAt <= Date.now()) {
      store.delete(key)
      return undefined
    }
    return entry.payload
  }
  const findBy = (model: string, field: 'userCode' | 'uid', value: string) => {
    for (const key of store.keys()) {
      if (!key.startsWith(`${model}:`)) continue
      const payload = live(key)
      if (payload?.[field] === value) return payload
    }
    return undefined
  }
  return (model: string): Adapter => ({
    async upsert(id, payload, expiresIn) {
      store.set(`${model}:${id}`, {
        payload: { ...payload },
        expiresAt: expiresIn === undefined ? Infinity : Date.now() + expiresIn * 1000,
      })
    },
    async find(id) {
      return live(`${model}:${id}`)
    },
    async findByUserCode(userCode) {
      return findBy(model, 'userCode', userCode)
    },
    async findByUid(uid) {
      return findBy(model, 'uid', uid)
    },
    async consume(id) {
      const payload = live(`${model}:${id}`)
      if (payload) payload.consumed = Math.floor(Date.now() / 1000)
    },
    async destroy(id) {
      store.delete(`${model}:${id}`)
    },
    async revokeByGrantId(grantId) {
      for (const [key, entry] of store) if (entry.payload.grantId === grantId) store.delete(key)
    },
  })
}

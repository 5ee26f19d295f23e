/**
 * Real Chromium: real IndexedDB, Web Locks and BroadcastChannel. The "tabs" are dedicated module
 * workers of the test page's origin, which share all three with each other and with the page.
 */
import { createTokenManager } from '@payment-auth/ky'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { idbStore, type IdbStoreEvent } from './index.ts'
import type { EndpointAnswer, TabCommand, TabMessage } from '../test/tab.worker.ts'
import { testProvider, tick } from '@payment-auth/test-support/provider'
import { idbContract, uniqueDb } from '../test/util.ts'

idbContract('idbStore (Chromium IndexedDB)')

describe('the environment', () => {
  it('has the real APIs (no fallback, no event)', async () => {
    const events: IdbStoreEvent[] = []
    const store = idbStore({ dbName: uniqueDb(), onEvent: (e) => events.push(e) })
    const t = Date.now()
    const r = { v: 1 as const, accessToken: 'x', receivedAt: t, expiresAt: t + 60_000 }
    await store.set('payment-auth:env', r, { ttlSeconds: 60 })
    expect(await store.lock('payment-auth:env', async () => store.get('payment-auth:env'))).toEqual(r)
    store.subscribe('payment-auth:env', () => {})()
    expect(typeof navigator.locks.request).toBe('function')
    expect(events).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------
// Web Locks: exclusion and stealing, in the page

const lockKey = () => `payment-auth:lock-test ${Math.random().toString(36).slice(2)}`
const lockName = (key: string) => `payment-auth:${key}`

function stores(n: number, lockTimeout: number) {
  const events: IdbStoreEvent[] = []
  const list = Array.from({ length: n }, () => idbStore({ dbName: uniqueDb(), lockTimeout, onEvent: (e) => events.push(e) }))
  return { list, events, stolen: () => events.filter((e) => e.type === 'lock_stolen').length }
}

/** Work that records how many runs overlap. */
function overlapMeter() {
  const meter = { running: 0, max: 0, runs: 0 }
  const work = (ms: number) => async () => {
    meter.running++
    meter.runs++
    meter.max = Math.max(meter.max, meter.running)
    await tick(ms)
    meter.running--
    return meter.runs
  }
  return Object.assign(meter, { work })
}

/** A holder that takes the lock and never gives it back (a frozen tab). Resolves once it holds it. */
async function hungHolder(key: string) {
  let held!: () => void
  const holding = new Promise<void>((r) => (held = r))
  const outcome = navigator.locks
    .request(lockName(key), () => {
      held()
      return new Promise<never>(() => {})
    })
    .then(
      () => 'released',
      (e: DOMException) => e.name,
    )
  await holding
  return { outcome }
}

describe('lock (Web Locks)', () => {
  it('is exclusive across stores (contexts) for one key, and independent between keys', async () => {
    const { list, stolen } = stores(4, 10_000)
    const key = lockKey()
    const meter = overlapMeter()
    await Promise.all(list.flatMap((s) => [s.lock(key, meter.work(20)), s.lock(key, meter.work(20))]))
    expect(meter.runs).toBe(8)
    expect(meter.max).toBe(1)

    const other = overlapMeter()
    await Promise.all([list[0]!.lock(lockKey(), other.work(50)), list[1]!.lock(lockKey(), other.work(50))])
    expect(other.max).toBe(2)
    expect(stolen()).toBe(0)
  })

  it('returns what the work returns and rejects with what it throws', async () => {
    const { list } = stores(1, 10_000)
    expect(await list[0]!.lock(lockKey(), async () => 42)).toBe(42)
    await expect(list[0]!.lock(lockKey(), async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
  })

  it('a holder that finishes in time is waited for, never stolen from', async () => {
    const { list, stolen } = stores(2, 1000)
    const key = lockKey()
    const order: string[] = []
    const first = list[0]!.lock(key, async () => (await tick(200), order.push('first')))
    await tick(10)
    await list[1]!.lock(key, async () => order.push('second'))
    await first
    expect(order).toEqual(['first', 'second'])
    expect(stolen()).toBe(0)
  })

  it('a lock held forever by a hung holder is stolen after lockTimeout, once', async () => {
    const { list, events } = stores(1, 300)
    const key = lockKey()
    const { outcome } = await hungHolder(key)
    const started = performance.now()
    let ran = 0
    expect(await list[0]!.lock(key, async () => ++ran)).toBe(1)
    const waited = performance.now() - started
    expect(waited).toBeGreaterThanOrEqual(290)
    expect(waited).toBeLessThan(2000)
    expect(await outcome).toBe('AbortError') // the hung holder lost the lock
    expect(events).toEqual([{ type: 'lock_stolen', store: 'idb' }])
  })

  it('waiters that time out together steal once, then take turns (no cascade of steals)', async () => {
    const { list, stolen } = stores(3, 300)
    const key = lockKey()
    await hungHolder(key)
    const meter = overlapMeter()
    await Promise.all(list.map((s) => s.lock(key, meter.work(100))))
    expect(meter.runs).toBe(3)
    expect(meter.max).toBe(1)
    expect(stolen()).toBe(1)
  })

  it('a slow holder whose lock is stolen still gets its own result', async () => {
    const { list, stolen } = stores(2, 200)
    const key = lockKey()
    const slow = list[0]!.lock(key, async () => (await tick(700), 'slow result'))
    await tick(20)
    expect(await list[1]!.lock(key, async () => 'stealer result')).toBe('stealer result')
    expect(await slow).toBe('slow result')
    expect(stolen()).toBe(1)
  })
})

// ---------------------------------------------------------------------------------------------
// Multi-tab: token managers in module workers, the page plays the token endpoint

/** The token endpoint: counts calls (per tab too), answers `tok-N` after `latencyMs`; `hang(n)` calls never answer. */
function endpoint(latencyMs = 50, hang: (n: number) => boolean = () => false) {
  const state = { calls: 0, byTab: [] as number[] }
  const answer = (tab: number, worker: Worker, fetchId: number) => {
    const n = ++state.calls
    state.byTab[tab] = (state.byTab[tab] ?? 0) + 1
    if (hang(n)) return
    setTimeout(() => {
      const reply: EndpointAnswer = { fetchId, status: 200, body: { access_token: `tok-${n}`, token_type: 'Bearer', expires_in: 3600 } }
      worker.postMessage(reply)
    }, latencyMs)
  }
  return Object.assign(state, { answer })
}

type Endpoint = ReturnType<typeof endpoint>
type Command = TabCommand extends infer C ? (C extends TabCommand ? Omit<C, 'id'> : never) : never

const workers: Worker[] = []
afterEach(() => {
  for (const w of workers.splice(0)) w.terminate()
})

async function openTabs(n: number, api: Endpoint, options: { lockTimeout?: number } = {}) {
  const dbName = uniqueDb('payment-auth-tabs')
  const tabs = Array.from({ length: n }, (_, index) => {
    const worker = new Worker(new URL('../test/tab.worker.ts', import.meta.url), { type: 'module' })
    workers.push(worker)
    let next = 0
    const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
    worker.onmessage = (event: MessageEvent<TabMessage>) => {
      const m = event.data
      if ('fetch' in m) return api.answer(index, worker, m.fetch)
      const w = waiting.get(m.id)
      waiting.delete(m.id)
      if (m.ok) w?.resolve(m.value)
      else w?.reject(new Error(`tab ${index}: ${m.error}`))
    }
    worker.onerror = (e) => {
      for (const w of waiting.values()) w.reject(new Error(`tab ${index} crashed: ${e.message}`))
    }
    const call = <T = unknown>(command: Command): Promise<T> =>
      new Promise((resolve, reject) => {
        const id = ++next
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject })
        worker.postMessage({ ...command, id })
      })
    return {
      index,
      getToken: () => call<string>({ cmd: 'getToken' }),
      invalidate: (token: string) => call({ cmd: 'invalidate', token }),
      peek: () => call<string | null>({ cmd: 'peek' }),
      events: () => call<string[]>({ cmd: 'events' }),
      init: () => call({ cmd: 'init', dbName, ...(options.lockTimeout !== undefined && { lockTimeout: options.lockTimeout }) }),
    }
  })
  await Promise.all(tabs.map((t) => t.init()))
  return tabs
}

type Tab = Awaited<ReturnType<typeof openTabs>>[number]
const callsBy = (api: Endpoint, tabs: Tab[]) => tabs.reduce((sum, t) => sum + (api.byTab[t.index] ?? 0), 0)

describe('four tabs (module workers) sharing one idbStore database', () => {
  it('asking concurrently on a cold cache, they make exactly 1 token call between them and all get the same token', async () => {
    const api = endpoint(50)
    const tabs = await openTabs(4, api)
    const got = await Promise.all(tabs.flatMap((t) => [t.getToken(), t.getToken(), t.getToken()]))
    expect(api.calls).toBe(1)
    expect(new Set(got)).toEqual(new Set(['tok-1']))
    // and warm: no more calls
    expect(await Promise.all(tabs.map((t) => t.getToken()))).toEqual(['tok-1', 'tok-1', 'tok-1', 'tok-1'])
    expect(api.calls).toBe(1)
    const events = await Promise.all(tabs.map((t) => t.events()))
    expect(events.flat().filter((e) => e === 'token_acquired')).toHaveLength(1)
    // Each other tab's own acquisition ended with the stored token (pushes may come on top).
    expect(events.flat().filter((e) => e === 'token_adopted')).toHaveLength(3)
    expect(events.flat().filter((e) => e === 'store_fallback' || e === 'lock_stolen' || e === 'store_error')).toEqual([])
  })

  it('one tab reports a 401: it makes exactly 1 more token call and the other tabs serve the new token without a call of their own', async () => {
    const api = endpoint(50)
    const [reporter, ...others] = await openTabs(4, api)
    expect(await reporter!.getToken()).toBe('tok-1')
    expect(await Promise.all(others.map((t) => t.getToken()))).toEqual(['tok-1', 'tok-1', 'tok-1'])
    expect(api.calls).toBe(1)

    await reporter!.invalidate('tok-1')
    expect(await reporter!.getToken()).toBe('tok-2')
    expect(api.calls).toBe(2)
    expect(api.byTab[reporter!.index]).toBe(2)

    for (const tab of others) await vi.waitFor(async () => expect(await tab.getToken()).toBe('tok-2'), { timeout: 2000, interval: 20 })
    await tick(100)
    expect(await Promise.all(others.map((t) => t.getToken()))).toEqual(['tok-2', 'tok-2', 'tok-2'])
    expect(api.calls).toBe(2)
    expect(callsBy(api, others)).toBe(0)
  })

  it('all four tabs get a 401 for the same token at once: exactly 1 more token call between them', async () => {
    const api = endpoint(50)
    const tabs = await openTabs(4, api)
    await Promise.all(tabs.map((t) => t.getToken()))
    expect(api.calls).toBe(1)
    const got = await Promise.all(tabs.map(async (t) => (await t.invalidate('tok-1'), t.getToken())))
    expect(got).toEqual(['tok-2', 'tok-2', 'tok-2', 'tok-2'])
    expect(api.calls).toBe(2)
  })

  it('a tab that hangs while holding the lock (its token call never answers) is stolen from after lockTimeout: the others share 1 token', async () => {
    const api = endpoint(50, (n) => n === 1) // the first token call hangs forever
    const [hung, ...others] = await openTabs(4, api, { lockTimeout: 300 })
    void hung!.getToken().catch(() => {})
    await vi.waitFor(() => expect(api.calls).toBe(1)) // the hung tab holds the lock, mid-call
    const started = performance.now()
    const got = await Promise.all(others.map((t) => t.getToken()))
    const waited = performance.now() - started
    expect(got).toEqual(['tok-2', 'tok-2', 'tok-2'])
    expect(waited).toBeGreaterThanOrEqual(290)
    expect(waited).toBeLessThan(3000)
    expect(api.calls).toBe(2) // the hung one and exactly one more
    expect(callsBy(api, others)).toBe(1)
    const events = (await Promise.all(others.map((t) => t.events()))).flat()
    expect(events.filter((e) => e === 'lock_stolen')).toHaveLength(1)
  })
})

describe('compare-and-invalidate across tabs (real Web Locks and IndexedDB)', () => {
  it('a late invalidate of an old token never deletes the newer token another tab just stored', async () => {
    const dbName = uniqueDb()
    let issued = 0
    const endpoint = async () => {
      await tick(20)
      return Response.json({ access_token: `tok-${++issued}`, token_type: 'Bearer', expires_in: 3600 })
    }
    const provider = testProvider()
    const tabA = idbStore({ dbName })
    // Tab A deletes slowly: without the lock, its delete of tok-1 would land after tab B stored tok-2.
    const slowA: typeof tabA = { ...tabA, delete: async (key) => (await tick(100), tabA.delete(key)) }
    const a = createTokenManager({ provider, store: slowA, fetch: endpoint })
    const b = createTokenManager({ provider, store: idbStore({ dbName }), fetch: endpoint })
    expect(await a.getToken()).toBe('tok-1')
    expect(await b.getToken()).toBe('tok-1')
    const late = a.invalidate('tok-1')
    await b.invalidate('tok-1')
    expect(await b.getToken()).toBe('tok-2')
    await late
    const c = createTokenManager({ provider, store: idbStore({ dbName }), fetch: endpoint })
    expect(await c.getToken()).toBe('tok-2') // adopted from IndexedDB
    expect(issued).toBe(2)
  })
})

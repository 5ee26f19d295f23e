/**
 * 9. How cost grows with the number of distinct cache keys (providers x scopes): 1, 10, 100 and
 * 1,000 clients, each with its own key (10 token hosts x K/10 scopes, distinct client ids),
 * all warm. For each K: the heap each client holds (heap after a full GC, before and after
 * building and warming the K clients; `--expose-gc` is switched on at run time) and the
 * warm-path cost per request going round-robin over the K clients, against the same number
 * of bare clients (in-memory fetch / adapter, as in measure 4).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import {
  BARE_OF,
  BARES,
  COMPETITORS,
  FACTORIES,
  bare,
  memoryAdapter,
  memoryFetch,
  memoryTokenAdapter,
  memoryTokenFetch,
  type Bare,
  type Client,
  type Competitor,
} from './lib/clients.ts'
import type { Outcome, Table } from './lib/report.ts'
import { emptyPaired, fixed, iqr, median, pairedRound, rotate, signed, type Paired } from './lib/stats.ts'
import { barChart, type Bar } from './lib/svg.ts'

type Variant = Competitor | Bare
const VARIANTS: readonly Variant[] = [
  'bare ky',
  'payment-auth',
  'ky recipe',
  'bare fetch',
  'OAuth2Fetch',
  'bare axios',
  'axios-auth-refresh',
]
const HOSTS = 10

function collector(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc
  if (typeof existing === 'function') return existing
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

const urlOf = (i: number) => `https://p${i % HOSTS}.bench.test/api/ping`

function build(variant: Variant, i: number): Client {
  if ((BARES as readonly string[]).includes(variant)) return bare(variant as Bare, 't-bare', { fetch: memoryFetch, adapter: memoryAdapter })
  return FACTORIES[variant as Competitor]({
    tokenUrl: `https://p${i % HOSTS}.bench.test/o/token/`,
    clientId: `client-${i}`,
    clientSecret: 'bench-secret',
    scope: `scope-${Math.floor(i / HOSTS)}`,
    fetch: memoryFetch,
    tokenFetch: memoryTokenFetch,
    adapter: memoryAdapter,
    tokenAdapter: memoryTokenAdapter,
  })
}

async function roundRobinMicros(clients: Client[], n: number): Promise<number> {
  const k = clients.length
  const start = performance.now()
  for (let j = 0; j < n; j++) await clients[j % k]!.send('GET', urlOf(j % k))
  return ((performance.now() - start) * 1000) / n
}

export async function scale({ keys = [1, 10, 100, 1000], rounds = 4, n = 2000, memoryReps = 10 } = {}): Promise<Outcome> {
  const gc = collector()
  const heapUsed = () => {
    gc()
    gc()
    return process.memoryUsage().heapUsed
  }
  // Pay every one-time cost (module state, compiled code, inline caches) before measuring anything.
  for (const variant of VARIANTS) {
    const clients = Array.from({ length: 10 }, (_, i) => build(variant, i))
    for (let i = 0; i < 10; i++) await clients[i]!.send('GET', urlOf(i))
    await roundRobinMicros(clients, 500)
  }
  const bytesPerKey = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]))
  const overhead = new Map<Competitor, number[]>(COMPETITORS.map((c) => [c, []]))
  const us = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]))
  const oursSpread: [number, number][] = []
  for (const k of keys) {
    const sets = new Map<Variant, Client[]>()
    for (const variant of VARIANTS) {
      // Small K: the figure is a few KB against the whole heap; repeat (fresh clients each time) and take the median.
      const samples: number[] = []
      let clients: Client[] = []
      for (let rep = 0; rep < Math.max(1, Math.floor(memoryReps / k)); rep++) {
        clients = []
        const h0 = heapUsed()
        clients = Array.from({ length: k }, (_, i) => build(variant, i))
        for (let i = 0; i < k; i++) await clients[i]!.send('GET', urlOf(i)) // warm: token cached
        samples.push((heapUsed() - h0) / k)
      }
      bytesPerKey.get(variant)!.push(median(samples))
      sets.set(variant, clients)
    }
    for (const variant of VARIANTS) await roundRobinMicros(sets.get(variant)!, Math.max(n, 2 * k))
    const results = new Map<Competitor, Paired>(COMPETITORS.map((c) => [c, emptyPaired()]))
    const baselineUs = new Map<Bare, number[]>(BARES.map((b) => [b, []]))
    for (let r = 0; r < rounds; r++) {
      for (const c of rotate(COMPETITORS, r)) {
        const into = results.get(c)!
        await pairedRound(
          () => roundRobinMicros(sets.get(BARE_OF[c])!, n),
          () => roundRobinMicros(sets.get(c)!, n),
          r,
          into,
        )
        baselineUs.get(BARE_OF[c])!.push(into.baseline[into.baseline.length - 1]!)
      }
    }
    for (const c of COMPETITORS) {
      us.get(c)!.push(median(results.get(c)!.subject))
      overhead.get(c)!.push(median(results.get(c)!.diffs))
    }
    oursSpread.push(iqr(results.get('payment-auth')!.diffs))
    for (const b of BARES) us.get(b)!.push(median(baselineUs.get(b)!))
    sets.clear()
  }
  const kLabel = (k: number) => `${k.toLocaleString('en')} key${k === 1 ? '' : 's'}`
  const tables: Table[] = [
    {
      title: `warm-path overhead over the bare client, us per request, round-robin over K clients (median of ${rounds} ABBA rounds, batches of ${n.toLocaleString('en')} requests)`,
      columns: ['client', 'compared with', ...keys.map(kLabel), 'growth 1 -> max'],
      rows: COMPETITORS.map((c) => {
        const o = overhead.get(c)!
        return [c, BARE_OF[c], ...o.map(signed), `${signed(o[o.length - 1]! - o[0]!)} us`]
      }),
    },
    {
      title: 'us per request (absolute), round-robin over K clients',
      columns: ['client', ...keys.map(kLabel)],
      rows: VARIANTS.map((v) => [v, ...us.get(v)!.map((x) => fixed(x))]),
    },
    {
      title: 'heap held per client (cache key), bytes: (heap after GC with K warm clients - before) / K',
      columns: ['client', ...keys.map(kLabel)],
      rows: VARIANTS.map((v) => [v, ...bytesPerKey.get(v)!.map((x) => Math.round(x).toLocaleString('en'))]),
    },
  ]
  const ours = overhead.get('payment-auth')!
  const growth = ours[ours.length - 1]! - ours[0]!
  // "Flat" = the growth from 1 to the most keys is within 1 us or within the rounds' own spread
  // (half the interquartile range of the per-round overheads at either end), whichever is larger.
  const spread = Math.max(...[0, keys.length - 1].map((i) => (oursSpread[i]![1] - oursSpread[i]![0]) / 2))
  const tolerance = Math.max(1, spread)
  const oursBytes = bytesPerKey.get('payment-auth')!
  const kind = (v: Variant) => (v === 'payment-auth' ? ('ours' as const) : ('competitor' as const))
  const bars = (value: (c: Competitor, i: number) => number, display: (x: number) => string): Bar[] =>
    COMPETITORS.flatMap((c) =>
      keys.map((k, i) => ({ label: `${c}, ${kLabel(k)}`, value: Math.max(0, value(c, i)), display: display(value(c, i)), kind: kind(c) })),
    )
  return {
    id: 'scale',
    title: '9. Growth with distinct cache keys',
    method: `K = ${keys.join(', ')} clients, each with its own cache key (10 token hosts x K/10 scopes, distinct client ids: for us K oauth2({scope}) providers, each in its own ky instance with its own token manager), in-memory fetch as in measure 4, all warm (one request each, token cached). Heap: process.memoryUsage().heapUsed after two full GCs (gc exposed at run time with v8.setFlagsFromString('--expose-gc')), before and after building and warming the K clients, divided by K. Cost: requests round-robin over the K clients, against the same number of bare clients, ${rounds} ABBA rounds (baseline, client, client, baseline; reversed every other round) of ${n.toLocaleString('en')}-request batches, each side counting its faster batch, overhead taken within a round.`,
    tables,
    goals: [
      {
        what: `warm-path overhead, ${kLabel(keys[0]!)} -> ${kLabel(keys[keys.length - 1]!)}`,
        goal: `flat (growth <= ${fixed(tolerance)} us: 1 us or the rounds' spread)`,
        ours: `${signed(ours[0]!)} -> ${signed(ours[ours.length - 1]!)} us`,
        met: growth <= tolerance,
      },
      {
        what: `heap per key, ${kLabel(keys[keys.length - 2] ?? keys[0]!)} -> ${kLabel(keys[keys.length - 1]!)}`,
        goal: 'flat (within 10%)',
        ours: `${Math.round(oursBytes[oursBytes.length - 2] ?? oursBytes[0]!).toLocaleString('en')} -> ${Math.round(oursBytes[oursBytes.length - 1]!).toLocaleString('en')} B`,
        met: oursBytes[oursBytes.length - 1]! <= 1.1 * (oursBytes[oursBytes.length - 2] ?? oursBytes[0]!),
      },
    ],
    notes: [
      `Our heap per key: ${oursBytes.map((b, i) => `${Math.round(b).toLocaleString('en')} B at ${kLabel(keys[i]!)}`).join(', ')}. It includes the ky instance (compare "bare ky"), the provider, the token manager with its memory store, and the cached token record.`,
      `One-time costs (module state, compiled code) are paid by a warm-up pass before anything is measured. Below ${memoryReps} keys the heap figure is the median of ${memoryReps}/K repetitions with fresh clients; it is still a few KB measured against the whole heap, so read the 100 and 1,000 columns first.`,
    ],
    summary: [
      {
        label: `9. ${kLabel(keys[keys.length - 1]!)}: us per request over its bare client / heap per key`,
        values: Object.fromEntries(
          COMPETITORS.map((c) => [
            c,
            `${signed(overhead.get(c)![keys.length - 1]!)} / ${Math.round(bytesPerKey.get(c)![keys.length - 1]!).toLocaleString('en')} B`,
          ]),
        ),
      },
    ],
    data: { keys, overhead: Object.fromEntries(overhead), us: Object.fromEntries(us), bytesPerKey: Object.fromEntries(bytesPerKey) },
    chart: 'scale.svg',
    svg: barChart(
      'Growth with distinct cache keys (K clients, round-robin)',
      [
        {
          title: 'warm-path overhead over the bare client, us per request',
          bars: bars(
            (c, i) => overhead.get(c)![i]!,
            (x) => `${signed(x)} us`,
          ),
        },
        {
          title: 'heap held per key, bytes',
          bars: bars(
            (c, i) => bytesPerKey.get(c)![i]!,
            (x) => `${Math.round(x).toLocaleString('en')} B`,
          ),
        },
      ],
      `in-memory fetch; median of ${rounds} rounds x ${n} requests; heap after GC`,
    ),
  }
}

/**
 * 1. Token calls for 1,000 concurrent requests on a cold cache (limit: 1).
 * Each round builds every competitor anew (empty cache) and fires `n` GETs at once at the
 * loopback sandbox; the server counts token requests per client and 401s per round.
 */
import { COMPETITORS, FACTORIES, CLIENT_ID, type Competitor } from './lib/clients.ts'
import { setupFor, TOKEN_LATENCY_MS, type Context } from './lib/context.ts'
import type { Outcome } from './lib/report.ts'
import { median, rotate, withTimeout } from './lib/stats.ts'
import { barChart } from './lib/svg.ts'

export async function cold(ctx: Context, { n = 1000, rounds = 3 } = {}): Promise<Outcome> {
  const server = await ctx.server()
  const figures = Object.fromEntries(
    COMPETITORS.map((c) => [c, { calls: [] as number[], r401: [] as number[], failed: [] as number[], ms: [] as number[] }]),
  ) as Record<Competitor, { calls: number[]; r401: number[]; failed: number[]; ms: number[] }>
  for (let r = 0; r < rounds; r++) {
    for (const c of rotate(COMPETITORS, r)) {
      await server.resetCounters()
      const client = FACTORIES[c](setupFor(ctx, server, c))
      const tag = `cold-${r}`
      const started = performance.now()
      const settled = await withTimeout(
        Promise.allSettled(Array.from({ length: n }, () => client.send('GET', `${server.url}/oauth2/api/cold?tag=${tag}`))),
        60_000,
        `${c}: ${n} cold requests`,
      )
      const ms = performance.now() - started
      const counters = await server.counters()
      const f = figures[c]
      f.calls.push(counters.tokenCalls[CLIENT_ID[c]] ?? 0)
      f.r401.push(counters.tags[tag]?.r401 ?? 0)
      f.failed.push(settled.filter((s) => s.status === 'rejected').length)
      f.ms.push(ms)
    }
  }
  const m = (c: Competitor) => ({
    calls: median(figures[c].calls),
    r401: median(figures[c].r401),
    failed: median(figures[c].failed),
    ms: median(figures[c].ms),
  })
  const ours = m('payment-auth')
  const why: Record<Competitor, string> = {
    'payment-auth': 'one shared acquisition per cache key',
    'ky recipe': 'no single-flight: every beforeRequest that finds no token fetches one',
    OAuth2Fetch: 'in-flight refresh shared (activeRefresh)',
    'axios-auth-refresh':
      'README interceptor sends "Bearer undefined" first; the first 401 refreshes, the 401s arriving during that refresh reject (see note)',
  }
  return {
    id: 'cold',
    title: '1. Cold cache: 1,000 concurrent requests',
    method: `Each round (${rounds}) builds every competitor with an empty cache and sends ${n.toLocaleString('en')} GETs at once to the loopback sandbox (token latency ${TOKEN_LATENCY_MS} ms). The server counts token requests per OAuth2 client and the 401s the resource answered.`,
    tables: [
      {
        title: `token calls for ${n.toLocaleString('en')} concurrent requests, cold cache (median of ${rounds} rounds; limit 1)`,
        columns: ['competitor', 'token calls', 'each round', 'resource 401s', 'failed requests', 'wall ms', 'why'],
        rows: COMPETITORS.map((c) => [c, m(c).calls, figures[c].calls.join(' / '), m(c).r401, m(c).failed, m(c).ms.toFixed(0), why[c]]),
      },
    ],
    goals: [
      {
        what: `token calls, ${n.toLocaleString('en')} concurrent cold requests`,
        goal: '<= 1',
        ours: String(ours.calls),
        met: ours.calls <= 1 && ours.failed === 0,
      },
    ],
    notes: [
      'axios-auth-refresh: with its default `deduplicateRefresh: true`, a 401 that arrives while a refresh is running is not intercepted and rejects (only requests sent during the refresh are queued): reported upstream as Flyrell/axios-auth-refresh#307 ("deduplicateRefresh config does not work with concurrent refreshing", open). Its README pattern also sends the first requests with "Bearer undefined" on a cold cache.',
    ],
    summary: [
      {
        label: `1. cold cache, ${n.toLocaleString('en')} concurrent requests: token calls / failed requests`,
        values: Object.fromEntries(COMPETITORS.map((c) => [c, `${m(c).calls} / ${m(c).failed}`])),
      },
    ],
    data: figures,
    chart: 'cold.svg',
    svg: barChart(
      `Cold cache: token calls for ${n.toLocaleString('en')} concurrent requests`,
      [
        {
          title: 'token calls (limit 1)',
          log: true,
          goal: { value: 1, label: 'limit 1' },
          bars: COMPETITORS.map((c) => ({ label: c, value: m(c).calls, kind: c === 'payment-auth' ? 'ours' : 'competitor' })),
        },
        {
          title: '401s seen by the resource',
          log: true,
          bars: COMPETITORS.map((c) => ({ label: c, value: m(c).r401, kind: c === 'payment-auth' ? 'ours' : 'competitor' })),
        },
        {
          title: `failed requests (of ${n.toLocaleString('en')})`,
          log: true,
          bars: COMPETITORS.map((c) => ({ label: c, value: m(c).failed, kind: c === 'payment-auth' ? 'ours' : 'competitor' })),
        },
      ],
      `median of ${rounds} rounds; loopback sandbox, ${TOKEN_LATENCY_MS} ms token latency`,
    ),
  }
}

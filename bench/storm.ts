/**
 * 2. Revocation storm: `n` requests in flight (GETs and POSTs with JSON bodies), the token is
 * revoked, and the 401s arrive staggered over ~200 ms. Counts token calls, failed requests and
 * requests whose replay reached the resource with the right method, path and body.
 */
import { COMPETITORS, FACTORIES, CLIENT_ID, type Competitor } from './lib/clients.ts'
import { setupFor, TOKEN_LATENCY_MS, type Context } from './lib/context.ts'
import type { Outcome } from './lib/report.ts'
import { median, rotate, withTimeout } from './lib/stats.ts'
import { barChart } from './lib/svg.ts'

interface Echo {
  method: string
  path: string
  body: string
  bodyBytes: number
  contentType: string | null
}

export async function storm(ctx: Context, { n = 50, rounds = 3, spreadMs = 200 } = {}): Promise<Outcome> {
  const server = await ctx.server()
  type F = { calls: number[]; r401: number[]; failed: number[]; correct: number[]; ms: number[] }
  const figures = Object.fromEntries(
    COMPETITORS.map((c) => [c, { calls: [], r401: [], failed: [], correct: [], ms: [] }]),
  ) as unknown as Record<Competitor, F>
  const posts = Math.floor(n / 2)
  const firstError = new Map<Competitor, string>()
  for (let r = 0; r < rounds; r++) {
    for (const c of rotate(COMPETITORS, r)) {
      const client = FACTORIES[c](setupFor(ctx, server, c))
      await client.send('GET', `${server.url}/oauth2/api/warmup`) // a cached, valid token
      await server.resetCounters()
      await server.armStorm(n)
      const tag = `storm-${r}`
      const started = performance.now()
      const jobs = Array.from({ length: n }, async (_, i) => {
        const post = i % 2 === 1
        const body = post ? { i, amount: 1000 + i, currency: 'EUR', note: `payment ${i}: ünïcödé & "quotes"` } : undefined
        const path = `/oauth2/api/storm/${i}`
        const echo = (await client.send(
          post ? 'POST' : 'GET',
          `${server.url}${path}?tag=${tag}&hold=${Math.round((i * spreadMs) / n)}&id=${r}-${CLIENT_ID[c]}-${i}`,
          body,
        )) as Echo
        return (
          echo.method === (post ? 'POST' : 'GET') &&
          echo.path === path &&
          (post ? echo.body === JSON.stringify(body) && (echo.contentType ?? '').startsWith('application/json') : echo.bodyBytes === 0)
        )
      })
      const settled = await withTimeout(Promise.allSettled(jobs), 60_000, `${c}: storm`)
      const ms = performance.now() - started
      const counters = await server.counters()
      const f = figures[c]
      f.calls.push(counters.tokenCalls[CLIENT_ID[c]] ?? 0)
      f.r401.push(counters.tags[tag]?.r401 ?? 0)
      f.failed.push(settled.filter((s) => s.status === 'rejected').length)
      f.correct.push(settled.filter((s) => s.status === 'fulfilled' && s.value).length)
      f.ms.push(ms)
      const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
      if (rejected && !firstError.has(c))
        firstError.set(c, `${c}, first failure: ${rejected.reason instanceof Error ? rejected.reason.message : String(rejected.reason)}`)
    }
  }
  const m = (c: Competitor) => ({
    calls: median(figures[c].calls),
    r401: median(figures[c].r401),
    failed: median(figures[c].failed),
    correct: median(figures[c].correct),
    ms: median(figures[c].ms),
  })
  const ours = m('payment-auth')
  const kind = (c: Competitor) => (c === 'payment-auth' ? ('ours' as const) : ('competitor' as const))
  return {
    id: 'storm',
    title: '2. Revocation storm',
    method: `Each round (${rounds}) warms every competitor (one request, token cached), then sends ${n} requests at once (${n - posts} GETs, ${posts} POSTs with JSON bodies). The server holds them until all ${n} have arrived, revokes every token, then lets request i through i x ${(spreadMs / n).toFixed(0)} ms later: ${n} 401s staggered over ~${spreadMs} ms. "Replayed correctly" means the answer came back 2xx from the resource with the request's method, path, content type and exact body. Token latency ${TOKEN_LATENCY_MS} ms.`,
    tables: [
      {
        title: `revocation storm, ${n} requests in flight, 401s over ~${spreadMs} ms (median of ${rounds} rounds; limit 1 call, 0 failed)`,
        columns: [
          'competitor',
          'token calls',
          'each round',
          '401s seen by the resource',
          'failed requests',
          'replayed correctly',
          'wall ms',
        ],
        rows: COMPETITORS.map((c) => [
          c,
          m(c).calls,
          figures[c].calls.join(' / '),
          m(c).r401,
          m(c).failed,
          `${m(c).correct}/${n}`,
          m(c).ms.toFixed(0),
        ]),
      },
    ],
    goals: [
      { what: `token calls, ${n}-request revocation storm`, goal: '<= 1', ours: String(ours.calls), met: ours.calls <= 1 },
      {
        what: 'failed requests in the storm',
        goal: '0',
        ours: `${ours.failed} (replayed correctly ${ours.correct}/${n})`,
        met: ours.failed === 0 && ours.correct === n,
      },
    ],
    notes: [
      ...firstError.values(),
      'axios-auth-refresh: a 401 that arrives while its (deduplicated) refresh is running rejects instead of waiting for the refresh (Flyrell/axios-auth-refresh#307); OAuth2Fetch and the ky recipe replay every request, but refresh again for each 401 that arrives after the previous refresh finished (OAuth2Fetch: one per ~token round trip; the recipe: one per 401).',
    ],
    summary: [
      {
        label: `2. revocation storm, ${n} in flight: token calls / failed requests`,
        values: Object.fromEntries(COMPETITORS.map((c) => [c, `${m(c).calls} / ${m(c).failed}`])),
      },
    ],
    data: figures,
    chart: 'storm.svg',
    svg: barChart(
      `Revocation storm: ${n} requests in flight, 401s over ~${spreadMs} ms`,
      [
        {
          title: 'token calls (limit 1)',
          log: true,
          goal: { value: 1, label: 'limit 1' },
          bars: COMPETITORS.map((c) => ({ label: c, value: m(c).calls, kind: kind(c) })),
        },
        {
          title: 'failed requests (limit 0)',
          goal: { value: 0, label: 'limit 0' },
          bars: COMPETITORS.map((c) => ({ label: c, value: m(c).failed, kind: kind(c) })),
        },
        {
          title: `replayed correctly (of ${n})`,
          goal: { value: n, label: `all ${n}` },
          bars: COMPETITORS.map((c) => ({ label: c, value: m(c).correct, display: `${m(c).correct}/${n}`, kind: kind(c) })),
        },
      ],
      `median of ${rounds} rounds; loopback sandbox, ${TOKEN_LATENCY_MS} ms token latency`,
    ),
  }
}

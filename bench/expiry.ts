/**
 * 3. Expiry: tokens that live 2 seconds, one tight sequential loop per competitor for ~6 s
 * (the four loops run side by side, each with its own OAuth2 client); the resource counts the
 * 401s it answered each competitor (limit 0).
 */
import { COMPETITORS, FACTORIES, CLIENT_ID, type Competitor } from './lib/clients.ts'
import { setupFor, TOKEN_LATENCY_MS, type Context } from './lib/context.ts'
import type { Outcome } from './lib/report.ts'
import { median } from './lib/stats.ts'
import { barChart } from './lib/svg.ts'

export async function expiry(ctx: Context, { lifetime = 2, ms = 6000, rounds = 3, maxRequests = 200_000 } = {}): Promise<Outcome> {
  const server = await ctx.server()
  type F = { r401: number[]; calls: number[]; failed: number[]; done: number[] }
  const figures = Object.fromEntries(COMPETITORS.map((c) => [c, { r401: [], calls: [], failed: [], done: [] }])) as unknown as Record<
    Competitor,
    F
  >
  await server.control('configure', { provider: 'oauth2', tokenLifetime: lifetime })
  try {
    for (let r = 0; r < rounds; r++) {
      await server.resetCounters()
      const until = performance.now() + ms
      const loops = COMPETITORS.map(async (c) => {
        const client = FACTORIES[c](setupFor(ctx, server, c))
        let done = 0
        let failed = 0
        for (let i = 0; i < maxRequests && performance.now() < until; i++) {
          try {
            await client.send('GET', `${server.url}/oauth2/api/expiry?tag=expiry-${r}-${CLIENT_ID[c]}`)
            done++
          } catch {
            failed++
          }
        }
        return { c, done, failed }
      })
      const results = await Promise.all(loops)
      const counters = await server.counters()
      for (const { c, done, failed } of results) {
        figures[c].r401.push(counters.tags[`expiry-${r}-${CLIENT_ID[c]}`]?.r401 ?? 0)
        figures[c].calls.push(counters.tokenCalls[CLIENT_ID[c]] ?? 0)
        figures[c].failed.push(failed)
        figures[c].done.push(done)
      }
    }
  } finally {
    await server.control('configure', { provider: 'oauth2', tokenLifetime: 3600 })
  }
  const m = (c: Competitor) => ({
    r401: median(figures[c].r401),
    calls: median(figures[c].calls),
    failed: median(figures[c].failed),
    done: median(figures[c].done),
  })
  const ours = m('payment-auth')
  const why: Record<Competitor, string> = {
    'payment-auth': 'refreshes ahead (soft window: half the lifetime here), in the background',
    'ky recipe': 'no expiry handling: a 401, then the afterResponse refresh',
    OAuth2Fetch: 'uses the token up to its expiry on the client clock, which lags the server by the token round trip',
    'axios-auth-refresh': 'no expiry handling: a 401, then the refresh interceptor',
  }
  return {
    id: 'expiry',
    title: '3. Expiry: 2-second tokens',
    method: `The sandbox issues ${lifetime}-second tokens. Each round (${rounds}) runs one tight sequential GET loop per competitor for ${ms / 1000} s, the four side by side (each with its own OAuth2 client, counted apart). The resource counts the 401s it answered; token latency ${TOKEN_LATENCY_MS} ms.`,
    tables: [
      {
        title: `401s seen by the resource, ${lifetime}-second tokens, ${ms / 1000} s tight loop (median of ${rounds} rounds; limit 0)`,
        columns: [
          'competitor',
          '401s',
          'each round',
          'token calls',
          'requests (loops side by side: not a speed figure)',
          'failed requests',
          'why',
        ],
        rows: COMPETITORS.map((c) => [c, m(c).r401, figures[c].r401.join(' / '), m(c).calls, Math.round(m(c).done), m(c).failed, why[c]]),
      },
    ],
    goals: [
      {
        what: `401s over ${ms / 1000} s of ${lifetime}-second tokens`,
        goal: '0',
        ours: String(ours.r401),
        met: ours.r401 === 0 && ours.failed === 0,
      },
    ],
    notes: [],
    summary: [
      {
        label: `3. ${lifetime}-second tokens, ${ms / 1000} s loop: 401s`,
        values: Object.fromEntries(COMPETITORS.map((c) => [c, String(m(c).r401)])),
      },
    ],
    data: figures,
    chart: 'expiry.svg',
    svg: barChart(
      `Expiry: ${lifetime}-second tokens, ${ms / 1000} s tight loop`,
      [
        {
          title: '401s seen by the resource (limit 0)',
          goal: { value: 0, label: 'limit 0' },
          bars: COMPETITORS.map((c) => ({ label: c, value: m(c).r401, kind: c === 'payment-auth' ? 'ours' : 'competitor' })),
        },
        {
          title: 'token calls',
          bars: COMPETITORS.map((c) => ({ label: c, value: m(c).calls, kind: c === 'payment-auth' ? 'ours' : 'competitor' })),
        },
      ],
      `median of ${rounds} rounds; loopback sandbox, ${TOKEN_LATENCY_MS} ms token latency`,
    ),
  }
}

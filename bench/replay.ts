/**
 * 5. What a 401 replay adds beyond the token round trip. In every round and for every
 * competitor (warm, token cached): the time of a plain request (median of a few), the time of
 * one token request made directly with fetch, then every token is revoked and one request is
 * timed: it gets a 401, its client fetches a token and replays it. Added latency =
 * replayed request - plain request - token round trip (goal: under 5 ms).
 */
import { COMPETITORS, FACTORIES, CLIENT_ID, type Competitor } from './lib/clients.ts'
import { bareToken, setupFor, TOKEN_LATENCY_MS, type Context } from './lib/context.ts'
import type { Outcome } from './lib/report.ts'
import { fixed, iqr, median, rotate } from './lib/stats.ts'
import { barChart } from './lib/svg.ts'

const time = async (work: () => Promise<unknown>) => {
  const t0 = performance.now()
  await work()
  return performance.now() - t0
}

export async function replay(ctx: Context, { rounds = 15, plainN = 5 } = {}): Promise<Outcome> {
  const server = await ctx.server()
  const clients = Object.fromEntries(COMPETITORS.map((c) => [c, FACTORIES[c](setupFor(ctx, server, c))]))
  type F = { added: number[]; total: number[]; plain: number[]; token: number[]; r401: number[]; calls: number[] }
  const figures = Object.fromEntries(
    COMPETITORS.map((c) => [c, { added: [], total: [], plain: [], token: [], r401: [], calls: [] }]),
  ) as unknown as Record<Competitor, F>
  const url = `${server.url}/oauth2/api/replay`
  for (let r = 0; r < rounds; r++) {
    for (const c of rotate(COMPETITORS, r)) {
      const client = clients[c]!
      await client.send('GET', url) // re-warm: the previous revocation hit every client
      const plains: number[] = []
      for (let i = 0; i < plainN; i++) plains.push(await time(() => client.send('GET', url)))
      const plain = median(plains)
      const token = await time(() => bareToken(ctx, server))
      await server.resetCounters()
      await server.control('revoke', { provider: 'oauth2' })
      const tag = `replay-${r}`
      const total = await time(() => client.send('GET', `${url}?tag=${tag}`))
      const counters = await server.counters()
      const f = figures[c]
      f.plain.push(plain)
      f.token.push(token)
      f.total.push(total)
      f.added.push(total - plain - token)
      f.r401.push(counters.tags[tag]?.r401 ?? 0)
      f.calls.push(counters.tokenCalls[CLIENT_ID[c]] ?? 0)
    }
  }
  const m = (c: Competitor) => ({
    added: median(figures[c].added),
    total: median(figures[c].total),
    plain: median(figures[c].plain),
    token: median(figures[c].token),
    r401: median(figures[c].r401),
    calls: median(figures[c].calls),
  })
  const ours = m('payment-auth')
  const why: Record<Competitor, string> = {
    'payment-auth': 'replays inside fetch at once, with the kept copy of the request',
    'ky recipe': "ky.retry() without a delay waits ky's retry backoff (retry.delay(1) = 300 ms)",
    OAuth2Fetch: 'replays inside its fetch middleware at once',
    'axios-auth-refresh': 'replays through the axios instance once the refresh promise settles',
  }
  return {
    id: 'replay',
    title: '5. 401 replay latency',
    method: `Per round (${rounds}) and competitor, token cached: a plain GET (median of ${plainN}), one token request made directly with fetch (the token round trip, ${TOKEN_LATENCY_MS} ms of it server latency), then every token is revoked and one GET is timed (401, new token, replay). Added = replayed GET - plain GET - token round trip; so it includes the second trip to the resource and the client's own work.`,
    tables: [
      {
        title: `latency a 401 replay adds beyond the token round trip, ms (median of ${rounds} rounds; goal < 5 ms)`,
        columns: [
          'competitor',
          'added ms',
          'middle half of rounds',
          'replayed request ms',
          'plain request ms',
          'token round trip ms',
          '401s / token calls per replay',
          'why',
        ],
        rows: COMPETITORS.map((c) => [
          c,
          fixed(m(c).added),
          iqr(figures[c].added)
            .map((x) => fixed(x))
            .join(' .. '),
          fixed(m(c).total),
          fixed(m(c).plain),
          fixed(m(c).token),
          `${m(c).r401} / ${m(c).calls}`,
          why[c],
        ]),
      },
    ],
    goals: [
      {
        what: 'latency a 401 replay adds beyond the token round trip',
        goal: '< 5 ms',
        ours: `${fixed(ours.added)} ms`,
        met: ours.added < 5 && ours.r401 === 1,
      },
    ],
    notes: [],
    summary: [
      {
        label: '5. 401 replay: ms added beyond the token round trip',
        values: Object.fromEntries(COMPETITORS.map((c) => [c, fixed(m(c).added)])),
      },
    ],
    data: figures,
    chart: 'replay.svg',
    svg: barChart(
      '401 replay: latency added beyond the token round trip',
      [
        {
          title: 'added ms (goal < 5 ms)',
          log: true,
          goal: { value: 5, label: 'goal 5 ms' },
          bars: COMPETITORS.map((c) => ({
            label: c,
            value: Math.max(0, m(c).added),
            display: `${fixed(m(c).added)} ms`,
            kind: c === 'payment-auth' ? 'ours' : 'competitor',
          })),
        },
      ],
      `median of ${rounds} rounds; loopback sandbox, ${TOKEN_LATENCY_MS} ms token latency`,
    ),
  }
}

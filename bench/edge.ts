/**
 * 8. The edge Worker under `wrangler dev` (offline, against the sandbox), in one run:
 * - cold: N concurrent `/v1/token` calls for a provider with no token -> upstream token calls
 *   (goal 1: the Durable Object is the single-flight authority);
 * - warm: `/v1/token` throughput against an empty Worker served by `wrangler dev` at the same
 *   time, rounds interleaved; the ratio edge/empty (goal >= 0.8).
 * The per-caller rate limit is raised for the run (`--var RATE_LIMIT_PER_MINUTE`) so that it
 * does not cap the throughput being measured.
 */
import { fileURLToPath } from 'node:url'
import { startEdgeDev, startWranglerDev } from '../scripts/edge-dev.ts'
import type { Outcome } from './lib/report.ts'
import { fixed, median, withTimeout } from './lib/stats.ts'
import { barChart } from './lib/svg.ts'

const CALLER_KEY = 'pa_demo_caller_key_0001'
const COLD_PROVIDER = 'stonex'
const WARM_PROVIDER = 'oauth2'

/** The baseline: an empty Worker under `wrangler dev` on a free port. */
const startEmpty = () => startWranglerDev(['-c', fileURLToPath(new URL('./empty.wrangler.toml', import.meta.url)), '--port', '0'])

/** Requests per second with `concurrency` loops for `ms` (and at most `cap` requests). */
async function throughput(send: () => Promise<Response>, ms: number, concurrency = 8, cap = 100_000): Promise<number> {
  let done = 0
  const started = performance.now()
  const until = started + ms
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until && done < cap) {
        const r = await send()
        const body = await r.text()
        if (!r.ok) throw new Error(`HTTP ${r.status}: ${body.slice(0, 200)}`)
        done++
      }
    }),
  )
  return (done * 1000) / (performance.now() - started)
}

export async function edge({ cold = 200, rounds = 7, roundMs = 1500 } = {}): Promise<Outcome> {
  const dev = await startEdgeDev({ extraArgs: ['--var', 'RATE_LIMIT_PER_MINUTE:100000000'] })
  let empty: Awaited<ReturnType<typeof startEmpty>> | undefined
  try {
    empty = await startEmpty()
    const emptyUrl = empty.url
    const token = (provider: string) => () =>
      fetch(`${dev.edgeUrl}/v1/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ provider }),
      })
    const control = dev.sandbox.sandbox.control
    control.configure(COLD_PROVIDER, { tokenLatencyMs: 100 })
    const before = control.stats(COLD_PROVIDER).tokenCalls
    const answers = await withTimeout(
      Promise.all(
        Array.from({ length: cold }, () => token(COLD_PROVIDER)().then(async (r) => ({ status: r.status, body: await r.text() }))),
      ),
      60_000,
      'cold /v1/token',
    )
    const coldCalls = control.stats(COLD_PROVIDER).tokenCalls - before
    const coldOk = answers.filter((a) => a.status === 200).length
    const statuses = [...new Set(answers.map((a) => a.status))].join(', ')
    const firstBad = answers.find((a) => a.status !== 200)

    const edgeRps: number[] = []
    const emptyRps: number[] = []
    const ratios: number[] = []
    await throughput(token(WARM_PROVIDER), 500)
    await throughput(() => fetch(emptyUrl), 500)
    for (let r = 0; r < rounds; r++) {
      // Alternate which goes first so drift cancels out.
      const first = r % 2 ? await throughput(() => fetch(emptyUrl), roundMs) : await throughput(token(WARM_PROVIDER), roundMs)
      const second = r % 2 ? await throughput(token(WARM_PROVIDER), roundMs) : await throughput(() => fetch(emptyUrl), roundMs)
      const [e, b] = r % 2 ? [second, first] : [first, second]
      edgeRps.push(e)
      emptyRps.push(b)
      ratios.push(e / b)
    }
    const ratio = median(ratios)
    return {
      id: 'edge',
      title: '8. Edge Worker under wrangler dev',
      method: `\`scripts/edge-dev.ts\` starts the sandbox and the edge Worker under \`wrangler dev\` (offline) on free loopback ports; an empty Worker (\`bench/empty-worker.ts\`) runs under \`wrangler dev\` on another as the baseline. Cold: ${cold} concurrent \`POST /v1/token\` for ${COLD_PROVIDER} (100 ms upstream latency), upstream token calls counted by the sandbox. Warm: 8 concurrent loops for ${roundMs} ms against \`/v1/token\` (${WARM_PROVIDER}) then against the empty Worker, ${rounds} rounds, order alternated; ratio per round. The caller rate limit is raised for the run so it does not cap the figure.`,
      tables: [
        {
          title: 'edge Worker under wrangler dev (goals: 1 upstream call; ratio >= 0.8)',
          columns: ['measure', 'value', 'goal'],
          rows: [
            [
              `${cold} concurrent cold /v1/token (${COLD_PROVIDER})`,
              `${coldOk}/${cold} ok (HTTP ${statuses}), ${coldCalls} upstream token call(s)`,
              '1 call',
            ],
            ['warm /v1/token', `${edgeRps.length ? median(edgeRps).toFixed(0) : 'n/a'} req/s`, ''],
            ['empty Worker', `${emptyRps.length ? median(emptyRps).toFixed(0) : 'n/a'} req/s`, ''],
            [`ratio (median of ${rounds} rounds)`, fixed(ratio, 3), '>= 0.8'],
          ],
        },
      ],
      goals: [
        {
          what: `upstream token calls, ${cold} concurrent cold /v1/token`,
          goal: '1',
          ours: `${coldCalls} (${coldOk}/${cold} ok)`,
          met: coldCalls === 1 && coldOk === cold,
        },
        { what: 'warm /v1/token throughput / empty Worker', goal: '>= 0.8', ours: fixed(ratio, 3), met: ratio >= 0.8 },
      ],
      notes: firstBad ? [`a cold /v1/token answer was HTTP ${firstBad.status}: ${firstBad.body.slice(0, 200)}`] : [],
      summary: [
        {
          label: `8. edge Worker: upstream calls for ${cold} cold /v1/token / warm throughput ratio to an empty Worker`,
          values: {
            'payment-auth': `${coldCalls} / ${fixed(ratio, 3)}`,
            'ky recipe': 'no edge component',
            OAuth2Fetch: 'no edge component',
            'axios-auth-refresh': 'no edge component',
          },
        },
      ],
      data: { cold, coldOk, coldCalls, edgeRps, emptyRps, ratios },
      chart: 'edge.svg',
      svg: barChart(
        'Edge Worker under wrangler dev',
        [
          {
            title: `upstream token calls for ${cold} concurrent cold /v1/token (goal 1)`,
            goal: { value: 1, label: 'goal 1' },
            log: true,
            bars: [{ label: 'edge Worker', value: coldCalls, kind: 'ours' }],
          },
          {
            title: 'warm throughput, req/s',
            bars: [
              { label: 'edge /v1/token', value: median(edgeRps), display: `${median(edgeRps).toFixed(0)} req/s`, kind: 'ours' },
              { label: 'empty Worker', value: median(emptyRps), display: `${median(emptyRps).toFixed(0)} req/s`, kind: 'baseline' },
            ],
          },
          {
            title: 'ratio edge / empty (goal >= 0.8)',
            goal: { value: 0.8, label: 'goal 0.8' },
            bars: [{ label: 'edge / empty', value: ratio, display: fixed(ratio, 3), kind: 'ours' }],
          },
        ],
        `median of ${rounds} rounds x ${roundMs} ms, 8 concurrent loops; wrangler dev on loopback`,
      ),
    }
  } finally {
    await empty?.stop()
    await dev.stop()
  }
}

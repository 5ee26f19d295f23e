/**
 * 8. The edge Worker under `wrangler dev` (offline, against the sandbox), in one run:
 * - cold: N concurrent `/v1/token` calls for a provider with no token -> upstream token calls
 *   (goal 1: the Durable Object is the single-flight authority);
 * - warm: `/v1/token` throughput against an empty Worker served by `wrangler dev` at the same
 *   time, sent the same POST (caller key, JSON body) and a GET, in many short rounds with the
 *   order rotated; the ratio edge/empty per round (goal >= 0.9, against the empty Worker's same
 *   POST: wrangler dev's own cost of a request with a body is not the Worker's; the GET ratio is
 *   reported beside it), and the server CPU per request of each (/proc), the less noisy figure;
 * - anatomy: where the warm request's time goes. apps/edge/bench/anatomy-worker.ts serves the Worker's
 *   own steps one more at a time (`/_anatomy/<step>`) and the whole Worker (Hono) beside them,
 *   under `wrangler dev` with the same bindings, each measured against the empty Worker in the
 *   same rounds (order rotated); the cost of a step is the growth of the CPU time the serving
 *   processes (wrangler and its workerd) spend per request over the step before.
 * The per-caller rate limit is raised for the run (`--var RATE_LIMIT_PER_MINUTE`) so that it
 * does not cap the throughput being measured.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startEdgeDev, startWranglerDev } from '../scripts/edge-dev.ts'
import type { Outcome } from './lib/report.ts'
import { fixed, median, rotate, signed, spread, withTimeout } from './lib/stats.ts'
import { barChart } from './lib/svg.ts'

const CALLER_KEY = 'pa_demo_caller_key_0001'
const COLD_PROVIDER = 'stonex'
const WARM_PROVIDER = 'oauth2'
/** The ratio the warm path must reach (issue 13 item 9). */
const RATIO_GOAL = 0.9
export const RAISED_RATE_LIMIT = ['--var', 'RATE_LIMIT_PER_MINUTE:100000000']

/** apps/edge/bench/anatomy-worker.ts's steps, cumulative, and what each adds. */
const ANATOMY: { step: string; adds: string }[] = [
  { step: 'request', adds: 'the same POST with its JSON body read, constant answer (the empty Worker above does not read it)' },
  { step: 'parse', adds: 'configuration (cached) + JSON body' },
  { step: 'auth', adds: 'caller authentication (static API key: SHA-256, constant-time compare)' },
  { step: 'rate', adds: 'per-caller rate limit shared by every isolate' },
  { step: 'token', adds: 'provider, scope check, isolate token manager L1 read, JSON answer' },
  { step: 'audit', adds: 'the audit record of the decision' },
  { step: 'app', adds: 'the whole Worker (index.ts: tokenEndpoint, every control of app.ts: CORS, body limit, errors)' },
  { step: 'hono', adds: 'for comparison: the same request through the Hono app (routing, middlewares), instead of app' },
]

/** The baseline: an empty Worker under `wrangler dev` on a free port. */
export const startEmpty = () => startWranglerDev(['-c', fileURLToPath(new URL('./empty.wrangler.toml', import.meta.url)), '--port', '0'])

/** Requests per second with `concurrency` loops for `ms` (and at most `cap` requests). */
export async function throughput(send: () => Promise<Response>, ms: number, concurrency = 8, cap = 100_000): Promise<number> {
  return (await load(send, ms, concurrency, cap)).rps
}

/** `concurrency` loops of `send` for `ms` (at most `cap` requests): requests answered, and per second. */
async function load(send: () => Promise<Response>, ms: number, concurrency = 8, cap = 100_000): Promise<{ rps: number; count: number }> {
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
  return { rps: (done * 1000) / (performance.now() - started), count: done }
}

/** A warm `POST /v1/token`-shaped request (the caller's key, `{provider}`) to `url`. */
export const tokenRequest = (url: string, provider: string) => () =>
  fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider }),
  })

interface AnatomyRow {
  step: string
  adds: string
  rps: number
  ratio: number
  /** Throughput ratio to the empty Worker's POST (the same request). */
  ratioPost: number
  /** CPU time of the serving processes (wrangler and its workerd) per request, us; NaN where /proc is missing. */
  cpuUs: number
}

/** CPU time (ms) used so far by process `pid` and its descendants (Linux /proc; NaN elsewhere). */
function treeCpuMs(pid: number): number {
  try {
    const stats = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .flatMap((d) => {
        try {
          // Fields after the command name (which may hold spaces): state ppid ... utime(14) stime(15).
          const rest = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ').at(-1)!.split(' ')
          return [{ pid: Number(d), ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) }]
        } catch {
          return []
        }
      })
    const tree = new Set([pid])
    for (let grew = true; grew; ) {
      grew = false
      for (const p of stats) if (tree.has(p.ppid) && !tree.has(p.pid)) grew = Boolean(tree.add(p.pid))
    }
    return (stats.filter((p) => tree.has(p.pid)).reduce((sum, p) => sum + p.ticks, 0) * 1000) / CLOCK_TICKS
  } catch {
    return Number.NaN
  }
}
/** USER_HZ: 100 on every Linux this runs on. */
const CLOCK_TICKS = 100

/** Something to load: how to send one request, and the process tree that serves it (for its CPU time). */
export interface Subject {
  send: () => Promise<Response>
  /** The serving `wrangler dev` process; without it the CPU figures are NaN. */
  pid?: number
}

/** Per subject, per round: req/s and server CPU per request (us). */
export type Rounds<K extends string = string> = Record<K, { rps: number[]; cpuUs: number[] }>

/**
 * Every subject once per round for `ms` (8 loops), `rounds` rounds, the order rotated so none is
 * always first (drift cancels out), each after a `leadMs` unmeasured lead-in (the processes of the
 * subject before it settle down first); the throughput and the server CPU per request of each.
 */
export async function measureRounds<K extends string>(
  subjects: Record<K, Subject>,
  { rounds, ms, leadMs = 0, warmUpMs = 300 }: { rounds: number; ms: number; leadMs?: number; warmUpMs?: number },
): Promise<Rounds<K>> {
  const ids = Object.keys(subjects) as K[]
  for (const id of ids) await throughput(subjects[id].send, warmUpMs)
  const out = Object.fromEntries(ids.map((id) => [id, { rps: [] as number[], cpuUs: [] as number[] }])) as Rounds<K>
  for (let r = 0; r < rounds; r++) {
    for (const id of rotate(ids, r)) {
      const { send, pid } = subjects[id]
      if (leadMs > 0) await throughput(send, leadMs)
      const cpu = pid === undefined ? Number.NaN : treeCpuMs(pid)
      const { rps, count } = await load(send, ms)
      out[id].rps.push(rps)
      out[id].cpuUs.push(pid === undefined ? Number.NaN : ((treeCpuMs(pid) - cpu) * 1000) / count)
    }
  }
  return out
}

/**
 * The anatomy: every step of apps/edge/bench/anatomy-worker.ts and the empty Worker (a GET, and the
 * same POST as the steps), `rounds` rounds of `stepMs` each, order rotated per round; ratios to the
 * empty Worker's GET and POST within the round, and the CPU time the serving processes spent per request.
 */
async function anatomy(empty: { url: string; pid: number }, rounds: number, stepMs: number): Promise<AnatomyRow[]> {
  const dev = await startEdgeDev({ extraArgs: RAISED_RATE_LIMIT, script: 'apps/edge/bench/anatomy-worker.ts' })
  try {
    const pid = dev.wrangler.pid!
    const path = (step: string) => (step === 'app' ? '/v1/token' : step === 'hono' ? '/v1/token?hono' : `/_anatomy/${step}`)
    const send = (step: string) => tokenRequest(`${dev.edgeUrl}${path(step)}`, WARM_PROVIDER)
    const subjects: Record<string, Subject> = {
      empty: { send: () => fetch(empty.url), pid: empty.pid },
      'empty POST': { send: tokenRequest(empty.url, WARM_PROVIDER), pid: empty.pid },
      ...Object.fromEntries(ANATOMY.map((a) => [a.step, { send: send(a.step), pid }])),
    }
    const measured = await measureRounds(subjects, { rounds, ms: stepMs })
    const adds: Record<string, string> = {
      empty: 'the empty Worker: GET, constant answer (the baseline)',
      'empty POST': 'the empty Worker sent the same POST as the steps below (caller key, JSON body)',
      ...Object.fromEntries(ANATOMY.map((a) => [a.step, a.adds])),
    }
    return Object.keys(subjects).map((id) => ({
      step: id,
      adds: adds[id]!,
      rps: median(measured[id]!.rps),
      ratio: median(ratiosTo(measured, 'empty', id).throughput),
      ratioPost: median(ratiosTo(measured, 'empty POST', id).throughput),
      cpuUs: median(measured[id]!.cpuUs),
    }))
  } finally {
    await dev.stop()
  }
}

/**
 * The warm comparison's subjects: the edge Worker's /v1/token, the empty Worker sent the same POST
 * and a GET, and the same POST to the empty Worker once more (the A/A control: how far two
 * measures of the same thing differ in this run).
 */
const WARM = ['edge', 'empty POST', 'empty GET', 'empty POST again'] as const
type WarmSubject = (typeof WARM)[number]

/** Per-round ratios of `subject` (default the edge Worker) to one baseline: throughput (subject / baseline) and server CPU (baseline / subject). */
export function ratiosTo(rounds: Rounds, baseline: string, subject = 'edge'): { throughput: number[]; cpu: number[] } {
  const edge = rounds[subject]!
  const base = rounds[baseline]!
  return {
    throughput: edge.rps.map((x, i) => x / base.rps[i]!),
    cpu: edge.cpuUs.map((x, i) => base.cpuUs[i]! / x),
  }
}

export async function edge({
  cold = 200,
  rounds = 27,
  roundMs = 600,
  leadMs = 100,
  anatomyRounds = 9,
  anatomyMs = 700,
} = {}): Promise<Outcome> {
  const dev = await startEdgeDev({ extraArgs: RAISED_RATE_LIMIT })
  // Stopped before the anatomy starts its own (the cores are few), and in any case at the end.
  let stopping: Promise<void> | undefined
  const stopDev = () => (stopping ??= dev.stop())
  let empty: Awaited<ReturnType<typeof startEmpty>> | undefined
  try {
    empty = await startEmpty()
    const emptyUrl = empty.url
    const token = (provider: string) => tokenRequest(`${dev.edgeUrl}/v1/token`, provider)
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

    const warm = await measureRounds<WarmSubject>(
      {
        edge: { send: token(WARM_PROVIDER), pid: dev.wrangler.pid! },
        'empty POST': { send: tokenRequest(emptyUrl, WARM_PROVIDER), pid: empty.wrangler.pid! },
        'empty GET': { send: () => fetch(emptyUrl), pid: empty.wrangler.pid! },
        'empty POST again': { send: tokenRequest(emptyUrl, WARM_PROVIDER), pid: empty.wrangler.pid! },
      },
      { rounds, ms: roundMs, leadMs, warmUpMs: 500 },
    )
    const same = ratiosTo(warm, 'empty POST')
    const get = ratiosTo(warm, 'empty GET')
    const aa = ratiosTo(warm, 'empty POST', 'empty POST again')
    const ratio = median(same.throughput)
    const getRatio = median(get.throughput)
    const cpuRatio = median(same.cpu)
    const getCpuRatio = median(get.cpu)
    const rpsOf = (w: WarmSubject) => median(warm[w].rps)
    const cpuOf = (w: WarmSubject) => median(warm[w].cpuUs)
    const us = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} us` : 'n/a')
    await stopDev()
    const steps = await anatomy({ url: emptyUrl, pid: empty.wrangler.pid! }, anatomyRounds, anatomyMs)
    const perRound = (xs: number[]) => xs.map((x) => fixed(x, 3)).join(', ')
    return {
      id: 'edge',
      title: '8. Edge Worker under wrangler dev',
      method: `\`scripts/edge-dev.ts\` starts the sandbox and the edge Worker under \`wrangler dev\` (offline) on free loopback ports; an empty Worker (\`bench/empty-worker.ts\`) runs under \`wrangler dev\` on another as the baseline. Cold: ${cold} concurrent \`POST /v1/token\` for ${COLD_PROVIDER} (100 ms upstream latency), upstream token calls counted by the sandbox. Warm: 8 concurrent loops against \`POST /v1/token\` (${WARM_PROVIDER}), against the empty Worker sent the same POST (the caller's \`Authorization\`, the same JSON body), and against the empty Worker sent a GET; ${rounds} rounds of ${roundMs} ms each (after a ${leadMs} ms unmeasured lead-in), every subject once per round, the order rotated; ratios are taken within a round, and the median of the rounds is reported. The goal's baseline is the empty Worker answering the same POST: under \`wrangler dev\` a request with a body and a credential costs its Node proxy and workerd more than a GET whatever the Worker does (see "empty POST" in the anatomy), and that cost is not the Worker's; the ratio to the GET is shown beside it. Throughput on this 2-core machine is shared by the load generator, wrangler's Node proxy and workerd, so per-round ratios are noisy; the server CPU per request (the CPU time, from /proc, of the wrangler process serving the subject and its workerd children, divided by the requests it answered) does not count the load generator's work, and its ratio (empty / edge) is reported too, though it varies from round to round as well (garbage collection, Durable Object storage, scheduling). Each round also sends the same POST to the empty Worker a second time: that A/A ratio, which would be 1 without noise, shows how far two measures of the same thing differ in this run. The middle half of the rounds is shown beside each median. Anatomy: \`apps/edge/bench/anatomy-worker.ts\` runs the Worker's own warm-path steps (from \`apps/edge/src\`) one more at a time, the whole Worker (index.ts, whose \`POST /v1/token\` takes \`tokenEndpoint\`), and the same request through the Hono app's chain, under \`wrangler dev\` with the same bindings; each and the empty Worker (a GET, and the steps' POST) for ${anatomyMs} ms per round, ${anatomyRounds} rounds, order rotated; a step's ratios are the medians of its per-round ratios to the empty Worker's GET and POST; its server CPU is measured as above (median of rounds), and the CPU of a step is its growth over the step above. The caller rate limit is raised for the run so it does not cap the figure.`,
      tables: [
        {
          title: `edge Worker under wrangler dev (goals: 1 upstream call; ratio >= ${RATIO_GOAL} to the empty Worker sent the same POST)`,
          columns: ['measure', 'value', 'goal'],
          rows: [
            [
              `${cold} concurrent cold /v1/token (${COLD_PROVIDER})`,
              `${coldOk}/${cold} ok (HTTP ${statuses}), ${coldCalls} upstream token call(s)`,
              '1 call',
            ],
            ['warm POST /v1/token', `${rpsOf('edge').toFixed(0)} req/s, ${us(cpuOf('edge'))} server CPU per request`, ''],
            [
              'empty Worker, the same POST',
              `${rpsOf('empty POST').toFixed(0)} req/s, ${us(cpuOf('empty POST'))} server CPU per request`,
              '',
            ],
            ['empty Worker, a GET', `${rpsOf('empty GET').toFixed(0)} req/s, ${us(cpuOf('empty GET'))} server CPU per request`, ''],
            [`throughput ratio to the empty Worker's same POST (median of ${rounds} rounds)`, spread(same.throughput), `>= ${RATIO_GOAL}`],
            [`throughput ratio to the empty Worker's GET (median of ${rounds} rounds)`, spread(get.throughput), ''],
            ['server CPU ratio, empty Worker / edge, same POST', spread(same.cpu), ''],
            ['server CPU ratio, empty Worker / edge, GET', spread(get.cpu), ''],
            [
              'A/A control: the same POST to the empty Worker twice per round, throughput; server CPU',
              `${spread(aa.throughput)}; ${spread(aa.cpu)}`,
              '',
            ],
            ['throughput ratio per round, same POST', perRound(same.throughput), ''],
            ['throughput ratio per round, GET', perRound(get.throughput), ''],
            ['server CPU ratio per round, same POST', perRound(same.cpu), ''],
          ],
        },
        {
          title: 'anatomy of the warm POST /v1/token (each step adds to the ones above it)',
          columns: ['step', 'adds', 'req/s', 'ratio to empty GET', 'ratio to empty POST', 'server CPU per request', 'CPU of the step'],
          rows: steps.map((s, i) => [
            s.step,
            s.adds,
            s.rps.toFixed(0),
            fixed(s.ratio, 3),
            fixed(s.ratioPost, 3),
            Number.isFinite(s.cpuUs) ? `${s.cpuUs.toFixed(0)} us` : 'n/a',
            // Each step adds to the one above it; the first step adds to the empty Worker's POST; 'hono' is compared with 'app'.
            i < 2 || !Number.isFinite(s.cpuUs)
              ? ''
              : s.step === 'hono'
                ? `${signed(s.cpuUs - steps.find((x) => x.step === 'app')!.cpuUs, 0)} us vs app`
                : `${signed(s.cpuUs - steps[i - 1]!.cpuUs, 0)} us`,
          ]),
        },
      ],
      goals: [
        {
          what: `upstream token calls, ${cold} concurrent cold /v1/token`,
          goal: '1',
          ours: `${coldCalls} (${coldOk}/${cold} ok)`,
          met: coldCalls === 1 && coldOk === cold,
        },
        {
          what: 'warm /v1/token throughput / empty Worker sent the same POST (in brackets: to its GET; by server CPU; the A/A control)',
          goal: `>= ${RATIO_GOAL}`,
          ours: `${fixed(ratio, 3)} (GET: ${fixed(getRatio, 3)}; server CPU: ${fixed(cpuRatio, 3)}, GET ${fixed(getCpuRatio, 3)}; A/A: ${fixed(median(aa.throughput), 3)})`,
          met: ratio >= RATIO_GOAL,
        },
      ],
      notes: [
        ...(firstBad ? [`a cold /v1/token answer was HTTP ${firstBad.status}: ${firstBad.body.slice(0, 200)}`] : []),
        'To compare this Worker with the Worker of another commit (e.g. before a change) in the same run, rather than two figures from different runs: `bench/edge-before.ts` (its header says how).',
      ],
      summary: [
        {
          label: `8. edge Worker: upstream calls for ${cold} cold /v1/token / warm throughput ratio to an empty Worker, same POST (GET)`,
          values: {
            'payment-auth': `${coldCalls} / ${fixed(ratio, 3)} (${fixed(getRatio, 3)})`,
            'ky recipe': 'no edge component',
            OAuth2Fetch: 'no edge component',
            'axios-auth-refresh': 'no edge component',
          },
        },
      ],
      data: { cold, coldOk, coldCalls, warm, ratios: { samePost: same, get, aa }, anatomy: steps },
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
            bars: WARM.filter((w) => w !== 'empty POST again').map((w) => ({
              label: w === 'edge' ? 'edge POST /v1/token' : `empty Worker, ${w.slice(6)}`,
              value: rpsOf(w),
              display: `${rpsOf(w).toFixed(0)} req/s`,
              kind: w === 'edge' ? ('ours' as const) : ('baseline' as const),
            })),
          },
          {
            title: `ratio edge / empty Worker (goal >= ${RATIO_GOAL}, to the same POST)`,
            goal: { value: RATIO_GOAL, label: `goal ${RATIO_GOAL}` },
            bars: [
              { label: 'throughput, same POST', value: ratio, display: fixed(ratio, 3), kind: 'ours' },
              { label: 'throughput, GET', value: getRatio, display: fixed(getRatio, 3), kind: 'baseline' },
              { label: 'server CPU, same POST', value: cpuRatio, display: fixed(cpuRatio, 3), kind: 'ours' },
              { label: 'server CPU, GET', value: getCpuRatio, display: fixed(getCpuRatio, 3), kind: 'baseline' },
            ],
          },
        ],
        `median of ${rounds} rounds x ${roundMs} ms, 8 concurrent loops; wrangler dev on loopback`,
      ),
    }
  } finally {
    await empty?.stop()
    await stopDev()
  }
}

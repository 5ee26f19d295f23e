/**
 * 10. Telemetry: what `onEvent: telemetry()` (@payment-auth/otel) costs.
 *
 * - Warm path, in memory: payment-auth with `telemetry()` wired to the real OpenTelemetry SDK
 *   (a BasicTracerProvider and a MeterProvider) against payment-auth without it, both on the
 *   in-memory fetch of the warm measure (lib/clients.ts `memoryFetch`), token cached. A warm hit
 *   emits no event, so the expected cost is nil: the ratio should sit within the noise floor,
 *   which a second plain payment-auth timed against the first gives (A/A control).
 * - Per event: the listener's own cost for a closing event (a span started and ended, a counter
 *   and a histogram point) and for a replay event, with the same SDK and a no-op exporter.
 *
 * Timed in ABBA rounds like the warm measure (lib/stats.ts `pairedRound`); medians over rounds.
 */
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import ky from 'ky'
import { oauth2, withPaymentAuth, type PaymentAuthEventListener } from '../packages/ky/src/index.ts'
import { telemetry } from '../packages/otel/src/index.ts'
import { memoryFetch, memoryTokenFetch } from './lib/clients.ts'
import type { Outcome } from './lib/report.ts'
import { emptyPaired, fixed, iqr, median, pairedRound, rotate, signed, type Paired } from './lib/stats.ts'
import { barChart } from './lib/svg.ts'

const URL_ = 'https://api.bench.test/api/ping'
const WITH = 'payment-auth + telemetry()'
const WITHOUT = 'payment-auth'
const CONTROL = 'payment-auth again (A/A control)'
type Name = typeof WITH | typeof WITHOUT | typeof CONTROL

/** The real SDK, exporting nowhere: what it costs to build spans and record points, without I/O. */
function sdk() {
  const exporter: SpanExporter = { export: (_spans, done) => done({ code: 0 }) /* ExportResultCode.SUCCESS */, shutdown: async () => {} }
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  class Reader extends MetricReader {
    protected override async onForceFlush() {}
    protected override async onShutdown() {}
  }
  const meterProvider = new MeterProvider({ readers: [new Reader()] })
  return {
    listener: telemetry({ tracer: tracerProvider.getTracer('@payment-auth/otel'), meter: meterProvider.getMeter('@payment-auth/otel') }),
    shutdown: async () => {
      await tracerProvider.shutdown()
      await meterProvider.shutdown()
    },
  }
}

function client(onEvent?: PaymentAuthEventListener) {
  const provider = oauth2({ tokenUrl: 'https://api.bench.test/o/token/', clientId: 'bench', clientSecret: 'bench-secret' })
  const api = ky
    .create({ fetch: memoryFetch })
    .extend(withPaymentAuth({ provider, fetch: memoryTokenFetch, ...(onEvent ? { onEvent } : {}) }))
  return () => api.get(URL_).json()
}

async function perRequestMicros(send: () => Promise<unknown>, n: number): Promise<number> {
  const start = performance.now()
  for (let i = 0; i < n; i++) await send()
  return ((performance.now() - start) * 1000) / n
}

/** us per call of `fn`, best of `tries` runs of `n` calls, the empty loop subtracted. */
function micro(fn: (i: number) => void, n = 20_000, tries = 5): number {
  const time = (f: (i: number) => void) => {
    let best = Infinity
    for (let t = 0; t < tries; t++) {
      const start = performance.now()
      for (let i = 0; i < n; i++) f(i)
      best = Math.min(best, ((performance.now() - start) * 1000) / n)
    }
    return best
  }
  return Math.max(0, time(fn) - time(() => {}))
}

export async function otel({ rounds = 10, n = 5000, warmup = 2000 } = {}): Promise<Outcome> {
  const s = sdk()
  const events: string[] = []
  const counted: PaymentAuthEventListener = (e) => {
    events.push(e.type)
    s.listener(e)
  }
  const clients = new Map<Name, () => Promise<unknown>>([
    [WITHOUT, client()],
    [WITH, client(counted)],
    [CONTROL, client()],
  ])
  for (const send of clients.values()) await perRequestMicros(send, warmup)
  const warmEvents = events.length
  const pairs = [
    [WITH, WITHOUT],
    [CONTROL, WITHOUT],
  ] as const
  const results = new Map<Name, Paired>(pairs.map(([subject]) => [subject, emptyPaired()]))
  for (let r = 0; r < rounds; r++) {
    for (const [subject, base] of rotate(pairs, r))
      await pairedRound(
        () => perRequestMicros(clients.get(base)!, n),
        () => perRequestMicros(clients.get(subject)!, n),
        r,
        results.get(subject)!,
      )
  }
  const eventsDuringRounds = events.length - warmEvents

  // The listener's own cost per event (what an acquisition or a replay adds; never the warm path).
  const t = Date.now()
  const closing = micro((i) =>
    s.listener({
      type: 'token_acquired',
      provider: 'oauth2',
      id: `oauth2#${i}`,
      source: 'network',
      grant: 'client_credentials',
      expiresIn: 3600,
      startedAt: t,
      ms: 50,
    }),
  )
  const failedAttempt = micro((i) => {
    s.listener({
      type: 'token_error',
      provider: 'oauth2',
      id: `oauth2#f${i}`,
      code: 'provider_unavailable',
      retryable: true,
      attempt: 1,
      willRetry: true,
      at: t,
    })
    s.listener({
      type: 'token_acquired',
      provider: 'oauth2',
      id: `oauth2#f${i}`,
      source: 'network',
      grant: 'client_credentials',
      expiresIn: 3600,
      startedAt: t,
      ms: 80,
    })
  })
  const replay = micro(() => s.listener({ type: 'replay', provider: 'oauth2', status: 401 }))
  await s.shutdown()

  const p = (name: Name) => results.get(name)!
  const ratio = median(p(WITH).ratios)
  const control = median(p(CONTROL).ratios)
  const row = (name: Name) => [
    name,
    WITHOUT,
    fixed(median(p(name).subject)),
    signed(median(p(name).diffs)),
    iqr(p(name).diffs).map(signed).join(' .. '),
    fixed(median(p(name).ratios), 3),
    iqr(p(name).ratios)
      .map((x) => fixed(x, 3))
      .join(' .. '),
  ]
  return {
    id: 'otel',
    title: '10. Telemetry: warm path with @payment-auth/otel',
    method: `Token cached, GET + JSON body parse, sequential, against the in-memory fetch of measure 4. "${WITH}" passes onEvent: telemetry({tracer, meter}) with the real OpenTelemetry SDK (BasicTracerProvider with a SimpleSpanProcessor into a no-op exporter, MeterProvider with a pull reader); "${WITHOUT}" has no listener; "${CONTROL}" is an identical second client without one (the noise floor). ${warmup.toLocaleString('en')} warm-up requests each, then ${rounds} rounds, each ABBA (BAAB every other round) with batches of ${n.toLocaleString('en')} requests; ratio and difference taken within a round, medians reported. Per-event costs: best of 5 x 20,000 calls of the listener, the empty loop subtracted.`,
    tables: [
      {
        title: `warm path, in memory: us per request (median of ${rounds} rounds)`,
        columns: [
          'client',
          'compared with',
          'us/request',
          'overhead us',
          'overhead, middle half of rounds',
          'ratio',
          'ratio, middle half of rounds',
        ],
        rows: [[WITHOUT, '(baseline)', fixed(median(p(WITH).baseline)), '', '', '', ''], row(WITH), row(CONTROL)],
      },
      {
        title: 'the listener per event, real SDK, no export I/O (never on the warm path: a warm hit emits no event)',
        columns: ['event', 'us'],
        rows: [
          ['closing event (token_acquired): a span started and ended, a counter and a histogram point', fixed(closing, 2)],
          ['a failed attempt buffered, then its closing event (a span with one span event)', fixed(failedAttempt, 2)],
          ['replay: resend_count on the active span (none here) and a counter point', fixed(replay, 2)],
        ],
      },
    ],
    goals: [
      {
        what: 'warm-path ratio with telemetry() to without, in memory',
        goal: '<= 1.02',
        ours: `${fixed(ratio, 3)} (A/A control: ${fixed(control, 3)})`,
        met: ratio <= 1.02,
      },
    ],
    notes: [
      `Events the telemetry client emitted during the timed rounds: ${eventsDuringRounds} (one acquisition in its warm-up, ${warmEvents} event${warmEvents === 1 ? '' : 's'} in all before the rounds). The warm path never reaches the listener, so any difference from 1 is noise: compare it with the A/A control's spread (ratio ${iqr(
        p(CONTROL).ratios,
      )
        .map((x) => fixed(x, 3))
        .join(' .. ')} for the middle half of rounds).`,
      `An acquisition costs the listener about ${fixed(closing, 1)} us with the SDK in memory, against a token call of milliseconds; the exporter's I/O is the SDK's, batched off the request path by a BatchSpanProcessor in production.`,
    ],
    data: { inMemory: Object.fromEntries(results), perEventUs: { closing, failedAttempt, replay }, eventsDuringRounds },
    chart: 'otel.svg',
    svg: barChart(
      'Telemetry: warm path with and without @payment-auth/otel',
      [
        {
          title: 'in memory: ratio to payment-auth without telemetry (goal 1.02)',
          from: Math.min(0.95, ratio - 0.02, control - 0.02),
          goal: { value: 1.02, label: 'goal 1.02' },
          bars: [
            { label: WITH, value: ratio, display: fixed(ratio, 3), kind: 'ours' },
            { label: CONTROL, value: control, display: fixed(control, 3), kind: 'baseline' },
          ],
        },
      ],
      `medians of per-round ratios (ABBA batches: ${rounds} rounds x ${n} requests)`,
    ),
  }
}

/**
 * @payment-auth/otel against the real OpenTelemetry SDK (sdk-trace-base, sdk-metrics, the
 * AsyncLocalStorage context manager) and the real token manager and ky hooks: every span and
 * metric point is read back from the in-memory exporters, and everything exported is scanned
 * for the test credentials.
 */
import { context, metrics, SpanKind, SpanStatusCode, trace, type Attributes, type HrTime } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import ky from 'ky'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { TEST_CREDENTIALS } from '../../../test/leak-guard.ts'
import {
  createTokenManager,
  edge,
  memoryStore,
  withPaymentAuth,
  type PaymentAuthEvent,
  type PaymentAuthOptions,
  type TokenRecord,
  type TokenStore,
} from '../../ky/src/index.ts'
import { type FakeClock, fakeClock } from '@payment-auth/test-support/clock'
import { issue, json, SECRET, testProvider, tokenEndpoint } from '@payment-auth/test-support/provider'
import pkg from '../package.json' with { type: 'json' }
import { scrub, SCOPE, telemetry, VERSION } from './index.ts'

/** The real SDK, exporting to memory. */
function otel() {
  const spanExporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] })
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const o = {
    tracerProvider,
    meterProvider,
    tracer: tracerProvider.getTracer('test'),
    meter: meterProvider.getMeter('test'),
    spans: () => spanExporter.getFinishedSpans(),
    /** The latest cumulative export of every metric. */
    async metrics(): Promise<ResourceMetrics | undefined> {
      await reader.forceFlush()
      return metricExporter.getMetrics().at(-1)
    },
    /** `name`'s data points: attributes and value (a histogram's value reduced to count and sum). */
    async points(name: string): Promise<Array<{ attributes: Attributes; value: unknown }>> {
      const metric = (await o.metrics())?.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name)
      return (metric?.dataPoints ?? []).map((p) => ({
        attributes: p.attributes,
        value:
          typeof p.value === 'number' ? p.value : { count: (p.value as { count: number }).count, sum: (p.value as { sum: number }).sum },
      }))
    },
    async unit(name: string) {
      return (await o.metrics())?.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name)?.descriptor.unit
    },
    /** Everything the exporters got, as text: span names, attributes, events and statuses, and every metric. */
    async exported(): Promise<string> {
      const spans = o.spans().map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status, links: s.links }))
      return JSON.stringify({ spans, metrics: (await o.metrics())?.scopeMetrics ?? [] })
    },
    listener: () => telemetry({ tracer: o.tracer, meter: o.meter }),
  }
  made.push(o)
  return o
}
type Otel = ReturnType<typeof otel>
const made: Otel[] = []

// What the exporters got in each test must not hold a credential (the leak guard scans events, errors and the console).
afterEach(async () => {
  for (const o of made.splice(0)) {
    const text = await o.exported()
    for (const [name, value] of Object.entries(TEST_CREDENTIALS))
      expect(text.includes(value), `the ${name} reached an exporter`).toBe(false)
    await o.tracerProvider.shutdown()
    await o.meterProvider.shutdown()
  }
})

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
})
afterAll(() => {
  context.disable()
})

const ms = ([s, ns]: HrTime) => s * 1000 + ns / 1e6
/** A span as the assertions read it. */
const view = (s: ReadableSpan) => ({
  name: s.name,
  kind: s.kind,
  attributes: s.attributes,
  status: s.status,
  events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
  start: ms(s.startTime),
  end: ms(s.endTime),
})

/** An API at https://api.test that accepts the tokens in `valid` and answers `{ok: true}`. */
function fakeApi() {
  const valid = new Set<string>()
  const fetch = async (input: Request | URL | string, init?: RequestInit) => {
    const authorization = new Request(input, init).headers.get('authorization') ?? ''
    return valid.has(authorization.replace(/^Bearer /, '')) ? json({ ok: true }) : json({ error: 'invalid_token' }, 401)
  }
  return { valid, fetch, revokeAll: () => valid.clear() }
}

const LATENCY = 120

/**
 * ky + withPaymentAuth (the real hooks and manager) on a fake clock: each token call takes
 * `LATENCY` ms of that clock and issues `tok-N`, which the API accepts.
 */
function client(
  o: Otel,
  clock: FakeClock,
  options: Partial<PaymentAuthOptions> & {
    refreshable?: boolean
    answers?: (api: ReturnType<typeof fakeApi>) => Parameters<typeof tokenEndpoint>[0]
  } = {},
) {
  const { refreshable = false, answers, ...rest } = options
  const api = fakeApi()
  const endpoint = tokenEndpoint(
    answers?.(api) ?? [
      (n) => {
        clock.advance(LATENCY)
        api.valid.add(`tok-${n + 1}`)
        return issue(3600, refreshable ? { refresh_token: `rt-${n + 1}` } : {})(n)
      },
    ],
  )
  const events: PaymentAuthEvent[] = []
  const listener = o.listener()
  const http = ky.create({ baseUrl: 'https://api.test/', fetch: api.fetch, retry: 0 }).extend(
    withPaymentAuth({
      provider: testProvider(refreshable),
      fetch: endpoint.fetch,
      now: clock.now,
      backoff: { delay: 1, maxDelay: 20 },
      onEvent: (e) => {
        events.push(e)
        listener(e)
      },
      ...rest,
    } as PaymentAuthOptions),
  )
  return { http, api, endpoint, events }
}

const success = (grant: string | undefined, source = 'network', provider = 'test') => ({
  'payment_auth.provider': provider,
  'payment_auth.source': source,
  ...(grant && { 'payment_auth.grant': grant }),
  'payment_auth.outcome': 'success',
})

describe('a span per acquisition, metrics per outcome', () => {
  it('cold start: one payment_auth.token span (network, client_credentials) from startedAt to startedAt + ms, one acquisition, one duration point', async () => {
    const o = otel()
    const clock = fakeClock()
    const t0 = clock.t
    const { http } = client(o, clock)
    expect(await http.get('payments').json()).toEqual({ ok: true })

    expect(o.spans().map(view)).toEqual([
      {
        name: 'payment_auth.token',
        kind: SpanKind.INTERNAL,
        attributes: { 'payment_auth.provider': 'test', 'payment_auth.source': 'network', 'payment_auth.grant': 'client_credentials' },
        status: { code: SpanStatusCode.UNSET },
        events: [],
        start: t0,
        end: t0 + LATENCY,
      },
    ])
    expect(await o.points('payment_auth.token.acquisitions')).toEqual([{ attributes: success('client_credentials'), value: 1 }])
    expect(await o.points('payment_auth.token.duration')).toEqual([
      { attributes: success('client_credentials'), value: { count: 1, sum: LATENCY / 1000 } },
    ])
    expect(await o.unit('payment_auth.token.duration')).toBe('s')
    expect(await o.points('payment_auth.replays')).toEqual([])
  })

  it('warm hit: no new span, no new acquisition', async () => {
    const o = otel()
    const clock = fakeClock()
    const { http, events } = client(o, clock)
    await http.get('a').json()
    clock.advance(60_000)
    await http.get('b').json()
    await http.get('c').json()
    expect(events.map((e) => e.type)).toEqual(['token_acquired'])
    expect(o.spans()).toHaveLength(1)
    expect(await o.points('payment_auth.token.acquisitions')).toEqual([{ attributes: success('client_credentials'), value: 1 }])
  })

  it('refresh ahead in the soft window: the request keeps its token, a second span (refresh_token grant) for the background refresh', async () => {
    const o = otel()
    const clock = fakeClock()
    const { http, events } = client(o, clock, { refreshable: true })
    await http.get('a').json()
    clock.advance(3600_000 - 30_000) // 30 s before expiry: inside the 60 s soft window, outside the hard one
    const t1 = clock.t
    expect(await http.get('b').json()).toEqual({ ok: true })
    await vi.waitFor(() => expect(o.spans()).toHaveLength(2))

    expect(events.filter((e) => e.type === 'token_acquired').map((e) => e.grant)).toEqual(['client_credentials', 'refresh_token'])
    expect(view(o.spans()[1]!)).toMatchObject({
      name: 'payment_auth.token',
      attributes: { 'payment_auth.provider': 'test', 'payment_auth.source': 'network', 'payment_auth.grant': 'refresh_token' },
      status: { code: SpanStatusCode.UNSET },
      start: t1,
      end: t1 + LATENCY,
    })
    expect(await o.points('payment_auth.token.acquisitions')).toEqual([
      { attributes: success('client_credentials'), value: 1 },
      { attributes: success('refresh_token'), value: 1 },
    ])
    expect((await o.points('payment_auth.token.duration')).map((p) => p.value)).toEqual([
      { count: 1, sum: LATENCY / 1000 },
      { count: 1, sum: LATENCY / 1000 },
    ])
  })

  it('401 replay: http.request.resend_count = 1 on the active request span, one replay counted, the new token span is its child', async () => {
    const o = otel()
    const clock = fakeClock()
    const { http, api } = client(o, clock)
    await http.get('warm').json()
    api.revokeAll()
    const body = await o.tracer.startActiveSpan('GET /payments', async (span) => {
      try {
        return await http.get('payments').json()
      } finally {
        span.end()
      }
    })
    expect(body).toEqual({ ok: true })

    const [cold, fresh, request] = o.spans()
    expect(o.spans().map((s) => s.name)).toEqual(['payment_auth.token', 'payment_auth.token', 'GET /payments'])
    expect(request!.attributes).toEqual({ 'http.request.resend_count': 1 })
    expect(view(request!).events).toEqual([
      { name: 'payment_auth.token_invalidated', attributes: { 'payment_auth.provider': 'test', 'payment_auth.current': true } },
    ])
    expect(fresh!.parentSpanContext?.spanId).toBe(request!.spanContext().spanId)
    expect(cold!.parentSpanContext).toBeUndefined()
    expect(cold!.attributes).not.toHaveProperty('http.request.resend_count')
    expect(await o.points('payment_auth.replays')).toEqual([
      { attributes: { 'payment_auth.provider': 'test', 'http.response.status_code': 401 }, value: 1 },
    ])
    expect(await o.points('payment_auth.token.acquisitions')).toEqual([{ attributes: success('client_credentials'), value: 2 }])
  })

  it('provider failure (invalid_client): span status ERROR with error.type, the failed attempt as a span event, outcome failure', async () => {
    const o = otel()
    const clock = fakeClock()
    const t0 = clock.t
    const { http } = client(o, clock, {
      answers: () => [
        () => {
          clock.advance(40)
          return json({ error: 'invalid_client' }, 401)
        },
      ],
    })
    expect(await http.get('payments').catch((e: unknown) => e)).toMatchObject({ name: 'PaymentAuthError', code: 'invalid_client' })

    expect(o.spans().map(view)).toEqual([
      {
        name: 'payment_auth.token',
        kind: SpanKind.INTERNAL,
        attributes: {
          'payment_auth.provider': 'test',
          'payment_auth.source': 'network',
          'payment_auth.grant': 'client_credentials',
          'error.type': 'invalid_client',
        },
        status: { code: SpanStatusCode.ERROR, message: 'invalid_client' },
        events: [
          {
            name: 'payment_auth.token_error',
            attributes: {
              'payment_auth.attempt': 1,
              'error.type': 'invalid_client',
              'payment_auth.retryable': false,
              'payment_auth.will_retry': false,
            },
          },
        ],
        start: t0,
        end: t0 + 40,
      },
    ])
    const failure = {
      'payment_auth.provider': 'test',
      'payment_auth.source': 'network',
      'payment_auth.grant': 'client_credentials',
      'error.type': 'invalid_client',
      'payment_auth.outcome': 'failure',
    }
    expect(await o.points('payment_auth.token.acquisitions')).toEqual([{ attributes: failure, value: 1 }])
    expect(await o.points('payment_auth.token.duration')).toEqual([{ attributes: failure, value: { count: 1, sum: 0.04 } }])
  })

  it('a transient failure then success: one span, the retried attempt as an event inside it, outcome success', async () => {
    const o = otel()
    const clock = fakeClock()
    const { http } = client(o, clock, {
      answers: (api) => [
        () => {
          clock.advance(30)
          return json({ error: 'temporarily_unavailable' }, 503)
        },
        (n) => {
          clock.advance(50)
          api.valid.add(`tok-${n + 1}`)
          return issue()(n)
        },
      ],
    })
    const t0 = clock.t
    await http.get('payments').json()
    const [span] = o.spans()
    expect(view(span!)).toMatchObject({
      attributes: { 'payment_auth.provider': 'test', 'payment_auth.source': 'network', 'payment_auth.grant': 'client_credentials' },
      status: { code: SpanStatusCode.UNSET },
      events: [
        {
          name: 'payment_auth.token_error',
          attributes: {
            'payment_auth.attempt': 1,
            'error.type': 'provider_unavailable',
            'payment_auth.retryable': true,
            'payment_auth.will_retry': true,
          },
        },
      ],
      start: t0,
      end: t0 + 80,
    })
    const at = ms(span!.events[0]!.time)
    expect(at).toBeGreaterThanOrEqual(t0)
    expect(at).toBeLessThanOrEqual(t0 + 80)
    expect(await o.points('payment_auth.token.acquisitions')).toEqual([{ attributes: success('client_credentials'), value: 1 }])
  })

  it('store adoption: a second manager on the same store adopts the token, a span with source store and no grant', async () => {
    const o = otel()
    const clock = fakeClock()
    const store = memoryStore({ now: clock.now })
    const first = client(o, clock, { store })
    const second = client(o, clock, { store })
    await first.http.get('a').json()
    second.api.valid.add('tok-1')
    clock.advance(5_000)
    const t1 = clock.t
    await second.http.get('b').json()

    expect(second.endpoint.calls).toBe(0)
    expect(second.events).toEqual([
      {
        type: 'token_adopted',
        provider: 'test',
        id: expect.stringMatching(/^test#[0-9a-f]{8}\.1$/),
        source: 'store',
        startedAt: t1,
        ms: 0,
      },
    ])
    expect(view(o.spans()[1]!)).toEqual({
      name: 'payment_auth.token',
      kind: SpanKind.INTERNAL,
      attributes: { 'payment_auth.provider': 'test', 'payment_auth.source': 'store' },
      status: { code: SpanStatusCode.UNSET },
      events: [],
      start: t1,
      end: t1,
    })
    expect(await o.points('payment_auth.token.acquisitions')).toEqual([
      { attributes: success('client_credentials'), value: 1 },
      { attributes: success(undefined, 'store'), value: 1 },
    ])
  })

  it('a token pushed by another context (token_adopted without id) makes no span and no acquisition', async () => {
    const o = otel()
    const clock = fakeClock()
    const listeners: Array<(r: TokenRecord | undefined) => void> = []
    const store: TokenStore = { ...memoryStore({ now: clock.now }), subscribe: (_key, l) => (listeners.push(l), () => {}) }
    const events: PaymentAuthEvent[] = []
    const listener = o.listener()
    createTokenManager({ provider: testProvider(), store, now: clock.now, onEvent: (e) => (events.push(e), listener(e)) })
    listeners[0]!({ v: 1, accessToken: 'pushed-1', receivedAt: clock.t, expiresAt: clock.t + 3600_000 })
    expect(events).toEqual([{ type: 'token_adopted', provider: 'test', source: 'store' }])
    expect(o.spans()).toEqual([])
    expect(await o.points('payment_auth.token.acquisitions')).toEqual([])
  })

  it('edge dialect: source edge, the edge provider name, client_credentials', async () => {
    const o = otel()
    const clock = fakeClock()
    const t0 = clock.t
    const credential = TEST_CREDENTIALS['edge-dialect test credential']!
    const edgeFetch = async (input: Request, init?: RequestInit) => {
      const request = new Request(input, init)
      clock.advance(25)
      if (new URL(request.url).pathname !== '/v1/token' || request.headers.get('authorization') !== `Bearer ${credential}`)
        return json({ error: 'invalid_token' }, 401)
      return json({ access_token: 'edge-tok-1', token_type: 'Bearer', expires_in: 300 }, 200, { 'cache-control': 'no-store' })
    }
    const listener = o.listener()
    const http = ky.create({ fetch: async () => json({ ok: true }) }).extend(
      withPaymentAuth({
        provider: edge({ url: 'https://auth.test', provider: 'stablelink', credential, apiBaseUrl: 'https://api.provider.test' }),
        fetch: edgeFetch,
        now: clock.now,
        onEvent: listener,
      }),
    )
    await http.get('https://api.provider.test/x').json()
    expect(o.spans().map(view)).toEqual([
      {
        name: 'payment_auth.token',
        kind: SpanKind.INTERNAL,
        attributes: {
          'payment_auth.provider': 'edge:stablelink',
          'payment_auth.source': 'edge',
          'payment_auth.grant': 'client_credentials',
        },
        status: { code: SpanStatusCode.UNSET },
        events: [],
        start: t0,
        end: t0 + 25,
      },
    ])
    expect(await o.points('payment_auth.token.acquisitions')).toEqual([
      { attributes: success('client_credentials', 'edge', 'edge:stablelink'), value: 1 },
    ])
  })
})

describe('defaults and limits', () => {
  it('without options: the global providers, scope @payment-auth/otel at this version, a meter provider registered after telemetry() is used', async () => {
    const o = otel()
    const clock = fakeClock()
    const listener = telemetry()
    trace.setGlobalTracerProvider(o.tracerProvider)
    metrics.setGlobalMeterProvider(o.meterProvider)
    try {
      const api = fakeApi()
      api.valid.add('tok-1')
      const http = ky
        .create({ fetch: api.fetch })
        .extend(withPaymentAuth({ provider: testProvider(), fetch: tokenEndpoint([issue()]).fetch, now: clock.now, onEvent: listener }))
      await http.get('https://api.test/x').json()
      expect(o.spans().map((s) => [s.name, s.instrumentationScope.name, s.instrumentationScope.version])).toEqual([
        ['payment_auth.token', SCOPE, VERSION],
      ])
      const scopes = (await o.metrics())!.scopeMetrics.map((s) => [s.scope.name, s.scope.version, s.metrics.map((m) => m.descriptor.name)])
      expect(scopes).toEqual([[SCOPE, VERSION, ['payment_auth.token.acquisitions', 'payment_auth.token.duration']]])
    } finally {
      trace.disable()
      metrics.disable()
    }
  })

  it('VERSION is the package version', () => {
    expect(VERSION).toBe(pkg.version)
    expect(SCOPE).toBe(pkg.name)
  })

  it('buffers failed attempts for at most 64 acquisitions, and for at most 5 minutes', async () => {
    const o = otel()
    const listener = o.listener()
    const t = Date.now()
    const error = (id: string) =>
      listener({ type: 'token_error', provider: 'test', id, code: 'network', retryable: true, attempt: 1, willRetry: true, at: t })
    const close = (id: string) =>
      listener({ type: 'token_failed', provider: 'test', id, source: 'network', code: 'network', startedAt: t, ms: 1 })
    for (let i = 0; i < 100; i++) error(`test#${i}`)
    close('test#0') // evicted: the 36 oldest went
    close('test#36') // kept
    close('test#99')
    expect(o.spans().map((s) => s.events.length)).toEqual([0, 1, 1])

    vi.useFakeTimers({ toFake: ['Date'], now: t })
    try {
      error('old')
      vi.setSystemTime(t + 6 * 60_000)
      error('new') // evicts 'old' (and the rest, all older)
      close('old')
      close('new')
      expect(
        o
          .spans()
          .slice(3)
          .map((s) => s.events.length),
      ).toEqual([0, 1])
    } finally {
      vi.useRealTimers()
    }
  })

  it('a closing event whose clock went back makes a zero-length span and a zero duration, never a negative one', async () => {
    const o = otel()
    const t = Date.now()
    o.listener()({
      type: 'token_acquired',
      provider: 'test',
      id: 'test#1',
      source: 'network',
      grant: 'client_credentials',
      expiresIn: 3600,
      startedAt: t,
      ms: -500,
    })
    expect(view(o.spans()[0]!)).toMatchObject({ start: t, end: t })
    expect(await o.points('payment_auth.token.duration')).toEqual([
      { attributes: success('client_credentials'), value: { count: 1, sum: 0 } },
    ])
  })
})

describe('nothing secret in any attribute', () => {
  it('scrub: userinfo redacted, query string and fragment cut, length capped', () => {
    expect(scrub('https://client:pw@auth.test/token?api_secret=s3cret&x=1#frag')).toBe('https://REDACTED:REDACTED@auth.test/token')
    expect(scrub('stablelink https://openapi.test/token?api_key=k&api_secret=s')).toBe('stablelink https://openapi.test/token')
    expect(scrub('test')).toBe('test')
    expect(scrub('edge:stablelink')).toBe('edge:stablelink')
    expect(scrub('x'.repeat(1000))).toHaveLength(256)
  })

  it('a provider name and codes made from credential-bearing URLs reach no exporter with the credential', async () => {
    const o = otel()
    const listener = o.listener()
    const secret = TEST_CREDENTIALS['leak-test secret']!
    const key = TEST_CREDENTIALS['leak-test api key']!
    // Events straight to the listener (a real manager's events would trip the leak guard first).
    const provider = `stablelink https://${key}:${SECRET}@openapi.test/token?api_key=${key}&api_secret=${secret}`
    const code = `invalid_client?api_secret=${secret}` as 'invalid_client'
    const t = Date.now()
    await o.tracer.startActiveSpan('request', async (span) => {
      listener({ type: 'token_error', provider, id: 'p#1', code, retryable: false, attempt: 1, willRetry: false })
      listener({ type: 'refresh_failed', provider, id: 'p#1', code })
      listener({ type: 'token_failed', provider, id: 'p#1', source: 'network', code, startedAt: t, ms: 3 })
      listener({
        type: 'token_acquired',
        provider,
        id: 'p#2',
        source: 'edge',
        grant: 'client_credentials',
        expiresIn: 60,
        startedAt: t,
        ms: 3,
      })
      listener({ type: 'token_adopted', provider, id: 'p#3', source: 'store', startedAt: t, ms: 0 })
      listener({ type: 'breaker_open', provider, code, ms: 1000 })
      listener({ type: 'store_error', provider, operation: 'get' })
      listener({ type: 'token_invalidated', provider, current: true })
      listener({ type: 'token_discarded', provider, reason: 'future' })
      listener({ type: 'replay', provider, status: 401 })
      span.end()
    })
    const text = await o.exported()
    // Booleans, not the text: a failure must not print the credentials it found.
    for (const [name, credential] of Object.entries({ secret, key, SECRET, api_secret: 'api_secret' }))
      expect(text.includes(credential), `${name} reached an exporter`).toBe(false)
    expect(o.spans()).toHaveLength(4)
    expect(o.spans()[0]!.attributes).toEqual({
      'payment_auth.provider': 'stablelink https://REDACTED:REDACTED@openapi.test/token',
      'payment_auth.source': 'network',
      'error.type': 'invalid_client',
    })
    expect(o.spans()[3]!.events.map((e) => e.name)).toEqual([
      'payment_auth.breaker_open',
      'payment_auth.store_error',
      'payment_auth.token_invalidated',
      'payment_auth.token_discarded',
    ])
  })
})

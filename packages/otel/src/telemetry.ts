import {
  metrics,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type Tracer,
} from '@opentelemetry/api'
import type { PaymentAuthEvent, PaymentAuthEventListener } from '@payment-auth/ky'
import { scrub } from './scrub.ts'
import { VERSION } from './version.ts'

export interface TelemetryOptions {
  /** Where the `payment_auth.token` spans go. Default: `trace.getTracer('@payment-auth/otel', version)` (the global tracer provider). */
  tracer?: Tracer
  /**
   * Where the metrics go. Default: `metrics.getMeter('@payment-auth/otel', version)` from the
   * global meter provider, looked up at the first acquisition (so a provider registered after
   * `telemetry()` but before the first token call is used).
   */
  meter?: Meter
}

/** The instrumentation scope of the default tracer and meter. */
export const SCOPE = '@payment-auth/otel'

/** Acquisitions whose failed attempts are kept until their closing event, and for how long (ms). */
const MAX_PENDING = 64
const PENDING_MS = 5 * 60_000
/** Attempts kept per acquisition (the default backoff makes 3). */
const MAX_NOTES = 16

/** A span event noted before its acquisition's span exists; `at` is the wall clock when it happened. */
interface Note {
  name: string
  attributes: Attributes
  at: number
}

interface Instruments {
  acquisitions: Counter
  duration: Histogram
  replays: Counter
}

type Closing = Extract<PaymentAuthEvent, { type: 'token_acquired' | 'token_adopted' | 'token_failed' }>

function instruments(meter: Meter): Instruments {
  return {
    acquisitions: meter.createCounter('payment_auth.token.acquisitions', {
      description: 'Token acquisitions (a warm hit in memory is none), by provider, grant, source and outcome',
      unit: '{acquisition}',
    }),
    duration: meter.createHistogram('payment_auth.token.duration', {
      description: 'How long a token acquisition took, retries and backoff included',
      unit: 's',
      // OpenTelemetry's HTTP client buckets: a token call is one (or a few) HTTP requests.
      advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] },
    }),
    replays: meter.createCounter('payment_auth.replays', {
      description: 'Requests replayed once with a fresh token after a 401',
      unit: '{replay}',
    }),
  }
}

/**
 * OpenTelemetry for the token work: pass it as `onEvent`.
 *
 * - A span `payment_auth.token` per acquisition (one shared flight), from its start to its end
 *   on the token manager's clock, with `payment_auth.provider`, `payment_auth.grant` (when
 *   known), `payment_auth.source` (`store` | `network` | `edge`) and, on failure, `error.type`
 *   and status ERROR. Failed attempts before the outcome are span events `payment_auth.token_error`.
 *   A warm hit in memory is no acquisition: no span, nothing recorded.
 * - Metrics: `payment_auth.token.acquisitions` (counter), `payment_auth.token.duration`
 *   (histogram, seconds), `payment_auth.replays` (counter).
 * - On a 401 replay, `http.request.resend_count = 1` on the active span (the request's, where
 *   the call is traced).
 *
 * Every string attribute goes through `scrub` (no userinfo, query string or fragment).
 *
 * @example
 * ```ts
 * import ky from 'ky'
 * import { withPaymentAuth, oauth2 } from '@payment-auth/ky'
 * import { telemetry } from '@payment-auth/otel'
 *
 * const api = ky.create({ baseUrl: 'https://pay.example/' }).extend(withPaymentAuth({ provider: oauth2({ tokenUrl, clientId, clientSecret }), onEvent: telemetry() }))
 * ```
 */
export function telemetry(options: TelemetryOptions = {}): PaymentAuthEventListener {
  const tracer = options.tracer ?? trace.getTracer(SCOPE, VERSION)
  let made: Instruments | undefined
  const meter = () => (made ??= instruments(options.meter ?? metrics.getMeter(SCOPE, VERSION)))
  /** Failed attempts by acquisition id, oldest first, until the closing event. */
  const pending = new Map<string, Note[] & { since: number }>()

  /** `at`: when the attempt failed, on the manager's clock (the clock of the span's times). */
  function note(id: string, name: string, attributes: Attributes, at: number): void {
    const wall = Date.now()
    // Forget acquisitions that never closed (a listener added mid-flight, a lost event): bounded in age and count.
    for (const [key, notes] of pending) {
      if (wall - notes.since < PENDING_MS && pending.size < MAX_PENDING) break
      pending.delete(key)
    }
    let notes = pending.get(id)
    if (!notes) pending.set(id, (notes = Object.assign([] as Note[], { since: wall })))
    if (notes.length < MAX_NOTES) notes.push({ name, attributes, at })
  }

  function close(event: Closing, startedAt: number, ms: number, id: string): void {
    const provider = scrub(event.provider)
    const grant = event.type === 'token_adopted' ? undefined : event.grant
    const code = event.type === 'token_failed' ? scrub(event.code) : undefined
    const attributes: Attributes = { 'payment_auth.provider': provider, 'payment_auth.source': event.source }
    if (grant) attributes['payment_auth.grant'] = grant
    if (code) attributes['error.type'] = code
    const duration = Math.max(0, ms)
    const end = startedAt + duration
    const span = tracer.startSpan('payment_auth.token', { kind: SpanKind.INTERNAL, startTime: startedAt, attributes })
    const notes = pending.get(id)
    if (notes) {
      pending.delete(id)
      // Attempts carry their time on the manager's clock, the span's clock: kept inside the span.
      for (const n of notes) span.addEvent(n.name, n.attributes, Math.min(end, Math.max(startedAt, n.at)))
    }
    if (code) span.setStatus({ code: SpanStatusCode.ERROR, message: code })
    span.end(end)

    const { acquisitions, duration: histogram } = meter()
    const labels: Attributes = { ...attributes, 'payment_auth.outcome': code ? 'failure' : 'success' }
    acquisitions.add(1, labels)
    histogram.record(duration / 1000, labels)
  }

  /** Something that happened to the request in progress, if it is traced. */
  const onActiveSpan = (event: { type: string; provider: string }, attributes: Attributes) =>
    trace.getActiveSpan()?.addEvent(`payment_auth.${event.type}`, { 'payment_auth.provider': scrub(event.provider), ...attributes })

  return (event) => {
    switch (event.type) {
      case 'token_acquired':
      case 'token_failed':
        return close(event, event.startedAt, event.ms, event.id)
      case 'token_adopted':
        // No id: another context pushed it; that context's acquisition has the span.
        if (event.id !== undefined && event.startedAt !== undefined && event.ms !== undefined)
          close(event, event.startedAt, event.ms, event.id)
        return
      case 'token_error':
        return note(
          event.id,
          'payment_auth.token_error',
          {
            'payment_auth.attempt': event.attempt,
            'error.type': scrub(event.code),
            'payment_auth.retryable': event.retryable,
            'payment_auth.will_retry': event.willRetry,
          },
          event.at,
        )
      case 'refresh_failed':
        return note(event.id, 'payment_auth.refresh_failed', { 'error.type': scrub(event.code) }, event.at)
      case 'replay': {
        // Emitted synchronously right before the replayed request goes out, in the request's context.
        trace.getActiveSpan()?.setAttribute('http.request.resend_count', 1)
        meter().replays.add(1, { 'payment_auth.provider': scrub(event.provider), 'http.response.status_code': event.status })
        return
      }
      case 'token_invalidated':
        return onActiveSpan(event, { 'payment_auth.current': event.current })
      case 'breaker_open':
        return onActiveSpan(event, { 'error.type': scrub(event.code), 'payment_auth.breaker_ms': event.ms })
      case 'store_error':
        return onActiveSpan(event, { 'payment_auth.store_operation': event.operation })
      case 'token_discarded':
        return onActiveSpan(event, { 'payment_auth.reason': event.reason })
    }
  }
}

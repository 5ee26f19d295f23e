/**
 * The Worker's token authority reports its token work through @payment-auth/otel: with a tracer
 * provider registered (here the real SDK's in-memory exporter), one span per acquisition from
 * the provider, and nothing secret in any attribute.
 */
import { trace } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { coldStart, json, type TokenAnswer, token } from '../test/support.ts'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })

beforeAll(() => {
  trace.setGlobalTracerProvider(provider)
})
afterAll(async () => {
  trace.disable()
  await provider.shutdown()
})
beforeEach(async () => {
  await coldStart()
  exporter.reset()
})

describe('telemetry at the edge', () => {
  it('a cold /v1/token makes one payment_auth.token span (network, client_credentials); a warm one makes none', async () => {
    const first = await json<TokenAnswer>(await token('stonex'))
    await token('stonex')
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'payment_auth.token')
    expect(spans.map((s) => s.attributes)).toEqual([
      { 'payment_auth.provider': 'stonex', 'payment_auth.source': 'network', 'payment_auth.grant': 'client_credentials' },
    ])
    expect(JSON.stringify(exporter.getFinishedSpans().map((s) => [s.attributes, s.events]))).not.toContain(first.access_token)
  })
})

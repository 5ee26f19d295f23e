/**
 * Property-based tests (fast-check): the dialect parsers against arbitrary answers, the
 * token lifecycle against arbitrary schedules, and the hook's replay bound.
 */
import fc from 'fast-check'
import ky from 'ky'
import { describe, expect, it } from 'vitest'
import { fakeClock } from '@payment-auth/test-support/clock'
import { abbeycross } from './dialects/abbeycross.ts'
import { edge } from './dialects/edge.ts'
import { oauth2 } from './dialects/oauth2.ts'
import { stablelink } from './dialects/stablelink.ts'
import { stonex } from './dialects/stonex.ts'
import { isPaymentAuthError } from './errors.ts'
import { withPaymentAuth } from './hooks.ts'
import { createTokenManager } from './manager.ts'
import type { Provider } from './provider.ts'
import { json, testProvider } from '@payment-auth/test-support/provider'

const SECRET = 'prop_secret_Vq7Lm2Xc9'
const providers: Provider[] = [
  stablelink({ baseUrl: 'https://sl.test', apiKey: 'k', apiSecret: SECRET }),
  oauth2({ tokenUrl: 'https://oa.test/o/token/', clientId: 'c', clientSecret: SECRET }),
  stonex({ baseUrl: 'https://sx.test', clientId: 'c', clientSecret: SECRET }),
  abbeycross({ baseUrl: 'https://ac.test', clientId: 'c', clientSecret: SECRET }),
  edge({ url: 'https://edge.test', provider: 'p', credential: SECRET }),
]

/** JSON values biased toward what token endpoints send, with the secret and pollution keys mixed in. */
const field = fc.oneof(
  fc.string(),
  fc.constant(SECRET),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('3600', '-1', 'abc', '1e309', ' 60 ', '0x10', ''),
)
const tokenish = fc.record(
  {
    access_token: field,
    accessToken: field,
    expires_in: field,
    expiresIn: field,
    refresh_token: field,
    rt_expires_in: field,
    token_type: field,
    scope: field,
    error: field,
    code: field,
    success: fc.oneof(fc.boolean(), field),
    retcode: fc.oneof(fc.constantFrom(200, 400, 401, 403, 500), field),
    retdata: fc.oneof(fc.constant(undefined), fc.dictionary(fc.constantFrom('access_token', 'expires_in', 'refresh_token'), field)),
  },
  { requiredKeys: [] },
)
const body = fc.oneof(
  tokenish.map((o) => JSON.stringify(o)),
  fc.json(),
  fc.constantFrom(
    '{"__proto__":{"polluted":1},"access_token":"x"}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '<html>502</html>',
    '{"access_token":"x"',
    '',
  ),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
)
const status = fc.constantFrom(200, 200, 200, 201, 400, 401, 403, 404, 408, 409, 429, 500, 502, 503)

describe('every dialect parser, on arbitrary answers', () => {
  it.each(providers.map((p) => [p.name, p] as const))(
    '%s: resolves to a usable token set or rejects with a PaymentAuthError that leaks nothing',
    async (_, provider) => {
      await fc.assert(
        fc.asyncProperty(
          body,
          status,
          fc.option(fc.constantFrom('0', '30', 'Wed, 21 Oct 2015 07:28:00 GMT', 'soon')),
          async (text, code, retryAfter) => {
            const headers: Record<string, string> = { 'content-type': 'application/json' }
            if (retryAfter) headers['retry-after'] = retryAfter
            try {
              const set = await provider.processTokenResponse(new Response(text, { status: code, headers }))
              expect(code).toBeLessThan(300)
              expect(typeof set.accessToken).toBe('string')
              expect(set.accessToken.length).toBeGreaterThan(0)
              if (set.expiresIn !== undefined) expect(Number.isFinite(set.expiresIn)).toBe(true)
            } catch (error) {
              expect(isPaymentAuthError(error)).toBe(true)
              const e = error as Error
              expect(`${e.message} ${String(e)} ${JSON.stringify(e)} ${e.stack}`).not.toContain(SECRET)
              if ((e as { retryAfter?: number }).retryAfter !== undefined)
                expect((e as { retryAfter: number }).retryAfter).toBeGreaterThanOrEqual(0)
            }
            expect(({} as Record<string, unknown>).polluted).toBeUndefined()
          },
        ),
        { numRuns: 300 },
      )
    },
  )

  it('a huge body (1 MiB, no content-length) is refused as invalid_response after reading at most ~64 KiB', async () => {
    for (const provider of providers) {
      let pulled = 0
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++
          controller.enqueue(new TextEncoder().encode(`{"access_token":"${'x'.repeat(16_384)}`))
          if (pulled >= 64) controller.close()
        },
      })
      await expect(provider.processTokenResponse(new Response(stream))).rejects.toMatchObject({ code: 'invalid_response' })
      expect(pulled).toBeLessThan(10)
    }
  })
})

type Step =
  | { op: 'get'; n: number }
  | { op: 'invalidate'; which: number }
  | { op: 'clock'; ms: number }
  | { op: 'answer'; kind: 'ok' | 'ok-short' | '500' | '401' | 'malformed' | 'throw' }
  | { op: 'wait' }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('get' as const), n: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ op: fc.constant('invalidate' as const), which: fc.integer({ min: 0, max: 5 }) }),
  fc.record({
    op: fc.constant('clock' as const),
    ms: fc.oneof(fc.integer({ min: 0, max: 4000_000 }), fc.integer({ min: -8 * 3600_000, max: 8 * 3600_000 })),
  }),
  fc.record({ op: fc.constant('answer' as const), kind: fc.constantFrom('ok', 'ok', 'ok-short', '500', '401', 'malformed', 'throw') }),
  fc.record({ op: fc.constant('wait' as const) }),
)

describe('the token lifecycle, on arbitrary schedules', () => {
  it('never runs two acquisitions at once, only hands out issued tokens, and only fails with PaymentAuthError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const clock = fakeClock()
        let answer: Extract<Step, { op: 'answer' }>['kind'] = 'ok'
        const issued: string[] = []
        let inProgress = 0
        let maxInProgress = 0
        const tokens = createTokenManager({
          provider: testProvider(true),
          now: clock.now,
          backoff: { limit: 1, delay: 1, maxDelay: 2 },
          fetch: async () => {
            inProgress++
            maxInProgress = Math.max(maxInProgress, inProgress)
            await new Promise((r) => setTimeout(r, 1))
            inProgress--
            if (answer === 'throw') throw new TypeError('fetch failed')
            if (answer === '500') return json({}, 500)
            if (answer === '401') return json({ error: 'invalid_client' }, 401)
            if (answer === 'malformed') return json({ access_token: 7 })
            const token = `tok-${issued.length + 1}`
            issued.push(token)
            return json({ access_token: token, expires_in: answer === 'ok-short' ? 2 : 3600, refresh_token: 'rt' })
          },
        })
        const pending: Promise<unknown>[] = []
        for (const s of steps) {
          if (s.op === 'answer') answer = s.kind
          else if (s.op === 'clock') clock.t += s.ms
          else if (s.op === 'invalidate') pending.push(tokens.invalidate(issued[issued.length - 1 - s.which] ?? 'unknown'))
          else if (s.op === 'wait') await Promise.allSettled(pending.splice(0))
          else
            for (let i = 0; i < s.n; i++)
              pending.push(
                tokens.getToken().then(
                  (token) => expect(issued).toContain(token),
                  (error: unknown) => expect(isPaymentAuthError(error)).toBe(true),
                ),
              )
        }
        const outcomes = await Promise.allSettled(pending)
        expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([])
        expect(maxInProgress).toBeLessThanOrEqual(1)
      }),
      { numRuns: 150 },
    )
  })
})

describe('the hook, on arbitrary API behaviour', () => {
  // A third send exists only for a replay token that may have died in the same revocation (its flight
  // began before the request was sent, or the edge relayed it): hooks.test.ts covers that case. Here
  // every replay token comes from a flight started after its 401, so one replay is the whole budget.
  it('never sends one request more than twice when its replay token is fresh (one replay), and never replays a non-401', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(200, 401, 401, 403, 500, 503), { minLength: 1, maxLength: 30 }),
        fc.constantFrom(0, 2),
        async (statuses, retry) => {
          const sends = new Map<string, number[]>()
          let i = 0
          const api = async (input: Request | URL | string, init?: RequestInit) => {
            const request = new Request(input, init)
            const id = new URL(request.url).pathname
            const status = statuses[i++ % statuses.length]!
            sends.set(id, [...(sends.get(id) ?? []), status])
            return json({}, status)
          }
          let n = 0
          const client = ky
            .create({ fetch: api, retry: { limit: retry, statusCodes: [], afterStatusCodes: [] } })
            .extend(withPaymentAuth({ provider: testProvider(), fetch: async () => json({ access_token: `t${++n}`, expires_in: 3600 }) }))
          await Promise.allSettled(Array.from({ length: 10 }, (_, r) => client.post(`https://api.test/r${r}`, { json: { r } })))
          for (const answers of sends.values()) {
            expect(answers.length).toBeLessThanOrEqual(2)
            if (answers.length === 2) expect(answers[0]).toBe(401)
          }
        },
      ),
      { numRuns: 100 },
    )
  })
})

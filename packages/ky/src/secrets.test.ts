import ky from 'ky'
import { describe, expect, it } from 'vitest'
import { abbeycross } from './dialects/abbeycross.ts'
import { oauth2 } from './dialects/oauth2.ts'
import { stablelink } from './dialects/stablelink.ts'
import { stonex } from './dialects/stonex.ts'
import type { PaymentAuthEvent } from './events.ts'
import { withPaymentAuth } from './hooks.ts'
import { createTokenManager } from './manager.ts'
import { defineProvider, type Provider } from './provider.ts'
import { json } from '@payment-auth/test-support/provider'

const SECRET = 'sk_live_51HxQz9TopSecretValue'
const KEY = 'ak_public_but_private_42'

const dialects: Array<[string, Provider]> = [
  ['stablelink', stablelink({ baseUrl: 'https://sl.test', apiKey: KEY, apiSecret: SECRET })],
  ['oauth2 basic', oauth2({ tokenUrl: 'https://oa.test/o/token/', clientId: KEY, clientSecret: SECRET })],
  ['oauth2 post', oauth2({ tokenUrl: 'https://oa.test/o/token/', clientId: KEY, clientSecret: SECRET, authMethod: 'client_secret_post' })],
  ['stonex', stonex({ baseUrl: 'https://sx.test', clientId: KEY, clientSecret: SECRET })],
  ['abbeycross', abbeycross({ baseUrl: 'https://ac.test', clientId: KEY, clientSecret: SECRET })],
  [
    'defineProvider',
    defineProvider({
      name: 'custom',
      secrets: [SECRET],
      buildTokenRequest: () => new Request(`https://c.test/t?secret=${SECRET}`, { method: 'POST' }),
      processTokenResponse: async () => {
        throw new Error(`custom parser failed on ${SECRET}`)
      },
    }),
  ],
]

/** Every way the token endpoint can fail, each echoing the credentials back the worst way it can. */
const failures: Array<[string, (request: Request) => Response | Promise<Response>]> = [
  [
    'a network error whose message holds the URL (as Deno and Bun write it)',
    (request) => {
      throw new TypeError(`error sending request for url (${request.url}): connection refused ${SECRET}`)
    },
  ],
  ['401 invalid_client echoing the secret', () => json({ error: 'invalid_client', error_description: `bad secret ${SECRET}` }, 401)],
  ['a 200 envelope error', () => json({ retcode: 401, retmsg: `api_secret ${SECRET} invalid`, success: false })],
  [
    'an AbbeyCross error echoing parameter_value',
    () => json({ errorId: 'x', code: 'invalid_credentials', text: SECRET, parameter_name: 'client_secret', parameter_value: SECRET }, 401),
  ],
  ['an error code that is the secret itself', () => json({ error: SECRET, code: SECRET }, 400)],
  ['a malformed 200 that contains the secret', () => json({ token: SECRET, expires_in: 'abc' })],
  [
    'an HTML 500 page that contains the secret',
    () => new Response(`<html>${SECRET}</html>`, { status: 500, headers: { 'content-type': 'text/html' } }),
  ],
  ['a 503 with Retry-After', () => json({ text: SECRET }, 503, { 'retry-after': '3600' })],
  ['a hang past the timeout', () => new Promise<Response>(() => {})],
]

function expectNoSecret(value: unknown, where: string) {
  const texts: string[] = []
  if (value instanceof Error) {
    texts.push(value.message, String(value), value.stack ?? '', JSON.stringify(value), JSON.stringify(Object.entries(value)))
    let cause: unknown = value.cause
    while (cause instanceof Error) {
      texts.push(cause.message, String(cause), cause.stack ?? '', JSON.stringify(cause))
      cause = cause.cause
    }
  } else {
    texts.push(JSON.stringify(value) ?? String(value))
  }
  for (const text of texts) {
    expect(text, where).not.toContain(SECRET)
    expect(text, where).not.toContain(KEY)
    expect(text, where).not.toContain('tok_secret_access')
  }
}

describe('no secret, token or query-string credential leaks', () => {
  for (const [dialect, provider] of dialects) {
    it.each(failures)(`${dialect}: %s`, async (_, answer) => {
      const events: PaymentAuthEvent[] = []
      const tokens = createTokenManager({
        provider,
        fetch: async (request) => answer(request),
        timeout: 30,
        backoff: { limit: 1, delay: 1, maxDelay: 10 },
        onEvent: (e) => events.push(e),
      })
      const error = await tokens.getToken().catch((e: unknown) => e)
      expect(error).toMatchObject({ name: 'PaymentAuthError', provider: provider.name })
      expectNoSecret(error, `${dialect} error`)
      expectNoSecret(events, `${dialect} events`)
    })
  }

  it('a token never appears in events or in the error of a request that fails after it was used', async () => {
    const events: PaymentAuthEvent[] = []
    const client = ky.create({ fetch: async () => json({ error: 'invalid_token' }, 401) }).extend(
      withPaymentAuth({
        provider: oauth2({ tokenUrl: 'https://oa.test/o/token/', clientId: KEY, clientSecret: SECRET }),
        fetch: async () => json({ access_token: 'tok_secret_access', expires_in: 60 }),
        onEvent: (e) => events.push(e),
      }),
    )
    const error = await client.get('https://oa.test/api/x').catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'HTTPError' })
    expectNoSecret(events, 'events')
    expectNoSecret(error, 'HTTPError')
    expect(JSON.stringify([...(error as { request: Request }).request.headers])).not.toContain('tok_secret_access')
  })
})

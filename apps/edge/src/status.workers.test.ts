/**
 * `GET /v1/status` (issue 13): per provider client, the token's age and remaining life (never
 * the token), the last error code, the breaker state and the token calls of the last hour;
 * admin only, 404 without ADMIN_KEY.
 */
import { env } from 'cloudflare:workers'
import { evictAllDurableObjects } from 'cloudflare:test'
import { beforeEach, describe, expect, it } from 'vitest'
import type { ClientStatus } from './authority-status.ts'
import { clearIsolateCache } from './tokens.ts'
import * as edge from '../test/support.ts'
import { coldStart, token } from '../test/support.ts'
import type { ErrorAnswer, TokenAnswer } from '../test/support.ts'

beforeEach(coldStart)

type Status = { providers: Record<string, { clients: ClientStatus[] } | { error: string }> }

const status = () => edge.call('/v1/status', { method: 'GET', credential: env.ADMIN_KEY as string })
const clients = (s: Status, provider: string) => (s.providers[provider] as { clients: ClientStatus[] }).clients

describe('GET /v1/status', () => {
  it('is 404 without ADMIN_KEY and 401 without the admin key (a caller key included)', async () => {
    const off = await edge.callWith({ ADMIN_KEY: undefined }, edge.request('/v1/status', { method: 'GET', credential: 'x' }))
    expect(off.status).toBe(404)
    expect((await edge.json<ErrorAnswer>(off)).error).toBe('not_found')
    for (const credential of [null, 'pa_demo_caller_key_0001']) {
      const refused = await edge.call('/v1/status', { method: 'GET', credential })
      expect(refused.status).toBe(401)
      expect((await edge.json<ErrorAnswer>(refused)).error).toBe('invalid_token')
    }
  })

  it('reports each provider client: token age and remaining life, no error, breaker closed, one token call; never the token', async () => {
    const issued = [
      (await edge.json<TokenAnswer>(await token('oauth2', { scope: 'read' }))).access_token,
      (await edge.json<TokenAnswer>(await token('stonex'))).access_token,
    ]
    await token('stonex')
    const response = await status()
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    const text = await response.text()
    edge.assertLeaksNothing(text, issued)
    const s = JSON.parse(text) as Status
    expect(Object.keys(s.providers).sort()).toEqual(['abbeycross', 'oauth2', 'oauth2-jwt', 'oauth2-mtls', 'stablelink', 'stonex'])
    expect(clients(s, 'stablelink')).toEqual([])
    const [oauth2] = clients(s, 'oauth2')
    expect(oauth2).toMatchObject({ provider: 'oauth2', scope: 'read', lastError: null, breaker: 'closed', tokenCallsLastHour: 1 })
    expect(oauth2!.token!.ageSeconds).toBeGreaterThanOrEqual(0)
    expect(oauth2!.token!.remainingSeconds).toBeGreaterThan(3500)
    expect(clients(s, 'stonex')).toEqual([expect.objectContaining({ scope: null, tokenCallsLastHour: 1, breaker: 'closed' })])
  })

  it('a failing token endpoint: its last error code, and the breaker once it fails fast', async () => {
    await edge.sandbox.inject('abbeycross', { fault: '503', retryAfter: 30 })
    expect((await token('abbeycross')).status).toBe(503)
    let [abbeycross] = clients(await edge.json<Status>(await status()), 'abbeycross')
    expect(abbeycross).toMatchObject({ lastError: { code: 'provider_unavailable' }, token: null, tokenCallsLastHour: 1 })
    const callsBefore = (await edge.sandbox.stats('abbeycross')).tokenCalls
    clearIsolateCache() // so that the isolate asks the authority again, rather than its own breaker
    expect((await token('abbeycross')).status).toBe(503)
    ;[abbeycross] = clients(await edge.json<Status>(await status()), 'abbeycross')
    if ((await edge.sandbox.stats('abbeycross')).tokenCalls === callsBefore) expect(abbeycross!.breaker).toBe('open')
    else expect(abbeycross!.breaker).toBe('closed')
  })

  it('the token times survive eviction of the authority (they come from its storage)', async () => {
    await token('stonex')
    await evictAllDurableObjects()
    const [stonex] = clients(await edge.json<Status>(await status()), 'stonex')
    expect(stonex!.token!.remainingSeconds).toBeGreaterThan(3500)
    expect(stonex!.tokenCallsLastHour).toBe(0) // observed since this instance started
  })
})

import { defineProvider, type Provider } from '../provider.ts'

export const SECRET = 'test_secret_Zq81xW'

export { fakeClock, type FakeClock } from '../../../../test/support/clock.ts'

export const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

/**
 * A token endpoint scripted per call: `answers` are used in order (the last one repeats).
 * Counts every call, the grants asked for, and the most calls in progress at once.
 */
export function tokenEndpoint(answers: Array<(n: number, request: Request) => Response | Promise<Response>>, latencyMs = 0) {
  const state = { calls: 0, inProgress: 0, maxInProgress: 0, grants: [] as string[], requests: [] as Request[] }
  const fetch = async (input: Request, init?: RequestInit) => {
    const request = new Request(input, init)
    const n = state.calls++
    state.requests.push(request.clone())
    state.grants.push(new URL(request.url).searchParams.get('grant') ?? 'client_credentials')
    state.inProgress++
    state.maxInProgress = Math.max(state.maxInProgress, state.inProgress)
    try {
      if (latencyMs) await new Promise((r) => setTimeout(r, latencyMs))
      const answer = answers[Math.min(n, answers.length - 1)]!
      return await answer(n, request)
    } finally {
      state.inProgress--
    }
  }
  return Object.assign(state, { fetch })
}

/** Fresh tokens `tok-1`, `tok-2`, ... with the given lifetime. */
export const issue = (expiresIn = 3600, extra: Record<string, unknown> = {}) => (n: number) =>
  json({ access_token: `tok-${n + 1}`, token_type: 'bearer', expires_in: expiresIn, ...extra })

/** A minimal provider for manager tests; `refreshable` ones ask `?grant=refresh_token`. */
export function testProvider(refreshable = false): Provider {
  return defineProvider({
    name: 'test',
    key: 'test client-1',
    origins: ['https://api.test'],
    secrets: [SECRET],
    refreshable,
    buildTokenRequest: (grant) =>
      new Request(`https://auth.test/token?grant=${grant.type}`, {
        method: 'POST',
        body: JSON.stringify({ secret: SECRET, refresh: grant.type === 'refresh_token' ? grant.refreshToken : undefined }),
      }),
  })
}

export const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms))

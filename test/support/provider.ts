/**
 * A scripted token endpoint and a minimal provider for the manager, hook and store tests:
 * one of each for every package (ky's unit tests, store-idb in happy-dom and in Chromium tabs).
 */
import { defineProvider, type Provider } from '@payment-auth/ky'

/** The client secret of {@link testProvider} (the leak guard knows it). */
export const SECRET = 'test_secret_Zq81xW'

export { fakeClock, type FakeClock } from './clock.ts'

export const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

/** Fresh tokens `tok-1`, `tok-2`, ... with the given lifetime. */
export const issue =
  (expiresIn = 3600, extra: Record<string, unknown> = {}) =>
  (n: number) =>
    json({ access_token: `tok-${n + 1}`, token_type: 'bearer', expires_in: expiresIn, ...extra })

/** One scripted answer of the token endpoint: `n` counts the calls from 0. */
export type Answer = (n: number, request: Request) => Response | Promise<Response>

/**
 * A token endpoint scripted per call: `answers` are used in order (the last one repeats);
 * without answers it issues `tok-1`, `tok-2`, ... valid for an hour. Counts every call, the
 * grants asked for, and the most calls in progress at once.
 */
export function tokenEndpoint(latencyMs?: number): TokenEndpoint
export function tokenEndpoint(answers: Answer[], latencyMs?: number): TokenEndpoint
export function tokenEndpoint(answersOrLatency: Answer[] | number = [], latencyMs = 0): TokenEndpoint {
  const answers = typeof answersOrLatency === 'number' ? [] : answersOrLatency
  if (typeof answersOrLatency === 'number') latencyMs = answersOrLatency
  if (answers.length === 0) answers.push(issue())
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

export interface TokenEndpoint {
  calls: number
  inProgress: number
  maxInProgress: number
  grants: string[]
  requests: Request[]
  fetch(input: Request, init?: RequestInit): Promise<Response>
}

export interface TestProviderOptions {
  /** Refreshable providers ask `?grant=refresh_token` while a refresh token lives. */
  refreshable?: boolean
}

/**
 * A minimal provider: its token request goes to `https://auth.test/token?grant=<type>` with
 * {@link SECRET} in the body, its API is `https://api.test`. `true` is `{ refreshable: true }`.
 */
export function testProvider(options: boolean | TestProviderOptions = {}): Provider {
  const { refreshable = false } = typeof options === 'boolean' ? { refreshable: options } : options
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

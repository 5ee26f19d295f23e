/**
 * The four competitors, each set up the way its documentation says, for client-credentials
 * OAuth2 (the sandbox's `oauth2` dialect), plus the bare clients they are compared with.
 *
 * - `payment-auth`: `ky.extend(withPaymentAuth({ provider: oauth2({...}) }))` (ours).
 * - `ky recipe`: ky's README, "retry with a fresh token on a 401 error" (an `afterResponse`
 *   hook that fetches a token and returns `ky.retry({request})`), implemented as written, plus
 *   the usual `beforeRequest` hook that attaches the cached token (fetching one when there is
 *   none). No single-flight: the README has none.
 * - `OAuth2Fetch`: @badgateway/oauth2-client, `new OAuth2Fetch({ client, getNewToken: () =>
 *   client.clientCredentials() })`, requests through `wrapper.fetch`.
 * - `axios-auth-refresh`: axios + `createAuthRefreshInterceptor(instance, refreshAuthLogic)` and
 *   the request interceptor of its README that sets `Bearer <stored token>` on every request.
 *
 * Every client answers `send(method, url, json?)` with the parsed JSON body, and rejects on a
 * non-2xx answer or a failure. `fetch`/`tokenFetch` (and `adapter`/`tokenAdapter` for axios)
 * swap the network for an in-memory one (warm-path and scaling measures).
 */
import { OAuth2Client, OAuth2Fetch } from '@badgateway/oauth2-client'
import axios, { AxiosError, AxiosHeaders, type AxiosAdapter, type AxiosResponse, type InternalAxiosRequestConfig } from 'axios'
import createAuthRefreshInterceptor from 'axios-auth-refresh'
import ky from 'ky'
import { oauth2, withPaymentAuth, type TokenStore } from '../../packages/ky/src/index.ts'

export type Competitor = 'payment-auth' | 'ky recipe' | 'OAuth2Fetch' | 'axios-auth-refresh'
export const COMPETITORS: readonly Competitor[] = ['payment-auth', 'ky recipe', 'OAuth2Fetch', 'axios-auth-refresh']
export type Bare = 'bare ky' | 'bare fetch' | 'bare axios'
/** The bare client each competitor is compared with on the warm path. */
export const BARE_OF: Record<Competitor, Bare> = {
  'payment-auth': 'bare ky',
  'ky recipe': 'bare ky',
  OAuth2Fetch: 'bare fetch',
  'axios-auth-refresh': 'bare axios',
}
export const BARES: readonly Bare[] = ['bare ky', 'bare fetch', 'bare axios']

/** Sandbox client id of each competitor (one OAuth2 client each, so token calls can be told apart). */
export const CLIENT_ID: Record<Competitor | 'bare', string> = {
  'payment-auth': 'bench-payment-auth',
  'ky recipe': 'bench-ky-recipe',
  OAuth2Fetch: 'bench-oauth2fetch',
  'axios-auth-refresh': 'bench-axios',
  bare: 'bench-bare',
}
export const CLIENT_SECRET = 'bench-secret-0123456789'

export type Method = 'GET' | 'POST'
type Fetch = (input: Request | URL | string, init?: RequestInit) => Promise<Response>

export interface Client {
  name: Competitor | Bare
  send(method: Method, url: string, json?: unknown): Promise<unknown>
}

export interface Setup {
  tokenUrl: string
  clientId: string
  clientSecret: string
  scope?: string
  /** API fetch (ky's `fetch` option; `next` of OAuth2Fetch). Default: the network. */
  fetch?: Fetch
  /** Token-endpoint fetch. Default: the network. */
  tokenFetch?: Fetch
  /** axios adapter for API requests and for the token request. Default: axios's own. */
  adapter?: AxiosAdapter
  tokenAdapter?: AxiosAdapter
  /** payment-auth only: the token store (default: memory). */
  store?: TokenStore
}

const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`

export function paymentAuth(s: Setup): Client {
  const provider = oauth2({
    tokenUrl: s.tokenUrl,
    clientId: s.clientId,
    clientSecret: s.clientSecret,
    ...(s.scope ? { scope: s.scope } : {}),
  })
  const api = ky
    .create(s.fetch ? { fetch: s.fetch } : {})
    .extend(withPaymentAuth({ provider, ...(s.tokenFetch ? { fetch: s.tokenFetch } : {}), ...(s.store ? { store: s.store } : {}) }))
  return { name: 'payment-auth', send: (method, url, json) => api(url, { method, ...(json === undefined ? {} : { json }) }).json() }
}

export function kyRecipe(s: Setup): Client {
  let token: string | undefined
  const body = () => new URLSearchParams({ grant_type: 'client_credentials', ...(s.scope ? { scope: s.scope } : {}) })
  // The token call of the recipe: a plain `ky.post`, as in the README.
  const getNewToken = async (): Promise<string> => {
    const { access_token } = await ky
      .post(s.tokenUrl, {
        body: body(),
        headers: { authorization: basic(s.clientId, s.clientSecret) },
        ...(s.tokenFetch ? { fetch: s.tokenFetch } : {}),
      })
      .json<{ access_token: string }>()
    token = access_token
    return access_token
  }
  const api = ky.create({
    ...(s.fetch ? { fetch: s.fetch } : {}),
    hooks: {
      beforeRequest: [
        async ({ request }) => {
          request.headers.set('Authorization', `Bearer ${token ?? (await getNewToken())}`)
        },
      ],
      afterResponse: [
        // ky README: "Or retry with a fresh token on a 401 error".
        async ({ request, response, retryCount }) => {
          if (response.status === 401 && retryCount === 0) {
            // Only refresh on first 401, not on subsequent retries
            const fresh = await getNewToken()
            const headers = new Headers(request.headers)
            headers.set('Authorization', `Bearer ${fresh}`)
            return ky.retry({ request: new Request(request, { headers }), code: 'TOKEN_REFRESHED' })
          }
        },
      ],
    },
  })
  return { name: 'ky recipe', send: (method, url, json) => api(url, { method, ...(json === undefined ? {} : { json }) }).json() }
}

export function oauth2Fetch(s: Setup): Client {
  const client = new OAuth2Client({
    tokenEndpoint: s.tokenUrl,
    clientId: s.clientId,
    clientSecret: s.clientSecret,
    ...(s.tokenFetch ? { fetch: s.tokenFetch as typeof fetch } : {}),
  })
  const scope = s.scope ? { scope: s.scope.split(' ') } : undefined
  const wrapper = new OAuth2Fetch({ client, getNewToken: () => client.clientCredentials(scope) })
  // `wrapper.fetch(input, init)` is `wrapper.mw()(new Request(input, init), (req) => fetch(req))`;
  // with an in-memory fetch we call exactly that with the in-memory `next`.
  const inner = s.fetch
  const call = inner
    ? (input: string, init: RequestInit) => wrapper.mw()(new Request(input, init), (req) => inner(req))
    : (input: string, init: RequestInit) => wrapper.fetch(input, init)
  return {
    name: 'OAuth2Fetch',
    async send(method, url, json) {
      const response = await call(
        url,
        json === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) },
      )
      if (!response.ok) {
        await response.body?.cancel()
        throw new Error(`HTTP ${response.status}`)
      }
      return response.json()
    },
  }
}

export function axiosAuthRefresh(s: Setup): Client {
  const api = axios.create(s.adapter ? { adapter: s.adapter } : {})
  let token: string | undefined
  // README: "Use interceptor to inject the token to requests".
  api.interceptors.request.use((request) => {
    request.headers['Authorization'] = `Bearer ${token}`
    return request
  })
  // README: "Function that will be called to refresh authorization".
  const refreshAuthLogic = (failedRequest: { response: { config: InternalAxiosRequestConfig } }) =>
    axios
      .post<{ access_token: string }>(
        s.tokenUrl,
        new URLSearchParams({ grant_type: 'client_credentials', ...(s.scope ? { scope: s.scope } : {}) }).toString(),
        {
          auth: { username: s.clientId, password: s.clientSecret },
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          ...(s.tokenAdapter ? { adapter: s.tokenAdapter } : {}),
        },
      )
      .then((tokenRefreshResponse) => {
        token = tokenRefreshResponse.data.access_token
        failedRequest.response.config.headers['Authorization'] = 'Bearer ' + token
        return Promise.resolve()
      })
  createAuthRefreshInterceptor(api, refreshAuthLogic)
  return {
    name: 'axios-auth-refresh',
    send: async (method, url, json) => (await api.request({ method, url, ...(json === undefined ? {} : { data: json }) })).data as unknown,
  }
}

export const FACTORIES: Record<Competitor, (s: Setup) => Client> = {
  'payment-auth': paymentAuth,
  'ky recipe': kyRecipe,
  OAuth2Fetch: oauth2Fetch,
  'axios-auth-refresh': axiosAuthRefresh,
}

/** A bare client that sends a fixed `Authorization: Bearer <token>` (the baseline of the warm path). */
export function bare(name: Bare, token: string, s: Pick<Setup, 'fetch' | 'adapter'> = {}): Client {
  const authorization = `Bearer ${token}`
  if (name === 'bare ky') {
    const api = ky.create({ headers: { authorization }, ...(s.fetch ? { fetch: s.fetch } : {}) })
    return { name, send: (method, url, json) => api(url, { method, ...(json === undefined ? {} : { json }) }).json() }
  }
  if (name === 'bare fetch') {
    const f: Fetch = s.fetch ?? ((input, init) => fetch(input, init))
    return {
      name,
      async send(method, url, json) {
        const response = await f(
          url,
          json === undefined
            ? { method, headers: { authorization } }
            : { method, headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(json) },
        )
        if (!response.ok) {
          await response.body?.cancel()
          throw new Error(`HTTP ${response.status}`)
        }
        return response.json()
      },
    }
  }
  const api = axios.create({ headers: { Authorization: authorization }, ...(s.adapter ? { adapter: s.adapter } : {}) })
  return {
    name,
    send: async (method, url, json) => (await api.request({ method, url, ...(json === undefined ? {} : { data: json }) })).data as unknown,
  }
}

// ---- in-memory network --------------------------------------------------------------------

const OK_BODY = '{"ok":true}'
let issued = 0
const tokenBody = () =>
  JSON.stringify({ access_token: `t-${(++issued).toString(36)}-memory-token`, token_type: 'Bearer', expires_in: 3600 })
const authorized = (value: string | null | undefined) => typeof value === 'string' && value.startsWith('Bearer t-')

/**
 * An in-memory `fetch` for API requests: answers 401 without a `Bearer t-...` token, else a small
 * JSON body. Given a URL it builds the `Request` as `fetch` does; given a `Request` (ky always
 * passes one) it reads it as is: the copy a real `fetch` makes costs every ky-based client the
 * same, and undici's abort-signal following in that copy adds GC-timed noise that would swamp
 * the microseconds being compared.
 */
export const memoryFetch: Fetch = async (input, init) => {
  const request = input instanceof Request && !init?.headers ? input : new Request(input, init)
  if (!authorized(request.headers.get('authorization')))
    return new Response('{"error":"invalid_token"}', { status: 401, headers: { 'content-type': 'application/json' } })
  return new Response(OK_BODY, { headers: { 'content-type': 'application/json' } })
}

/** An in-memory token endpoint: a new RFC 6749 answer per call. */
export const memoryTokenFetch: Fetch = async (input, init) => {
  const request = new Request(input, init)
  await request.arrayBuffer()
  return new Response(tokenBody(), { headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } })
}

function axiosAnswer(config: InternalAxiosRequestConfig, status: number, data: string): AxiosResponse {
  const response: AxiosResponse = {
    data,
    status,
    statusText: status === 200 ? 'OK' : 'Unauthorized',
    headers: new AxiosHeaders({ 'content-type': 'application/json' }),
    config,
    request: {},
  }
  return response
}

/** The in-memory adapter for axios API requests (same rules as `memoryFetch`; settles like axios's adapters do). */
export const memoryAdapter: AxiosAdapter = async (config) => {
  const value = AxiosHeaders.from(config.headers).get('authorization')
  if (!authorized(typeof value === 'string' ? value : undefined)) {
    const response = axiosAnswer(config, 401, '{"error":"invalid_token"}')
    throw new AxiosError('Request failed with status code 401', AxiosError.ERR_BAD_REQUEST, config, {}, response)
  }
  return axiosAnswer(config, 200, OK_BODY)
}

export const memoryTokenAdapter: AxiosAdapter = async (config) => axiosAnswer(config, 200, tokenBody())

import type { Options } from 'ky'
import * as v from 'valibot'
import { PaymentAuthError } from './errors.ts'
import { safeListener, type PaymentAuthEventListener } from './events.ts'
import { boolean, checkOptions, func, object, origins } from './options.ts'
import { createTokenManager, insides, type TokenManager, type TokenManagerOptions } from './manager.ts'

/** What the hook itself does, whichever way the token manager is given. */
export interface HookOptions {
  /** On a 401, replace the rejected token and replay the request once. Default `true`. */
  retryUnauthorized?: boolean
  /** Origins the token may be sent to. Default: the provider's API origin. Other requests go out without it. */
  origins?: readonly string[]
  /** Hears the hook's own events (`replay`); the manager's go to the manager's `onEvent`. */
  onEvent?: PaymentAuthEventListener
}

/** The options of a token manager the hook builds itself (`provider` and the manager options). */
export type OwnManagerOptions = TokenManagerOptions & HookOptions

/** A token manager shared with other ky instances: its own options apply, so none may be given here. */
export type SharedManagerOptions = HookOptions & {
  /** Share one token manager between several ky instances. */
  tokens: TokenManager
} & { [K in Exclude<keyof TokenManagerOptions, 'onEvent'>]?: never }

/**
 * `withPaymentAuth` options: either `{provider, ...manager options}` or `{tokens}`, never a mix
 * (a manager option next to `tokens` would be silently ignored, so it does not compile).
 */
export type PaymentAuthOptions = OwnManagerOptions | SharedManagerOptions

type Fetch = (input: Request | URL | string, init?: RequestInit) => Promise<Response>

const defaultFetch: Fetch = (input, init) => globalThis.fetch(input, init)

/** Waits for `promise`, unless the caller's request is aborted first (the shared acquisition goes on). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | null): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason)
    signal.addEventListener('abort', abort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort))
  })
}

const Hook = object({ retryUnauthorized: v.optional(boolean), origins: v.optional(origins), onEvent: v.optional(func) })

/** The URL of what ky hands to fetch, without building a Request (a Request-like from another realm has `url`). */
function urlOf(input: Request | URL | string): string {
  return typeof input === 'string' ? input : input instanceof URL ? input.href : String((input as { url?: unknown }).url)
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin
  } catch {
    return undefined
  }
}

/**
 * A Request this realm's fetch and headers understand: ky's own, or one rebuilt from a
 * Request-like (another realm's, a polyfill's) that a `beforeRequest` hook returned.
 */
function toRequest(input: Request | URL | string, init?: RequestInit): Request {
  if (input instanceof Request) return input
  if (typeof input === 'string' || input instanceof URL) return new Request(input, init)
  const like = input as unknown as Record<string, unknown> & { url: string; body: unknown }
  const parts: Record<string, unknown> = {}
  for (const name of [
    'method',
    'headers',
    'body',
    'signal',
    'redirect',
    'credentials',
    'mode',
    'cache',
    'referrer',
    'integrity',
    'keepalive',
  ]) {
    if (like[name] !== undefined) parts[name] = like[name]
  }
  // A streamed body needs `duplex` in Node and browsers.
  if (like.body) parts['duplex'] = 'half'
  return new Request(like.url, { ...parts, ...init } as RequestInit)
}

/**
 * ky options that authenticate every request to the provider's API: pass them to
 * `ky.extend` or `ky.create`. The token is attached inside ky's own `fetch` (so ky's
 * `Request`, its errors and your hooks never hold it), and a 401 is answered there with
 * one replay: no ky retry, no backoff, whatever your `retry` setting.
 *
 * @example
 * ```ts
 * import ky from 'ky'
 * import { withPaymentAuth, stablelink } from '@payment-auth/ky'
 *
 * const api = ky
 *   .create({ baseUrl: 'https://openapi.dev.stablelink.app/' })
 *   .extend(withPaymentAuth({ provider: stablelink({ baseUrl: 'https://openapi.dev.stablelink.app', apiKey, apiSecret }) }))
 *
 * const info = await api.get('user/info').json()
 * ```
 */
export function withPaymentAuth(options: PaymentAuthOptions): Options {
  checkOptions('withPaymentAuth', Hook, options)
  const { retryUnauthorized = true } = options
  const tokens = managerOf(options)
  const name = tokens.provider.name
  const emit = safeListener(options.onEvent)
  // Serialized origins end where the path begins: `https://a.test/` never matches `https://a.test.evil/`.
  const prefixes = (options.origins ?? tokens.provider.origins).map((origin) => `${new URL(origin).origin}/`)
  const allowed = (url: string) => {
    for (const prefix of prefixes) if (url.startsWith(prefix)) return true
    return false
  }
  /** Origins a request went to without the token, each reported once (bounded). */
  const skipped = new Set<string>()
  const inside = insides.get(tokens)
  const relayed = tokens.provider.source === 'edge'

  /** `Bearer <token>`, built once per token: Headers checks the value char by char, fastest on a flat string. */
  let lastToken = ''
  let lastBearer = ''
  const bearer = (token: string) => {
    if (token !== lastToken) {
      lastToken = token
      lastBearer = `Bearer ${token}`
    }
    return lastBearer
  }

  async function send(inner: Fetch, replayable: boolean, input: Request | URL | string, init?: RequestInit): Promise<Response> {
    const url = urlOf(input)
    if (!allowed(url)) {
      // Not for the token: untouched. Said once per origin, so a split-host setup never fails silently.
      const origin = originOf(url)
      if (origin && !skipped.has(origin) && skipped.size < 100) {
        skipped.add(origin)
        emit({ type: 'origin_skipped', provider: name, origin })
      }
      return inner(input, init)
    }
    const request = toRequest(input, init)
    let token = tokens.peek() ?? (await unlessAborted(tokens.getToken(), request.signal))
    // Keep a copy of the body for the replay; a one-shot stream cannot be copied without buffering it.
    let copy = retryUnauthorized && request.body && replayable ? request.clone() : undefined
    const flightsAtSend = inside?.flights() ?? 0
    /** What goes out: ky's Request, then for a replay the kept copy (a request without a body is sent as is again). */
    let target = request
    for (let sends = 1, most = 2; ; sends++) {
      // Set the header for the send only: ky keeps its Request (HTTPError.request, hooks), so it must not keep the token.
      const prior = target.headers.get('authorization')
      target.headers.set('authorization', bearer(token))
      let response: Response
      try {
        response = await inner(target, init)
      } finally {
        if (prior === null) target.headers.delete('authorization')
        else target.headers.set('authorization', prior)
      }
      if (response.status !== 401 || !retryUnauthorized || sends === most) return response
      // The 401's body is dropped in a moment, off the replay's critical path (a cancel costs ~0.1 ms in Node).
      const rejected = response
      setTimeout(() => rejected.body?.cancel().catch(() => {}))
      await tokens.invalidate(token)
      if (request.body && !copy)
        throw new PaymentAuthError(`${name}: the API answered 401 and the request body is a one-shot stream that cannot be replayed`, {
          code: 'body_not_replayable',
          provider: name,
          status: 401,
        })
      // Never the rejected token; after a second 401, one from an acquisition that starts after it (never a loop).
      token = await unlessAborted(tokens.getToken(), request.signal)
      // A token whose acquisition was already running when this request went out may predate the
      // revocation that killed the first one (the double fault): keep a copy for one more replay.
      // Tokens relayed by the edge Worker cannot be dated here: another client's report may have
      // moved the Worker on to a token that the same revocation killed.
      if (sends === 1 && (relayed || (inside !== undefined && (inside.flightOf(token) ?? Number.POSITIVE_INFINITY) <= flightsAtSend)))
        most = 3
      if (copy) {
        target = copy
        copy = sends + 1 < most ? copy.clone() : undefined
      }
      emit({ type: 'replay', provider: name, status: 401 })
    }
  }

  // One wrapper per inner fetch, so the warm path allocates nothing.
  const wrappers = new WeakMap<Fetch, Fetch>()
  const wrap = (inner: Fetch): Fetch => {
    let wrapped = wrappers.get(inner)
    if (!wrapped) wrappers.set(inner, (wrapped = (input, init) => send(inner, true, input, init)))
    return wrapped
  }

  return {
    hooks: {
      init: [
        (init) => {
          // Wrap whatever fetch ky will use (the user's `fetch` option included): API requests go through it.
          const inner = (init.fetch as Fetch | undefined) ?? defaultFetch
          init.fetch = (init.body instanceof ReadableStream ? (input, i) => send(inner, false, input, i) : wrap(inner)) as typeof fetch
        },
      ],
    },
  }
}

const MANAGER_OPTIONS = ['provider', 'store', 'refreshAhead', 'fetch', 'timeout', 'now', 'backoff', 'storeTimeout'] as const

/** The token manager `options` name or describe, checked: a provider, or a shared manager and nothing of a manager's own. */
function managerOf(options: PaymentAuthOptions): TokenManager {
  const given = options as Partial<OwnManagerOptions> & { tokens?: Partial<TokenManager> }
  const invalid = (message: string) => new PaymentAuthError(`withPaymentAuth: ${message}`, { code: 'invalid_config', provider: 'unknown' })
  if (given.tokens === undefined) {
    if (!given.provider) throw invalid('`provider` is required (or a shared `tokens` manager)')
    return createTokenManager(given as TokenManagerOptions)
  }
  if (typeof given.tokens?.getToken !== 'function') throw invalid('`tokens` must be a token manager from createTokenManager()')
  const mixed = MANAGER_OPTIONS.find((name) => given[name] !== undefined)
  if (mixed)
    throw invalid(`\`${mixed}\` belongs to the token manager: with a shared \`tokens\` manager, set it where that manager is created`)
  return given.tokens as TokenManager
}

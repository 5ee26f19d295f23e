import type { Options } from 'ky'
import { PaymentAuthError } from './errors.ts'
import { safeListener } from './events.ts'
import { createTokenManager, type TokenManager, type TokenManagerOptions } from './manager.ts'
import type { Provider } from './provider.ts'

export interface PaymentAuthOptions extends Partial<TokenManagerOptions> {
  /** The dialect, e.g. `stablelink({...})`. Required unless `tokens` is given. */
  provider?: Provider
  /** Share one token manager between several ky instances (then the manager's own options apply). */
  tokens?: TokenManager
  /** On a 401, replace the rejected token and replay the request once. Default `true`. */
  retryUnauthorized?: boolean
  /** Origins the token may be sent to. Default: the provider's API origin. Other requests go out without it. */
  origins?: readonly string[]
}

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
  const { provider, tokens: shared, retryUnauthorized = true } = options
  if (!shared && !provider) {
    throw new PaymentAuthError('withPaymentAuth needs a `provider` (or a shared `tokens` manager)', { code: 'invalid_request', provider: 'unknown' })
  }
  const tokens = shared ?? createTokenManager(options as TokenManagerOptions)
  const name = tokens.provider.name
  const emit = safeListener(options.onEvent)
  // Serialized origins end where the path begins: `https://a.test/` never matches `https://a.test.evil/`.
  const prefixes = (options.origins ?? tokens.provider.origins).map((origin) => `${new URL(origin).origin}/`)
  const allowed = (url: string) => prefixes.some((prefix) => url.startsWith(prefix))

  async function send(inner: Fetch, replayable: boolean, input: Request | URL | string, init?: RequestInit): Promise<Response> {
    const request = input instanceof Request ? input : new Request(input, init)
    if (!allowed(request.url)) return inner(input, init)
    const token = tokens.peek() ?? (await unlessAborted(tokens.getToken(), request.signal))
    // Keep a copy of the body for the replay; a one-shot stream cannot be copied without buffering it.
    const copy = retryUnauthorized && request.body && replayable ? request.clone() : undefined
    // Set the header for the send only: ky keeps this Request (HTTPError.request, hooks), so it must not keep the token.
    const prior = request.headers.get('authorization')
    request.headers.set('authorization', `Bearer ${token}`)
    let response: Response
    try {
      response = await inner(request, init)
    } finally {
      if (prior === null) request.headers.delete('authorization')
      else request.headers.set('authorization', prior)
    }
    if (response.status !== 401 || !retryUnauthorized) return response

    await response.body?.cancel()
    await tokens.invalidate(token)
    if (request.body && !copy) {
      throw new PaymentAuthError(`${name}: the API answered 401 and the request body is a one-shot stream that cannot be replayed`, {
        code: 'body_not_replayable',
        provider: name,
        status: 401,
      })
    }
    const fresh = await unlessAborted(tokens.getToken(), request.signal)
    const replay = copy ?? new Request(request)
    replay.headers.set('authorization', `Bearer ${fresh}`)
    emit({ type: 'replay', provider: name, status: 401 })
    return inner(replay, init)
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

/**
 * `ANY /v1/proxy/<provider>/<path>`: the caller's request, forwarded to the provider's API
 * (`apiBaseUrl` + `<path>` + query) with the provider token attached, so the token never
 * reaches the caller at all.
 *
 * - The upstream URL must stay under `apiBaseUrl`: encoded `/`, `\`, `.` or `%`, dot segments
 *   and empty segments are refused (400) before anything is sent.
 * - The caller's `Authorization`, `Cookie` and hop-by-hop headers are never forwarded;
 *   `Set-Cookie`, hop-by-hop and CORS headers of the answer are never passed back.
 * - The token comes from the edge's own token path (`tokensFor`) through `withPaymentAuth`,
 *   which also replays the request once on a 401 with a fresh token. The body is buffered
 *   (the body limit caps it) so that the replay sends it again, intact.
 * - The answer is streamed back as is, whatever its status; no retries (the caller decides).
 */
import { withPaymentAuth } from '@payment-auth/ky'
import type { Context } from 'hono'
import ky, { isNetworkError, isTimeoutError } from 'ky'
import type { EdgeHono } from './app.ts'
import { noteDecision } from './audit.ts'
import { authorize } from './callers.ts'
import { EdgeError } from './errors.ts'
import { proxyAllowed, type ProxyRule } from './proxy-rules.ts'
import { configuredProvider, providerClient } from './providers.ts'
import { tokensFor } from './tokens.ts'

/** How long the provider's API may take to answer (headers), in milliseconds. */
const API_TIMEOUT = 30_000

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]
/** Request headers that never leave the edge: the caller's credentials and what the runtime sets itself. */
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'authorization', 'cookie', 'host', 'content-length'])
/** Answer headers that never reach the caller: cookies for our origin, hop-by-hop, and CORS (ours apply). */
const NOT_RETURNED = new Set([...HOP_BY_HOP, 'set-cookie', 'content-length'])

/** Headers minus `blocked`, minus whatever `Connection` names, minus Cloudflare's own `cf-*`. */
function filterHeaders(headers: Headers, blocked: ReadonlySet<string>, alsoBlocked: (name: string) => boolean): Headers {
  const named = new Set((headers.get('connection') ?? '').split(',').map((h) => h.trim().toLowerCase()))
  const out = new Headers()
  for (const [name, value] of headers) {
    if (!blocked.has(name) && !named.has(name) && !alsoBlocked(name)) out.append(name, value)
  }
  return out
}

/**
 * `apiBaseUrl` + the raw (still percent-encoded) path below `/v1/proxy/<provider>/` + query,
 * or `undefined` when the result could leave `apiBaseUrl`.
 */
export function upstreamUrl(apiBaseUrl: string, rawPath: string, search: string): URL | undefined {
  // Encoded separators, dots and percents (double encoding) and backslashes: never needed, often an attack.
  if (/%(2f|5c|2e|25)|\\/i.test(rawPath)) return undefined
  const segments = rawPath.split('/')
  // Dot segments and empty segments (`//host` tricks): the runtime already resolves most, refuse the rest.
  if (segments.some((s, i) => s === '.' || s === '..' || (s === '' && i < segments.length - 1))) return undefined
  const base = new URL(apiBaseUrl.replace(/\/*$/, '/'))
  let url: URL
  try {
    url = new URL(base.href + rawPath + search)
  } catch {
    return undefined
  }
  // The final word: same origin, still under the base path.
  return url.origin === base.origin && url.pathname.startsWith(base.pathname) ? url : undefined
}

/** Refuses (403 `forbidden`) a call outside the caller's allow-list and (400) a POST without its idempotency header. */
function checkProxyCall(
  caller: { proxy: readonly ProxyRule[]; idempotencyHeader?: string | undefined },
  method: string,
  path: string,
  headers: Headers,
): void {
  if (!proxyAllowed(caller.proxy, method, path)) {
    throw new EdgeError(403, 'forbidden', `this caller may not ${method.toUpperCase()} this path through the proxy`)
  }
  const header = caller.idempotencyHeader
  if (header && method.toUpperCase() === 'POST' && !headers.get(header)?.trim()) {
    throw new EdgeError(400, 'invalid_request', `a POST through the proxy must carry a ${header} header`)
  }
}

export async function proxy(c: Context<EdgeHono>): Promise<Response> {
  const name = c.req.param('provider') ?? ''
  const config = configuredProvider(c.get('config'), name)
  noteDecision(c, { provider: name })
  const client = providerClient(c.env, name, config, authorize(c.get('caller'), name, config, undefined))
  noteDecision(c, { scope: client.scope })
  const incoming = new URL(c.req.url)
  // The raw path, not Hono's decoded one: `/v1/proxy/<provider>/` is 3 segments.
  const rawPath = incoming.pathname.split('/').slice(4).join('/')
  const target = upstreamUrl(client.config.apiBaseUrl, rawPath, incoming.search)
  if (!target) throw new EdgeError(400, 'invalid_request', 'the path must stay under the provider API: no encoded or dot segments')
  // The caller's allow-list, matched only now that the path is known to be plain (deny by default).
  checkProxyCall(c.get('caller'), c.req.method, `${name}/${rawPath}`, c.req.raw.headers)

  const method = c.req.method
  const body = method === 'GET' || method === 'HEAD' ? undefined : await c.req.arrayBuffer()
  const headers = filterHeaders(c.req.raw.headers, NOT_FORWARDED, (name) => name.startsWith('cf-'))

  let answer: Response
  try {
    answer = await ky(target, {
      ...withPaymentAuth({ tokens: tokensFor(c.env, client), origins: [target.origin] }),
      method,
      headers,
      body: body && body.byteLength > 0 ? body : null,
      redirect: 'manual',
      retry: 0,
      throwHttpErrors: false,
      timeout: API_TIMEOUT,
      // Inside withPaymentAuth's wrapper: sees the token attached, for the audit line's tokenId only.
      // tls_client_auth: the provider's API is reached through the same certificate binding.
      fetch: (input: Request | URL | string, init?: RequestInit) => {
        const sent = input instanceof Request ? input.headers.get('authorization') : null
        if (sent?.startsWith('Bearer ')) noteDecision(c, { token: sent.slice(7) })
        return (client.fetch ?? globalThis.fetch)(input, init)
      },
    })
  } catch (error) {
    if (isTimeoutError(error)) throw new EdgeError(504, 'upstream_error', `the ${client.name} API did not answer in time`)
    if (isNetworkError(error)) throw new EdgeError(502, 'upstream_error', `the ${client.name} API could not be reached`)
    throw error // token failures (PaymentAuthError) are mapped by onError
  }
  const returned = filterHeaders(answer.headers, NOT_RETURNED, (name) => name.startsWith('access-control-'))
  return new Response(answer.body, { status: answer.status, statusText: answer.statusText, headers: returned })
}

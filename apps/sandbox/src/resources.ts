/**
 * Protected resources: any method on `/<provider>/api/<anything>` (PayPal:
 * `/paypal/v<n>/<anything>`; Checkout: `/checkout-api/<anything>`). A request
 * needs `Authorization: Bearer <token>` naming a live access token of that
 * provider; the answer echoes what the sandbox received so tests can check
 * what a client really sent.
 */
import { json } from './http.ts'
import { isLive, type SandboxState } from './state.ts'
import type { SandboxProvider } from './types.ts'

/** The JSON body of a successful resource call. */
export interface ResourceEcho {
  ok: true
  provider: SandboxProvider
  method: string
  path: string
  query: Record<string, string>
  /** Every request header (lower-cased) except `authorization` and `cookie`. */
  headers: Record<string, string>
  contentType: string | null
  /** The request body as text, `""` when there is none. */
  body: string
  /** The body's length in bytes. */
  bodyBytes: number
  /** Client id the token was issued to. */
  client: string
  /** Scope recorded on the token (`null` when the dialect has none). */
  scope: string | null
}

function invalidToken(): Response {
  return json({ error: 'invalid_token' }, 401, { 'www-authenticate': 'Bearer error="invalid_token"' })
}

/** Handles one request to a protected resource of `provider`. */
export async function handleResource(state: SandboxState, provider: SandboxProvider, request: Request): Promise<Response> {
  const p = state.providers[provider]
  p.stats.resourceCalls++
  const match = /^bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '')
  const token = match?.[1] !== undefined ? p.accessTokens.get(match[1]) : undefined
  if (!token || !isLive(token, state.now())) {
    p.stats.resource401s++
    return invalidToken()
  }

  const url = new URL(request.url)
  const bytes = new Uint8Array(await request.arrayBuffer())
  const headers: Record<string, string> = {}
  for (const [name, value] of request.headers) {
    if (name !== 'authorization' && name !== 'cookie') headers[name] = value
  }
  const echo: ResourceEcho = {
    ok: true,
    provider,
    method: request.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers,
    contentType: request.headers.get('content-type'),
    body: new TextDecoder().decode(bytes),
    bodyBytes: bytes.byteLength,
    client: token.clientId,
    scope: token.scope,
  }
  return json(echo)
}

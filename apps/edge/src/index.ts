/**
 * The payment-auth edge Worker: holds the provider secrets, is the single token authority per
 * provider client, hands tokens to authenticated callers and proxies API calls.
 *
 * Read top-down: app.ts (routes and middlewares, in request order; `POST /v1/token`, the warm
 * path, takes the same steps in `tokenEndpoint` without Hono's chain) -> callers.ts (who is
 * calling, what they may use) -> token-routes.ts / proxy.ts -> tokens.ts (this isolate's token
 * manager: L1, then the KV read cache, then the authority) -> authority.ts (the Durable Object:
 * one token manager per scope, the only caller of the provider) -> authority-store.ts (Durable
 * Object storage + the KV read cache, sealed by sealing.ts). config.ts and providers.ts turn `env`
 * into providers and credentials; errors.ts decides what reaches the wire.
 *
 * Around that path: audit.ts (one JSON line per decision), admin.ts (callers at run time and
 * /v1/status) over registry.ts (the CallerRegistry Durable Object), jwks.ts (identity-provider
 * JWTs), proxy-rules.ts (the proxy allow-list), rate-limit.ts (the CallerRateLimit Durable Object)
 * and authority-status.ts (what a TokenAuthority reports).
 */
import { app, tokenEndpoint } from './app.ts'

export { TokenAuthority } from './authority.ts'
export { CallerRateLimit } from './rate-limit.ts'
export { CallerRegistry } from './registry.ts'

/** The path of `url` as sent (`http://host/v1/token?x` -> `/v1/token`), as Hono finds it before any percent-decoding. */
function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf(':') + 3)
  const end = url.slice(start).search(/[?#]/)
  return end === -1 ? url.slice(start) : url.slice(start, start + end)
}

export default {
  fetch: (request, env, ctx) =>
    request.method === 'POST' && pathOf(request.url) === '/v1/token' ? tokenEndpoint(request, env, ctx) : app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>

/**
 * The proxy allow-list of a caller: `proxy: [{method, path}]`. No list (or an empty one) means
 * no proxy access at all: the proxy is deny-by-default, so a page that holds a caller credential
 * (and an XSS in it) reaches only the API calls its caller was given.
 *
 * - `method`: an HTTP method (`GET`, `POST`...) or `*` for any.
 * - `path`: the path after `/v1/proxy/`, provider first, such as `stablelink/payments/*`.
 *   A `*` matches the characters of one segment (never a `/`); a final `/**` matches the
 *   path itself and anything below it (`stablelink/payments/**` matches `stablelink/payments`
 *   and `stablelink/payments/42/refunds`). The query string is not matched.
 *
 * Rules are matched against the raw path AFTER the proxy refused traversal and encoding tricks
 * (proxy.ts `upstreamUrl`), so a pattern never sees `..`, `%2f` or an empty segment.
 *
 * No import of errors.ts here: config.ts builds its schemas from this module (proxy.ts refuses).
 *
 * `requireIdempotencyKey` (per caller): `true` asks every proxied POST for an `Idempotency-Key`
 * header, a header name (such as `PayPal-Request-Id`) asks for that one instead.
 */
import * as v from 'valibot'

const METHOD = /^(\*|[A-Z]{1,16})$/
/** Segments of a pattern: path characters and `*`, no dot segments, no empty segments. */
const PATH = /^[A-Za-z0-9_*~:@!$&'()+,;=.-]+(\/[A-Za-z0-9_*~:@!$&'()+,;=.-]+)*(\/\*\*)?$/

export const ProxyRule = v.strictObject({
  method: v.pipe(
    v.string(),
    v.transform((m) => m.toUpperCase()),
    v.regex(METHOD),
  ),
  path: v.pipe(
    v.string(),
    v.transform((p) => p.replace(/^\/+/, '')),
    v.maxLength(512),
    v.regex(PATH),
    v.check((p) => !p.split('/').some((s) => s === '.' || s === '..'), 'no dot segments'),
  ),
})
export type ProxyRule = v.InferOutput<typeof ProxyRule>
export const ProxyRules = v.optional(v.array(ProxyRule), [])

/** `true`: `Idempotency-Key`; a string: that header. */
export const RequireIdempotencyKey = v.optional(v.union([v.boolean(), v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]{1,64}$/))]))

/** The header a caller's POSTs must carry, or `undefined` when none is required. */
export function idempotencyHeader(require: boolean | string | undefined): string | undefined {
  if (require === true) return 'Idempotency-Key'
  return typeof require === 'string' ? require : undefined
}

const compiled = new WeakMap<ProxyRule, RegExp>()

function patternOf(rule: ProxyRule): RegExp {
  let re = compiled.get(rule)
  if (!re) {
    const rest = rule.path.endsWith('/**')
    const fixed = rest ? rule.path.slice(0, -3) : rule.path
    const body = fixed
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]*')
    re = new RegExp(`^${body}${rest ? '(?:/.*)?' : ''}$`)
    compiled.set(rule, re)
  }
  return re
}

/** Whether `rules` allow `method` on `path` (the raw path after `/v1/proxy/`, provider first). */
export function proxyAllowed(rules: readonly ProxyRule[], method: string, path: string): boolean {
  const m = method.toUpperCase()
  return rules.some((rule) => (rule.method === '*' || rule.method === m) && patternOf(rule).test(path))
}

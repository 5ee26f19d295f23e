/**
 * The Worker's configuration, read from `env` and validated with valibot: the providers
 * (non-secret vars), the callers, CORS, JWT settings and the rate limit. Secrets are not read
 * here, except `JWT_SECRET` (length checked); provider credentials are read in providers.ts.
 *
 * A bad configuration throws a `ConfigError`: the request gets a plain 500 and the log a line
 * naming what is wrong (never a value).
 */
import * as v from 'valibot'
import { idempotencyHeader, ProxyRules, RequireIdempotencyKey, type ProxyRule } from './proxy-rules.ts'

/**
 * A non-negative number var (a duration): `value` as given in `env` (a string from
 * wrangler.toml, or a number), at most `max`; absent or not a number gives `fallback`.
 */
export function durationVar(value: string | number | undefined, fallback: number, max = Number.POSITIVE_INFINITY): number {
  const n = Number(value ?? fallback)
  return Number.isFinite(n) && n >= 0 ? Math.min(n, max) : fallback
}

/** Thrown when the configuration is unusable. Its message names fields, never values. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

const HttpUrl = v.pipe(
  v.string(),
  v.url(),
  v.check((url) => /^https?:$/.test(new URL(url).protocol), 'must be an http(s) URL'),
)
/** RFC 6749 scope-token characters. */
const ScopeToken = v.pipe(v.string(), v.regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/))
const Scopes = v.pipe(v.array(ScopeToken), v.minLength(1))

/** One provider client: its dialect, where its token endpoint is, and the API base the proxy may reach. */
const ProviderConfig = v.variant('dialect', [
  v.strictObject({ dialect: v.literal('stablelink'), baseUrl: HttpUrl, apiBaseUrl: HttpUrl }),
  v.strictObject({
    dialect: v.literal('oauth2'),
    tokenUrl: HttpUrl,
    apiBaseUrl: HttpUrl,
    /** The scopes callers may ask for; absent: the provider takes no scope. */
    scopes: v.optional(Scopes),
    /**
     * How the edge authenticates as this client: a secret (`<NAME>_CLIENT_SECRET`), a private JWK
     * (`<NAME>_PRIVATE_KEY`, private_key_jwt) or a client certificate (tls_client_auth).
     */
    authMethod: v.optional(v.picklist(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth'])),
    /** The `kid` of the client assertion (default: the JWK's own `kid`). */
    keyId: v.optional(v.string()),
    /**
     * The Workers mTLS certificate binding (`[[mtls_certificates]]` in wrangler.toml) whose `fetch`
     * presents the client certificate: used for the token endpoint and for the proxied API calls.
     */
    mtlsBinding: v.optional(v.pipe(v.string(), v.regex(/^[A-Z][A-Z0-9_]{0,62}$/))),
  }),
  v.strictObject({ dialect: v.literal('stonex'), baseUrl: HttpUrl, apiBaseUrl: HttpUrl }),
  v.strictObject({ dialect: v.literal('abbeycross'), baseUrl: HttpUrl, apiBaseUrl: HttpUrl }),
])
export type ProviderConfig = v.InferOutput<typeof ProviderConfig>

/** Provider names become path segments and secret names (`<NAME>_CLIENT_ID`): keep them plain. */
const ProviderName = v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_-]{0,62}$/))
const Providers = v.pipe(
  v.record(ProviderName, ProviderConfig),
  // tls_client_auth sends no secret: without a certificate binding the provider would refuse every token call.
  v.check(
    (providers) =>
      Object.values(providers).every((p) => p.dialect !== 'oauth2' || p.authMethod !== 'tls_client_auth' || p.mtlsBinding !== undefined),
    'a provider with authMethod tls_client_auth needs mtlsBinding',
  ),
)

/** An API-key caller: the key itself is never configured, only its SHA-256 (hex). */
const ApiKeyCaller = v.strictObject({
  id: v.pipe(v.string(), v.regex(/^[\w.:@-]{1,64}$/)),
  keySha256: v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{64}$/)),
  providers: v.array(ProviderName),
  scopes: v.optional(v.array(ScopeToken), []),
  /** The proxy allow-list (proxy-rules.ts); absent: no proxy access. */
  proxy: ProxyRules,
  requireIdempotencyKey: RequireIdempotencyKey,
})
const Callers = v.array(ApiKeyCaller)

const RatePerMinute = v.pipe(
  v.union([v.number(), v.pipe(v.string(), v.trim(), v.regex(/^\d+$/), v.transform(Number))]),
  v.integer(),
  v.minValue(1),
)

export interface KeyCaller {
  id: string
  /** SHA-256 of the API key. */
  digest: Uint8Array
  providers: readonly string[]
  scopes: readonly string[]
  proxy: readonly ProxyRule[]
  /** The header a proxied POST must carry, if any. */
  idempotencyHeader: string | undefined
}

export interface JwtSettings {
  secret: Uint8Array
  issuer: string
  audience: string
}

export interface Config {
  providers: ReadonlyMap<string, ProviderConfig>
  callers: readonly KeyCaller[]
  corsOrigins: readonly string[]
  /** Absent when `JWT_SECRET` is not set: JWT callers are then refused. */
  jwt: JwtSettings | undefined
  ratePerMinute: number
}

export const DEFAULT_RATE_PER_MINUTE = 600
const MIN_JWT_SECRET_BYTES = 32

/** A JSON var arrives as a TOML table (already an object) or as a JSON string (dashboard, `--var`). */
function json(name: string, value: unknown): unknown {
  if (typeof value !== 'string') return value
  try {
    return JSON.parse(value)
  } catch {
    throw new ConfigError(`${name} is not valid JSON`)
  }
}

function parse<const S extends v.GenericSchema>(name: string, schema: S, value: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, value)
  if (result.success) return result.output
  // Paths and expectations only: `received` could echo a value.
  // Our own checks' messages are value-free; valibot's other messages may quote the input.
  const what = (issue: (typeof result.issues)[number]) => (issue.type === 'check' ? issue.message : (issue.expected ?? issue.kind))
  const where = result.issues.slice(0, 5).map((issue) => `${v.getDotPath(issue) ?? '(root)'}: ${what(issue)}`)
  throw new ConfigError(`${name} is invalid: ${where.join('; ')}`)
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!, (byte) => Number.parseInt(byte, 16))
}

function corsOrigins(value: string | undefined): string[] {
  const origins = (value ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
  for (const origin of origins) {
    if (!URL.canParse(origin) || new URL(origin).origin !== origin)
      throw new ConfigError('CORS_ORIGINS must be comma-separated origins such as https://app.example.com')
  }
  return origins
}

function jwtSettings(env: Env): JwtSettings | undefined {
  const secret = typeof env.JWT_SECRET === 'string' && env.JWT_SECRET !== '' ? new TextEncoder().encode(env.JWT_SECRET) : undefined
  if (!secret) return undefined
  if (secret.byteLength < MIN_JWT_SECRET_BYTES) throw new ConfigError(`JWT_SECRET must be at least ${MIN_JWT_SECRET_BYTES} bytes`)
  if (!env.JWT_ISSUER || !env.JWT_AUDIENCE) throw new ConfigError('JWT_SECRET is set: JWT_ISSUER and JWT_AUDIENCE are required too')
  return { secret, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE }
}

function build(env: Env): Config {
  const providers = parse('PROVIDERS', Providers, json('PROVIDERS', env.PROVIDERS ?? {}))
  const callers = parse('CALLERS', Callers, json('CALLERS', env.CALLERS ?? []))
  return {
    providers: new Map(Object.entries(providers)),
    callers: callers.map((c) => ({
      id: c.id,
      digest: hexBytes(c.keySha256),
      providers: c.providers,
      scopes: c.scopes,
      proxy: c.proxy,
      idempotencyHeader: idempotencyHeader(c.requireIdempotencyKey),
    })),
    corsOrigins: corsOrigins(env.CORS_ORIGINS),
    jwt: jwtSettings(env),
    ratePerMinute:
      env.RATE_LIMIT_PER_MINUTE === undefined
        ? DEFAULT_RATE_PER_MINUTE
        : parse('RATE_LIMIT_PER_MINUTE', RatePerMinute, env.RATE_LIMIT_PER_MINUTE),
  }
}

/** The inputs of the last parse and its result: `env` rarely changes within an isolate, so parse once. */
let last: { inputs: unknown[]; config: Config } | undefined

/** The validated configuration of `env` (parsed once per isolate while the vars stay the same). */
export function loadConfig(env: Env): Config {
  const inputs = [env.PROVIDERS, env.CALLERS, env.CORS_ORIGINS, env.JWT_SECRET, env.JWT_ISSUER, env.JWT_AUDIENCE, env.RATE_LIMIT_PER_MINUTE]
  if (last && last.inputs.every((value, i) => value === inputs[i])) return last.config
  const config = build(env)
  last = { inputs, config }
  return config
}

/**
 * What the Worker and its Durable Object find in `env`: bindings and vars from the root
 * wrangler.toml, secrets from `wrangler secret put` (locally: `.dev.vars`). The reference of
 * every entry is in apps/edge/README.md.
 */
interface EdgeEnv {
  /** KV namespace: the read cache of access tokens (never refresh tokens). */
  TOKENS: KVNamespace
  /** The token authority: one Durable Object per provider client. */
  AUTHORITY: DurableObjectNamespace<import('./authority.ts').TokenAuthority>
  /** The per-caller rate limit every isolate shares: one Durable Object per caller (rate-limit.ts). */
  RATE_LIMITS: DurableObjectNamespace<import('./rate-limit.ts').CallerRateLimit>
  /** The caller registry: one Durable Object (name `callers`) holding the callers created at run time (registry.ts). */
  REGISTRY: DurableObjectNamespace<import('./registry.ts').CallerRegistry>
  /** Optional Workers Analytics Engine dataset: every audit line is also a data point there (audit.ts). */
  AUDIT?: AnalyticsEngineDataset

  // Vars (non-secret). JSON vars may be TOML tables in wrangler.toml or JSON strings.
  /** `{ "<name>": { dialect, baseUrl | tokenUrl, apiBaseUrl, scopes? } }` */
  PROVIDERS?: unknown
  /** `[{ id, keySha256, providers, scopes?, proxy?, requireIdempotencyKey? }]`: API-key callers, keys stored as SHA-256 hex only. */
  CALLERS?: unknown
  /** Comma-separated origins allowed to call the Worker from a browser. */
  CORS_ORIGINS?: string
  /** `iss` and `aud` a JWT caller's token must carry. */
  JWT_ISSUER?: string
  JWT_AUDIENCE?: string
  /** Caller JWTs from an identity provider (jwks.ts): its JWKS URL, the `iss` and `aud` required. */
  JWKS_URL?: string
  JWKS_ISSUER?: string
  JWKS_AUDIENCE?: string
  /** Seconds of clock skew allowed (default 30); minimum seconds between two fetches of the JWKS for an unknown `kid` (default 30). */
  JWKS_CLOCK_TOLERANCE_SECONDS?: string | number
  JWKS_COOLDOWN_SECONDS?: string | number
  /** The claims naming the providers (default `providers`) and scopes (default `scope`) a JWKS caller may use. */
  JWKS_PROVIDERS_CLAIM?: string
  JWKS_SCOPE_CLAIM?: string
  /** Requests per caller per minute, shared by every isolate. Default 600. */
  RATE_LIMIT_PER_MINUTE?: string | number
  /** Milliseconds an isolate gathers the requests it let through before it reports them to the shared limit. Default 100. */
  RATE_LIMIT_REPORT_MS?: string | number

  /** Milliseconds an isolate gathers audit lines before it writes them in one `console.log` (audit.ts). Default 100; 0: each at once. */
  AUDIT_FLUSH_MS?: string | number

  /** Seconds an isolate may reuse a registry answer about a key (the revocation bound). Default 30, at most 300. */
  CALLER_CACHE_SECONDS?: string | number

  // Secrets.
  /** Bearer key of the admin routes and /v1/status. Without it they answer 404. */
  ADMIN_KEY?: string
  /** `<kid>:<base64 of 32 bytes>,...`: AES-GCM keys of tokens at rest; new writes use the first, reads any (sealing.ts). */
  TOKEN_ENCRYPTION_KEYS?: string
  /** HS256 key of JWT callers (at least 32 bytes). Without it, JWT callers are refused. */
  JWT_SECRET?: string
  /** Provider credentials: `<NAME>_CLIENT_ID` / `<NAME>_CLIENT_SECRET` (stablelink: `<NAME>_API_KEY` / `<NAME>_API_SECRET`). */
  [secret: string]: unknown
}

declare namespace Cloudflare {
  interface Env extends EdgeEnv {}
  interface GlobalProps {
    mainModule: typeof import('./index.ts')
    durableNamespaces: 'TokenAuthority' | 'CallerRateLimit' | 'CallerRegistry'
  }
}

type Env = Cloudflare.Env

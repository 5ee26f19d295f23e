/**
 * Public types and constants of the sandbox. `index.ts` re-exports everything
 * here; the other modules import from this file to avoid import cycles.
 */

/**
 * The provider dialects the sandbox emulates. The name is also the first path segment of their
 * routes, except checkout's, which has two: `/checkout-access` (token) and `/checkout-api` (API),
 * standing for its two origins.
 */
export type SandboxProvider = 'stablelink' | 'oauth2' | 'stonex' | 'abbeycross' | 'paypal' | 'checkout'

/** Every provider, in a stable order. */
export const SANDBOX_PROVIDERS: readonly SandboxProvider[] = ['stablelink', 'oauth2', 'stonex', 'abbeycross', 'paypal', 'checkout']

/**
 * A failure the sandbox can inject into the next token calls of a provider
 * (see {@link SandboxControl.inject} and the README for what each one answers).
 */
export type Fault =
  | '500'
  | '502'
  | '503'
  | '409'
  | '429'
  | 'slow'
  | 'malformed'
  | 'html'
  | 'truncated'
  | 'envelope_error'
  | 'non_working_hours'
  | 'network'

/** Every fault name, for validation. */
export const SANDBOX_FAULTS: readonly Fault[] = [
  '500',
  '502',
  '503',
  '409',
  '429',
  'slow',
  'malformed',
  'html',
  'truncated',
  'envelope_error',
  'non_working_hours',
  'network',
]

/**
 * The demo clients every new sandbox knows. Secrets and the private key are sandbox-only values.
 *
 * `oauth2Jwt` is a `private_key_jwt` client of the `oauth2` provider (RFC 7523): the sandbox
 * knows its public JWK; a client signs its assertions with `privateJwk` (ES256, `kid` = `keyId`).
 */
export const SANDBOX_CREDENTIALS = {
  stablelink: { apiKey: 'sl_demo_key', apiSecret: 'sl_demo_secret_8f2a' },
  oauth2: { clientId: 'oa_demo_client', clientSecret: 'oa_demo_secret_3c9d' },
  stonex: { clientId: 'sx_demo_client', clientSecret: 'sx_demo_secret_71be' },
  abbeycross: { clientId: 'ac_demo_client', clientSecret: 'ac_demo_secret_5d04' },
  paypal: { clientId: 'pp_demo_client', clientSecret: 'pp_demo_secret_e6a1' },
  checkout: { clientId: 'ck_demo_client', clientSecret: 'ck_demo_secret_9b27' },
  oauth2Jwt: {
    clientId: 'oa_jwt_client',
    keyId: 'oa-jwt-demo-1',
    publicJwk: {
      kty: 'EC',
      crv: 'P-256',
      kid: 'oa-jwt-demo-1',
      x: '-qyoYl_nr0A26CXvnJHCH-0vgoviJJZxsKXUqVl02A4',
      y: 'sEBAs-047B9h0Wt5i1umAfrRzOAhYNszsluMYPyyYS8',
    },
    privateJwk: {
      kty: 'EC',
      crv: 'P-256',
      kid: 'oa-jwt-demo-1',
      x: '-qyoYl_nr0A26CXvnJHCH-0vgoviJJZxsKXUqVl02A4',
      y: 'sEBAs-047B9h0Wt5i1umAfrRzOAhYNszsluMYPyyYS8',
      d: 'sRkY8undnl04TSQ__-BIq6FtM2NT16npo1lNpan9hJk',
    },
  },
} as const

/** Origin used by convention in-process. Routing is by path only, so any origin works. */
export const SANDBOX_ORIGIN = 'http://sandbox.test'

/** Options of {@link createSandbox}. */
export interface SandboxOptions {
  /** Clock in milliseconds since the epoch, used for every expiry; default `Date.now`. */
  now?: () => number
  /**
   * Access-token lifetime in seconds for every provider. Default: each provider's own, 3600
   * except paypal's 32400 (PayPal tokens live hours).
   */
  tokenLifetime?: number
}

/** Key casing of token answers: `snake` (`access_token`) or `camel` (`accessToken`). */
export type SandboxCasing = 'snake' | 'camel'

/** Per-provider behaviour, changed with {@link SandboxControl.configure}. */
export interface SandboxProviderConfig {
  /** Access-token lifetime in seconds (default: the sandbox's `tokenLifetime`). */
  tokenLifetime?: number
  /** Refresh-token lifetime in seconds, stablelink only (default: twice `tokenLifetime`). */
  refreshLifetime?: number
  /** Artificial latency added to every token answer, in milliseconds (default 0). */
  tokenLatencyMs?: number
  /** Leave `expires_in`/`expiresIn` out of token answers (default false). */
  omitExpiresIn?: boolean
  /** Send `expires_in`/`expiresIn` as a string such as `"3600"` (default false). */
  expiresInAsString?: boolean
  /** Key casing of token answers (default `camel` for abbeycross, `snake` for the others). */
  casing?: SandboxCasing
}

/** A fault to inject with {@link SandboxControl.inject}. */
export interface SandboxFaultSpec {
  /** What goes wrong. */
  fault: Fault
  /** How many of the next token calls of that provider it applies to (default 1). */
  count?: number
  /** `Retry-After` in seconds for '503', '429' and 'non_working_hours' (the latter defaults to 3600). */
  retryAfter?: number
  /** Delay before the faulty answer in milliseconds ('slow' defaults to 2000, the others to 0). */
  delayMs?: number
}

/** Counters of one provider, or of all providers together. */
export interface SandboxStats {
  /** Every request to a token route, including failed and faulted ones. */
  tokenCalls: number
  /** Token calls by the grant type the client asked for (`client_credentials`, `refresh_token`, ...). */
  byGrant: Record<string, number>
  /** Every request to a protected resource route, successful or not. */
  resourceCalls: number
  /** Resource requests answered 401 (missing, unknown, expired or revoked token). */
  resource401s: number
  /** High-water mark of token requests in progress at the same time (delays included). */
  maxConcurrentTokenCalls: number
}

/** Test-side control of a sandbox: counters, revocation, configuration and fault injection. */
export interface SandboxControl {
  /**
   * Counters of one provider, or of all providers when omitted (sums; for
   * `maxConcurrentTokenCalls` the high-water mark over all token routes at once).
   */
  stats(provider?: SandboxProvider): SandboxStats
  /** Forgets tokens, counters, faults and configuration. Clients added with `addClient` stay. */
  reset(): void
  /** Revokes one access token of that provider, or every live one when `accessToken` is omitted. */
  revoke(provider: SandboxProvider, accessToken?: string): void
  /** Changes a provider's behaviour; only the given keys change. Throws a `TypeError` on bad values. */
  configure(provider: SandboxProvider, config: SandboxProviderConfig): void
  /** Makes the next `count` token calls of that provider fail. Faults queue up in order. */
  inject(provider: SandboxProvider, fault: SandboxFaultSpec): void
  /** Registers (or replaces the secret of) a client of that provider. */
  addClient(provider: SandboxProvider, id: string, secret: string): void
  /**
   * Registers a PUBLIC JWK a client signs its `private_key_jwt` assertions with (RFC 7523;
   * `oauth2` only). A key with the `kid` of a registered one replaces it; the client needs no
   * secret. Throws a `TypeError` for a private JWK or another provider.
   */
  addClientKey(provider: SandboxProvider, id: string, jwk: JsonWebKey & { kid?: string }): void
  /** Access tokens of that provider that are neither expired nor revoked, oldest first. */
  liveTokens(provider: SandboxProvider): string[]
}

/** An in-process provider emulator. */
export interface Sandbox {
  /** The request handler; bound, so it can be passed wherever a `fetch` implementation is expected. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>
  /** Test-side control of this instance. */
  control: SandboxControl
}

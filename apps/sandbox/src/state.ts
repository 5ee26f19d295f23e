/**
 * The mutable state of one sandbox instance: clients, tokens, counters,
 * configuration and the fault queue of every provider. Nothing here is
 * module-global, so independent sandboxes never share anything.
 */
import { randomToken } from './http.ts'
import { SANDBOX_CREDENTIALS, SANDBOX_PROVIDERS, type Fault, type SandboxCasing, type SandboxProvider, type SandboxStats } from './types.ts'

/** Effective configuration of one provider. */
export interface ProviderConfig {
  tokenLifetime: number
  /** Unset means twice `tokenLifetime`. */
  refreshLifetime?: number
  tokenLatencyMs: number
  omitExpiresIn: boolean
  expiresInAsString: boolean
  casing: SandboxCasing
}

/** An issued access token. */
export interface AccessToken {
  value: string
  clientId: string
  /** Granted scope, or `null` when the dialect has none. */
  scope: string | null
  /** Milliseconds since the epoch. */
  issuedAt: number
  /** Milliseconds since the epoch. */
  expiresAt: number
  revoked: boolean
}

/** An issued refresh token (stablelink). */
export interface RefreshToken {
  value: string
  clientId: string
  expiresAt: number
  revoked: boolean
}

/** One injected fault with its remaining uses. */
export interface QueuedFault {
  fault: Fault
  remaining: number
  retryAfter?: number
  delayMs?: number
}

/** Everything one provider keeps. */
export interface ProviderState {
  provider: SandboxProvider
  config: ProviderConfig
  /** client id -> secret */
  clients: Map<string, string>
  /** client id -> the public JWKs its `private_key_jwt` assertions may be signed with */
  clientKeys: Map<string, JsonWebKey[]>
  /** `<client id> <jti>` of the client assertions seen -> their `exp` (ms), to refuse a replay */
  usedAssertions: Map<string, number>
  accessTokens: Map<string, AccessToken>
  refreshTokens: Map<string, RefreshToken>
  faults: QueuedFault[]
  stats: SandboxStats
  inFlight: number
}

/** Everything one sandbox keeps. */
export interface SandboxState {
  now: () => number
  /** `tokenLifetime` given to `createSandbox` (every provider), else each provider's own default. */
  defaultLifetime: number | undefined
  providers: Record<SandboxProvider, ProviderState>
  /** Token requests in progress over all providers, and its high-water mark. */
  inFlight: number
  maxInFlight: number
  /** Random key that signs stonex JWTs (created on first use). */
  jwtKey?: CryptoKey
}

function defaultClients(provider: SandboxProvider): Array<[string, string]> {
  const c: { apiKey?: string; apiSecret?: string; clientId?: string; clientSecret?: string } = SANDBOX_CREDENTIALS[provider]
  return [[(c.apiKey ?? c.clientId)!, (c.apiSecret ?? c.clientSecret)!]]
}

function defaultClientKeys(provider: SandboxProvider): Array<[string, JsonWebKey[]]> {
  if (provider !== 'oauth2') return []
  const { clientId, publicJwk } = SANDBOX_CREDENTIALS.oauth2Jwt
  return [[clientId, [{ ...publicJwk }]]]
}

/** Access-token lifetime of a provider when nobody configured one: PayPal's tokens live hours. */
export const DEFAULT_TOKEN_LIFETIMES: Readonly<Record<SandboxProvider, number>> = {
  stablelink: 3600,
  oauth2: 3600,
  stonex: 3600,
  abbeycross: 3600,
  paypal: 32400,
  checkout: 3600,
}

/** Default configuration of a provider; `tokenLifetime` overrides the provider's own default. */
export function defaultConfig(provider: SandboxProvider, tokenLifetime?: number): ProviderConfig {
  return {
    tokenLifetime: tokenLifetime ?? DEFAULT_TOKEN_LIFETIMES[provider],
    tokenLatencyMs: 0,
    omitExpiresIn: false,
    expiresInAsString: false,
    casing: provider === 'abbeycross' ? 'camel' : 'snake',
  }
}

/** Fresh, zeroed counters. */
export function emptyStats(): SandboxStats {
  return { tokenCalls: 0, byGrant: {}, resourceCalls: 0, resource401s: 0, maxConcurrentTokenCalls: 0 }
}

function createProviderState(provider: SandboxProvider, tokenLifetime: number | undefined): ProviderState {
  return {
    provider,
    config: defaultConfig(provider, tokenLifetime),
    clients: new Map(defaultClients(provider)),
    clientKeys: new Map(defaultClientKeys(provider)),
    usedAssertions: new Map(),
    accessTokens: new Map(),
    refreshTokens: new Map(),
    faults: [],
    stats: emptyStats(),
    inFlight: 0,
  }
}

/** Creates the state of a new sandbox. */
export function createState(now: () => number, tokenLifetime: number | undefined): SandboxState {
  const providers = {} as Record<SandboxProvider, ProviderState>
  for (const provider of SANDBOX_PROVIDERS) providers[provider] = createProviderState(provider, tokenLifetime)
  return { now, defaultLifetime: tokenLifetime, providers, inFlight: 0, maxInFlight: 0 }
}

/** Back to a new sandbox's state, keeping the registered clients. */
export function resetState(state: SandboxState): void {
  for (const provider of SANDBOX_PROVIDERS) {
    const p = state.providers[provider]
    p.config = defaultConfig(provider, state.defaultLifetime)
    p.accessTokens.clear()
    p.refreshTokens.clear()
    p.usedAssertions.clear()
    p.faults = []
    p.stats = emptyStats()
  }
  state.maxInFlight = state.inFlight
}

/** Refresh-token lifetime in seconds. */
export function refreshLifetime(config: ProviderConfig): number {
  return config.refreshLifetime ?? 2 * config.tokenLifetime
}

/** True when the client exists and the secret matches. */
export function checkClient(p: ProviderState, clientId: string, secret: string): boolean {
  const expected = p.clients.get(clientId)
  return expected !== undefined && expected === secret
}

/** True when the token is neither revoked nor expired at `now`. */
export function isLive(token: { revoked: boolean; expiresAt: number }, now: number): boolean {
  return !token.revoked && token.expiresAt > now
}

/** Stores a new access token. `value` defaults to a random token; `expiresAt` to now + lifetime. */
export function issueAccessToken(
  state: SandboxState,
  p: ProviderState,
  clientId: string,
  scope: string | null,
  options: { value?: string; issuedAt?: number; expiresAt?: number } = {},
): AccessToken {
  const issuedAt = options.issuedAt ?? state.now()
  const token: AccessToken = {
    value: options.value ?? randomToken(),
    clientId,
    scope,
    issuedAt,
    expiresAt: options.expiresAt ?? issuedAt + p.config.tokenLifetime * 1000,
    revoked: false,
  }
  p.accessTokens.set(token.value, token)
  return token
}

/** Stores a new refresh token. */
export function issueRefreshToken(state: SandboxState, p: ProviderState, clientId: string): RefreshToken {
  const token: RefreshToken = {
    value: randomToken(),
    clientId,
    expiresAt: state.now() + refreshLifetime(p.config) * 1000,
    revoked: false,
  }
  p.refreshTokens.set(token.value, token)
  return token
}

/** Revokes every live access token of one client; returns how many. */
export function revokeClientTokens(state: SandboxState, p: ProviderState, clientId: string): number {
  const now = state.now()
  let revoked = 0
  for (const token of p.accessTokens.values()) {
    if (token.clientId === clientId && isLive(token, now)) {
      token.revoked = true
      revoked++
    }
  }
  return revoked
}

/** Revokes one access token, or every live one of the provider; returns how many were live. */
export function revokeTokens(state: SandboxState, p: ProviderState, accessToken?: string): number {
  const now = state.now()
  if (accessToken !== undefined) {
    const token = p.accessTokens.get(accessToken)
    if (!token) return 0
    const wasLive = isLive(token, now)
    token.revoked = true
    return wasLive ? 1 : 0
  }
  let revoked = 0
  for (const token of p.accessTokens.values()) {
    if (isLive(token, now)) {
      token.revoked = true
      revoked++
    }
  }
  return revoked
}

/** Live access tokens of a provider, oldest first. */
export function liveTokens(state: SandboxState, p: ProviderState): string[] {
  const now = state.now()
  return [...p.accessTokens.values()].filter((token) => isLive(token, now)).map((token) => token.value)
}

/** Takes one use of the first queued fault, if any. */
export function takeFault(p: ProviderState): QueuedFault | undefined {
  const head = p.faults[0]
  if (!head) return undefined
  head.remaining--
  if (head.remaining <= 0) p.faults.shift()
  return head
}

/** Marks a token call as started (for the concurrency high-water marks). */
export function enterTokenCall(state: SandboxState, p: ProviderState): void {
  p.inFlight++
  state.inFlight++
  p.stats.maxConcurrentTokenCalls = Math.max(p.stats.maxConcurrentTokenCalls, p.inFlight)
  state.maxInFlight = Math.max(state.maxInFlight, state.inFlight)
}

/** Marks a token call as finished. */
export function leaveTokenCall(state: SandboxState, p: ProviderState): void {
  p.inFlight--
  state.inFlight--
}

/** Formats `expires_in` as configured: omitted (`undefined`), a string, or a number. */
export function formatExpiresIn(config: ProviderConfig, seconds: number): number | string | undefined {
  if (config.omitExpiresIn) return undefined
  return config.expiresInAsString ? String(seconds) : seconds
}

/** Renames the snake_case keys of a token answer to camelCase when the provider is set to `camel`. */
export function applyCasing(config: ProviderConfig, body: Record<string, unknown>): Record<string, unknown> {
  if (config.casing === 'snake') return body
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(body)) {
    out[key.replace(/_([a-z])/g, (_, char: string) => char.toUpperCase())] = value
  }
  return out
}

/**
 * Caller JWTs from an identity provider (Auth0, Clerk, Supabase, Cognito...): verified with
 * `jose` against the provider's JWKS (`JWKS_URL`), so a frontend's existing session token is
 * its caller credential.
 *
 * - Algorithms `RS256`, `ES256`, `EdDSA` only (the token's `alg` picks this path; HS256 stays
 *   with `JWT_SECRET`, callers.ts); `iss` = `JWKS_ISSUER`, `aud` = `JWKS_AUDIENCE`, `exp`
 *   required, `JWKS_CLOCK_TOLERANCE_SECONDS` of clock skew (default 30).
 * - The key set is fetched once and cached per isolate (`cacheMaxAge` 10 minutes); a token
 *   whose `kid` is not in it makes one refetch (a rotation at the identity provider), at most
 *   once per `JWKS_COOLDOWN_SECONDS` (default 30), so unknown `kid`s cannot make the Worker
 *   hammer the identity provider. Still unknown: 401.
 * - The claims named by `JWKS_PROVIDERS_CLAIM` (default `providers`: an array, or a
 *   space-separated string) and `JWKS_SCOPE_CLAIM` (default `scope`: a space-separated string,
 *   or an array) say what the caller may use. The caller id is `jwt:<sub>`. JWT callers have
 *   no proxy allow-list, hence no proxy access.
 * - A key set that cannot be fetched is 503 `upstream_unavailable` (not the caller's fault).
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose'
import type { Caller } from './callers.ts'
import { ConfigError } from './config.ts'
import { EdgeError } from './errors.ts'

export const JWKS_ALGORITHMS = ['RS256', 'ES256', 'EdDSA']

export interface JwksSettings {
  url: URL
  issuer: string
  audience: string
  clockTolerance: number
  cooldownSeconds: number
  providersClaim: string
  scopeClaim: string
}

function seconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 3600) throw new ConfigError(`${name} must be whole seconds between 0 and 3600`)
  return n
}

/** The JWKS settings of `env`, or `undefined` when `JWKS_URL` is not set. */
export function jwksSettings(env: Env): JwksSettings | undefined {
  const url = env.JWKS_URL
  if (typeof url !== 'string' || url === '') return undefined
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new ConfigError('JWKS_URL must be an http(s) URL')
  if (!env.JWKS_ISSUER || !env.JWKS_AUDIENCE) throw new ConfigError('JWKS_URL is set: JWKS_ISSUER and JWKS_AUDIENCE are required too')
  return {
    url: new URL(url),
    issuer: env.JWKS_ISSUER,
    audience: env.JWKS_AUDIENCE,
    clockTolerance: seconds('JWKS_CLOCK_TOLERANCE_SECONDS', env.JWKS_CLOCK_TOLERANCE_SECONDS, 30),
    cooldownSeconds: seconds('JWKS_COOLDOWN_SECONDS', env.JWKS_COOLDOWN_SECONDS, 30),
    providersClaim: env.JWKS_PROVIDERS_CLAIM || 'providers',
    scopeClaim: env.JWKS_SCOPE_CLAIM || 'scope',
  }
}

/** One cached key set per URL and cooldown, per isolate. */
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>()

/** Forgets the cached key sets (tests: another isolate). */
export function forgetJwks(): void {
  keySets.clear()
}

function keySet(settings: JwksSettings) {
  const id = `${settings.url.href} ${settings.cooldownSeconds}`
  let set = keySets.get(id)
  if (!set) {
    set = createRemoteJWKSet(settings.url, {
      cacheMaxAge: 600_000,
      cooldownDuration: settings.cooldownSeconds * 1000,
      timeoutDuration: 5000,
    })
    keySets.set(id, set)
  }
  return set
}

function list(value: unknown): string[] | undefined {
  if (value === undefined) return []
  if (typeof value === 'string') return value.split(' ').filter(Boolean)
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[]
  return undefined
}

const invalid = (description: string) =>
  new EdgeError(401, 'invalid_token', description, { 'www-authenticate': 'Bearer realm="payment-auth", error="invalid_token"' })

/** The caller of a JWT signed by the identity provider, or 401 (503 when its keys cannot be fetched). */
export async function verifyJwksJwt(token: string, settings: JwksSettings): Promise<Caller> {
  let payload: Record<string, unknown>
  try {
    ;({ payload } = await jwtVerify(token, keySet(settings), {
      algorithms: JWKS_ALGORITHMS,
      issuer: settings.issuer,
      audience: settings.audience,
      clockTolerance: settings.clockTolerance,
      requiredClaims: ['exp'],
    }))
  } catch (error) {
    if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || !(error instanceof joseErrors.JOSEError)) {
      throw new EdgeError(503, 'upstream_unavailable', "the identity provider's keys could not be fetched; try again later", {
        'retry-after': '5',
      })
    }
    throw invalid(error instanceof joseErrors.JWTExpired ? 'the caller token has expired' : 'the caller credential is not valid')
  }
  const providers = list(payload[settings.providersClaim])
  const scopes = list(payload[settings.scopeClaim])
  const sub = payload.sub
  if (!providers || !scopes || (sub !== undefined && typeof sub !== 'string')) throw invalid('the caller token has malformed claims')
  return {
    id: `jwt:${sub ?? 'anonymous'}`,
    providers: new Set(providers),
    scopes: new Set([...new Set(scopes)].sort()),
    proxy: [],
  }
}

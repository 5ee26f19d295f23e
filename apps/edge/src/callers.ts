/**
 * Who is calling, and what they may use.
 *
 * A caller presents `Authorization: Bearer <credential>`:
 * - an API key from `CALLERS`: the Worker stores only its SHA-256 and compares the digest of
 *   the presented key with every configured digest in constant time;
 * - or a JWT (three dot-separated parts), verified with `jose`: HS256 only (so `alg: none`
 *   and every other algorithm are refused), key `JWT_SECRET`, `iss` = `JWT_ISSUER`,
 *   `aud` = `JWT_AUDIENCE`, `exp` required. Its `providers` claim (array) and `scope` claim
 *   (space-separated) say what it may use.
 *
 * - or a JWT signed `RS256`, `ES256` or `EdDSA` by an identity provider, verified against its
 *   JWKS when `JWKS_URL` is set (jwks.ts).
 *
 * Then `authorize` checks the provider and the scope against what the caller may use.
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose'
import * as v from 'valibot'
import type { Config, ProviderConfig } from './config.ts'
import { EdgeError } from './errors.ts'
import { JWKS_ALGORITHMS, type JwksSettings, verifyJwksJwt } from './jwks.ts'
import type { ProxyRule } from './proxy-rules.ts'

export interface Caller {
  /** `key:<id>` for API-key callers, `jwt:<sub>` for JWT callers. */
  id: string
  providers: ReadonlySet<string>
  scopes: ReadonlySet<string>
  /** The proxy allow-list (proxy-rules.ts): empty for JWT callers, which have no proxy access. */
  proxy: readonly ProxyRule[]
  /** The header a proxied POST must carry, if any. */
  idempotencyHeader?: string | undefined
  /** This caller's own rate limit, instead of `RATE_LIMIT_PER_MINUTE`. */
  ratePerMinute?: number | undefined
}

const REALM = 'Bearer realm="payment-auth"'
const MAX_CREDENTIAL_LENGTH = 4096

function unauthorized(description: string, presented: boolean): EdgeError {
  return new EdgeError(401, 'invalid_token', description, { 'www-authenticate': presented ? `${REALM}, error="invalid_token"` : REALM })
}

const JWT_SHAPE = /^[\w-]+\.[\w-]*\.[\w-]*$/

/** The caller behind an `Authorization` header, or a 401. */
export async function authenticate(
  header: string | undefined,
  config: Config,
  /** The registry (registry.ts): asked with the key's SHA-256 (hex) when no static caller has it. */
  lookup?: (sha256Hex: string) => Promise<Caller | undefined>,
  /** The identity provider's JWKS (jwks.ts): JWTs signed RS256, ES256 or EdDSA are verified there. */
  jwks?: JwksSettings,
): Promise<Caller> {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '')
  if (!match) throw unauthorized('a caller credential is required: Authorization: Bearer <API key or JWT>', header !== undefined)
  const credential = match[1]!
  if (credential.length > MAX_CREDENTIAL_LENGTH) throw unauthorized('the caller credential is not valid', true)
  if (!JWT_SHAPE.test(credential)) return matchApiKey(credential, config, lookup)
  if (jwks && JWKS_ALGORITHMS.includes(algOf(credential) ?? '')) return verifyJwksJwt(credential, jwks)
  return verifyJwt(credential, config)
}

/** The `alg` of a JWT's protected header, or `undefined` when it cannot be read. */
function algOf(token: string): string | undefined {
  try {
    const alg = decodeProtectedHeader(token).alg
    return typeof alg === 'string' ? alg : undefined
  } catch {
    return undefined
  }
}

async function matchApiKey(key: string, config: Config, lookup?: (sha256Hex: string) => Promise<Caller | undefined>): Promise<Caller> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)))
  let found: Config['callers'][number] | undefined
  // Every configured digest is compared, in constant time: neither the timing nor the order tells anything.
  for (const caller of config.callers) {
    if (crypto.subtle.timingSafeEqual(digest, caller.digest)) found = caller
  }
  if (!found) {
    const registered = lookup && (await lookup([...digest].map((b) => b.toString(16).padStart(2, '0')).join('')))
    if (registered) return registered
    throw unauthorized('the caller credential is not valid', true)
  }
  return keyCaller(found)
}

/** The caller of each configured key, built once per parsed configuration (callers are never changed). */
const keyCallers = new WeakMap<Config['callers'][number], Caller>()

function keyCaller(found: Config['callers'][number]): Caller {
  let caller = keyCallers.get(found)
  if (!caller) {
    caller = {
      id: `key:${found.id}`,
      providers: new Set(found.providers),
      scopes: new Set(found.scopes),
      proxy: found.proxy,
      idempotencyHeader: found.idempotencyHeader,
    }
    keyCallers.set(found, caller)
  }
  return caller
}

const Claims = v.object({
  sub: v.optional(v.string()),
  providers: v.optional(v.array(v.string()), []),
  scope: v.optional(v.string(), ''),
})

async function verifyJwt(token: string, config: Config): Promise<Caller> {
  if (!config.jwt) throw unauthorized('the caller credential is not valid', true)
  let payload: unknown
  try {
    ;({ payload } = await jwtVerify(token, config.jwt.secret, {
      algorithms: ['HS256'],
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      requiredClaims: ['exp'],
    }))
  } catch (error) {
    if (error instanceof joseErrors.JOSEError) {
      throw unauthorized(
        error instanceof joseErrors.JWTExpired ? 'the caller token has expired' : 'the caller credential is not valid',
        true,
      )
    }
    throw error
  }
  const claims = v.safeParse(Claims, payload)
  if (!claims.success) throw unauthorized('the caller token has malformed claims', true)
  const { sub, providers, scope } = claims.output
  return { id: `jwt:${sub ?? 'anonymous'}`, providers: new Set(providers), scopes: new Set(scopeList(scope)), proxy: [] }
}

/** Space-separated scope to its tokens, deduplicated and sorted (so `write read` and `read write` share a token). */
export function scopeList(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter(Boolean))].sort()
}

/**
 * Checks that `caller` may use `provider` with `requestedScope`, and returns the scope the
 * token is for. For a provider with `scopes`, a request without a scope gets every scope the
 * caller may use there (never the provider's own default, which could be wider).
 */
export function authorize(caller: Caller, name: string, provider: ProviderConfig, requestedScope: string | undefined): string | undefined {
  if (!caller.providers.has(name)) throw new EdgeError(403, 'access_denied', `this caller may not use the provider ${name}`)
  const offered = provider.dialect === 'oauth2' ? provider.scopes : undefined
  const requested = scopeList(requestedScope)
  if (!offered) {
    if (requested.length > 0) throw new EdgeError(400, 'invalid_scope', `the provider ${name} takes no scope`)
    return undefined
  }
  const unknown = requested.filter((s) => !offered.includes(s))
  if (unknown.length > 0) throw new EdgeError(400, 'invalid_scope', `the provider ${name} offers the scopes: ${offered.join(' ')}`)
  const wanted = requested.length > 0 ? requested : offered.filter((s) => caller.scopes.has(s)).sort()
  if (wanted.length === 0 || wanted.some((s) => !caller.scopes.has(s))) {
    throw new EdgeError(403, 'insufficient_scope', 'the requested scope is not allowed for this caller', {
      'www-authenticate': `${REALM}, error="insufficient_scope"`,
    })
  }
  return wanted.join(' ')
}

/**
 * `private_key_jwt` client authentication (RFC 7523 section 2.2, RFC 7521 section 4.2), verified
 * with `jose` against the public JWKs registered for the client (`control.addClientKey`).
 *
 * The assertion must be a JWT signed RS256, PS256, ES256 or EdDSA by one of the client's keys,
 * with `iss` = `sub` = the client id, `aud` = the token URL that was called, `jti`, `iat` and
 * `exp` at most 60 s after `iat` and still in the future (by the sandbox's clock), and a `jti`
 * the client has not used before. Any failure is 401 `invalid_client`; a missing or unknown
 * `client_assertion_type` is 400 `invalid_request`. No answer ever echoes the assertion.
 */
import { createLocalJWKSet, decodeJwt, errors, jwtVerify } from 'jose'
import type { ProviderState, SandboxState } from '../state.ts'
import { type ClientAuthResult, oauthError } from './rfc6749.ts'

/** `client_assertion_type` of a JWT assertion (RFC 7523 section 2.2). */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
/** The longest an assertion may live, `exp - iat`, in seconds. */
export const ASSERTION_MAX_LIFETIME = 60
/** Clock skew tolerated on `iat` and `exp`, in seconds. */
export const ASSERTION_CLOCK_TOLERANCE = 5
/** The signing algorithms accepted (`Ed25519` is the newer name of `EdDSA` over Ed25519). */
export const ASSERTION_ALGORITHMS: readonly string[] = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519']

/** 401 `invalid_client` without `WWW-Authenticate`: the client did not use a Basic header. */
function refused(description: string): ClientAuthResult {
  return { ok: false, response: oauthError(401, 'invalid_client', description) }
}

/** The token URL as the client called it, with and without a trailing slash (routes match both). */
function audiences(request: Request): string[] {
  const url = new URL(request.url)
  const bare = `${url.origin}${url.pathname.replace(/\/+$/, '')}`
  return [bare, `${bare}/`]
}

/** Why jose refused the assertion, in words that never contain the assertion or the key. */
function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'client assertion expired'
  if (error instanceof errors.JWTClaimValidationFailed) return `client assertion ${error.claim} claim check failed: ${error.reason}`
  if (error instanceof errors.JWKSNoMatchingKey) return 'no registered key of the client matches the client assertion'
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'client assertion signature verification failed'
  if (error instanceof errors.JOSEAlgNotAllowed) return 'client assertion signing algorithm not allowed'
  return 'invalid client assertion'
}

/** Forgets the `jti`s of assertions that have expired: they can no longer be replayed anyway. */
function forgetExpired(p: ProviderState, now: number): void {
  for (const [key, expiresAt] of p.usedAssertions) if (expiresAt + ASSERTION_CLOCK_TOLERANCE * 1000 <= now) p.usedAssertions.delete(key)
}

/** True when the form carries a client assertion (or its type): the client chose `private_key_jwt`. */
export function hasClientAssertion(form: URLSearchParams): boolean {
  return form.has('client_assertion') || form.has('client_assertion_type')
}

/** Authenticates a client by the `client_assertion` of the form. */
export async function authenticateAssertion(
  state: SandboxState,
  p: ProviderState,
  request: Request,
  form: URLSearchParams,
): Promise<ClientAuthResult> {
  const type = form.get('client_assertion_type')
  const assertion = form.get('client_assertion')
  if (type !== JWT_BEARER_ASSERTION) {
    return { ok: false, response: oauthError(400, 'invalid_request', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`) }
  }
  if (!assertion) return { ok: false, response: oauthError(400, 'invalid_request', 'missing client_assertion parameter') }

  let subject: unknown
  try {
    subject = decodeJwt(assertion).sub
  } catch {
    return refused('the client assertion is not a JWT')
  }
  const clientId = form.get('client_id') ?? subject
  if (typeof clientId !== 'string' || clientId === '') return refused('the client assertion has no sub')
  const keys = p.clientKeys.get(clientId)
  if (!keys || keys.length === 0) return refused('no key is registered for the client')

  const now = state.now()
  let claims: { iat?: number; exp?: number; jti?: string }
  try {
    const verified = await jwtVerify(assertion, createLocalJWKSet({ keys: keys as Parameters<typeof createLocalJWKSet>[0]['keys'] }), {
      algorithms: [...ASSERTION_ALGORITHMS],
      issuer: clientId,
      subject: clientId,
      audience: audiences(request),
      requiredClaims: ['iat', 'exp', 'jti'],
      maxTokenAge: ASSERTION_MAX_LIFETIME,
      clockTolerance: ASSERTION_CLOCK_TOLERANCE,
      currentDate: new Date(now),
    })
    claims = verified.payload
  } catch (error) {
    return refused(describe(error))
  }
  const { iat = 0, exp = 0, jti = '' } = claims
  if (exp <= iat || exp - iat > ASSERTION_MAX_LIFETIME) {
    return refused(`client assertion exp must be at most ${ASSERTION_MAX_LIFETIME} s after iat`)
  }

  forgetExpired(p, now)
  const key = `${clientId} ${jti}`
  if (p.usedAssertions.has(key)) return refused('client assertion jti already used')
  p.usedAssertions.set(key, exp * 1000)
  return { ok: true, clientId }
}

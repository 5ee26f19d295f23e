/**
 * Client authentication at a token endpoint: the RFC 8414 `token_endpoint_auth_method`s as small
 * factories, in the style of oauth4webapi. Each returns a {@link ClientAuth} that adds the
 * client's credentials to a token request's form body and headers. Web APIs only (WebCrypto,
 * `btoa`, `crypto.randomUUID`): the same code runs in browsers, workerd, Node, Deno and Bun.
 *
 * ```ts
 * const auth = privateKeyJwt(privateJwk, { keyId: 'k1' })
 * const body = new URLSearchParams({ grant_type: 'client_credentials' })
 * const headers = new Headers()
 * await auth(clientId, body, headers, tokenUrl)
 * await fetch(tokenUrl, { method: 'POST', headers, body })
 * ```
 *
 * No error, event or log line ever carries the secret, the key or an assertion.
 *
 * Why no `jose` here: a ~40-line WebCrypto JWS signs the assertion (compact serialization,
 * base64url JSON, WebCrypto's ECDSA output is already JWS's r||s). Bundled for the browser
 * (esbuild --bundle --minify --format=esm --platform=browser, gzip -9), `privateKeyJwt` with
 * `PaymentAuthError` is 1,654 bytes (3,722 minified); the same factory signing with jose's
 * `SignJWT` + `importJWK` is 6,670 (18,000), and `SignJWT` alone 4,747. The checks jose would
 * add that matter here (a private key, its algorithm, RSA >= 2048 bits) are made below, and
 * `@payment-auth/ky` keeps valibot as its only dependency.
 */
import { PaymentAuthError } from './errors.ts'

/**
 * Adds a client's authentication to a token request: `body` is its form body, `headers` its
 * headers, `tokenUrl` where it goes (the default `aud` of a client assertion).
 */
export type ClientAuth = (clientId: string, body: URLSearchParams, headers: Headers, tokenUrl: string) => void | Promise<void>

/** A private JWK (`d` and the rest); `kid`, when present, becomes the JWS `kid`. */
export type PrivateJwk = JsonWebKey & { kid?: string }

/** The JWS algorithms a client assertion may be signed with. */
export type ClientAssertionAlg = 'RS256' | 'PS256' | 'ES256' | 'EdDSA'

/** Options of {@link privateKeyJwt}. */
export interface PrivateKeyJwtOptions {
  /** The JWS `kid`: which of the client's registered keys signed. Default: the JWK's `kid`, if any. */
  keyId?: string
  /** The signing algorithm. Default from the key: RSA -> RS256 (RSA-PSS -> PS256), P-256 -> ES256, Ed25519 -> EdDSA. */
  alg?: ClientAssertionAlg
  /** The assertion's `aud`. Default: the token URL (some servers want their issuer identifier instead). */
  audience?: string
  /** The clock, epoch milliseconds (default `Date.now`): `iat` is now, `exp` 60 s later. */
  now?: () => number
}

/** `client_assertion_type` of a JWT client assertion (RFC 7523 section 2.2). */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** How long a client assertion lives, `exp - iat`, in seconds. */
export const CLIENT_ASSERTION_LIFETIME = 60

/** A mistake in the options: thrown by the factory, or by the first call for what only signing finds out. */
function invalidConfig(message: string): PaymentAuthError {
  return new PaymentAuthError(`oauth2: ${message}`, { code: 'invalid_config', provider: 'oauth2' })
}

function assertSecret(secret: unknown): asserts secret is string {
  if (typeof secret !== 'string' || secret === '') throw invalidConfig('clientSecret must be a non-empty string')
}

/**
 * The application/x-www-form-urlencoded serializer of the URL Standard (what `URLSearchParams`
 * writes), which RFC 6749 section 2.3.1 asks for before base64: space becomes `+`, every byte
 * but ASCII letters, digits and `*-._` is percent-encoded. Ids with `-`, `_` or `.` (PayPal's)
 * stay as they are, so a server that forgets to decode still matches them.
 */
function formEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()~]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}

/**
 * **`client_secret_basic`** (RFC 6749 section 2.3.1): `Authorization: Basic base64(id:secret)`,
 * id and secret form-encoded first.
 */
export function clientSecretBasic(clientSecret: string): ClientAuth {
  assertSecret(clientSecret)
  return (clientId, _body, headers) => {
    headers.set('authorization', `Basic ${btoa(`${formEncode(clientId)}:${formEncode(clientSecret)}`)}`)
  }
}

/** **`client_secret_post`**: `client_id` and `client_secret` in the form body. */
export function clientSecretPost(clientSecret: string): ClientAuth {
  assertSecret(clientSecret)
  return (clientId, body) => {
    body.set('client_id', clientId)
    body.set('client_secret', clientSecret)
  }
}

/**
 * **`tls_client_auth`** (RFC 8705): only `client_id` in the body; the client certificate is
 * presented by the `fetch` that sends the request (an undici `Agent` in Node,
 * `Deno.createHttpClient`, Bun's `tls` option, a Workers mTLS binding).
 */
export function tlsClientAuth(): ClientAuth {
  return (clientId, body) => {
    body.set('client_id', clientId)
  }
}

/** The algorithms a client assertion may be signed with (their WebCrypto parameters are in jws.ts). */
const ALGS: readonly ClientAssertionAlg[] = ['RS256', 'PS256', 'ES256', 'EdDSA']

/**
 * The signing half, loaded on first use: a bundler splits it out, so an app that authenticates
 * with a client secret does not download it, and the key checks below still run in the factory.
 */
const jws = () => import('./jws.ts')

const isAlg = (value: unknown): value is ClientAssertionAlg => ALGS.includes(value as ClientAssertionAlg)

/** The algorithms a private JWK can sign with, its default first; `[]` for a key we do not support. */
function jwkAlgs(jwk: JsonWebKey): ClientAssertionAlg[] {
  if (jwk.kty === 'RSA') return jwk.alg === 'PS256' ? ['PS256', 'RS256'] : ['RS256', 'PS256']
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return ['ES256']
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return ['EdDSA']
  return []
}

/** The one algorithm a CryptoKey can sign with (WebCrypto binds a key to its algorithm and hash), or `undefined`. */
function cryptoKeyAlg(key: CryptoKey): ClientAssertionAlg | undefined {
  const { name, hash, namedCurve } = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string }
  if (name === 'RSASSA-PKCS1-v1_5' && hash?.name === 'SHA-256') return 'RS256'
  if (name === 'RSA-PSS' && hash?.name === 'SHA-256') return 'PS256'
  if (name === 'ECDSA' && namedCurve === 'P-256') return 'ES256'
  if (name === 'Ed25519' || name === 'EdDSA') return 'EdDSA'
  return undefined
}

/** RSA keys under 2048 bits are refused, as jose and RFC 7518 section 3.3 ask. */
function assertRsaSize(key: CryptoKey): void {
  const { modulusLength } = key.algorithm as { modulusLength?: number }
  if (modulusLength !== undefined && modulusLength < 2048) throw invalidConfig('privateKey: RSA keys must be 2048 bits or larger')
}

/**
 * **`private_key_jwt`** (RFC 7523 section 2.2): `client_id`, `client_assertion_type` and
 * `client_assertion`, a JWT signed with WebCrypto: header `{alg, typ: 'JWT', kid?}`, claims
 * `iss` = `sub` = the client id, `aud` = `audience` or the token URL, a fresh `jti`, `iat`
 * now and `exp` 60 s later.
 *
 * `key` is a private `CryptoKey` (usable for `sign`) or a private JWK object (imported once, on
 * first use, as a non-extractable key). A public key, a key that cannot sign with `alg`, or an
 * unsupported key throws a `PaymentAuthError` with code `invalid_config`: from the factory when
 * the key shows it, else from the first call (a JWK WebCrypto refuses to import).
 */
export function privateKeyJwt(key: CryptoKey | PrivateJwk, options: PrivateKeyJwtOptions = {}): ClientAuth {
  const { audience, now = Date.now } = options
  if (options.alg !== undefined && !isAlg(options.alg)) throw invalidConfig('alg must be RS256, PS256, ES256 or EdDSA')
  if (options.keyId !== undefined && typeof options.keyId !== 'string') throw invalidConfig('keyId must be a string')

  let alg: ClientAssertionAlg
  let signingKey: () => Promise<CryptoKey>
  let kid = options.keyId
  if (typeof CryptoKey !== 'undefined' && key instanceof CryptoKey) {
    if (key.type !== 'private') throw invalidConfig('privateKey must be a PRIVATE key: a public key cannot sign client assertions')
    const own = cryptoKeyAlg(key)
    if (own === undefined) throw invalidConfig('privateKey must be an RSA (SHA-256), P-256 or Ed25519 signing key')
    alg = options.alg ?? own
    if (alg !== own) throw invalidConfig(`privateKey cannot sign ${alg} (it is a ${own} key)`)
    if (!key.usages.includes('sign')) throw invalidConfig('privateKey must allow the "sign" usage')
    assertRsaSize(key)
    signingKey = () => Promise.resolve(key)
  } else if (typeof key === 'object' && key !== null && typeof (key as JsonWebKey).kty === 'string') {
    const jwk = key as PrivateJwk
    if (typeof jwk.d !== 'string')
      throw invalidConfig('privateKey must be a PRIVATE JWK (with "d"): a public key cannot sign client assertions')
    const algs = jwkAlgs(jwk)
    const preferred = algs[0]
    if (preferred === undefined) throw invalidConfig('privateKey must be an RSA, P-256 or Ed25519 JWK')
    alg = options.alg ?? preferred
    if (!algs.includes(alg)) throw invalidConfig(`privateKey cannot sign ${alg} (it is a ${jwk.kty} key)`)
    if (jwk.alg !== undefined && jwk.alg !== alg && !(alg === 'EdDSA' && jwk.alg === 'Ed25519')) {
      throw invalidConfig(`privateKey is a ${jwk.alg} JWK and cannot sign ${alg}`)
    }
    if (kid === undefined && typeof jwk.kid === 'string') kid = jwk.kid
    // `alg` is checked above; WebCrypto's own check of it varies between runtimes (EdDSA has two names).
    const { alg: _alg, ...material } = jwk
    const jwkAlg = alg
    let imported: Promise<CryptoKey> | undefined
    signingKey = () =>
      (imported ??= jws()
        .then(({ importSigningKey }) => importSigningKey(material, jwkAlg))
        .then(
          (cryptoKey) => (assertRsaSize(cryptoKey), cryptoKey),
          () => {
            throw invalidConfig(`privateKey could not be imported as a ${alg} signing key`)
          },
        ))
  } else {
    throw invalidConfig('privateKey must be a private CryptoKey or a private JWK object')
  }

  const header = { alg, typ: 'JWT', ...(kid !== undefined && { kid }) }
  return async (clientId, body, _headers, tokenUrl) => {
    const iat = Math.floor(now() / 1000)
    const claims = {
      iss: clientId,
      sub: clientId,
      aud: audience ?? tokenUrl,
      jti: crypto.randomUUID(),
      iat,
      exp: iat + CLIENT_ASSERTION_LIFETIME,
    }
    const { signJwt } = await jws()
    const cryptoKey = await signingKey()
    let assertion: string
    try {
      assertion = await signJwt(header, claims, cryptoKey)
    } catch {
      throw invalidConfig(`privateKey could not sign ${alg}`)
    }
    body.set('client_id', clientId)
    body.set('client_assertion_type', JWT_BEARER_ASSERTION_TYPE)
    body.set('client_assertion', assertion)
  }
}

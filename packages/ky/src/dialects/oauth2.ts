import * as v from 'valibot'
import {
  type ClientAssertionAlg,
  type ClientAuth,
  clientSecretBasic,
  clientSecretPost,
  type PrivateJwk,
  privateKeyJwt,
  tlsClientAuth,
} from '../client-auth.ts'
import { PaymentAuthError } from '../errors.ts'
import { checkOptions, httpUrl, is, object, oneOf, optionalText, text } from '../options.ts'
import { defineProvider, type Provider } from '../provider.ts'

/** RFC 8414 `token_endpoint_auth_method`s. */
export type OAuth2AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'tls_client_auth'

export interface OAuth2Options {
  /** The token endpoint, e.g. `https://api.example.com/o/token/`. Its origin is also the default API origin. */
  tokenUrl: string
  clientId: string
  /** For `client_secret_basic` (the default when given) and `client_secret_post`. */
  clientSecret?: string
  /** Space-separated scopes, e.g. `'read write'`. */
  scope?: string
  /**
   * How the client authenticates. Default: `private_key_jwt` when `privateKey` is given, else
   * `client_secret_basic`. `tls_client_auth` (RFC 8705) sends no secret: the certificate is
   * presented by the `fetch` given for the token endpoint.
   */
  authMethod?: OAuth2AuthMethod
  /** `private_key_jwt` (RFC 7523): a private `CryptoKey` or a private JWK that signs the client assertion. */
  privateKey?: CryptoKey | PrivateJwk
  /** The JWS `kid` of the client assertion (default: the JWK's `kid`). */
  keyId?: string
  /** RS256, PS256, ES256 or EdDSA; default from the key (RSA -> RS256, P-256 -> ES256, Ed25519 -> EdDSA). */
  signingAlg?: ClientAssertionAlg
  /** The client assertion's `aud`. Default: the token URL. */
  audience?: string
  /** The API's base URL when it is not on the token URL's origin (e.g. `https://api.example.com`): where the token may be sent by default. */
  apiBaseUrl?: string
}

const METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth'] as const

const Options = object({
  tokenUrl: httpUrl,
  clientId: text,
  clientSecret: v.optional(text),
  scope: optionalText,
  authMethod: v.optional(oneOf(METHODS, `must be one of ${METHODS.join(', ')}`)),
  privateKey: v.optional(
    is<CryptoKey | PrivateJwk>((key) => typeof key === 'object' && key !== null, 'must be a private CryptoKey or a private JWK object'),
  ),
  keyId: optionalText,
  signingAlg: v.optional(oneOf(['RS256', 'PS256', 'ES256', 'EdDSA'], 'must be RS256, PS256, ES256 or EdDSA')),
  audience: optionalText,
  apiBaseUrl: v.optional(httpUrl),
})

/** The private members of a JWK: scrubbed from any error text like a secret. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const

/** The client authentication `options` ask for, checked: what each method needs must be there. */
function clientAuthOf(name: string, o: v.InferOutput<typeof Options>): ClientAuth {
  const method = o.authMethod ?? (o.privateKey ? 'private_key_jwt' : 'client_secret_basic')
  const missing = (option: string) =>
    new PaymentAuthError(`${name}: \`${option}\` is required for ${method} (got undefined) (is an environment variable unset?)`, {
      code: 'invalid_config',
      provider: name,
    })
  if (method === 'tls_client_auth') return tlsClientAuth()
  if (method === 'private_key_jwt') {
    if (!o.privateKey) throw missing('privateKey')
    return privateKeyJwt(o.privateKey, {
      ...(o.keyId !== undefined && { keyId: o.keyId }),
      ...(o.signingAlg !== undefined && { alg: o.signingAlg }),
      ...(o.audience !== undefined && { audience: o.audience }),
    })
  }
  if (o.clientSecret === undefined) throw missing('clientSecret')
  return method === 'client_secret_post' ? clientSecretPost(o.clientSecret) : clientSecretBasic(o.clientSecret)
}

/** An RFC 6749 client-credentials provider called `name` (oauth2 and the presets built on it). */
export function oauth2Provider(name: string, options: OAuth2Options): Provider {
  const o = checkOptions(name, Options, options)
  const { tokenUrl, clientId, scope } = o
  const auth = clientAuthOf(name, o)
  const jwk =
    o.privateKey && !(typeof CryptoKey !== 'undefined' && o.privateKey instanceof CryptoKey) ? (o.privateKey as PrivateJwk) : undefined
  return defineProvider({
    name,
    key: scope ? `${name} ${tokenUrl} ${clientId} ${scope}` : `${name} ${tokenUrl} ${clientId}`,
    origins: [o.apiBaseUrl ?? tokenUrl],
    secrets: [o.clientSecret, ...PRIVATE_JWK_MEMBERS.map((member) => jwk?.[member])],
    async buildTokenRequest() {
      const body = new URLSearchParams({ grant_type: 'client_credentials' })
      const headers = new Headers({ accept: 'application/json' })
      if (scope) body.set('scope', scope)
      await auth(clientId, body, headers, tokenUrl)
      return new Request(tokenUrl, { method: 'POST', headers, body })
    },
  })
}

/**
 * An RFC 6749 client-credentials server: form-encoded body, optional scope, `{error,
 * error_description}` errors. The client authenticates with `client_secret_basic` (default),
 * `client_secret_post`, `private_key_jwt` (RFC 7523, a fresh assertion per token call) or
 * `tls_client_auth` (RFC 8705, the certificate presented by the token endpoint's `fetch`).
 *
 * @example
 * ```ts
 * const provider = oauth2({ tokenUrl: 'https://pay.example/o/token/', clientId, clientSecret, scope: 'read write' })
 * const api = ky.create({ baseUrl: 'https://pay.example/' }).extend(withPaymentAuth({ provider }))
 * ```
 */
export function oauth2(options: OAuth2Options): Provider {
  return oauth2Provider('oauth2', options)
}

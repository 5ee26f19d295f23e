/**
 * A real RFC 6749 authorization server for the end-to-end tests: `oidc-provider` (a certified
 * OpenID/OAuth server) over HTTPS on 127.0.0.1, port 0, with the client credentials grant,
 * a resource server (RFC 8707 resource indicator, so client credentials tokens are issued for
 * it) and three kinds of client authentication:
 *
 * - `client_secret_basic`;
 * - `private_key_jwt` (RFC 7523), RS256 and ES256 keys generated at start with jose;
 * - `tls_client_auth` (RFC 8705): the server asks for a client certificate
 *   (`requestCert`, `rejectUnauthorized: false`, so oidc-provider decides and answers
 *   401 `invalid_client` instead of a TLS failure) and matches its subject DN.
 *
 * A protected resource (`/api/...`) on the same server accepts only live access tokens issued
 * for it; `revoke()` kills tokens; `stats()` counts token calls from the server's side.
 *
 * ```ts
 * const oidc = await startOidc()
 * const res = await oidc.fetch(oidc.tokenUrl, { method: 'POST', headers, body })   // trusts the test CA
 * const mtls = await oidc.clients.tls.fetch(oidc.tokenUrl, { ... })                  // presents the client certificate
 * await oidc.close()
 * ```
 */
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import Provider, { errors, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider'
import { Agent } from 'undici'
import { memoryAdapter } from './adapter.ts'
import { createCa, type Pem, rfc4514 } from './certs.ts'

/** The scopes of the resource server; a client credentials token carries those it asked for. */
export const OIDC_RESOURCE_SCOPES = 'payments:read payments:write'
/** Access token lifetime, seconds. */
export const OIDC_TOKEN_TTL = 600

/** A `fetch` that trusts the test CA (and, for the tls client, presents its certificate). */
export type TestFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/** A private_key_jwt client: its key as a private JWK and a CryptoKey, and the `kid` registered. */
export interface JwtClient {
  clientId: string
  alg: 'RS256' | 'ES256'
  keyId: string
  privateJwk: JWK
  privateKey: CryptoKey
  publicJwk: JWK
}

export interface OidcClients {
  basic: { clientId: string; clientSecret: string }
  jwtRs256: JwtClient
  jwtEs256: JwtClient
  tls: {
    clientId: string
    /** RFC 4514 subject DN registered as `tls_client_auth_subject_dn`. */
    subjectDn: string
    /** The client certificate and key, PEM, issued by the server's trusted CA. */
    cert: string
    key: string
    /** A certificate with the same subject from a CA the server does not trust. */
    rogue: Pem
    /** `fetch` presenting `cert`/`key` (an undici Agent as its dispatcher). */
    fetch: TestFetch
  }
}

export interface OidcStats {
  /** Every request to the token endpoint, refused ones too. */
  tokenCalls: number
  /** Successful grants per client id. */
  issued: Record<string, number>
  /** Refused token requests by error code. */
  errors: Record<string, number>
  resourceCalls: number
  resource401s: number
}

export interface StartedOidc {
  /** `https://127.0.0.1:<port>` */
  issuer: string
  /** `{issuer}/token` */
  tokenUrl: string
  /** `{issuer}/api/payments`: a resource that needs a live token issued for {@link resource}. */
  resourceUrl: string
  /** The resource indicator (and token audience): `{issuer}/api`. Clients need not send it. */
  resource: string
  /** The test CA, PEM: trust it to talk to the server. */
  ca: string
  clients: OidcClients
  /** `fetch` that trusts the test CA, without a client certificate. */
  fetch: TestFetch
  stats(): OidcStats
  /** Revokes one access token, or every token issued so far. Resolves to how many were live. */
  revoke(token?: string): Promise<number>
  close(): Promise<void>
}

function agentFetch(agent: Agent): TestFetch {
  // Node's fetch takes an undici Dispatcher; the npm undici's Agent is one (same major version).
  return (input, init) => fetch(input, { ...init, dispatcher: agent } as RequestInit)
}

async function jwtClient(clientId: string, alg: 'RS256' | 'ES256'): Promise<JwtClient> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
  const keyId = `${clientId}-1`
  return {
    clientId,
    alg,
    keyId,
    privateJwk: { ...(await exportJWK(privateKey)), kid: keyId },
    privateKey: privateKey as CryptoKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid: keyId, alg, use: 'sig' },
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers })
  res.end(JSON.stringify(body))
}

/** Starts the server. Everything (keys, certificates, secrets) is fresh per call. */
export async function startOidc(): Promise<StartedOidc> {
  const ca = createCa('payment-auth e2e CA')
  const serverPem = ca.issue({
    subject: [
      ['O', 'payment-auth e2e'],
      ['CN', '127.0.0.1'],
    ],
    usage: 'serverAuth',
  })
  const tlsSubject: Array<[string, string]> = [
    ['O', 'payment-auth e2e'],
    ['CN', 'tls-client'],
  ]
  const tlsPem = ca.issue({ subject: tlsSubject, usage: 'clientAuth' })
  const rogue = createCa('rogue CA').issue({ subject: tlsSubject, usage: 'clientAuth' })
  const subjectDn = rfc4514(new X509Certificate(tlsPem.cert).subject)

  const [jwtRs256, jwtEs256, signing] = await Promise.all([
    jwtClient('e2e-jwt-rs256', 'RS256'),
    jwtClient('e2e-jwt-es256', 'ES256'),
    generateKeyPair('RS256', { extractable: true }),
  ])
  const basic = { clientId: 'e2e-basic', clientSecret: `e2e_secret_${crypto.randomUUID()}` }

  const stats: OidcStats = { tokenCalls: 0, issued: {}, errors: {}, resourceCalls: 0, resource401s: 0 }
  const issuedTokens = new Set<string>()
  let provider: Provider | undefined

  async function resource(req: IncomingMessage, res: ServerResponse, url: URL, audience: string): Promise<void> {
    stats.resourceCalls++
    const match = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
    const token = match?.[1] ? await provider!.ClientCredentials.find(match[1]) : undefined
    if (!token || token.isExpired || token.aud !== audience) {
      stats.resource401s++
      send(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' })
      return
    }
    send(res, 200, { ok: true, method: req.method, path: url.pathname, client: token.clientId, scope: token.scope ?? null })
  }

  const server = createServer(
    { key: serverPem.key, cert: serverPem.cert, ca: [ca.cert], requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const url = new URL(req.url ?? '/', issuer)
      if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
        resource(req, res, url, `${issuer}/api`).catch(() => send(res, 500, { error: 'server_error' }))
        return
      }
      if (url.pathname === '/token') stats.tokenCalls++
      provider!.callback()(req, res)
    },
  )
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  const resourceIndicator = `${issuer}/api`

  const clients: ClientMetadata[] = [
    { client_id: basic.clientId, client_secret: basic.clientSecret, token_endpoint_auth_method: 'client_secret_basic' },
    ...[jwtRs256, jwtEs256].map((c) => ({
      client_id: c.clientId,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: c.alg,
      jwks: { keys: [c.publicJwk] },
    })),
    { client_id: 'e2e-tls', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: subjectDn },
  ].map((c) => ({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [], ...c }) as ClientMetadata)

  const configuration: Configuration = {
    adapter: memoryAdapter(),
    clients,
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth'],
    jwks: { keys: [{ ...(await exportJWK(signing.privateKey)), kid: 'e2e-signing', alg: 'RS256', use: 'sig' }] as never },
    cookies: { keys: [crypto.randomUUID()] },
    ttl: { ClientCredentials: OIDC_TOKEN_TTL },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resourceIndicator,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== resourceIndicator) throw new errors.InvalidTarget()
          return { scope: OIDC_RESOURCE_SCOPES, audience: resourceIndicator, accessTokenTTL: OIDC_TOKEN_TTL, accessTokenFormat: 'opaque' }
        },
      },
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        certificateBoundAccessTokens: false,
        getCertificate: (ctx: KoaContextWithOIDC) => (ctx.socket as TLSSocket).getPeerX509Certificate(),
        certificateAuthorized: (ctx: KoaContextWithOIDC) => (ctx.socket as TLSSocket).authorized,
        certificateSubjectMatches: (ctx: KoaContextWithOIDC, property: string, expected: string) => {
          const cert = (ctx.socket as TLSSocket).getPeerX509Certificate()
          return property === 'tls_client_auth_subject_dn' && cert !== undefined && rfc4514(cert.subject) === expected
        },
      },
    },
  }
  provider = new Provider(issuer, configuration)
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const id = ctx.oidc.client?.clientId ?? 'unknown'
    stats.issued[id] = (stats.issued[id] ?? 0) + 1
  })
  provider.on('grant.error', (_ctx: KoaContextWithOIDC, error: { error?: string }) => {
    const code = error.error ?? 'unknown'
    stats.errors[code] = (stats.errors[code] ?? 0) + 1
  })
  provider.on('client_credentials.saved', (token: { jti: string }) => issuedTokens.add(token.jti))

  const agents = {
    plain: new Agent({ connect: { ca: ca.cert } }),
    tls: new Agent({ connect: { ca: ca.cert, cert: tlsPem.cert, key: tlsPem.key } }),
  }

  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    resourceUrl: `${issuer}/api/payments`,
    resource: resourceIndicator,
    ca: ca.cert,
    clients: {
      basic,
      jwtRs256,
      jwtEs256,
      tls: { clientId: 'e2e-tls', subjectDn, cert: tlsPem.cert, key: tlsPem.key, rogue, fetch: agentFetch(agents.tls) },
    },
    fetch: agentFetch(agents.plain),
    stats: () => structuredClone(stats),
    async revoke(value) {
      let revoked = 0
      for (const id of value === undefined ? [...issuedTokens] : [value]) {
        const token = await provider!.ClientCredentials.find(id)
        if (token) {
          await token.destroy()
          revoked++
        }
      }
      return revoked
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await Promise.all([agents.plain.close(), agents.tls.close()])
    },
  }
}

/**
 * From a provider's name to the client the edge holds for it: the `@payment-auth/ky` dialect
 * built with the credentials from Wrangler secrets.
 *
 * Secret names: `<NAME>_CLIENT_ID` / `<NAME>_CLIENT_SECRET`, or `<NAME>_API_KEY` /
 * `<NAME>_API_SECRET` for the stablelink dialect, where `<NAME>` is the provider's name in
 * upper case with `-` as `_` (`stablelink` -> `STABLELINK_API_KEY`).
 */
import { abbeycross, oauth2, stablelink, stonex, type Provider } from '@payment-auth/ky'
import { ConfigError, type Config, type ProviderConfig } from './config.ts'
import { EdgeError } from './errors.ts'

/** One provider client and scope, resolved. */
export interface ProviderClient {
  /** The provider's name in `PROVIDERS`, e.g. `stablelink`. */
  name: string
  config: ProviderConfig
  /** Normalised scope (`'read write'`), or undefined. */
  scope: string | undefined
  clientId: string
  /** The `@payment-auth/ky` dialect with the credentials; its `key` names the token everywhere it is cached. */
  dialect: Provider
  /** The mTLS certificate binding's fetch (tls_client_auth): for the token endpoint and the proxied API calls. */
  fetch?: ((input: Request | string | URL, init?: RequestInit) => Promise<Response>) | undefined
}

/** The names of a provider's secrets: its client id, and its secret or private key (none for tls_client_auth). */
export function secretNames(name: string, config: ProviderConfig): { id: string; credential?: string } {
  const prefix = name.toUpperCase().replace(/-/g, '_')
  if (config.dialect === 'stablelink') return { id: `${prefix}_API_KEY`, credential: `${prefix}_API_SECRET` }
  const method = config.dialect === 'oauth2' ? config.authMethod : undefined
  if (method === 'tls_client_auth') return { id: `${prefix}_CLIENT_ID` }
  if (method === 'private_key_jwt') return { id: `${prefix}_CLIENT_ID`, credential: `${prefix}_PRIVATE_KEY` }
  return { id: `${prefix}_CLIENT_ID`, credential: `${prefix}_CLIENT_SECRET` }
}

function secret(env: Env, name: string): string {
  const value = env[name]
  if (typeof value !== 'string' || value === '') throw new ConfigError(`the secret ${name} is not set`)
  return value
}

/** A private JWK kept as a Wrangler secret (its JSON). */
function privateJwk(env: Env, name: string): JsonWebKey {
  try {
    const jwk = JSON.parse(secret(env, name)) as unknown
    if (typeof jwk === 'object' && jwk !== null) return jwk as JsonWebKey
  } catch (error) {
    if (error instanceof ConfigError) throw error
  }
  throw new ConfigError(`the secret ${name} must be a private JWK (JSON)`)
}

function buildDialect(env: Env, config: ProviderConfig, names: { id: string; credential?: string }, scope: string | undefined): Provider {
  const id = secret(env, names.id)
  const key = () => secret(env, names.credential!)
  switch (config.dialect) {
    case 'stablelink':
      return stablelink({ baseUrl: config.baseUrl, apiKey: id, apiSecret: key() })
    case 'oauth2': {
      const method = config.authMethod
      const credentials =
        method === 'tls_client_auth'
          ? {}
          : method === 'private_key_jwt'
            ? { privateKey: privateJwk(env, names.credential!), ...(config.keyId !== undefined && { keyId: config.keyId }) }
            : { clientSecret: key() }
      return oauth2({
        tokenUrl: config.tokenUrl,
        clientId: id,
        ...credentials,
        ...(scope ? { scope } : {}),
        ...(method ? { authMethod: method } : {}),
      })
    }
    case 'stonex':
      return stonex({ baseUrl: config.baseUrl, clientId: id, clientSecret: key() })
    case 'abbeycross':
      return abbeycross({ baseUrl: config.baseUrl, clientId: id, clientSecret: key() })
  }
}

/** The fetch of the provider's mTLS certificate binding, when it has one: it presents the client certificate. */
function certificateFetch(env: Env, config: ProviderConfig): ProviderClient['fetch'] {
  const name = config.dialect === 'oauth2' ? config.mtlsBinding : undefined
  if (name === undefined) return undefined
  const binding = env[name] as { fetch?: unknown } | undefined
  if (typeof binding?.fetch !== 'function') throw new ConfigError(`the mTLS certificate binding ${name} is not configured`)
  const { fetch } = binding as Fetcher
  return (input, init) => fetch.call(binding, input, init)
}

/**
 * The clients built in this isolate, by `env`, provider settings and scope: building one reads the
 * secrets and has the dialect check its options, so it happens once, not on every request.
 */
const built = new WeakMap<object, WeakMap<ProviderConfig, Map<string, ProviderClient>>>()

/** Resolves a configured provider and scope into the client the edge acts as. */
export function providerClient(env: Env, name: string, config: ProviderConfig, scope: string | undefined): ProviderClient {
  let byConfig = built.get(env)
  if (!byConfig) built.set(env, (byConfig = new WeakMap()))
  let byScope = byConfig.get(config)
  if (!byScope) byConfig.set(config, (byScope = new Map()))
  const id = `${name} ${scope ?? ''}`
  let client = byScope.get(id)
  if (!client) byScope.set(id, (client = buildClient(env, name, config, scope)))
  return client
}

function buildClient(env: Env, name: string, config: ProviderConfig, scope: string | undefined): ProviderClient {
  const names = secretNames(name, config)
  const clientId = secret(env, names.id)
  const dialect = buildDialect(env, config, names, scope)
  const fetch = certificateFetch(env, config)
  return fetch ? { name, config, scope, clientId, dialect, fetch } : { name, config, scope, clientId, dialect }
}

/** The configured provider called `name`, or 404. */
export function configuredProvider(config: Config, name: string): ProviderConfig {
  const provider = config.providers.get(name)
  if (!provider) throw new EdgeError(404, 'not_found', 'unknown provider')
  return provider
}

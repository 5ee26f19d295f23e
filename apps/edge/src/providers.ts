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
}

/** The names of a provider's two secrets. */
export function secretNames(name: string, config: ProviderConfig): [id: string, secret: string] {
  const prefix = name.toUpperCase().replace(/-/g, '_')
  return config.dialect === 'stablelink'
    ? [`${prefix}_API_KEY`, `${prefix}_API_SECRET`]
    : [`${prefix}_CLIENT_ID`, `${prefix}_CLIENT_SECRET`]
}

function secret(env: Env, name: string): string {
  const value = env[name]
  if (typeof value !== 'string' || value === '') throw new ConfigError(`the secret ${name} is not set`)
  return value
}

function buildDialect(config: ProviderConfig, id: string, key: string, scope: string | undefined): Provider {
  switch (config.dialect) {
    case 'stablelink':
      return stablelink({ baseUrl: config.baseUrl, apiKey: id, apiSecret: key })
    case 'oauth2':
      return oauth2({
        tokenUrl: config.tokenUrl,
        clientId: id,
        clientSecret: key,
        ...(scope ? { scope } : {}),
        ...(config.authMethod ? { authMethod: config.authMethod } : {}),
      })
    case 'stonex':
      return stonex({ baseUrl: config.baseUrl, clientId: id, clientSecret: key })
    case 'abbeycross':
      return abbeycross({ baseUrl: config.baseUrl, clientId: id, clientSecret: key })
  }
}

/** Resolves a configured provider and scope into the client the edge acts as. */
export function providerClient(env: Env, name: string, config: ProviderConfig, scope: string | undefined): ProviderClient {
  const [idName, secretName] = secretNames(name, config)
  const clientId = secret(env, idName)
  const dialect = buildDialect(config, clientId, secret(env, secretName), scope)
  return { name, config, scope, clientId, dialect }
}

/** The configured provider called `name`, or 404. */
export function configuredProvider(config: Config, name: string): ProviderConfig {
  const provider = config.providers.get(name)
  if (!provider) throw new EdgeError(404, 'not_found', 'unknown provider')
  return provider
}

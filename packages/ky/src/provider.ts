import * as v from 'valibot'
import { processOAuthResponse } from './answer.ts'
import { redact } from './errors.ts'
import type { TokenSource } from './events.ts'
import { BaseUrlCredentials, boolean, checkOptions, func, object, oneOf, origins, string, text } from './options.ts'

/** What the token manager asks a provider for. `rejected` names the token an API just refused. */
export type TokenGrant = { type: 'client_credentials'; rejected?: string } | { type: 'refresh_token'; refreshToken: string }

/** A token answer after validation. Times are seconds. */
export interface TokenSet {
  accessToken: string
  /** Lifetime in seconds; when absent the manager reads a JWT's `exp` (or falls back to 300 s). */
  expiresIn?: number
  refreshToken?: string
  refreshExpiresIn?: number
  scope?: string
  /**
   * When the token was first issued (epoch ms), for a token relayed by a cache or an authority:
   * its margins then count from its full lifetime, not from the life left at receipt.
   */
  issuedAt?: number
}

/**
 * A provider dialect: how to build a token request and how to process its answer
 * (the split oauth4webapi makes). Build one with a shipped factory or `defineProvider`.
 */
export interface Provider {
  /** Shown in errors and events, e.g. `stablelink`. */
  readonly name: string
  /** Cache identity: provider, endpoint, client id and scope. Never a secret. */
  readonly key: string
  /** Origins the token may be sent to by default. */
  readonly origins: readonly string[]
  /** Whether `buildTokenRequest` understands `{type: 'refresh_token'}`. */
  readonly refreshable: boolean
  /** Where its tokens come from, for telemetry: the provider itself (`network`, the default) or the edge Worker. */
  readonly source?: Exclude<TokenSource, 'store'>
  buildTokenRequest(grant: TokenGrant): Request | Promise<Request>
  processTokenResponse(response: Response): Promise<TokenSet>
  /** Removes this provider's secrets from a text (for causes and logs). */
  redact(text: string): string
}

export interface ProviderDefinition {
  name: string
  /** Cache identity without secrets; default: `name`. Include the client id and scope. */
  key?: string
  origins?: readonly string[]
  /** Values to scrub from any error text (client secrets, API keys). */
  secrets?: readonly (string | undefined)[]
  refreshable?: boolean
  source?: Provider['source']
  buildTokenRequest: Provider['buildTokenRequest']
  /** Default: an RFC 6749 answer, errors mapped by status and `error`. */
  processTokenResponse?: (response: Response, provider: Provider) => Promise<TokenSet>
}

const Definition = object({
  name: text,
  key: v.optional(text),
  origins: v.optional(origins),
  secrets: v.optional(v.array(v.optional(string), 'must be an array of strings')),
  refreshable: v.optional(boolean),
  source: v.optional(oneOf(['network', 'edge'], 'must be network or edge')),
  buildTokenRequest: func,
  processTokenResponse: v.optional(func),
})

/**
 * Adds a dialect payment-auth does not ship.
 *
 * @example
 * ```ts
 * const acme = defineProvider({
 *   name: 'acme',
 *   key: `acme:${clientId}`,
 *   origins: ['https://api.acme.test'],
 *   secrets: [clientSecret],
 *   buildTokenRequest: () =>
 *     new Request('https://auth.acme.test/token', {
 *       method: 'POST',
 *       headers: { 'content-type': 'application/json' },
 *       body: JSON.stringify({ clientId, clientSecret }),
 *     }),
 * })
 * ```
 */
export function defineProvider(definition: ProviderDefinition): Provider {
  checkOptions('defineProvider', Definition, definition)
  const secrets = (definition.secrets ?? []).filter((s): s is string => typeof s === 'string')
  const process = definition.processTokenResponse ?? processOAuthResponse
  const provider: Provider = {
    name: definition.name,
    key: definition.key ?? definition.name,
    origins: (definition.origins ?? []).map((o) => new URL(o).origin),
    refreshable: definition.refreshable ?? false,
    ...(definition.source && { source: definition.source }),
    buildTokenRequest: definition.buildTokenRequest,
    processTokenResponse: (response) => process(response, provider),
    redact: (text) => redact(text, secrets),
  }
  return provider
}

/** `{baseUrl}` with trailing slashes trimmed (any path kept), followed by the documented path. */
export function joinUrl(baseUrl: string, path: string): string {
  return baseUrl.replace(/\/+$/, '') + path
}

/** The options of a dialect whose token endpoint takes JSON `{client_id, client_secret}` under `baseUrl` (StoneX, AbbeyCross). */
export interface BaseUrlCredentialsOptions {
  /** e.g. `https://api.sandbox.payments.stonex.com`; any path is kept. */
  baseUrl: string
  clientId: string
  clientSecret: string
  /** The API's base URL when it is not on `baseUrl`'s origin: its origin is where the token may be sent by default. */
  apiBaseUrl?: string
}

/** A dialect that POSTs JSON `{client_id, client_secret}` to `{baseUrl}{path}` (StoneX, AbbeyCross). */
export function jsonCredentialsProvider(
  name: string,
  path: string,
  options: BaseUrlCredentialsOptions,
  processTokenResponse?: ProviderDefinition['processTokenResponse'],
): Provider {
  const { baseUrl, clientId, clientSecret, apiBaseUrl } = checkOptions(name, BaseUrlCredentials, options)
  const url = joinUrl(baseUrl, path)
  return defineProvider({
    name,
    key: `${name} ${url} ${clientId}`,
    origins: [apiBaseUrl ?? baseUrl],
    secrets: [clientSecret],
    buildTokenRequest: () =>
      new Request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ client_id: clientId, client_secret: clientSecret }),
      }),
    ...(processTokenResponse && { processTokenResponse }),
  })
}

/** The shape every provider module implements. */
import type { ProviderState, SandboxState } from '../state.ts'
import type { SandboxProvider } from '../types.ts'

/** One provider dialect: where its token endpoint and its API live, and how it answers. */
export interface Dialect {
  provider: SandboxProvider
  /**
   * First path segment of the token route (default: the provider's name). A provider whose
   * token endpoint and API live on two origins mounts them on two segments, e.g. checkout's
   * `/checkout-access` and `/checkout-api`.
   */
  tokenMount?: string
  /** Token endpoint path below the token mount, e.g. `/o/token/`. Matched with or without a trailing slash. */
  tokenPath: string
  /** First path segment of the protected resources (default: the provider's name). */
  apiMount?: string
  /**
   * Whether a path below the API mount is a protected resource (the token route is matched
   * first). Default: `/api/<anything>`.
   */
  isResourcePath?(below: string): boolean
  /** The grant type a token request asks for (for `byGrant`); must not consume `request`'s body. */
  grantOf(request: Request): Promise<string>
  /** Answers a token request (no faults involved: the caller handles those). */
  handleToken(state: SandboxState, p: ProviderState, request: Request): Promise<Response>
  /** A valid-looking success answer that issues nothing, used by the 'truncated' fault. */
  sampleAnswer(state: SandboxState, p: ProviderState): Promise<Record<string, unknown>>
}

/** The default {@link Dialect.isResourcePath}: `/api/<anything>`. */
export function isApiPath(below: string): boolean {
  return below.startsWith('/api/') && below.length > '/api/'.length
}

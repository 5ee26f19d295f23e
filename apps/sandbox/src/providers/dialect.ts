/** The shape every provider module implements. */
import type { ProviderState, SandboxState } from '../state.ts'
import type { SandboxProvider } from '../types.ts'

/** One provider dialect: where its token endpoint lives and how it answers. */
export interface Dialect {
  provider: SandboxProvider
  /** Token endpoint path below `/<provider>`, e.g. `/o/token/`. Matched with or without a trailing slash. */
  tokenPath: string
  /** The grant type a token request asks for (for `byGrant`); must not consume `request`'s body. */
  grantOf(request: Request): Promise<string>
  /** Answers a token request (no faults involved: the caller handles those). */
  handleToken(state: SandboxState, p: ProviderState, request: Request): Promise<Response>
  /** A valid-looking success answer that issues nothing, used by the 'truncated' fault. */
  sampleAnswer(state: SandboxState, p: ProviderState): Promise<Record<string, unknown>>
}

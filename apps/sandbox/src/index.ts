/**
 * `@payment-auth/sandbox`: an offline emulator of six payment providers'
 * token endpoints and protected resources, as a plain
 * `fetch(request) => Promise<Response>` handler built on Web APIs only. It
 * runs in-process in tests and under Node (`serve.ts`), Deno, Bun or
 * `wrangler dev`.
 *
 * ```ts
 * const sandbox = createSandbox()
 * const res = await sandbox.fetch(`${SANDBOX_ORIGIN}/oauth2/o/token/`, { method: 'POST', ... })
 * sandbox.control.inject('oauth2', { fault: '503', retryAfter: 2 })
 * ```
 *
 * Routes (any origin; routing is by path):
 * - `POST /stablelink/user/auth/oauth2/token`, `POST /oauth2/o/token/`,
 *   `POST /stonex/api/v/authentication`, `POST /abbeycross/v1/oauth/token`,
 *   `POST /paypal/v1/oauth2/token`, `POST /checkout-access/connect/token`;
 * - any method on `/<provider>/api/<anything>`, `/paypal/v<n>/<anything>` and
 *   `/checkout-api/<anything>` (Bearer-protected echo);
 * - `GET /healthz`;
 * - `/_control/*` (see `control.ts`).
 */
import { createControl, handleControlRequest } from './control.ts'
import { json, methodNotAllowed } from './http.ts'
import { abbeycrossDialect } from './providers/abbeycross.ts'
import { checkoutDialect } from './providers/checkout.ts'
import { type Dialect, isApiPath } from './providers/dialect.ts'
import { oauth2Dialect } from './providers/oauth2.ts'
import { paypalDialect } from './providers/paypal.ts'
import { stablelinkDialect } from './providers/stablelink.ts'
import { stonexDialect } from './providers/stonex.ts'
import { handleResource } from './resources.ts'
import { createState, type SandboxState } from './state.ts'
import { handleTokenRoute } from './tokens.ts'
import { SANDBOX_ORIGIN, SANDBOX_PROVIDERS, type Sandbox, type SandboxControl, type SandboxOptions, type SandboxProvider } from './types.ts'

export {
  SANDBOX_CREDENTIALS,
  SANDBOX_FAULTS,
  SANDBOX_ORIGIN,
  SANDBOX_PROVIDERS,
  type Fault,
  type Sandbox,
  type SandboxCasing,
  type SandboxControl,
  type SandboxFaultSpec,
  type SandboxOptions,
  type SandboxProvider,
  type SandboxProviderConfig,
  type SandboxStats,
} from './types.ts'
export type { ResourceEcho } from './resources.ts'

/** The dialect of each provider. */
const DIALECTS: Record<SandboxProvider, Dialect> = {
  stablelink: stablelinkDialect,
  oauth2: oauth2Dialect,
  stonex: stonexDialect,
  abbeycross: abbeycrossDialect,
  paypal: paypalDialect,
  checkout: checkoutDialect,
}

/** Path without trailing slashes (but `/` stays `/`). */
function trimSlash(path: string): string {
  return path.replace(/\/+$/, '') || '/'
}

function notFound(path: string): Response {
  return json({ error: 'not_found', error_description: `no route for ${path}` }, 404)
}

async function route(state: SandboxState, control: SandboxControl, request: Request): Promise<Response> {
  const path = new URL(request.url).pathname
  if (trimSlash(path) === '/healthz') {
    if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed('GET')
    return json({ ok: true })
  }
  if (path === '/_control' || path.startsWith('/_control/')) return handleControlRequest(state, control, request)

  const [, first = '', ...rest] = path.split('/')
  const below = `/${rest.join('/')}`
  const dialects = SANDBOX_PROVIDERS.map((name) => DIALECTS[name])
  // Token routes first: stonex's lives under /stonex/api/, paypal's under /paypal/v1/.
  for (const dialect of dialects) {
    if ((dialect.tokenMount ?? dialect.provider) === first && trimSlash(below) === trimSlash(dialect.tokenPath)) {
      return handleTokenRoute(state, dialect, request)
    }
  }
  for (const dialect of dialects) {
    if ((dialect.apiMount ?? dialect.provider) === first && (dialect.isResourcePath ?? isApiPath)(below)) {
      return handleResource(state, dialect.provider, request)
    }
  }
  return notFound(path)
}

/** Turns `fetch` arguments into a `Request`; a bare path such as `/healthz` is resolved against {@link SANDBOX_ORIGIN}. */
function toRequest(input: RequestInfo | URL, init?: RequestInit): Request {
  if (typeof input === 'string' && input.startsWith('/')) return new Request(`${SANDBOX_ORIGIN}${input}`, init)
  return new Request(input, init)
}

/**
 * Creates an independent sandbox: its own clients (the {@link SANDBOX_CREDENTIALS}),
 * tokens, counters, configuration and faults.
 *
 * `fetch` never rejects except for the injected 'network' fault, which rejects
 * with `TypeError('fetch failed')` like a refused connection, and when the
 * request's signal aborts during an artificial delay.
 */
export function createSandbox(options: SandboxOptions = {}): Sandbox {
  const now = options.now ?? Date.now
  const tokenLifetime = options.tokenLifetime
  if (tokenLifetime !== undefined && (typeof tokenLifetime !== 'number' || !(tokenLifetime > 0))) {
    throw new TypeError('tokenLifetime must be a number > 0')
  }
  const state = createState(now, tokenLifetime)
  const control = createControl(state)
  return {
    fetch: (input, init) => {
      let request: Request
      try {
        request = toRequest(input, init)
      } catch (error) {
        return Promise.reject(error)
      }
      return route(state, control, request)
    },
    control,
  }
}

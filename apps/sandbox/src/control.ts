/**
 * The control surface of a sandbox: the in-process {@link SandboxControl}
 * object and the same operations over HTTP under `/_control/`.
 */
import { isRecord, json, methodNotAllowed, readJson } from './http.ts'
import { emptyStats, liveTokens, resetState, revokeTokens, type ProviderConfig, type SandboxState } from './state.ts'
import {
  SANDBOX_FAULTS,
  SANDBOX_PROVIDERS,
  type SandboxControl,
  type SandboxFaultSpec,
  type SandboxProvider,
  type SandboxProviderConfig,
  type SandboxStats,
} from './types.ts'

function assertProvider(provider: unknown): asserts provider is SandboxProvider {
  if (!SANDBOX_PROVIDERS.includes(provider as SandboxProvider)) {
    throw new TypeError(`unknown provider: ${String(provider)} (expected one of ${SANDBOX_PROVIDERS.join(', ')})`)
  }
}

function assertNumber(name: string, value: unknown, min: number, exclusive: boolean): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (exclusive && value === min)) {
    throw new TypeError(`${name} must be a number ${exclusive ? '>' : '>='} ${min}`)
  }
}

function assertBoolean(name: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean`)
}

/** The providers that accept `private_key_jwt` client assertions. */
const ASSERTION_PROVIDERS: readonly SandboxProvider[] = ['oauth2']
/** JWK members that only a private (or symmetric) key has. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

/** The `kid` of a JWK (DOM's `JsonWebKey` type does not declare it). */
function kidOf(jwk: JsonWebKey): string | undefined {
  return (jwk as { kid?: string }).kid
}

/** Validates a public JWK for `addClientKey` (never echoing key material in the error). */
function assertPublicJwk(jwk: unknown): asserts jwk is JsonWebKey {
  if (!isRecord(jwk) || typeof jwk['kty'] !== 'string') throw new TypeError('jwk must be a JWK object with a kty')
  if (!['RSA', 'EC', 'OKP'].includes(jwk['kty'])) throw new TypeError('jwk kty must be RSA, EC or OKP')
  if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) {
    throw new TypeError('jwk must be a PUBLIC key: register the public half only')
  }
  if (jwk['kid'] !== undefined && typeof jwk['kid'] !== 'string') throw new TypeError('jwk kid must be a string')
}

const CONFIG_KEYS = ['tokenLifetime', 'refreshLifetime', 'tokenLatencyMs', 'omitExpiresIn', 'expiresInAsString', 'casing']

/** Validates a configuration change and applies it to `config` (all or nothing). */
function applyConfig(config: ProviderConfig, change: Record<string, unknown>): void {
  for (const key of Object.keys(change)) {
    if (!CONFIG_KEYS.includes(key)) throw new TypeError(`unknown configuration key: ${key}`)
  }
  const next: ProviderConfig = { ...config }
  const { tokenLifetime, refreshLifetime, tokenLatencyMs, omitExpiresIn, expiresInAsString, casing } = change
  if (tokenLifetime !== undefined) {
    assertNumber('tokenLifetime', tokenLifetime, 0, true)
    next.tokenLifetime = tokenLifetime
  }
  if (refreshLifetime !== undefined) {
    assertNumber('refreshLifetime', refreshLifetime, 0, true)
    next.refreshLifetime = refreshLifetime
  }
  if (tokenLatencyMs !== undefined) {
    assertNumber('tokenLatencyMs', tokenLatencyMs, 0, false)
    next.tokenLatencyMs = tokenLatencyMs
  }
  if (omitExpiresIn !== undefined) {
    assertBoolean('omitExpiresIn', omitExpiresIn)
    next.omitExpiresIn = omitExpiresIn
  }
  if (expiresInAsString !== undefined) {
    assertBoolean('expiresInAsString', expiresInAsString)
    next.expiresInAsString = expiresInAsString
  }
  if (casing !== undefined) {
    if (casing !== 'snake' && casing !== 'camel') throw new TypeError("casing must be 'snake' or 'camel'")
    next.casing = casing
  }
  Object.assign(config, next)
}

function sumStats(all: SandboxStats[], maxConcurrent: number): SandboxStats {
  const total = emptyStats()
  for (const stats of all) {
    total.tokenCalls += stats.tokenCalls
    total.resourceCalls += stats.resourceCalls
    total.resource401s += stats.resource401s
    for (const [grant, count] of Object.entries(stats.byGrant)) total.byGrant[grant] = (total.byGrant[grant] ?? 0) + count
  }
  total.maxConcurrentTokenCalls = maxConcurrent
  return total
}

/** Creates the in-process control object of a sandbox. */
export function createControl(state: SandboxState): SandboxControl {
  return {
    stats(provider) {
      if (provider === undefined) {
        return sumStats(
          SANDBOX_PROVIDERS.map((name) => state.providers[name].stats),
          state.maxInFlight,
        )
      }
      assertProvider(provider)
      const stats = state.providers[provider].stats
      return { ...stats, byGrant: { ...stats.byGrant } }
    },
    reset() {
      resetState(state)
    },
    revoke(provider, accessToken) {
      assertProvider(provider)
      if (accessToken !== undefined && typeof accessToken !== 'string') throw new TypeError('accessToken must be a string')
      revokeTokens(state, state.providers[provider], accessToken)
    },
    configure(provider, config) {
      assertProvider(provider)
      if (!isRecord(config)) throw new TypeError('configuration must be an object')
      applyConfig(state.providers[provider].config, config as Record<string, unknown>)
    },
    inject(provider, spec) {
      assertProvider(provider)
      if (!isRecord(spec)) throw new TypeError('fault must be an object')
      const { fault, count = 1, retryAfter, delayMs } = spec
      if (!SANDBOX_FAULTS.includes(fault)) {
        throw new TypeError(`unknown fault: ${String(fault)} (expected one of ${SANDBOX_FAULTS.join(', ')})`)
      }
      if (!Number.isInteger(count) || count < 1) throw new TypeError('count must be an integer >= 1')
      if (retryAfter !== undefined) assertNumber('retryAfter', retryAfter, 0, false)
      if (delayMs !== undefined) assertNumber('delayMs', delayMs, 0, false)
      state.providers[provider].faults.push({
        fault,
        remaining: count,
        ...(retryAfter !== undefined ? { retryAfter } : {}),
        ...(delayMs !== undefined ? { delayMs } : {}),
      })
    },
    addClient(provider, id, secret) {
      assertProvider(provider)
      if (typeof id !== 'string' || id === '') throw new TypeError('client id must be a non-empty string')
      if (typeof secret !== 'string' || secret === '') throw new TypeError('client secret must be a non-empty string')
      state.providers[provider].clients.set(id, secret)
    },
    addClientKey(provider, id, jwk) {
      assertProvider(provider)
      if (!ASSERTION_PROVIDERS.includes(provider)) {
        throw new TypeError(`${provider} does not accept private_key_jwt (only ${ASSERTION_PROVIDERS.join(', ')})`)
      }
      if (typeof id !== 'string' || id === '') throw new TypeError('client id must be a non-empty string')
      assertPublicJwk(jwk)
      const keys = state.providers[provider].clientKeys
      const kid = kidOf(jwk)
      const kept = (keys.get(id) ?? []).filter((key) => kid === undefined || kidOf(key) !== kid)
      keys.set(id, [...kept, { ...jwk }])
    },
    liveTokens(provider) {
      assertProvider(provider)
      return liveTokens(state, state.providers[provider])
    },
  }
}

function badRequest(error: unknown): Response {
  const description = error instanceof Error ? error.message : String(error)
  return json({ error: 'bad_request', error_description: description }, 400)
}

async function readObject(request: Request): Promise<Record<string, unknown>> {
  const body = await readJson(request)
  if (!body.ok || !isRecord(body.value)) throw new TypeError('the body must be a JSON object')
  return body.value
}

function optionalProvider(url: URL): SandboxProvider | undefined {
  const provider = url.searchParams.get('provider')
  if (provider === null || provider === '') return undefined
  assertProvider(provider)
  return provider
}

/**
 * Handles `/_control/*`: `GET stats?provider=`, `POST reset`, `POST revoke`,
 * `POST configure`, `POST inject`, `GET tokens?provider=`, `POST clients`, `POST keys`.
 * Bad input answers 400 JSON.
 */
export async function handleControlRequest(state: SandboxState, control: SandboxControl, request: Request): Promise<Response> {
  const url = new URL(request.url)
  const action = url.pathname.replace(/^\/_control\/?/, '').replace(/\/$/, '')
  const get = request.method === 'GET' || request.method === 'HEAD'
  const post = request.method === 'POST'
  /** A POST `{provider, ...rest}` for one provider: `act` does it and says what to answer besides `{ok, provider}`. */
  const providerPost = async (act: (provider: SandboxProvider, rest: Record<string, unknown>) => Record<string, unknown>) => {
    if (!post) return methodNotAllowed('POST')
    const { provider, ...rest } = await readObject(request)
    assertProvider(provider)
    return json({ ok: true, provider, ...act(provider, rest) })
  }
  try {
    switch (action) {
      case 'stats':
        if (!get) return methodNotAllowed('GET')
        return json(control.stats(optionalProvider(url)))
      case 'tokens': {
        if (!get) return methodNotAllowed('GET')
        const provider = optionalProvider(url)
        if (provider === undefined) throw new TypeError('the provider query parameter is required')
        return json({ provider, tokens: control.liveTokens(provider) })
      }
      case 'reset':
        if (!post) return methodNotAllowed('POST')
        control.reset()
        return json({ ok: true })
      case 'revoke': {
        if (!post) return methodNotAllowed('POST')
        const { provider, accessToken } = await readObject(request)
        assertProvider(provider)
        if (accessToken !== undefined && typeof accessToken !== 'string') {
          throw new TypeError('accessToken must be a string')
        }
        const revoked = revokeTokens(state, state.providers[provider], accessToken)
        return json({ ok: true, revoked })
      }
      case 'configure':
        return await providerPost((provider, config) => {
          control.configure(provider, config as SandboxProviderConfig)
          return { config: state.providers[provider].config }
        })
      case 'inject':
        return await providerPost((provider, spec) => {
          control.inject(provider, spec as unknown as SandboxFaultSpec)
          return { queued: state.providers[provider].faults.map((f) => ({ fault: f.fault, remaining: f.remaining })) }
        })
      case 'clients':
        return await providerPost((provider, { id, secret }) => {
          control.addClient(provider, id as string, secret as string)
          return { id }
        })
      case 'keys':
        return await providerPost((provider, { id, jwk }) => {
          control.addClientKey(provider, id as string, jwk as JsonWebKey)
          return { id, keys: state.providers[provider].clientKeys.get(id as string)?.length ?? 0 }
        })
      default:
        return json({ error: 'not_found', error_description: `unknown control action: ${action}` }, 404)
    }
  } catch (error) {
    if (error instanceof TypeError) return badRequest(error)
    throw error
  }
}

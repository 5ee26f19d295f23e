/**
 * Helpers of the edge tests (workerd, vitest project `edge`). Every outbound fetch of the
 * Worker and its Durable Objects reaches one in-process sandbox, which the tests drive over
 * its HTTP control API (`/_control/*`) and whose counters are the side effects they count.
 */
// First: imported after `cloudflare:workers`, tsgo resolves `exports.default` before the main module's type is known.
import worker from '../src/index.ts'
import { createExecutionContext, reset, waitOnExecutionContext } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { SignJWT } from 'jose'
import { expect } from 'vitest'
import type { SandboxStats } from '@payment-auth/sandbox'
import { forgetRateLimits } from '../src/rate-limit.ts'
import { forgetJwks } from '../src/jwks.ts'
import { forgetCallers } from '../src/registry.ts'
import { clearIsolateCache } from '../src/tokens.ts'

export type Provider = 'stablelink' | 'oauth2' | 'stonex' | 'abbeycross'
export const PROVIDERS: readonly Provider[] = ['stablelink', 'oauth2', 'stonex', 'abbeycross']

/** The sample caller of wrangler.toml: all four providers, scopes `read write`. */
export const CALLER_KEY = 'pa_demo_caller_key_0001'
export const EDGE = 'http://edge.test'
const SANDBOX = 'http://sandbox.test'

export type { SandboxStats }

async function control(path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${SANDBOX}/_control/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) })
  if (!response.ok) throw new Error(`sandbox control ${path}: ${response.status} ${await response.text()}`)
  return response.json()
}

export const sandbox = {
  stats: (provider: Provider) => control(`stats?provider=${provider}`) as Promise<SandboxStats>,
  liveTokens: async (provider: Provider) => ((await control(`tokens?provider=${provider}`)) as { tokens: string[] }).tokens,
  reset: () => control('reset', {}),
  revoke: (provider: Provider, accessToken?: string) => control('revoke', { provider, accessToken }),
  configure: (provider: Provider, config: Record<string, unknown>) => control('configure', { provider, ...config }),
  inject: (provider: Provider, fault: Record<string, unknown>) => control('inject', { provider, ...fault }),
}

/** Nothing cached anywhere: sandbox, Durable Objects (memory and storage), KV, this isolate's L1, rate buckets and caller cache. */
export async function coldStart(): Promise<void> {
  await sandbox.reset()
  await reset() // deletes every Durable Object, instance and storage (after abortAllDurableObjects() it would not)
  const keys = await env.TOKENS.list()
  await Promise.all(keys.keys.map((k) => env.TOKENS.delete(k.name)))
  clearIsolateCache()
  forgetRateLimits()
  forgetCallers()
  forgetJwks()
}

export interface CallOptions {
  method?: string
  /** A JSON value, or a string sent as is. */
  body?: unknown
  /** The caller credential; `null` for none. Default: the sample caller's API key. */
  credential?: string | null
  headers?: Record<string, string>
}

export function request(path: string, { method = 'POST', body, credential = CALLER_KEY, headers = {} }: CallOptions = {}): Request {
  const h = new Headers(headers)
  if (credential !== null) h.set('authorization', `Bearer ${credential}`)
  if (body !== undefined && !h.has('content-type')) h.set('content-type', 'application/json')
  return new Request(`${EDGE}${path}`, {
    method,
    headers: h,
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
  })
}

/** The Worker as deployed with the root wrangler.toml. */
export function call(path: string, options?: CallOptions): Promise<Response> {
  return exports.default.fetch(request(path, options))
}

/** The Worker with some vars replaced (callers, rate limit, CORS): the Durable Object keeps the real env. */
export async function callWith(vars: Record<string, unknown>, req: Request): Promise<Response> {
  const ctx = createExecutionContext()
  const response = await worker.fetch(req as Request<unknown, IncomingRequestCfProperties>, { ...env, ...vars } as Env, ctx)
  await waitOnExecutionContext(ctx)
  return response
}

export const token = (provider: string, options: Omit<CallOptions, 'body'> & { scope?: string } = {}) =>
  call('/v1/token', { ...options, body: options.scope === undefined ? { provider } : { provider, scope: options.scope } })

export const invalidate = (provider: string, accessToken: string, scope?: string) =>
  call('/v1/token/invalidate', {
    body: scope === undefined ? { provider, access_token: accessToken } : { provider, access_token: accessToken, scope },
  })

export interface TokenAnswer {
  access_token: string
  token_type: string
  expires_in: number
}

export interface ErrorAnswer {
  error: string
  error_description?: string
}

export const json = <T>(response: Response) => response.json() as Promise<T>

/** SHA-256 hex of a string (what `CALLERS` stores for an API key). */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

export const JWT_ISSUER = 'https://auth.example.test'
export const JWT_AUDIENCE = 'payment-auth-edge'

/** A caller JWT signed HS256 with the test `JWT_SECRET`; every field can be overridden. */
export async function callerJwt(
  claims: Record<string, unknown> = {},
  {
    secret = env.JWT_SECRET as string,
    issuer = JWT_ISSUER,
    audience = JWT_AUDIENCE,
    expiresIn = '5m' as string | number | null,
    alg = 'HS256',
  } = {},
): Promise<string> {
  const jwt = new SignJWT({ providers: ['oauth2', 'stonex'], scope: 'read', ...claims })
    .setProtectedHeader({ alg })
    .setSubject('test-user')
    .setIssuedAt()
  if (issuer) jwt.setIssuer(issuer)
  if (audience) jwt.setAudience(audience)
  if (expiresIn !== null) jwt.setExpirationTime(expiresIn)
  return jwt.sign(new TextEncoder().encode(secret))
}

/** Every secret value the Worker holds (provider credentials, the JWT key, the admin key, the token encryption keys). */
export function secrets(): string[] {
  const names = [
    'STABLELINK_API_SECRET',
    'OAUTH2_CLIENT_SECRET',
    'STONEX_CLIENT_SECRET',
    'ABBEYCROSS_CLIENT_SECRET',
    'JWT_SECRET',
    'ADMIN_KEY',
  ]
  const keys = String(env.TOKEN_ENCRYPTION_KEYS ?? '')
    .split(',')
    .map((entry) => entry.slice(entry.indexOf(':') + 1))
    .filter(Boolean)
  return [...names.map((name) => env[name] as string), ...keys]
}

/** Fails when `text` contains a secret, one of `tokens`, or a stack trace. */
export function assertLeaksNothing(text: string, tokens: readonly string[] = []): void {
  for (const value of [...secrets(), ...tokens]) {
    if (value && text.includes(value)) throw new Error(`the answer leaks a secret or token: ${text.slice(0, 200)}`)
  }
  if (/\bat .+:\d+:\d+/.test(text)) throw new Error(`the answer leaks a stack trace: ${text.slice(0, 200)}`)
}

/** An RFC 6749 error answer: `status`, `{error, error_description}`, never cached, leaking nothing. */
export async function expectErrorAnswer(response: Response, status: number, error: string): Promise<void> {
  expect(response.status).toBe(status)
  expect(response.headers.get('cache-control')).toBe('no-store')
  const text = await response.text()
  assertLeaksNothing(text)
  const body = JSON.parse(text) as ErrorAnswer
  expect(body.error).toBe(error)
  expect(typeof body.error_description).toBe('string')
}

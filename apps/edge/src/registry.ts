/**
 * The caller registry: callers created at run time over the admin routes (admin.ts), held by
 * one Durable Object (`CallerRegistry`, binding `REGISTRY`, name `callers`), so every change is
 * strongly consistent. It keeps, per caller, what it may use and the SHA-256 of its keys (a
 * key is shown once, at creation or rotation, and never stored).
 *
 * Isolates ask it for an API key that no static caller (`CALLERS` var) has, and remember the
 * answer, found or not, for `CALLER_CACHE_SECONDS` (default 30): a deleted caller, or a key past
 * its rotation overlap or its caller's `expiresAt`, is refused everywhere within that bound.
 * A cached answer never outlives the key's own end (`expiresAt`, end of the overlap).
 */
import { durationVar } from './config.ts'
import { DurableObject } from 'cloudflare:workers'
import * as v from 'valibot'
import type { Caller } from './callers.ts'
import { idempotencyHeader, ProxyRules, RequireIdempotencyKey } from './proxy-rules.ts'

export const DEFAULT_CALLER_CACHE_SECONDS = 30
export const DEFAULT_OVERLAP_SECONDS = 3600

const ProviderName = v.pipe(v.string(), v.regex(/^[a-z][a-z0-9_-]{0,62}$/))
const ScopeToken = v.pipe(v.string(), v.regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/))

/** What `POST /v1/admin/callers` takes. */
export const NewCaller = v.strictObject({
  id: v.pipe(v.string(), v.regex(/^[\w.:@-]{1,64}$/)),
  providers: v.pipe(v.array(ProviderName), v.maxLength(64)),
  scopes: v.optional(v.pipe(v.array(ScopeToken), v.maxLength(64)), []),
  proxy: v.pipe(ProxyRules, v.maxLength(100)),
  requireIdempotencyKey: RequireIdempotencyKey,
  rateLimitPerMinute: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000))),
  /** Epoch seconds or an ISO 8601 date: the caller's keys stop working then. */
  expiresAt: v.optional(
    v.pipe(
      v.union([v.pipe(v.number(), v.integer(), v.minValue(0)), v.pipe(v.string(), v.isoTimestamp())]),
      v.transform((t) => (typeof t === 'number' ? t * 1000 : Date.parse(t))),
    ),
  ),
})
export type NewCaller = v.InferOutput<typeof NewCaller>

interface StoredKey {
  sha256: string
  /** End of the rotation overlap (ms), for a replaced key. */
  notAfter?: number
}

interface StoredCaller extends Omit<NewCaller, 'expiresAt'> {
  expiresAt?: number | undefined
  keys: StoredKey[]
  createdAt: number
}

/** What a lookup answers: the caller and until when (ms) this key works, or nothing. */
export interface Found {
  caller: Omit<StoredCaller, 'keys'>
  until: number | undefined
}

const sha256Hex = async (text: string) =>
  [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('')

function newKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return `pa_${btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')}`
}

/** The registry: `caller:<id>` -> the caller, `key:<sha256>` -> its id. */
export class CallerRegistry extends DurableObject<Env> {
  async create(caller: NewCaller): Promise<{ id: string; key: string } | 'exists'> {
    if (await this.ctx.storage.get(`caller:${caller.id}`)) return 'exists'
    const key = newKey()
    const sha256 = await sha256Hex(key)
    const stored: StoredCaller = { ...caller, keys: [{ sha256 }], createdAt: Date.now() }
    await this.ctx.storage.put({ [`caller:${caller.id}`]: stored, [`key:${sha256}`]: caller.id })
    return { id: caller.id, key }
  }

  async rotate(id: string, overlapSeconds: number): Promise<{ id: string; key: string } | undefined> {
    const stored = await this.ctx.storage.get<StoredCaller>(`caller:${id}`)
    if (!stored) return undefined
    const now = Date.now()
    const end = now + overlapSeconds * 1000
    // Earlier keys end with this overlap at the latest; keys already past their end are forgotten.
    const kept: StoredKey[] = []
    const dropped: string[] = []
    for (const k of stored.keys) {
      const notAfter = Math.min(k.notAfter ?? end, end)
      if (notAfter > now) kept.push({ sha256: k.sha256, notAfter })
      else dropped.push(`key:${k.sha256}`)
    }
    const key = newKey()
    const sha256 = await sha256Hex(key)
    stored.keys = [...kept, { sha256 }]
    if (dropped.length > 0) await this.ctx.storage.delete(dropped)
    await this.ctx.storage.put({ [`caller:${id}`]: stored, [`key:${sha256}`]: id })
    return { id, key }
  }

  /** Deletes the caller; answers the SHA-256 of its keys (so the isolate that asked forgets them at once). */
  async remove(id: string): Promise<string[] | undefined> {
    const stored = await this.ctx.storage.get<StoredCaller>(`caller:${id}`)
    if (!stored) return undefined
    await this.ctx.storage.delete([`caller:${id}`, ...stored.keys.map((k) => `key:${k.sha256}`)])
    return stored.keys.map((k) => k.sha256)
  }

  /** The caller of the key with this SHA-256 (hex), if it works now. */
  async lookup(sha256: string): Promise<Found | undefined> {
    const id = await this.ctx.storage.get<string>(`key:${sha256}`)
    if (!id) return undefined
    const stored = await this.ctx.storage.get<StoredCaller>(`caller:${id}`)
    const key = stored?.keys.find((k) => k.sha256 === sha256)
    if (!stored || !key) return undefined
    const now = Date.now()
    const ends = [key.notAfter, stored.expiresAt].filter((t): t is number => t !== undefined)
    const until = ends.length > 0 ? Math.min(...ends) : undefined
    if (until !== undefined && until <= now) return undefined
    const { keys: _keys, ...caller } = stored
    return { caller, until }
  }

  /** The ids of the registered callers (admin listing). */
  async ids(): Promise<string[]> {
    return [...(await this.ctx.storage.list({ prefix: 'caller:' })).keys()].map((k) => k.slice('caller:'.length))
  }
}

export function registryOf(env: Env): DurableObjectStub<CallerRegistry> {
  return env.REGISTRY.get(env.REGISTRY.idFromName('callers'))
}

/** Isolate cache: key SHA-256 -> the answer and until when it may be used (ms). */
const cache = new Map<string, { caller: Caller | undefined; until: number }>()
const MAX_CACHED = 10_000

/** Forgets every cached caller decision of this isolate, or those about these keys' SHA-256 (a deletion). */
export function forgetCallers(sha256s?: readonly string[]): void {
  if (!sha256s) cache.clear()
  else for (const sha256 of sha256s) cache.delete(sha256)
}

export function cacheSeconds(env: Env): number {
  return durationVar(env.CALLER_CACHE_SECONDS, DEFAULT_CALLER_CACHE_SECONDS, 300)
}

function toCaller(found: Found): Caller {
  const c = found.caller
  return {
    id: `key:${c.id}`,
    providers: new Set(c.providers),
    scopes: new Set(c.scopes),
    proxy: c.proxy,
    idempotencyHeader: idempotencyHeader(c.requireIdempotencyKey),
    ratePerMinute: c.rateLimitPerMinute,
  }
}

/** The registered caller of the key with this SHA-256 (hex), through this isolate's cache. */
export async function registeredCaller(env: Env, sha256: string, now = Date.now()): Promise<Caller | undefined> {
  const hit = cache.get(sha256)
  if (hit && hit.until > now) return hit.caller
  const found = await registryOf(env).lookup(sha256)
  const caller = found ? toCaller(found) : undefined
  const until = Math.min(now + cacheSeconds(env) * 1000, found?.until ?? Number.POSITIVE_INFINITY)
  cache.delete(sha256)
  if (until > now) cache.set(sha256, { caller, until })
  if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!)
  return caller
}

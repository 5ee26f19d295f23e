/**
 * Encryption at rest (issue 13): what the token authority keeps in Durable Object storage and
 * what it mirrors to KV are AES-GCM sealed under TOKEN_ENCRYPTION_KEYS (`k2` first, `k1` still
 * listed in .dev.vars.example); a rotation loses neither a live token nor a refresh token; the
 * isolate's L1 serves the warm path without crypto.
 */
import { evictAllDurableObjects, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { kvStore } from '@payment-auth/store-kv'
import type { TokenRecord } from '@payment-auth/ky/store'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { authorityStore } from './authority-store.ts'
import { ConfigError } from './config.ts'
import { keyIdOf, keyringOf, open, openRecord, seal, sealRecord } from './sealing.ts'
import { clearIsolateCache } from './tokens.ts'
import * as edge from '../test/support.ts'
import { coldStart } from '../test/support.ts'
import type { TokenAnswer } from '../test/support.ts'

beforeEach(coldStart)
afterEach(() => {
  vi.restoreAllMocks()
})

const KEYS = env.TOKEN_ENCRYPTION_KEYS as string
/** The world before the rotation: only k1 listed. */
const K1_ONLY = KEYS.split(',').find((k) => k.startsWith('k1:'))!
/** A key nobody lists any more. */
const K9_ONLY = `k9:${btoa(String.fromCharCode(...new Uint8Array(32).fill(9)))}`

const authority = (provider: string, clientId: string) => env.AUTHORITY.get(env.AUTHORITY.idFromName(`${provider} ${clientId}`))
const stablelinkAuthority = () => authority('stablelink', env.STABLELINK_API_KEY as string)

async function rawStorage(): Promise<Map<string, TokenRecord>> {
  return runInDurableObject(stablelinkAuthority(), (_instance, state) => state.storage.list<TokenRecord>())
}

async function rawKv(): Promise<Array<[string, TokenRecord]>> {
  const { keys } = await env.TOKENS.list()
  return Promise.all(keys.map(async (k) => [k.name, JSON.parse((await env.TOKENS.get(k.name))!) as TokenRecord] as [string, TokenRecord]))
}

/** Rewrites every record of the stablelink authority (storage and KV) as `keys` would have written it. */
async function rewriteUnder(keys: string): Promise<void> {
  await runInDurableObject(stablelinkAuthority(), async (_instance, state) => {
    const current = authorityStore(state.storage, kvStore(env.TOKENS))
    const staged = authorityStore(state.storage, kvStore(env.TOKENS), () => keys)
    for (const key of (await state.storage.list()).keys()) await staged.set(key, (await current.get(key))!, { ttlSeconds: 3600 })
  })
}

const accessToken = async (provider: string) => (await edge.json<TokenAnswer>(await edge.token(provider))).access_token

describe('tokens at rest', () => {
  it('Durable Object storage and KV hold the access and refresh tokens sealed under the first key, never in plain text', async () => {
    const first = await accessToken('stablelink')
    const stored = [...(await rawStorage()).values()]
    expect(stored).toHaveLength(1)
    expect(keyIdOf(stored[0]!.accessToken)).toBe('k2')
    expect(stored[0]!.refreshToken).toBeDefined()
    expect(keyIdOf(stored[0]!.refreshToken!)).toBe('k2')
    expect(JSON.stringify(stored)).not.toContain(first)
    const kv = await rawKv()
    expect(kv).toHaveLength(1)
    expect(keyIdOf(kv[0]![1].accessToken)).toBe('k2')
    expect(kv[0]![1]).not.toHaveProperty('refreshToken')
    // What the stores still read in plain text: the times the expiry checks need.
    expect(kv[0]![1].expiresAt).toBe(stored[0]!.expiresAt)
  })

  it('rotation: records written under k1 are still read (no token call), new writes go under k2', async () => {
    const first = await accessToken('stablelink')
    await rewriteUnder(K1_ONLY)
    const before = [...(await rawStorage()).values()][0]!
    expect(keyIdOf(before.accessToken)).toBe('k1')
    expect(keyIdOf(before.refreshToken!)).toBe('k1')
    expect(keyIdOf((await rawKv())[0]![1].accessToken)).toBe('k1')

    // Another isolate reads the KV record under k1...
    clearIsolateCache()
    expect(await accessToken('stablelink')).toBe(first)
    // ...and the authority its storage record, refresh token included.
    for (const { name } of (await env.TOKENS.list()).keys) await env.TOKENS.delete(name)
    await evictAllDurableObjects()
    clearIsolateCache()
    expect(await accessToken('stablelink')).toBe(first)
    const opened = await runInDurableObject(stablelinkAuthority(), async (_i, state) => {
      const store = authorityStore(state.storage, kvStore(env.TOKENS))
      return store.get([...(await state.storage.list()).keys()][0]!)
    })
    expect(opened?.accessToken).toBe(first)
    expect(opened?.refreshToken).toMatch(/^[^.]+$/) // opened, not sealed
    expect((await edge.sandbox.stats('stablelink')).tokenCalls).toBe(1)

    // The next write (a rejected token replaced) is under k2.
    const fresh = (await edge.json<TokenAnswer>(await edge.invalidate('stablelink', first))).access_token
    expect(fresh).not.toBe(first)
    const after = [...(await rawStorage()).values()][0]!
    expect(keyIdOf(after.accessToken)).toBe('k2')
    expect(keyIdOf((await rawKv())[0]![1].accessToken)).toBe('k2')
  })

  it('a record under a key no longer listed reads as absent: the authority gets a new token, nothing breaks', async () => {
    const first = await accessToken('stablelink')
    await rewriteUnder(K9_ONLY)
    await evictAllDurableObjects()
    clearIsolateCache()
    const second = await accessToken('stablelink')
    expect(second).not.toBe(first)
    expect((await edge.sandbox.stats('stablelink')).tokenCalls).toBe(2)
    expect(keyIdOf([...(await rawStorage()).values()][0]!.accessToken)).toBe('k2')
  })

  it('a record written before encryption was on (plain text) is still read, and sealed on its next write', async () => {
    const first = await accessToken('stablelink')
    await rewriteUnder('')
    expect([...(await rawStorage()).values()][0]!.accessToken).toBe(first)
    await evictAllDurableObjects()
    clearIsolateCache()
    expect(await accessToken('stablelink')).toBe(first)
    expect((await edge.sandbox.stats('stablelink')).tokenCalls).toBe(1)
  })

  it("the isolate's L1 serves the warm path without any encryption or decryption", async () => {
    await accessToken('oauth2')
    const decrypt = vi.spyOn(crypto.subtle, 'decrypt')
    const encrypt = vi.spyOn(crypto.subtle, 'encrypt')
    for (let i = 0; i < 5; i++) await accessToken('oauth2')
    expect(decrypt).not.toHaveBeenCalled()
    expect(encrypt).not.toHaveBeenCalled()
  })
})

describe('sealing', () => {
  it('a sealed field opens only under its own store key and field (it cannot be moved)', async () => {
    const keyring = (await keyringOf(KEYS))!
    const sealed = await seal(keyring, 'tok-123', 'a\naccessToken')
    expect(await open(keyring, sealed, 'a\naccessToken')).toBe('tok-123')
    expect(await open(keyring, sealed, 'b\naccessToken')).toBeUndefined()
    expect(await open(keyring, sealed, 'a\nrefreshToken')).toBeUndefined()
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}A`
    expect(await open(keyring, tampered, 'a\naccessToken')).toBeUndefined()
    expect(await open(undefined, sealed, 'a\naccessToken')).toBeUndefined()
  })

  it('each write has its own IV; records round-trip', async () => {
    const keyring = (await keyringOf(KEYS))!
    const record: TokenRecord = { v: 1, accessToken: 'at', refreshToken: 'rt', receivedAt: 1, expiresAt: 2, scope: 'read' }
    const [a, b] = [await sealRecord(keyring, 'k', record), await sealRecord(keyring, 'k', record)]
    expect(a.accessToken).not.toBe(b.accessToken)
    expect(await openRecord(keyring, 'k', a)).toEqual(record)
    expect(await sealRecord(undefined, 'k', record)).toBe(record)
  })

  it.each([
    ['no key id', 'AAAA'],
    ['a short key', 'k1:AAAA'],
    ['not base64', 'k1:%%%%'],
    ['a repeated id', `${K1_ONLY},${K1_ONLY}`],
    ['a bad id', `k 1:${K1_ONLY.slice(3)}`],
  ])('refuses %s (a ConfigError that names no value)', async (_what, value) => {
    const error = await keyringOf(value).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).not.toContain(K1_ONLY.slice(3))
  })
})

/**
 * Encryption at rest of the tokens the edge keeps (Durable Object storage and the KV read
 * cache), under the Wrangler secret `TOKEN_ENCRYPTION_KEYS`:
 *
 *   TOKEN_ENCRYPTION_KEYS = "k2:<base64 of 32 bytes>,k1:<base64 of 32 bytes>"
 *
 * New writes use the first key; reads accept any listed key, so a rotation is: put the new key
 * first, keep the old one listed until every record written under it has been rewritten or has
 * expired (at most the longest refresh-token life), then drop it.
 *
 * What is sealed: the secret fields of a `TokenRecord` (`accessToken`, `refreshToken`), each
 * on its own with AES-256-GCM, a fresh 96-bit IV, and the store key plus the field name as
 * additional data (a sealed value moved to another key or field does not open). A sealed field
 * is `sealed.v1.<kid>.<iv>.<ciphertext>` (base64url); the rest of the record (times, scope)
 * stays readable, so the stores' own expiry checks keep working.
 *
 * Without `TOKEN_ENCRYPTION_KEYS` records are written in plain text (local development; the
 * README says to set it in production). A plain field read while keys are set is accepted (a
 * record written before encryption was turned on), and is sealed when it is next written.
 */
import type { TokenRecord } from '@payment-auth/ky/store'
import { ConfigError } from './config.ts'

export interface Keyring {
  /** The key new writes use (the first listed). */
  current: { id: string; key: CryptoKey }
  byId: ReadonlyMap<string, CryptoKey>
}

const PREFIX = 'sealed.v1.'
const KID = /^[A-Za-z0-9_-]{1,32}$/

/** Parsed keyrings by the secret's value: one import per isolate. */
const keyrings = new Map<string, Promise<Keyring>>()

function bytesOf(base64: string): Uint8Array {
  const normal = base64.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(normal + '='.repeat((4 - (normal.length % 4)) % 4))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')

async function parse(value: string): Promise<Keyring> {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
  if (entries.length === 0) throw new ConfigError('TOKEN_ENCRYPTION_KEYS lists no key')
  const byId = new Map<string, CryptoKey>()
  for (const entry of entries) {
    const colon = entry.indexOf(':')
    const id = entry.slice(0, colon)
    if (colon < 1 || !KID.test(id)) throw new ConfigError('TOKEN_ENCRYPTION_KEYS must be <kid>:<base64 of 32 bytes>, comma separated')
    if (byId.has(id)) throw new ConfigError('TOKEN_ENCRYPTION_KEYS lists a key id twice')
    let raw: Uint8Array
    try {
      raw = bytesOf(entry.slice(colon + 1))
    } catch {
      throw new ConfigError(`TOKEN_ENCRYPTION_KEYS: key ${id} is not base64`)
    }
    if (raw.byteLength !== 32) throw new ConfigError(`TOKEN_ENCRYPTION_KEYS: key ${id} must be 32 bytes`)
    byId.set(id, await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']))
  }
  const [id, key] = [...byId][0]!
  return { current: { id, key }, byId }
}

/** The keyring of `TOKEN_ENCRYPTION_KEYS`, or `undefined` when it is not set (plain text). */
export function keyringOf(value: unknown): Promise<Keyring | undefined> {
  if (typeof value !== 'string' || value.trim() === '') return Promise.resolve(undefined)
  let keyring = keyrings.get(value)
  if (!keyring) {
    keyring = parse(value)
    keyring.catch(() => keyrings.delete(value))
    keyrings.set(value, keyring)
  }
  return keyring
}

export const isSealed = (field: string) => field.startsWith(PREFIX)

/** `plain` sealed under the current key, bound to `context` (store key and field). */
export async function seal(keyring: Keyring, plain: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const data = new TextEncoder().encode(context)
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: data },
    keyring.current.key,
    new TextEncoder().encode(plain),
  )
  return `${PREFIX}${keyring.current.id}.${b64url(iv)}.${b64url(new Uint8Array(ct))}`
}

/**
 * The plain text of a sealed field, the field itself when it is not sealed (written before
 * encryption was on), or `undefined` when it cannot be opened (a key no longer listed, tampering).
 */
export async function open(keyring: Keyring | undefined, field: string, context: string): Promise<string | undefined> {
  if (!isSealed(field)) return field
  if (!keyring) return undefined
  const [id, iv, ct] = field.slice(PREFIX.length).split('.')
  const key = keyring.byId.get(id ?? '')
  if (!key || !iv || !ct) return undefined
  try {
    const data = new TextEncoder().encode(context)
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytesOf(iv), additionalData: data }, key, bytesOf(ct))
    return new TextDecoder().decode(plain)
  } catch {
    return undefined
  }
}

/** The key id a sealed field was written under (tests, operators), or `undefined` for a plain one. */
export const keyIdOf = (field: string) => (isSealed(field) ? field.slice(PREFIX.length).split('.')[0] : undefined)

/** `record` with its secret fields sealed (unchanged without a keyring). */
export async function sealRecord(keyring: Keyring | undefined, storeKey: string, record: TokenRecord): Promise<TokenRecord> {
  if (!keyring) return record
  const sealed: TokenRecord = { ...record, accessToken: await seal(keyring, record.accessToken, `${storeKey}\naccessToken`) }
  if (record.refreshToken !== undefined) sealed.refreshToken = await seal(keyring, record.refreshToken, `${storeKey}\nrefreshToken`)
  return sealed
}

/** `record` with its secret fields opened, or `undefined` when one of them cannot be. */
export async function openRecord(keyring: Keyring | undefined, storeKey: string, record: TokenRecord): Promise<TokenRecord | undefined> {
  const accessToken = await open(keyring, record.accessToken, `${storeKey}\naccessToken`)
  if (accessToken === undefined) return undefined
  const opened: TokenRecord = { ...record, accessToken }
  if (record.refreshToken !== undefined) {
    const refreshToken = await open(keyring, record.refreshToken, `${storeKey}\nrefreshToken`)
    if (refreshToken === undefined) return undefined
    opened.refreshToken = refreshToken
  }
  return opened
}

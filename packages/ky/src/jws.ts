/**
 * The signing half of `private_key_jwt` (client-auth.ts checks the key and loads this on first
 * use): a compact JWS with WebCrypto. WebCrypto's ECDSA output is already JWS's r||s.
 */
import type { ClientAssertionAlg, PrivateJwk } from './client-auth.ts'

// WebCrypto's parameter types, named from the API itself so they exist in every runtime's lib (DOM, workers-types).
type ImportParams = Parameters<SubtleCrypto['importKey']>[2]
type SignParams = Parameters<SubtleCrypto['sign']>[0]

/** What WebCrypto needs to import and to sign with each algorithm. */
const ALGORITHMS: Record<ClientAssertionAlg, { importParams: ImportParams; signParams: SignParams }> = {
  RS256: { importParams: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, signParams: { name: 'RSASSA-PKCS1-v1_5' } },
  PS256: { importParams: { name: 'RSA-PSS', hash: 'SHA-256' }, signParams: { name: 'RSA-PSS', saltLength: 32 } as SignParams },
  ES256: { importParams: { name: 'ECDSA', namedCurve: 'P-256' }, signParams: { name: 'ECDSA', hash: 'SHA-256' } as SignParams },
  EdDSA: { importParams: { name: 'Ed25519' }, signParams: { name: 'Ed25519' } },
}

function base64url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

const encodeJson = (value: unknown) => base64url(new TextEncoder().encode(JSON.stringify(value)))

/** Imports a private JWK (its `alg` already removed and checked) as a non-extractable signing key. */
export function importSigningKey(material: PrivateJwk, alg: ClientAssertionAlg): Promise<CryptoKey> {
  return crypto.subtle.importKey('jwk', material, ALGORITHMS[alg].importParams, false, ['sign'])
}

/** `header.claims.signature`, base64url, signed with `key` under `header.alg`. */
export async function signJwt(header: { alg: ClientAssertionAlg }, claims: object, key: CryptoKey): Promise<string> {
  const input = `${encodeJson(header)}.${encodeJson(claims)}`
  const signature = await crypto.subtle.sign(ALGORITHMS[header.alg].signParams, key, new TextEncoder().encode(input))
  return `${input}.${base64url(new Uint8Array(signature))}`
}

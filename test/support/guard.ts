/**
 * Registers secrets made at run time (generated keys, random client secrets) with the
 * secret-leak guard (test/leak-guard.ts, a setup file of every vitest project), so it looks
 * for them too. The guard publishes its list on a global symbol; without the guard (a script
 * run outside vitest) these do nothing. Web APIs only, like all of test/support.
 *
 * @example
 * ```ts
 * const { privateKey } = await generateKeyPair('ES256', { extractable: true })
 * guardPrivateJwk('my test key', await exportJWK(privateKey))
 * ```
 */

/** Where test/leak-guard.ts publishes its `TEST_CREDENTIALS` (name -> value). */
export const TEST_CREDENTIALS_KEY = Symbol.for('payment-auth.test-credentials')

/** The members only a private JWK has (RSA: all six; EC and OKP: `d`). */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const

function registry(): Record<string, string> | undefined {
  return (globalThis as Record<symbol, Record<string, string> | undefined>)[TEST_CREDENTIALS_KEY]
}

/** Adds one secret to the guard's list. */
export function guardSecret(name: string, value: string): void {
  const credentials = registry()
  if (credentials) credentials[name] = value
}

/** Adds the private members (`d`, `p`, `q`, `dp`, `dq`, `qi`) of a private JWK to the guard's list. */
export function guardPrivateJwk(name: string, jwk: JsonWebKey): void {
  for (const member of PRIVATE_JWK_MEMBERS) {
    const value = jwk[member]
    if (typeof value === 'string') guardSecret(`${name} private key (${member})`, value)
  }
}

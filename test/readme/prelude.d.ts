/**
 * The placeholders the READMEs' code uses, declared as a user's project would have them.
 * Every ```ts block of README.md, packages/*\/README.md and apps/*\/README.md is compiled with
 * these in scope (scripts/readme.test.ts).
 */
import type { Provider } from '@payment-auth/ky'
import type { KyInstance } from 'ky'

declare global {
  const apiKey: string
  const apiSecret: string
  const clientId: string
  const clientSecret: string
  const provider: Provider
  const session: { edgeKey: string }
  const api: KyInstance
  const payment: { amount: number; currency: string }
  function retryLater(seconds?: number): void
  /** A client certificate (with its chain) and its private key, PEM (tls_client_auth). */
  const certPem: string
  const keyPem: string
  /** A PKCS #8 private key, PEM (private_key_jwt with a CryptoKey). */
  const pkcs8Pem: string
}

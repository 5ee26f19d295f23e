import { describe, expect, it } from 'vitest'

describe('the public surface', () => {
  it('the main entry exports what DESIGN.md names, nothing internal', async () => {
    const names = Object.keys(await import('./index.ts')).sort()
    expect(names).toEqual([
      'PaymentAuthError',
      'abbeycross',
      'checkout',
      'createTokenManager',
      'defineProvider',
      'edge',
      'isPaymentAuthError',
      'memoryStore',
      'oauth2',
      'paypal',
      'stablelink',
      'stonex',
      'withPaymentAuth',
    ])
  })

  it('store authors get readRecord and usefulUntil from @payment-auth/ky/store', async () => {
    const names = Object.keys(await import('./store-entry.ts')).sort()
    expect(names).toEqual(['checkOptions', 'func', 'memoryStore', 'nonNegative', 'object', 'readRecord', 'string', 'text', 'usefulUntil'])
  })

  it('the diagnostics tap lives at @payment-auth/ky/diagnostics', async () => {
    const { DIAGNOSTICS } = await import('./diagnostics.ts')
    expect(DIAGNOSTICS).toBe(Symbol.for('payment-auth.diagnostics'))
  })
  it('client authentication factories for your own dialects live at @payment-auth/ky/client-auth', async () => {
    const names = Object.keys(await import('./client-auth.ts')).sort()
    expect(names).toEqual(expect.arrayContaining(['clientSecretBasic', 'clientSecretPost', 'privateKeyJwt', 'tlsClientAuth']))
  })
})

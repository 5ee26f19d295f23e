/**
 * Type-level tests, checked by `tsc -b` (no runtime): what must and must not compile.
 */
import { createTokenManager, type TokenManager } from './manager.ts'
import { withPaymentAuth } from './hooks.ts'
import { defineProvider } from './provider.ts'

const provider = defineProvider({ name: 'types', buildTokenRequest: () => new Request('https://auth.test/token') })
const tokens: TokenManager = createTokenManager({ provider })

withPaymentAuth({ provider, refreshAhead: 30, origins: ['https://api.test'] })
withPaymentAuth({ tokens, origins: ['https://api.test'], retryUnauthorized: false })
// @ts-expect-error: a manager option next to a shared manager would be silently ignored
withPaymentAuth({ tokens, refreshAhead: 30 })
// @ts-expect-error: the same for the token endpoint's fetch
withPaymentAuth({ tokens, fetch: globalThis.fetch })
// @ts-expect-error: neither a provider nor a shared manager
withPaymentAuth({ origins: ['https://api.test'] })

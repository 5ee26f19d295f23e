/**
 * What every test project shares (each package's and app's vitest.config.ts merges it):
 * - workspace packages resolve to their sources through the `@payment-auth/source` export
 *   condition, so no test ever runs against a stale dist/ (the published packages ship dist only);
 * - the secret-leak guard runs around every test.
 */
import { defaultClientConditions, defaultServerConditions } from 'vite'
import { defineProject, mergeConfig, type TestProjectInlineConfiguration } from 'vitest/config'

/** The export condition of our own packages that points at src/index.ts (never in a published file). */
export const SOURCE_CONDITION = '@payment-auth/source'

const testShared = {
  // Scans each test's events, errors and console output for the test credentials.
  setupFiles: ['@payment-auth/test-support/leak-guard'],
}

const shared = defineProject({
  // Vite keeps separate conditions for browser-like code (happy-dom, Chromium) and for server code
  // (node, workerd): our condition goes first in both, before the defaults it would otherwise use.
  resolve: { conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
  test: testShared,
})

/**
 * Node itself: our condition, then Node's own. Not Vite's server defaults: their `module` picks
 * builds that only bundlers load (@opentelemetry/api's extension-less ESM), and Node imports
 * what Vitest externalizes.
 */
const nodeShared = defineProject({
  resolve: { conditions: [SOURCE_CONDITION, 'node'] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, 'node'] } },
  test: testShared,
})

/** A test project: `config` on top of what every project shares. */
export const project = (config: TestProjectInlineConfiguration): TestProjectInlineConfiguration =>
  mergeConfig(config.test?.environment === 'node' ? nodeShared : shared, config)

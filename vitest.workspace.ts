import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { playwright } from '@vitest/browser-playwright'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/** The date every Worker test runs at: at or below what the pinned workerd supports. */
export const COMPATIBILITY_DATE = '2026-10-01'

// Vitest 4 does not read workspace files by itself: this is a plain config with projects,
// re-exported by vitest.config.ts, and `npm test` names it explicitly.
export default defineConfig({
  // Workspace packages resolve to their sources in every project (the workers pool ignores the
  // `source` export condition), so tests never run against a stale dist/.
  resolve: {
    conditions: ['source'],
    alias: [{ find: /^@payment-auth\/(ky|store-idb|store-kv)$/, replacement: fileURLToPath(new URL('./packages/$1/src/index.ts', import.meta.url)) }],
  },
  test: {
    // Every project scans each test's events, errors and console output for the test credentials.
    setupFiles: ['./test/leak-guard.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: ['packages/*/src/**/*.test.ts', 'apps/sandbox/src/**/*.test.ts', 'scripts/**/*.test.ts', 'e2e/**/*.test.ts', 'examples/**/*.test.ts'],
          exclude: ['**/*.dom.test.ts', '**/*.browser.test.ts', '**/*.workers.test.ts', '**/node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'happy-dom',
          environment: 'happy-dom',
          include: ['packages/*/src/**/*.dom.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['packages/*/src/**/*.browser.test.ts'],
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: {
                executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
                args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
              },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
      {
        extends: true,
        plugins: [
          cloudflareTest({
            miniflare: {
              compatibilityDate: COMPATIBILITY_DATE,
              kvNamespaces: ['TOKENS'],
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['packages/store-kv/src/**/*.workers.test.ts'],
        },
      },
    ],
  },
})

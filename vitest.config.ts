/**
 * The whole test run (`npm test`): every package and app brings its own vitest.config.ts (what
 * they share is vitest.shared.ts); this file only lists them, plus the repository-level tests.
 * Project names say where a project runs: `node:*`, `happy-dom:*`, `browser:*`, `workers:*`.
 */
import { defineConfig } from 'vitest/config'
import { project } from './vitest.shared.ts'

/**
 * CI runs the node and happy-dom projects a second time under libfaketime, 400 days ahead, to
 * catch a test that pins a calendar date (the `faketime` command sets FAKETIME). workerd does
 * not start under libfaketime, so the tests that run `wrangler dev` sit that run out; they run
 * in the normal pass, and the Worker's own tests run in the `workers:edge` project.
 */
const clockShiftExcluded = process.env['FAKETIME'] ? ['scripts/start.test.ts'] : []

export default defineConfig({
  test: {
    projects: [
      'packages/ky',
      'packages/otel',
      'packages/store-idb', // happy-dom + fake-indexeddb
      'packages/store-idb/vitest.browser.config.ts',
      'packages/store-idb/vitest.node.config.ts',
      'packages/store-kv',
      'apps/edge',
      'apps/sandbox',
      'bench',
      // End-to-end tests against the sandbox, the examples in Node/Deno/Bun, and the scripts.
      project({
        test: {
          name: 'node:root',
          environment: 'node',
          include: ['e2e/**/*.test.ts', 'examples/**/*.test.ts', 'scripts/**/*.test.ts'],
          exclude: ['**/node_modules/**', ...clockShiftExcluded],
        },
      }),
    ],
  },
})

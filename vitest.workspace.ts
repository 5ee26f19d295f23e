import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { playwright } from '@vitest/browser-playwright'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import { createSandbox, SANDBOX_CREDENTIALS as C } from './apps/sandbox/src/index.ts'
import { CHROMIUM_ARGS, findChromium } from './scripts/chromium.ts'

/** The date every Worker test runs at: at or below what the pinned workerd supports. */
export const COMPATIBILITY_DATE = '2026-10-01'

/** CHROMIUM_PATH, a system Chromium, or the one `npm install` brought: no manual step. */
const chromium = await findChromium()

/**
 * CI runs the node and happy-dom projects a second time under libfaketime, 400 days ahead, to
 * catch a test that pins a calendar date (the `faketime` command sets FAKETIME). workerd does
 * not start under libfaketime, so the tests that run `wrangler dev` sit that run out; they run
 * in the normal pass, and the Worker's own tests run in the `edge` project.
 */
const clockShiftExcluded = process.env['FAKETIME'] ? ['scripts/start.test.ts'] : []

/** The providers the edge Worker talks to in its tests. */
const edgeSandbox = createSandbox()

// Vitest 4 does not read workspace files by itself: this is a plain config with projects,
// re-exported by vitest.config.ts, and `npm test` names it explicitly.
export default defineConfig({
  // Workspace packages resolve to their sources in every project (the workers pool ignores the
  // `source` export condition), so tests never run against a stale dist/.
  resolve: {
    conditions: ['source'],
    alias: [
      { find: /^@payment-auth\/ky\/store$/, replacement: fileURLToPath(new URL('./packages/ky/src/store-entry.ts', import.meta.url)) },
      { find: /^@payment-auth\/ky\/diagnostics$/, replacement: fileURLToPath(new URL('./packages/ky/src/diagnostics.ts', import.meta.url)) },
      { find: /^@payment-auth\/(ky|store-idb|store-kv)$/, replacement: fileURLToPath(new URL('./packages/$1/src/index.ts', import.meta.url)) },
    ],
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
          include: ['packages/*/src/**/*.test.ts', 'apps/sandbox/src/**/*.test.ts', 'scripts/**/*.test.ts', 'e2e/**/*.test.ts', 'examples/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: ['**/*.dom.test.ts', '**/*.browser.test.ts', '**/*.workers.test.ts', '**/node_modules/**', ...clockShiftExcluded],
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
              launchOptions: { ...(chromium && { executablePath: chromium.executablePath }), args: CHROMIUM_ARGS },
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
      {
        extends: true,
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              compatibilityDate: COMPATIBILITY_DATE,
              // The Wrangler secrets of .dev.vars.example, as the tests see them.
              bindings: {
                STABLELINK_API_KEY: C.stablelink.apiKey,
                STABLELINK_API_SECRET: C.stablelink.apiSecret,
                OAUTH2_CLIENT_ID: C.oauth2.clientId,
                OAUTH2_CLIENT_SECRET: C.oauth2.clientSecret,
                STONEX_CLIENT_ID: C.stonex.clientId,
                STONEX_CLIENT_SECRET: C.stonex.clientSecret,
                ABBEYCROSS_CLIENT_ID: C.abbeycross.clientId,
                ABBEYCROSS_CLIENT_SECRET: C.abbeycross.clientSecret,
                JWT_SECRET: 'test-jwt-secret-at-least-32-bytes-long!!',
              },
              // Every outbound fetch of the Worker (its Durable Objects included) goes to one
              // in-process sandbox: the providers, offline. Tests drive it over its HTTP control API.
              outboundService: async (request: Request) => {
                // Miniflare's Request comes from another undici: rebuild it as this Node's own.
                const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer()
                const answer = await edgeSandbox.fetch(new Request(request.url, { method: request.method, headers: [...request.headers], body }))
                return new Response(await answer.arrayBuffer(), { status: answer.status, headers: [...answer.headers] })
              },
            },
          }),
        ],
        test: {
          name: 'edge',
          include: ['apps/edge/src/**/*.workers.test.ts'],
          fileParallelism: false,
        },
      },
    ],
  },
})

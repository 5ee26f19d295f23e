import { defineConfig } from 'vitest/config'

// Vitest 4 does not read workspace files by itself: this is a plain config with projects,
// re-exported by vitest.config.ts, and `npm test` names it explicitly.
export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: ['packages/*/src/**/*.test.ts', 'apps/sandbox/src/**/*.test.ts', 'scripts/**/*.test.ts', 'e2e/**/*.test.ts'],
        },
      },
    ],
  },
})

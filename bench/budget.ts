/**
 * The bundle-size budgets and goals, in one place: gzipped bytes a page loads up front, ky
 * excluded, as bench/size.ts measures them (each package's published `dist`, bundled by esbuild
 * for the browser with code splitting). bench/size.test.ts fails when a shape grows past its budget.
 *
 * A budget is set about 3% above the size measured when it was last set, and lowered whenever
 * the bundle shrinks: it stops regressions. The goals are the lean-bundle issue's: one dialect
 * no bigger than OAuth2Fetch (@badgateway/oauth2-client, measured in the same run: 3,789 B so far), a
 * frontend at most 5,000 B.
 * RESULTS.md reports against them.
 *
 * Last set 2026-12-03 (esbuild 0.28.2, valibot 1.5.0, tsdown dist): one dialect 9,040 B,
 * frontend 8,870 B, everything 10,380 B, after the option checks moved to valibot's smallest API
 * and the private_key_jwt signer to a chunk loaded on first use.
 */
export type ShapeName = 'oneDialect' | 'frontend' | 'everything'

export const BUDGETS: Record<ShapeName, number> = { oneDialect: 9300, frontend: 9150, everything: 10700 }

/** The frontend's goal. The one-dialect goal is OAuth2Fetch's size, which bench/size.ts measures in the same run. */
export const GOALS = { frontend: 5000 } as const satisfies Partial<Record<ShapeName, number>>

import { describe, expect, it } from 'vitest'
import { BUNDLE_BUDGET_BYTES } from './budget.ts'
import { oneDialectSize } from './size.ts'

describe('bundle size budget', () => {
  it(`withPaymentAuth + one dialect stays within ${BUNDLE_BUDGET_BYTES} bytes minified + gzipped (ky excluded)`, async () => {
    const { gzipped } = await oneDialectSize()
    expect(gzipped, `the bundle is ${gzipped} B; the budget in bench/budget.ts is ${BUNDLE_BUDGET_BYTES} B`).toBeLessThanOrEqual(
      BUNDLE_BUDGET_BYTES,
    )
  }, 30_000)
})

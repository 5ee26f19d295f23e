import { describe, expect, it } from 'vitest'
import { BUDGETS, type ShapeName } from './budget.ts'
import { shapeSize } from './size.ts'

describe('bundle size budgets (published dist, bundled for the browser)', () => {
  it.each(Object.keys(BUDGETS) as ShapeName[])(
    'the %s shape stays within its budget, gzipped up front, ky excluded',
    async (shape) => {
      const { gzipped } = await shapeSize(shape)
      expect(gzipped, `the ${shape} bundle is ${gzipped} B; its budget in bench/budget.ts is ${BUDGETS[shape]} B`).toBeLessThanOrEqual(
        BUDGETS[shape],
      )
    },
    60_000,
  )

  it('the private_key_jwt signer is not loaded up front: a client-secret bundle does not grow with it', async () => {
    const { lazy, upFrontInputs, lazyInputs } = await shapeSize('oneDialect')
    const signer = (path: string) => /\/jws\.(?:js|ts)$/.test(path)
    expect(lazyInputs.filter(signer)).toHaveLength(1)
    expect(upFrontInputs.filter(signer)).toEqual([])
    expect(lazy).toBeGreaterThan(0)
  }, 60_000)
})

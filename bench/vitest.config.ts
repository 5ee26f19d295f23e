import { defineProject } from 'vitest/config'
import { project } from '../vitest.shared.ts'

/** The bundle-size budget (the benchmarks themselves run with `npm run bench`, not as tests). */
export default defineProject(
  project({
    test: { name: 'node:bench', environment: 'node', include: ['**/*.test.ts'] },
  }),
)

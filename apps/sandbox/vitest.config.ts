import { defineProject } from 'vitest/config'
import { project } from '../../vitest.shared.ts'

export default defineProject(
  project({
    test: { name: 'node:sandbox', environment: 'node', include: ['src/**/*.test.ts'] },
  }),
)

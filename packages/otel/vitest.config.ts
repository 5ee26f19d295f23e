import { defineProject } from 'vitest/config'
import { project } from '../../vitest.shared.ts'

export default defineProject(
  project({
    test: {
      name: 'node:otel',
      environment: 'node',
      include: ['src/**/*.test.ts'],
    },
  }),
)

import { defineProject } from 'vitest/config'
import { project } from '../../vitest.shared.ts'

/** Node, where there is no IndexedDB and no Web Locks: importing and the memory fallback. */
export default defineProject(
  project({
    test: {
      name: 'node:store-idb',
      environment: 'node',
      include: ['src/**/*.test.ts'],
      exclude: ['src/**/*.dom.test.ts', 'src/**/*.browser.test.ts'],
    },
  }),
)

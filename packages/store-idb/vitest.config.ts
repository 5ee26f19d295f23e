import { defineProject } from 'vitest/config'
import { project } from '../../vitest.shared.ts'

/** IndexedDB from fake-indexeddb in happy-dom; Chromium is vitest.browser.config.ts, Node vitest.node.config.ts. */
export default defineProject(
  project({
    test: { name: 'happy-dom:store-idb', environment: 'happy-dom', include: ['src/**/*.dom.test.ts'] },
  }),
)

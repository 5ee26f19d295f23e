import { playwright } from '@vitest/browser-playwright'
import { defineProject } from 'vitest/config'
import { CHROMIUM_ARGS, findChromium } from '../../scripts/chromium.ts'
import { project } from '../../vitest.shared.ts'

/** CHROMIUM_PATH, a system Chromium, or the one `npm install` brought: no manual step. */
const chromium = await findChromium()

/** Real Chromium: real IndexedDB, Web Locks and BroadcastChannel, tabs as module workers. */
export default defineProject(
  project({
    test: {
      name: 'browser:store-idb',
      include: ['src/**/*.browser.test.ts'],
      browser: {
        enabled: true,
        headless: true,
        provider: playwright({
          launchOptions: { ...(chromium && { executablePath: chromium.executablePath }), args: CHROMIUM_ARGS },
        }),
        instances: [{ browser: 'chromium' }],
      },
    },
  }),
)

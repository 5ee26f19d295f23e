import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { fileURLToPath } from 'node:url'
import { defineProject } from 'vitest/config'
import { unstable_readConfig } from 'wrangler'
import { project } from '../../vitest.shared.ts'

/** The Worker's compatibility date (the root wrangler.toml), so KV behaves here as it does in the edge Worker. */
const { compatibility_date: compatibilityDate } = unstable_readConfig({
  config: fileURLToPath(new URL('../../wrangler.toml', import.meta.url)),
})

export default defineProject(
  project({
    plugins: [cloudflareTest({ miniflare: { compatibilityDate, kvNamespaces: ['TOKENS'] } })],
    test: { name: 'workers:store-kv', include: ['src/**/*.workers.test.ts'] },
  }),
)

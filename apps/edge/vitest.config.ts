import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { createSandbox } from '@payment-auth/sandbox'
import { parseDevVars } from '@payment-auth/test-support/dev-vars'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineProject } from 'vitest/config'
import { project } from '../../vitest.shared.ts'

const root = new URL('../../', import.meta.url)

/** The Wrangler secrets the Worker runs with locally: the ones `npm start` copies to .dev.vars. */
const secrets = parseDevVars(readFileSync(new URL('.dev.vars.example', root), 'utf8'))

/** The providers the edge Worker talks to in its tests. */
const sandbox = createSandbox()

export default defineProject(
  project({
    plugins: [
      cloudflareTest({
        // The Worker as deployed: main, compatibility date, bindings and vars of the root wrangler.toml.
        wrangler: { configPath: fileURLToPath(new URL('wrangler.toml', root)) },
        miniflare: {
          bindings: secrets,
          // Every outbound fetch of the Worker (its Durable Objects included) goes to one
          // in-process sandbox: the providers, offline. Tests drive it over its HTTP control API.
          outboundService: async (request: Request) => {
            // Miniflare's Request comes from another undici: rebuild it as this Node's own.
            const body = request.method === 'GET' || request.method === 'HEAD' ? null : await request.arrayBuffer()
            const answer = await sandbox.fetch(new Request(request.url, { method: request.method, headers: [...request.headers], body }))
            return new Response(await answer.arrayBuffer(), { status: answer.status, headers: [...answer.headers] })
          },
        },
      }),
    ],
    test: { name: 'workers:edge', include: ['src/**/*.workers.test.ts'], fileParallelism: false },
  }),
)

import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { createSandbox } from '@payment-auth/sandbox'
import { parseDevVars } from '@payment-auth/test-support/dev-vars'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineProject } from 'vitest/config'
import { unstable_readConfig } from 'wrangler'
import { project } from '../../vitest.shared.ts'

const root = new URL('../../', import.meta.url)

/** The Wrangler secrets the Worker runs with locally: the ones `npm start` copies to .dev.vars. */
const secrets = parseDevVars(readFileSync(new URL('.dev.vars.example', root), 'utf8'))

/** The providers the edge Worker talks to in its tests. */
const sandbox = createSandbox()

/**
 * A Workers mTLS certificate binding stands in as `PAY_CERT`: a fetch that presents a client
 * certificate. Here it answers as a provider that authenticated the client by that certificate
 * (tls_client_auth): a token endpoint and an API, counting what reached them through the binding.
 */
const mtls = {
  tokenCalls: 0,
  apiCalls: 0,
  tokenBodies: [] as string[],
  tokenAuthorization: [] as Array<string | null>,
  apiAuthorization: [] as Array<string | null>,
}
async function certificateBinding(request: Request): Promise<Response> {
  const url = new URL(request.url)
  if (url.pathname === '/_mtls/stats') return Response.json(mtls)
  if (url.pathname.endsWith('/token')) {
    mtls.tokenCalls++
    mtls.tokenBodies.push(await request.text())
    mtls.tokenAuthorization.push(request.headers.get('authorization'))
    return Response.json({ access_token: `mtls-tok-${mtls.tokenCalls}`, token_type: 'Bearer', expires_in: 3600 })
  }
  mtls.apiCalls++
  mtls.apiAuthorization.push(request.headers.get('authorization'))
  return Response.json({ ok: true, path: url.pathname })
}

/** The providers of wrangler.toml, plus one that authenticates with a client certificate through PAY_CERT. */
const providers = {
  ...(readWranglerProviders() as Record<string, unknown>),
  'oauth2-mtls': {
    dialect: 'oauth2',
    tokenUrl: 'https://mtls.provider.test/oauth/token',
    apiBaseUrl: 'https://mtls.provider.test/api',
    authMethod: 'tls_client_auth',
    mtlsBinding: 'PAY_CERT',
  },
}

/** wrangler.toml's PROVIDERS, read by wrangler itself. */
function readWranglerProviders(): unknown {
  return unstable_readConfig({ config: fileURLToPath(new URL('wrangler.toml', root)) }).vars['PROVIDERS']
}

export default defineProject(
  project({
    plugins: [
      cloudflareTest({
        // The Worker as deployed: main, compatibility date, bindings and vars of the root wrangler.toml.
        wrangler: { configPath: fileURLToPath(new URL('wrangler.toml', root)) },
        miniflare: {
          bindings: { ...secrets, OAUTH2_MTLS_CLIENT_ID: 'oa_mtls_client', PROVIDERS: providers },
          serviceBindings: { PAY_CERT: certificateBinding },
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

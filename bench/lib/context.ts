/** What every measure gets: the loopback server (started once, on first use) and a scratch directory. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLIENT_ID, CLIENT_SECRET, type Competitor } from './clients.ts'
import { startBenchServer, type BenchServer } from './server.ts'

/** The token latency every loopback measure runs with (ms). */
export const TOKEN_LATENCY_MS = 50

export interface Context {
  server(): Promise<BenchServer>
  /** Files served by the server under `/_bench/static/`. */
  staticDir: string
  /** Token URL of the sandbox's oauth2 dialect. */
  tokenUrl(server: BenchServer): string
  close(): Promise<void>
}

export function createContext(): Context {
  const staticDir = mkdtempSync(join(tmpdir(), 'payment-auth-bench-'))
  let started: Promise<BenchServer> | undefined
  return {
    staticDir,
    server() {
      started ??= (async () => {
        const server = await startBenchServer({ staticDir })
        for (const id of Object.values(CLIENT_ID)) await server.control('clients', { provider: 'oauth2', id, secret: CLIENT_SECRET })
        await server.control('configure', { provider: 'oauth2', tokenLatencyMs: TOKEN_LATENCY_MS, tokenLifetime: 3600 })
        return server
      })()
      return started
    },
    tokenUrl: (server) => `${server.url}/oauth2/o/token/`,
    async close() {
      if (started) await (await started.catch(() => undefined))?.stop()
      rmSync(staticDir, { recursive: true, force: true })
    },
  }
}

export const setupFor = (ctx: Context, server: BenchServer, c: Competitor) => ({
  tokenUrl: ctx.tokenUrl(server),
  clientId: CLIENT_ID[c],
  clientSecret: CLIENT_SECRET,
})

/** A token of the `bare` client, fetched directly (the baselines send it as a fixed header). */
export async function bareToken(ctx: Context, server: BenchServer): Promise<string> {
  const response = await fetch(ctx.tokenUrl(server), {
    method: 'POST',
    headers: { authorization: `Basic ${btoa(`${CLIENT_ID.bare}:${CLIENT_SECRET}`)}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  })
  if (!response.ok) throw new Error(`bare token: HTTP ${response.status}`)
  return ((await response.json()) as { access_token: string }).access_token
}

/**
 * Starts the edge Worker locally the way `npm start` does: the sandbox on loopback (the
 * providers), then `wrangler dev` offline with the secrets of `.dev.vars` (copied from
 * `.dev.vars.example` on first run). Used by `npm start`, its test, and the edge benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSandboxServer, type SandboxServer } from '../apps/sandbox/src/serve.ts'

export const root = fileURLToPath(new URL('..', import.meta.url))
/** The sandbox port the Worker's provider URLs in wrangler.toml point to. */
export const SANDBOX_PORT = 8790
export const EDGE_PORT = Number(process.env.EDGE_PORT ?? 8787)

export const OFFLINE_ENV = { WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_HIDE_BANNER: 'true' }

export interface EdgeDev {
  edgeUrl: string
  sandbox: SandboxServer
  wrangler: ChildProcess
  stop(): Promise<void>
}

async function waitFor(url: string, child: ChildProcess, log: () => string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${log()}`)
    try {
      if ((await fetch(url)).ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`wrangler dev did not answer ${url} within ${ms} ms:\n${log()}`)
}

/** Wrangler's own script (`main`, `tsx`-free): run it with this Node (>= 22), not the machine's. */
const wranglerBin = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url))

export async function startEdgeDev({ edgePort = EDGE_PORT, extraArgs = [] as string[] } = {}): Promise<EdgeDev> {
  if (!existsSync(`${root}.dev.vars`)) copyFileSync(`${root}.dev.vars.example`, `${root}.dev.vars`)
  const sandbox = await startSandboxServer({ port: SANDBOX_PORT })
  let output = ''
  // A fresh state directory per run: the sandbox starts empty, so Durable Object and KV state
  // kept from an earlier run would hand out tokens the sandbox no longer knows.
  const state = mkdtempSync(join(tmpdir(), 'payment-auth-edge-'))
  const wrangler = spawn(process.execPath, [wranglerBin, 'dev', '--ip', '127.0.0.1', '--port', String(edgePort), '--persist-to', state, '--log-level', 'warn', ...extraArgs], {
    cwd: root,
    env: { ...process.env, ...OFFLINE_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  wrangler.stdout!.on('data', (d: Buffer) => (output += d))
  wrangler.stderr!.on('data', (d: Buffer) => (output += d))
  const edgeUrl = `http://127.0.0.1:${edgePort}`
  const stop = async () => {
    if (wrangler.exitCode === null) {
      // SIGINT to wrangler itself: a SIGTERM to a wrapper would leave workerd holding the port.
      wrangler.kill('SIGINT')
      await new Promise((r) => wrangler.once('exit', r))
    }
    await sandbox.close()
  }
  try {
    await waitFor(`${edgeUrl}/healthz`, wrangler, () => output)
  } catch (error) {
    await stop()
    throw error
  }
  return { edgeUrl, sandbox, wrangler, stop }
}

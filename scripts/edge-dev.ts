/**
 * Starts the edge Worker locally the way `npm start` does: the sandbox on loopback (the
 * providers), then `wrangler dev` offline with the secrets of `.dev.vars` (copied from
 * `.dev.vars.example` on first run). Used by `npm start`, its test, and the edge benchmark.
 *
 * Ports: 0 (the default here) takes free ones, so tests and benchmarks never collide with a
 * running `npm start` or `npm run sandbox`; `npm start` asks for its documented ports and a
 * port that is taken fails at once with a `PortInUseError` naming the variable that moves it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSandboxServer, type SandboxServer } from '../apps/sandbox/src/serve.ts'

export const root = fileURLToPath(new URL('..', import.meta.url))
/** `npm start`'s documented ports. */
export const DEFAULT_EDGE_PORT = 8787
export const DEFAULT_SANDBOX_PORT = 8790
/** The sandbox origin the provider URLs of wrangler.toml name; rewritten to the sandbox actually started. */
const CONFIGURED_SANDBOX_ORIGIN = `http://127.0.0.1:${DEFAULT_SANDBOX_PORT}`

/**
 * Wrangler offline, bundling our workspace packages from their sources: the `@payment-auth/source`
 * export condition first, then the ones wrangler uses when WRANGLER_BUILD_CONDITIONS is unset
 * (workerd, worker, browser). The npm scripts `dev` and `deploy:dry` set the same.
 */
export const OFFLINE_ENV = {
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  WRANGLER_BUILD_CONDITIONS: '@payment-auth/source,workerd,worker,browser',
}

/** A port asked for is held by another process. The message names the port and the variable that changes it. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError'
  readonly port: number
  readonly variable: string
  constructor(port: number, variable: string, what: string) {
    super(`port ${port} (${what}) is already in use: stop what holds it, or set ${variable} to another port (0 picks a free one)`)
    this.port = port
    this.variable = variable
  }
}

/** Reads a port from the environment: the default when unset, an error naming the variable when not a port. */
export function portFromEnv(variable: string, fallback: number, env: Record<string, string | undefined> = process.env): number {
  const raw = env[variable]
  if (raw === undefined || raw === '') return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`${variable} must be a port number (0-65535), got ${JSON.stringify(raw)}`)
  return port
}

const isAddressInUse = (error: unknown) => (error as { code?: string } | null)?.code === 'EADDRINUSE'

/** Fails with a `PortInUseError` when something already listens on 127.0.0.1:`port`. */
export function assertPortFree(port: number, variable: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', (error) => reject(isAddressInUse(error) ? new PortInUseError(port, variable, what) : error))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()))
  })
}

export interface EdgeDev {
  edgeUrl: string
  sandbox: SandboxServer
  wrangler: ChildProcess
  stop(): Promise<void>
}

/** Wrangler's own script: run it with this Node (>= 22), not the machine's. */
const wranglerBin = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url))

/** Resolves with the origin wrangler dev says it is ready on (it picks the port when given 0). */
function readyOn(child: ChildProcess, log: () => string, ms = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`wrangler dev was not ready within ${ms} ms:\n${log()}`)), ms)
    const onData = () => {
      const match = /Ready on (http:\/\/127\.0\.0\.1:\d+)/.exec(log())
      if (match) done(undefined, match[1])
    }
    const onExit = (code: number | null) => done(new Error(`wrangler dev exited (${code}):\n${log()}`))
    function done(error?: Error, url?: string) {
      clearTimeout(timer)
      child.stdout!.off('data', onData)
      child.stderr!.off('data', onData)
      child.off('exit', onExit)
      if (error) reject(error)
      else resolve(url!)
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', onExit)
  })
}

/** wrangler.toml's providers, pointed at the sandbox that was started. */
async function providersFor(sandboxUrl: string): Promise<string> {
  const { unstable_readConfig } = await import('wrangler')
  const config = unstable_readConfig({ config: join(root, 'wrangler.toml') })
  return JSON.stringify(config.vars['PROVIDERS']).replaceAll(CONFIGURED_SANDBOX_ORIGIN, sandboxUrl)
}

/** Characters of wrangler's output kept (its last ones). */
const OUTPUT_KEPT = 64 * 1024

/** A running `wrangler dev`: its origin and how to stop it. */
export interface WranglerDev {
  url: string
  wrangler: ChildProcess
  stop(): Promise<void>
}

/**
 * `wrangler dev` offline on 127.0.0.1 with `args` (a config, a port: 0 picks a free one),
 * resolved once it says where it is ready and `healthPath` answers.
 */
export async function startWranglerDev(args: string[], healthPath = '/'): Promise<WranglerDev> {
  let output = ''
  const wrangler = spawn(process.execPath, [wranglerBin, 'dev', '--ip', '127.0.0.1', '--log-level', 'info', ...args], {
    cwd: root,
    env: { ...process.env, ...OFFLINE_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // The tail only: enough for the ready line and an error's context, never a long run's logs (the audit lines).
  const keep = (d: Buffer) => {
    output = (output + d).slice(-OUTPUT_KEPT)
  }
  wrangler.stdout!.on('data', keep)
  wrangler.stderr!.on('data', keep)
  const killOnExit = () => wrangler.kill('SIGKILL')
  process.once('exit', killOnExit)
  const stop = async () => {
    process.off('exit', killOnExit)
    if (wrangler.exitCode !== null || wrangler.signalCode !== null) return
    // SIGINT to wrangler itself: a SIGTERM to a wrapper would leave workerd holding the port.
    const exited = new Promise((r) => wrangler.once('exit', r))
    wrangler.kill('SIGINT')
    const timer = setTimeout(() => wrangler.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  try {
    const url = await readyOn(wrangler, () => output)
    await waitForHealth(new URL(healthPath, url).href)
    return { url, wrangler, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/**
 * `script` replaces the entry of wrangler.toml (bindings, vars and `.dev.vars` stay): the edge
 * benchmark's anatomy Worker (apps/edge/bench/anatomy-worker.ts) runs this way.
 */
export async function startEdgeDev({
  edgePort = 0,
  sandboxPort = 0,
  extraArgs = [] as string[],
  script = undefined as string | undefined,
} = {}): Promise<EdgeDev> {
  if (edgePort !== 0) await assertPortFree(edgePort, 'EDGE_PORT', 'the edge Worker')
  if (!existsSync(`${root}.dev.vars`)) copyFileSync(`${root}.dev.vars.example`, `${root}.dev.vars`)
  const sandbox = await startSandboxServer({ port: sandboxPort }).catch((error: unknown) => {
    throw isAddressInUse(error) ? new PortInUseError(sandboxPort, 'SANDBOX_PORT', 'the provider sandbox') : error
  })
  // A fresh state directory per run, removed when it stops: the sandbox starts empty, so Durable
  // Object and KV state kept from an earlier run would hand out tokens the sandbox no longer knows.
  const state = mkdtempSync(join(tmpdir(), 'payment-auth-edge-'))
  try {
    const args = [
      ...(script ? [script] : []),
      '--port',
      String(edgePort),
      '--persist-to',
      state,
      '--var',
      `PROVIDERS:${await providersFor(sandbox.url)}`,
      ...extraArgs,
    ]
    const dev = await startWranglerDev(args, '/healthz')
    return {
      edgeUrl: dev.url.replace(/\/$/, ''),
      sandbox,
      wrangler: dev.wrangler,
      stop: async () => {
        await dev.stop()
        await sandbox.close()
        rmSync(state, { recursive: true, force: true })
      },
    }
  } catch (error) {
    await sandbox.close()
    rmSync(state, { recursive: true, force: true })
    throw error
  }
}

async function waitForHealth(url: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms
  for (;;) {
    try {
      if ((await fetch(url)).ok) return
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`the edge Worker did not answer ${url} within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

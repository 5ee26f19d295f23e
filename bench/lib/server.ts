/**
 * The loopback test server of the benchmarks: the provider sandbox (apps/sandbox) served by
 * `startSandboxServer`, in a child process of its own (so client and server do not share one
 * event loop; the machine has 2 cores), with a thin wrapper that adds what the measures need:
 *
 * - per-client token-call counters (from the `Authorization: Basic` header of token requests),
 *   so every competitor has its own OAuth2 client and its own count;
 * - per-tag resource counters (`?tag=` on a resource URL): calls and 401s seen by the resource;
 * - holds (`?hold=<ms>&id=<id>`, first arrival of an id only) and a "storm": once `n` held
 *   requests have arrived, every token of the provider is revoked and each held request is
 *   released `hold` ms later, so the 401s arrive staggered after the revocation;
 * - `/_bench/static/<file>`: the pages and bundles of the cross-tab measure (same origin as the
 *   token endpoint and the API).
 *
 * Run as a script it prints `{"url": ...}` on its first stdout line and exits when its stdin
 * closes (so it never outlives the benchmark). `startBenchServer()` spawns it.
 */
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createSandbox } from '../../apps/sandbox/src/index.ts'
import { startSandboxServer } from '../../apps/sandbox/src/serve.ts'
import { withTimeout } from './stats.ts'

export interface Counters {
  /** Token requests per client id (Basic auth), all token routes. */
  tokenCalls: Record<string, number>
  /** Resource calls and 401s per `?tag=`. */
  tags: Record<string, { calls: number; r401: number }>
  /**
   * Per client id, the server's own time for each token request (ms, from its arrival to the
   * sandbox's answer, the configured latency included): a measure can take the server's timer
   * jitter out of a client-side timing.
   */
  tokenServerMs: Record<string, number[]>
}

const TOKEN_ROUTE =
  /^\/(oauth2\/o\/token|stonex\/api\/v\/authentication|abbeycross\/v1\/oauth\/token|stablelink\/user\/auth\/oauth2\/token)\/?$/

function basicClientId(header: string | null): string {
  const m = header ? /^basic\s+(\S+)/i.exec(header) : null
  if (!m) return 'unknown'
  try {
    const decoded = atob(m[1]!)
    const id = decoded.slice(0, decoded.indexOf(':'))
    return decodeURIComponent(id.replace(/\+/g, ' '))
  } catch {
    return 'unknown'
  }
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  json: 'application/json',
}

async function main(): Promise<void> {
  const sandbox = createSandbox()
  const staticDir = process.env.BENCH_STATIC_DIR
  let counters: Counters = { tokenCalls: {}, tags: {}, tokenServerMs: {} }
  const seen = new Set<string>()
  let storm: { arrive(): Promise<void> } | undefined

  function armStorm(provider: 'oauth2', n: number, timeoutMs: number) {
    let arrived = 0
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const fire = () => {
      if (storm !== current) return
      storm = undefined
      clearTimeout(timer)
      sandbox.control.revoke(provider)
      release()
    }
    const timer = setTimeout(fire, timeoutMs)
    const current = {
      arrive() {
        if (++arrived >= n) fire()
        return released
      },
    }
    storm = current
  }

  async function control(url: URL, request: Request): Promise<Response> {
    const action = url.pathname.slice('/_bench/'.length)
    if (action === 'counters') return json(counters)
    if (action === 'reset-counters') {
      counters = { tokenCalls: {}, tags: {}, tokenServerMs: {} }
      seen.clear()
      return json({ ok: true })
    }
    if (action === 'storm') {
      const { n, timeoutMs = 5000 } = (await request.json()) as { n: number; timeoutMs?: number }
      armStorm('oauth2', n, timeoutMs)
      return json({ ok: true })
    }
    if (action.startsWith('static/') && staticDir) {
      const name = action.slice('static/'.length)
      if (!/^[\w.-]+$/.test(name)) return json({ error: 'not_found' }, 404)
      try {
        const body = await readFile(join(staticDir, name))
        return new Response(body, {
          headers: { 'content-type': CONTENT_TYPES[name.split('.').pop()!] ?? 'application/octet-stream', 'cache-control': 'no-store' },
        })
      } catch {
        return json({ error: 'not_found' }, 404)
      }
    }
    return json({ error: 'not_found' }, 404)
  }

  async function handle(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const request = input instanceof Request && !init ? input : new Request(input, init)
    const url = new URL(request.url)
    if (url.pathname.startsWith('/_bench/')) return control(url, request)
    if (request.method === 'POST' && TOKEN_ROUTE.test(url.pathname)) {
      const id = basicClientId(request.headers.get('authorization'))
      counters.tokenCalls[id] = (counters.tokenCalls[id] ?? 0) + 1
      const arrived = performance.now()
      const response = await sandbox.fetch(request)
      ;(counters.tokenServerMs[id] ??= []).push(performance.now() - arrived)
      return response
    }
    const hold = url.searchParams.get('hold')
    const id = url.searchParams.get('id')
    if (hold !== null && id !== null && !seen.has(id)) {
      seen.add(id)
      if (storm) await storm.arrive()
      await sleep(Number(hold))
    }
    const response = await sandbox.fetch(request)
    const tag = url.searchParams.get('tag')
    if (tag !== null) {
      const t = (counters.tags[tag] ??= { calls: 0, r401: 0 })
      t.calls++
      if (response.status === 401) t.r401++
    }
    return response
  }

  const server = await startSandboxServer({ port: 0, sandbox: { fetch: handle, control: sandbox.control } })
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`)
  let closing = false
  const stop = () => {
    if (closing) return
    closing = true
    server.close().finally(() => process.exit(0))
  }
  process.stdin.on('end', stop)
  process.stdin.on('close', stop)
  process.stdin.resume()
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

export interface BenchServer {
  /** `http://127.0.0.1:<port>` */
  url: string
  /** The sandbox's own HTTP control API (`/_control/<action>`). */
  control(action: string, body?: unknown): Promise<unknown>
  counters(): Promise<Counters>
  resetCounters(): Promise<void>
  /** Arms the revocation storm: after `n` held arrivals every oauth2 token is revoked. */
  armStorm(n: number): Promise<void>
  stop(): Promise<void>
}

/** Spawns the server (this file) with this Node and waits for its URL. */
export async function startBenchServer({ staticDir }: { staticDir?: string } = {}): Promise<BenchServer> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, ...(staticDir ? { BENCH_STATIC_DIR: staticDir } : {}) },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)
  const lines = createInterface({ input: child.stdout! })
  const first = await withTimeout(
    new Promise<string>((resolve, reject) => {
      lines.once('line', resolve)
      child.once('exit', (code) => reject(new Error(`bench server exited (${code})`)))
    }),
    20_000,
    'bench server start',
  )
  const { url } = JSON.parse(first) as { url: string }
  const call = async (path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(
      `${url}${path}`,
      body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
    )
    const answer = (await response.json()) as unknown
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${JSON.stringify(answer)}`)
    return answer
  }
  return {
    url,
    control: (action, body) => call(`/_control/${action}`, body),
    counters: () => call('/_bench/counters') as Promise<Counters>,
    resetCounters: async () => void (await call('/_bench/reset-counters', {})),
    armStorm: async (n) => void (await call('/_bench/storm', { n })),
    stop: async () => {
      process.off('exit', killOnExit)
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.stdin!.end()
      await withTimeout(exited, 5000, 'bench server stop').catch(() => child.kill('SIGKILL'))
    },
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}

/**
 * `npm run soak`: a bounded soak (loopback only). Sustained concurrent traffic with token
 * lifetimes of a few seconds and random revocations, first through the ky hooks against the
 * sandbox (every dialect), then through the edge Worker under wrangler dev (the `edge`
 * dialect). Reports requests, failures, token calls per token lifetime, and the heap after GC
 * every 10 s (first minute against last minute). SOAK_SECONDS (default 60) is the length of
 * each phase.
 */
import { spawn } from 'node:child_process'
import ky from 'ky'
import { SANDBOX_CREDENTIALS as C, type SandboxProvider } from '../apps/sandbox/src/index.ts'
import { abbeycross, edge, oauth2, stablelink, stonex, withPaymentAuth, type Provider } from '../packages/ky/src/index.ts'
import { startEdgeDev } from './edge-dev.ts'

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60)
const LIFETIME = 3 // seconds
const CONCURRENCY = 8 // loops per dialect
const CALLER_KEY = 'pa_demo_caller_key_0001'

const gc = (globalThis as { gc?: () => void }).gc
const heapMiB = () => {
  gc?.()
  return process.memoryUsage().heapUsed / 2 ** 20
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Heap after GC every 10 s while a phase runs: `stop()` gives the samples (MiB). */
function heapSampler(everyMs = 10_000) {
  const samples = [heapMiB()]
  const timer = setInterval(() => samples.push(heapMiB()), everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      samples.push(heapMiB())
      return samples
    },
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** The first minute's median heap against the last minute's (the goal: within 10%). */
function heapTrend(samples: number[]): string {
  const perMinute = 6
  const first = median(samples.slice(0, perMinute + 1))
  const last = median(samples.slice(-perMinute - 1))
  const ratio = last / first
  return `heap after GC, median of the first minute ${first.toFixed(1)} MiB, of the last minute ${last.toFixed(1)} MiB (x${ratio.toFixed(3)}, ${ratio <= 1.1 ? 'no growth: within 10%' : 'GROWING: more than 10%'}); samples: ${samples.map((x) => x.toFixed(1)).join(' ')}`
}

interface Row {
  requests: number
  failed: number
  tokenCalls: number
  callsPerLifetime: string
  revocations: number
}

/** Runs `CONCURRENCY` request loops per client for `ms`, revoking tokens at random meanwhile. */
async function drive(
  clients: Record<string, ReturnType<typeof ky.create>>,
  tokenCalls: (name: string) => Promise<number>,
  revoke: (name: string) => Promise<void>,
  ms: number,
): Promise<Record<string, Row>> {
  const until = Date.now() + ms
  const rows: Record<string, Row> = {}
  const failures: string[] = []
  await Promise.all(
    Object.entries(clients).map(async ([name, api]) => {
      const start = await tokenCalls(name)
      const row: Row = { requests: 0, failed: 0, tokenCalls: 0, callsPerLifetime: '', revocations: 0 }
      rows[name] = row
      const revoker = (async () => {
        while (Date.now() < until) {
          await sleep(500 + Math.random() * 2500)
          if (Date.now() >= until) break
          await revoke(name)
          row.revocations++
        }
      })()
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, loop) => {
          for (let i = 0; Date.now() < until; i++) {
            row.requests++
            try {
              const echo = await api.post('payments', { json: { loop, i } }).json<{ body: string }>()
              if (JSON.parse(echo.body).i !== i) throw new Error('body mismatch')
            } catch (error) {
              row.failed++
              if (failures.length < 5)
                failures.push(`${name}: ${(error as Error).name} ${(error as { code?: string }).code ?? (error as Error).message}`)
            }
          }
        }),
      )
      await revoker
      row.tokenCalls = (await tokenCalls(name)) - start
      row.callsPerLifetime = (row.tokenCalls / (ms / 1000 / LIFETIME)).toFixed(2)
    }),
  )
  if (failures.length) console.log('first failures:', failures)
  return rows
}

function report(title: string, rows: Record<string, Row>, heap: number[]) {
  console.log(`\n${title}: ${SECONDS} s, ${CONCURRENCY} loops per client, ${LIFETIME} s tokens, random revocations`)
  console.table(rows)
  const total = Object.values(rows).reduce((a, r) => ({ requests: a.requests + r.requests, failed: a.failed + r.failed }), {
    requests: 0,
    failed: 0,
  })
  console.log(`requests ${total.requests}, failed ${total.failed} (goal 0)`)
  console.log(gc ? heapTrend(heap) : 'heap: run with --expose-gc (npm run soak does) for figures after GC')
  return total.failed
}

/** The sandbox in its own process, so the heap figures are the client's alone. */
async function spawnSandbox() {
  const child = spawn(process.execPath, [new URL('../apps/sandbox/src/serve.ts', import.meta.url).pathname], {
    env: { ...process.env, SANDBOX_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1]!)
    })
    child.once('exit', () => reject(new Error(`sandbox exited: ${out}`)))
  })
  const stop = () => new Promise<void>((resolve) => (child.once('exit', () => resolve()), child.kill('SIGTERM')))
  return { url, stop }
}

const controller = (url: string) => (path: string, body?: unknown) =>
  fetch(
    `${url}/_control/${path}`,
    body ? { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : undefined,
  )
const counter = (control: ReturnType<typeof controller>) => async (name: string) =>
  ((await (await control(`stats?provider=${name}`)).json()) as { tokenCalls: number }).tokenCalls

async function hooksPhase(): Promise<number> {
  const { url, stop } = await spawnSandbox()
  const control = controller(url)
  try {
    const providers: Record<Exclude<SandboxProvider, 'paypal' | 'checkout'>, Provider> = {
      stablelink: stablelink({ baseUrl: `${url}/stablelink`, ...C.stablelink }),
      oauth2: oauth2({ tokenUrl: `${url}/oauth2/o/token/`, ...C.oauth2 }),
      stonex: stonex({ baseUrl: `${url}/stonex`, ...C.stonex }),
      abbeycross: abbeycross({ baseUrl: `${url}/abbeycross`, ...C.abbeycross }),
    }
    const clients: Record<string, ReturnType<typeof ky.create>> = {}
    for (const [name, provider] of Object.entries(providers)) {
      await control('configure', { provider: name, tokenLifetime: LIFETIME, tokenLatencyMs: 20 })
      clients[name] = ky.create({ baseUrl: `${url}/${name}/api/`, retry: 0 }).extend(withPaymentAuth({ provider }))
    }
    const heap = heapSampler()
    const rows = await drive(clients, counter(control), async (name) => void (await control('revoke', { provider: name })), SECONDS * 1000)
    return report('through the hooks (sandbox on loopback, its own process)', rows, heap.stop())
  } finally {
    await stop()
  }
}

async function edgePhase(): Promise<number> {
  const dev = await startEdgeDev()
  const control = controller(dev.sandbox.url)
  try {
    const names: SandboxProvider[] = ['oauth2', 'stonex']
    const clients: Record<string, ReturnType<typeof ky.create>> = {}
    for (const name of names) {
      await control('configure', { provider: name, tokenLifetime: LIFETIME * 4, tokenLatencyMs: 20 })
      const apiBaseUrl = `${dev.sandbox.url}/${name}/api`
      clients[name] = ky
        .create({ baseUrl: `${apiBaseUrl}/`, retry: 0 })
        .extend(withPaymentAuth({ provider: edge({ url: dev.edgeUrl, provider: name, credential: CALLER_KEY, apiBaseUrl }) }))
    }
    const heap = heapSampler()
    const rows = await drive(clients, counter(control), async (name) => void (await control('revoke', { provider: name })), SECONDS * 1000)
    return report('through the edge Worker (wrangler dev; calls counted at the provider)', rows, heap.stop())
  } finally {
    await dev.stop()
  }
}

const failed =
  (process.argv.includes('--edge-only') ? 0 : await hooksPhase()) + (process.argv.includes('--hooks-only') ? 0 : await edgePhase())
process.exit(failed ? 1 : 0)

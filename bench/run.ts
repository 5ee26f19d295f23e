/**
 * `npm run bench` runs every measure; `npm run bench -- <name> [<name>...]` runs some.
 *
 * Every measure compares payment-auth with its competitors (or its baseline) in this run, on
 * this machine, against the same loopback server; prints its tables; writes its chart to
 * bench/charts/<name>.svg. At the end bench/RESULTS.md is regenerated from bench/results.json,
 * which keeps the latest result of every measure (so running one measure refreshes one section).
 * Each measure is bounded in requests and in time, and the run always ends by itself.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { cold } from './cold.ts'
import { edge } from './edge.ts'
import { expiry } from './expiry.ts'
import { createContext, type Context } from './lib/context.ts'
import { otel } from './otel.ts'
import { environment, printSection, resultsMarkdown, type Outcome, type Section } from './lib/report.ts'
import { sleep, withTimeout } from './lib/stats.ts'
import { replay } from './replay.ts'
import { scale } from './scale.ts'
import { size } from './size.ts'
import { storm } from './storm.ts'
import { tabs } from './tabs.ts'
import { warm } from './warm.ts'

interface Measure {
  title: string
  /** Hard limit for the whole measure (ms). */
  timeoutMs: number
  run(ctx: Context): Promise<Outcome>
}

const MEASURES: Record<string, Measure> = {
  cold: { title: '1. Cold cache: 1,000 concurrent requests', timeoutMs: 120_000, run: (ctx) => cold(ctx) },
  storm: { title: '2. Revocation storm', timeoutMs: 90_000, run: (ctx) => storm(ctx) },
  expiry: { title: '3. Expiry: 2-second tokens', timeoutMs: 60_000, run: (ctx) => expiry(ctx) },
  warm: { title: '4. Warm path', timeoutMs: 150_000, run: (ctx) => warm(ctx) },
  replay: { title: '5. 401 replay latency', timeoutMs: 90_000, run: (ctx) => replay(ctx) },
  size: { title: '6. Bundle size', timeoutMs: 60_000, run: () => size() },
  tabs: { title: '7. Cross-tab: 8 tabs in Chromium', timeoutMs: 120_000, run: (ctx) => tabs(ctx) },
  edge: { title: '8. Edge Worker under wrangler dev', timeoutMs: 300_000, run: () => edge() },
  scale: { title: '9. Growth with distinct cache keys', timeoutMs: 150_000, run: () => scale() },
  otel: { title: '10. Telemetry: warm path with @payment-auth/otel', timeoutMs: 120_000, run: () => otel() },
}

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const RESULTS_JSON = here('./results.json')
const RESULTS_MD = here('./RESULTS.md')
const CHARTS = here('./charts/')

const wanted = process.argv.slice(2).filter((a) => a !== '--')
const unknown = wanted.filter((name) => !(name in MEASURES))
if (unknown.length) {
  console.error(`unknown measure: ${unknown.join(', ')}; choose from ${Object.keys(MEASURES).join(', ')}`)
  process.exit(2)
}
const names = wanted.length ? wanted : Object.keys(MEASURES)

const env = environment()
const started = performance.now()
const startedAt = new Date().toISOString()
console.log(`payment-auth benchmarks, ${startedAt}`)
console.log(
  `node ${env.machine.node}, ${env.machine.cpu} x ${env.machine.cores} cores, ${env.machine.memoryGiB} GiB, load average ${env.machine.loadAtStart.join(', ')}, commit ${env.commit}`,
)
console.log(
  Object.entries(env.versions)
    .map(([name, v]) => `${name} ${v}`)
    .join(', '),
)
console.log(`measures: ${names.join(', ')}`)

const previous: { sections?: Record<string, Section> } = existsSync(RESULTS_JSON)
  ? (JSON.parse(readFileSync(RESULTS_JSON, 'utf8')) as { sections?: Record<string, Section> })
  : {}
const sections: Record<string, Section> = { ...(previous.sections ?? {}) }
mkdirSync(CHARTS, { recursive: true })

let failures = 0
const ctx = createContext()
try {
  for (const name of names) {
    const measure = MEASURES[name]!
    const t0 = performance.now()
    const ranAt = new Date().toISOString()
    let outcome: Outcome
    // Let pending I/O and timers of the previous measure run (in-memory loops starve the event loop).
    await sleep(100)
    try {
      outcome = await withTimeout(measure.run(ctx), measure.timeoutMs, name)
    } catch (error) {
      failures++
      console.error(error)
      outcome = {
        id: name,
        title: measure.title,
        method: '',
        tables: [],
        goals: [],
        notes: [],
        error: error instanceof Error ? error.message : String(error),
      }
    }
    const { svg, ...rest } = outcome
    const section: Section = { ...rest, ranAt, seconds: (performance.now() - t0) / 1000 }
    if (svg && section.chart) writeFileSync(`${CHARTS}${section.chart}`, svg)
    printSection(section, env)
    sections[name] = section
  }
} finally {
  await ctx.close().catch(() => {})
}

const lastRun = {
  at: startedAt,
  measures: names,
  seconds: (performance.now() - started) / 1000,
  loadAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
}
writeFileSync(RESULTS_JSON, `${JSON.stringify({ environment: env, lastRun, sections }, null, 1)}\n`)
writeFileSync(RESULTS_MD, resultsMarkdown(env, Object.values(sections), Object.keys(MEASURES), lastRun))
console.log(
  `\nwrote bench/RESULTS.md and bench/charts/*.svg (${lastRun.seconds.toFixed(0)} s; load average ${env.machine.loadAtStart.join(', ')} at the start, ${lastRun.loadAtEnd.join(', ')} at the end)`,
)
// Anything a measure left behind (a hung socket, a child that would not die) must not keep us alive.
process.exit(failures ? 1 : 0)

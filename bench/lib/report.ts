/**
 * What a measure reports (tables, goals, a chart, notes), how it is printed to the console,
 * and how bench/RESULTS.md is generated from the latest result of every measure
 * (kept in bench/results.json, so `npm run bench -- <name>` refreshes one section).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem, type } from 'node:os'
import { fileURLToPath } from 'node:url'

export type Cell = string | number

export interface Table {
  title: string
  columns: string[]
  rows: Cell[][]
}

export interface Goal {
  /** What is measured, e.g. "token calls, 1,000 concurrent cold requests". */
  what: string
  /** The goal or limit, e.g. "1" or "<= +3 us". */
  goal: string
  /** Our figure. */
  ours: string
  met: boolean
}

export interface Section {
  id: string
  title: string
  ranAt: string
  seconds: number
  /** One paragraph: how it is measured. */
  method: string
  tables: Table[]
  goals: Goal[]
  notes: string[]
  /** File name under bench/charts/. */
  chart?: string
  /** Set when the measure failed or timed out. */
  error?: string
  /** Head-to-head lines for the summary of RESULTS.md: a label and one figure per competitor. */
  summary?: { label: string; values: Record<string, string> }[]
  /** Anything a later run or the README might want (raw figures). */
  data?: unknown
}

/** What a measure returns: its section (run.ts stamps the time) and the SVG of its chart. */
export type Outcome = Omit<Section, 'ranAt' | 'seconds'> & { svg?: string }

export interface Environment {
  machine: { cpu: string; cores: number; memoryGiB: number; os: string; node: string; loadAtStart: number[] }
  versions: Record<string, string>
  commit: string
}

const root = fileURLToPath(new URL('../../', import.meta.url))

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(`${root}node_modules/${pkg}/package.json`, 'utf8')) as { version: string }).version
  } catch {
    return 'n/a'
  }
}

export function environment(): Environment {
  const cpu = cpus()
  let commit = 'n/a'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' }).trim()
    if (dirty) commit += ' (with uncommitted changes)'
  } catch {
    // not a git checkout
  }
  return {
    machine: {
      cpu: cpu[0]?.model.trim() ?? 'unknown',
      cores: cpu.length,
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      os: `${type()} ${release()}`,
      node: process.version,
      loadAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    },
    versions: {
      '@payment-auth/ky':
        (JSON.parse(readFileSync(`${root}packages/ky/package.json`, 'utf8')) as { version: string }).version + ' (this repo)',
      '@payment-auth/store-idb':
        (JSON.parse(readFileSync(`${root}packages/store-idb/package.json`, 'utf8')) as { version: string }).version + ' (this repo)',
      ky: version('ky'),
      valibot: version('valibot'),
      '@badgateway/oauth2-client': version('@badgateway/oauth2-client'),
      axios: version('axios'),
      'axios-auth-refresh': version('axios-auth-refresh'),
      'idb-keyval': version('idb-keyval'),
      esbuild: version('esbuild'),
      playwright: version('playwright'),
      wrangler: version('wrangler'),
    },
    commit,
  }
}

/** The competitors with the versions measured. */
export function competitorLine(env: Environment): string {
  const v = env.versions
  return `payment-auth (@payment-auth/ky ${v['@payment-auth/ky']!.replace(' (this repo)', '')} on ky ${v.ky}), ky recipe (ky ${v.ky}), OAuth2Fetch (@badgateway/oauth2-client ${v['@badgateway/oauth2-client']}), axios-auth-refresh (axios ${v.axios} + axios-auth-refresh ${v['axios-auth-refresh']})`
}

/** Prints a section's tables, goals and notes. */
export function printSection(section: Section, env: Environment): void {
  console.log(`\n=== ${section.title} (${section.seconds.toFixed(1)} s)`)
  console.log(`versions: ${competitorLine(env)}`)
  if (section.error) console.log(`!! ${section.error}`)
  for (const table of section.tables) {
    console.log(`\n${table.title}`)
    const rows: Record<string, Record<string, Cell>> = {}
    for (const row of table.rows) {
      const record: Record<string, Cell> = {}
      table.columns.slice(1).forEach((column, i) => (record[column] = row[i + 1] ?? ''))
      rows[String(row[0])] = record
    }
    console.table(rows)
  }
  for (const goal of section.goals) console.log(`goal: ${goal.what}: ${goal.ours} (goal ${goal.goal}) -> ${goal.met ? 'met' : 'MISSED'}`)
  for (const note of section.notes) console.log(`note: ${note}`)
}

const cell = (c: Cell) => String(c).replace(/\|/g, '\\|').replace(/\n/g, ' ')

const NUMERIC = /^[-+]?[\d,.]+(?:\s?(?:us|ms|B|%|s))?$|^$/

export function markdownTable(table: Table): string {
  const right = table.columns.map(
    (_, i) => i > 0 && table.rows.every((row) => typeof row[i] === 'number' || NUMERIC.test(String(row[i] ?? ''))),
  )
  return [
    `| ${table.columns.map(cell).join(' | ')} |`,
    `|${right.map((r) => (r ? ' ---: ' : ' --- ')).join('|')}|`,
    ...table.rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n')
}

/** The whole of RESULTS.md. */
export function resultsMarkdown(
  env: Environment,
  sections: Section[],
  order: string[],
  lastRun: { at: string; measures: string[]; seconds: number; loadAtEnd: number[] },
): string {
  const byId = new Map(sections.map((s) => [s.id, s]))
  const ordered = order.map((id) => byId.get(id)).filter((s): s is Section => s !== undefined)
  const out: string[] = []
  out.push('# Benchmark results')
  out.push('')
  out.push(
    'Generated by `npm run bench` (`bench/run.ts`); do not edit by hand: every figure, table and chart below comes from the run. `npm run bench -- <name>` re-runs one measure and regenerates its section only (each section says when it ran).',
  )
  out.push('')
  out.push(`Latest run: ${lastRun.at}, measures: ${lastRun.measures.join(', ')}, ${lastRun.seconds.toFixed(0)} s end to end.`)
  out.push('')
  out.push('## Machine and versions')
  out.push('')
  out.push(`- CPU: ${env.machine.cpu}, ${env.machine.cores} cores; memory: ${env.machine.memoryGiB} GiB; ${env.machine.os}`)
  out.push(`- Node ${env.machine.node}; commit ${env.commit}`)
  out.push(
    `- Load average (1, 5, 15 min) at the start of the run: ${env.machine.loadAtStart.join(', ')}; at the end: ${lastRun.loadAtEnd.join(', ')}. Other processes on this ${env.machine.cores}-core machine add noise to every timing; counts (token calls, 401s, failures, bytes) are not affected.`,
  )
  out.push('')
  out.push(markdownTable({ title: '', columns: ['package', 'version'], rows: Object.entries(env.versions) }))
  out.push('')
  out.push(
    `Competitors (versions measured: ${competitorLine(env)}), all speaking client-credentials OAuth2 to the same loopback sandbox (\`apps/sandbox\`, \`oauth2\` dialect, 50 ms token latency), in the same run:`,
  )
  out.push('')
  out.push('- **payment-auth**: `ky.extend(withPaymentAuth({ provider: oauth2({...}) }))` (ours);')
  out.push(
    '- **ky recipe**: ky\'s README afterResponse hook "retry with a fresh token on a 401 error" (`ky.retry({request})`), as written, plus the usual beforeRequest hook attaching the cached token (fetched when missing);',
  )
  out.push('- **OAuth2Fetch**: `@badgateway/oauth2-client`, `new OAuth2Fetch({ client, getNewToken: () => client.clientCredentials() })`;')
  out.push("- **axios-auth-refresh**: axios + `createAuthRefreshInterceptor` with its README's refresh logic and request interceptor.")
  out.push('')
  out.push(
    'Medians over rounds; a ratio is taken within a round (each client against its own baseline, measured back to back) and the median of those ratios is reported.',
  )
  out.push('')
  const competitors = ['payment-auth', 'ky recipe', 'OAuth2Fetch', 'axios-auth-refresh']
  out.push('## At a glance')
  out.push('')
  out.push(
    markdownTable({
      title: '',
      columns: ['measure', ...competitors],
      rows: ordered.flatMap((s) => (s.summary ?? []).map((line) => [line.label, ...competitors.map((c) => line.values[c] ?? '')])),
    }),
  )
  out.push('')
  out.push('## Goals')
  out.push('')
  out.push(
    markdownTable({
      title: '',
      columns: ['measure', 'what', 'goal', 'payment-auth', ''],
      rows: ordered.flatMap((s) =>
        s.error && s.goals.length === 0
          ? [[s.title, 'failed: ' + s.error, '', '', 'n/a']]
          : s.goals.map((g) => [s.title, g.what, g.goal, g.ours, g.met ? 'met' : '**missed**']),
      ),
    }),
  )
  out.push('')
  for (const s of ordered) {
    out.push(`## ${s.title}`)
    out.push('')
    out.push(`_Ran ${s.ranAt}, ${s.seconds.toFixed(1)} s._ ${s.method}`)
    out.push('')
    if (s.error) {
      out.push(`**This measure failed:** ${s.error}`)
      out.push('')
    }
    for (const t of s.tables) {
      out.push(`**${t.title}**`)
      out.push('')
      out.push(markdownTable(t))
      out.push('')
    }
    if (s.chart) {
      out.push(`![${s.title}](charts/${s.chart})`)
      out.push('')
    }
    for (const n of s.notes) out.push(`- ${n}`)
    if (s.notes.length) out.push('')
  }
  return out.join('\n')
}

/**
 * 7. Cross-tab: 8 tabs of one loopback origin open at once on a cold cache, in real Chromium
 * (Debian's, driven by playwright). Each tab runs an esbuild bundle that builds one client and
 * makes one API request; the server counts token calls. Ours uses idbStore (IndexedDB + Web
 * Locks + BroadcastChannel) and should make 1 call; the competitors keep tokens in memory
 * (they have no cross-tab sharing), so 8 are expected: measured anyway. A fresh browser
 * context per round makes the cache cold (empty IndexedDB).
 */
import { build } from 'esbuild'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright'
import { CHROMIUM_ARGS, findChromium } from '../scripts/chromium.ts'
import { CLIENT_ID, type Competitor } from './lib/clients.ts'
import { TOKEN_LATENCY_MS, type Context } from './lib/context.ts'
import type { Outcome } from './lib/report.ts'
import { median, rotate, withTimeout } from './lib/stats.ts'
import { barChart } from './lib/svg.ts'

const OURS_MEMORY = 'payment-auth, memoryStore'
type Variant = Competitor | typeof OURS_MEMORY
const VARIANTS: readonly Variant[] = ['payment-auth', OURS_MEMORY, 'ky recipe', 'OAuth2Fetch', 'axios-auth-refresh']
const STORE: Record<Variant, string> = {
  'payment-auth': 'idbStore (IndexedDB, Web Locks, BroadcastChannel)',
  [OURS_MEMORY]: 'memoryStore (per tab)',
  'ky recipe': 'a variable, per tab',
  OAuth2Fetch: 'memory, per tab (its storeToken/getStoredToken hooks can persist a token, but nothing single-flights across tabs)',
  'axios-auth-refresh': 'a variable, per tab (the README reads it from localStorage: shared, but nothing single-flights across tabs)',
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

/** The page script: one client of the kind named in `?client=`, one request, the result in `window.__result`. */
const ENTRY = `
import { FACTORIES, CLIENT_SECRET } from ${JSON.stringify(here('./lib/clients.ts'))}
import { idbStore } from '@payment-auth/store-idb'
const q = new URLSearchParams(location.search)
const variant = q.get('client')
const kind = variant === ${JSON.stringify(OURS_MEMORY)} ? 'payment-auth' : variant
const setup = { tokenUrl: location.origin + '/oauth2/o/token/', clientId: q.get('id'), clientSecret: CLIENT_SECRET }
if (variant === 'payment-auth') setup.store = idbStore({ dbName: 'payment-auth-bench' })
FACTORIES[kind](setup)
  .send('GET', location.origin + '/oauth2/api/tab?tag=' + encodeURIComponent(q.get('tag')))
  .then(() => { window.__result = 'ok' }, (error) => { window.__result = 'error: ' + (error && error.message || error) })
`

export async function tabs(ctx: Context, { tabCount = 8, rounds = 3 } = {}): Promise<Outcome> {
  const server = await ctx.server()
  await build({
    stdin: { contents: ENTRY, loader: 'js', resolveDir: here('../'), sourcefile: 'tab-entry.js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Our packages from their sources (the export condition of this repository's tools).
    conditions: ['@payment-auth/source'],
    define: { 'process.env.NODE_ENV': '"production"' },
    outfile: join(ctx.staticDir, 'tab.js'),
    logLevel: 'silent',
  })
  writeFileSync(
    join(ctx.staticDir, 'tab.html'),
    '<!doctype html><meta charset="utf-8"><title>bench tab</title><script type="module" src="tab.js"></script>\n',
  )

  const found = await findChromium()
  const browser = await chromium.launch({
    ...(found && { executablePath: found.executablePath }),
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  })
  const browserVersion = browser.version()
  type F = { calls: number[]; ok: number[]; ms: number[]; errors: string[] }
  const figures = Object.fromEntries(VARIANTS.map((v) => [v, { calls: [], ok: [], ms: [], errors: [] }])) as unknown as Record<Variant, F>
  try {
    for (let r = 0; r < rounds; r++) {
      for (const v of rotate(VARIANTS, r)) {
        const context = await browser.newContext()
        try {
          const pages = await Promise.all(Array.from({ length: tabCount }, () => context.newPage()))
          await server.resetCounters()
          const id = CLIENT_ID[v === OURS_MEMORY ? 'payment-auth' : v]
          const url = `${server.url}/_bench/static/tab.html?client=${encodeURIComponent(v)}&id=${id}&tag=tabs-${r}`
          const started = performance.now()
          await withTimeout(Promise.all(pages.map((page) => page.goto(url))), 30_000, `${v}: opening ${tabCount} tabs`)
          const results = await withTimeout(
            Promise.all(
              pages.map(
                async (page) =>
                  (
                    await page.waitForFunction(() => (window as unknown as { __result?: string }).__result, null, { timeout: 20_000 })
                  ).jsonValue() as Promise<string>,
              ),
            ),
            30_000,
            `${v}: ${tabCount} tabs`,
          )
          const ms = performance.now() - started
          const counters = await server.counters()
          figures[v].calls.push(counters.tokenCalls[id] ?? 0)
          figures[v].ok.push(results.filter((x) => x === 'ok').length)
          figures[v].ms.push(ms)
          figures[v].errors.push(...results.filter((x) => x !== 'ok'))
        } finally {
          await context.close()
        }
      }
    }
  } finally {
    await browser.close()
  }
  const m = (v: Variant) => ({ calls: median(figures[v].calls), ok: median(figures[v].ok), ms: median(figures[v].ms) })
  const ours = m('payment-auth')
  const errors = VARIANTS.filter((v) => figures[v].errors.length).map(
    (v) => `${v}: ${figures[v].errors.length} tab(s) failed, e.g. ${figures[v].errors[0]}`,
  )
  return {
    id: 'tabs',
    title: '7. Cross-tab: 8 tabs in Chromium',
    method: `Chromium ${browserVersion} (headless, ${found ? `${found.source} ${found.executablePath}` : "playwright's own"} driven by playwright). Each round (${rounds}) opens a fresh browser context (empty IndexedDB), ${tabCount} pages, and navigates them all at once to one loopback origin that serves the page, the token endpoint and the API (token latency ${TOKEN_LATENCY_MS} ms). Each page bundles one client (esbuild) and makes one request. The server counts token calls.`,
    tables: [
      {
        title: `token calls for ${tabCount} tabs opened at once on a cold cache (median of ${rounds} rounds; goal for payment-auth + idbStore: 1)`,
        columns: ['client', 'token store', 'token calls', 'each round', 'tabs ok', 'ms until all tabs answered'],
        rows: VARIANTS.map((v) => [v, STORE[v], m(v).calls, figures[v].calls.join(' / '), `${m(v).ok}/${tabCount}`, m(v).ms.toFixed(0)]),
      },
    ],
    goals: [
      {
        what: `token calls, ${tabCount} tabs on a cold cache (idbStore)`,
        goal: '1',
        ours: String(ours.calls),
        met: ours.calls <= 1 && ours.ok === tabCount,
      },
    ],
    notes: ['None of the competitors shares tokens across tabs: each tab fetches its own, as measured.', ...errors],
    summary: [
      {
        label: `7. ${tabCount} tabs, cold cache, Chromium: token calls`,
        values: Object.fromEntries(
          VARIANTS.filter((v) => v !== OURS_MEMORY).map((v) => [v, `${m(v).calls}${v === 'payment-auth' ? ' (idbStore)' : ''}`]),
        ),
      },
    ],
    data: { browser: browserVersion, figures },
    chart: 'tabs.svg',
    svg: barChart(
      `Cross-tab: token calls for ${tabCount} tabs, cold cache, Chromium`,
      [
        {
          title: 'token calls (goal for payment-auth + idbStore: 1)',
          goal: { value: 1, label: 'goal 1' },
          bars: VARIANTS.map((v) => ({
            label: v,
            value: m(v).calls,
            kind: v === 'payment-auth' ? 'ours' : v === OURS_MEMORY ? 'baseline' : 'competitor',
          })),
        },
      ],
      `median of ${rounds} rounds; Chromium ${browserVersion}`,
    ),
  }
}

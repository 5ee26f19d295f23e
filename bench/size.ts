/**
 * 6. Minified + gzipped bundle of each competitor as a browser app would ship it (esbuild,
 * minify, ESM, platform browser, gzip -9), with ky / axios excluded (the app has them anyway)
 * and included. Ours: withPaymentAuth + one dialect (valibot included). The regression budget
 * of that figure lives in bench/budget.ts (checked by bench/size.test.ts); the goal below is
 * the target we report against.
 */
import { build, type Plugin } from 'esbuild'
import { readdirSync, readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { BUNDLE_BUDGET_BYTES } from './budget.ts'
import type { Outcome } from './lib/report.ts'
import { barChart } from './lib/svg.ts'

/** The size we aim for: withPaymentAuth + one dialect, minified + gzipped, ky excluded. */
export const SIZE_GOAL = 3000

const root = fileURLToPath(new URL('../', import.meta.url))
const KY_SRC = fileURLToPath(new URL('../packages/ky/src/index.ts', import.meta.url))

export interface Size {
  minified: number
  gzipped: number
  /** Minified bytes per input (esbuild metafile), grouped: `valibot`, `ky src: <file>`, or the package name. */
  inputs: Record<string, number>
}

function group(path: string): string {
  const src = /packages\/ky\/src\/(.+)$/.exec(path)
  if (src) return `@payment-auth/ky src/${src[1]}`
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
  return pkg ? pkg[1]! : path
}

/**
 * Replaces valibot with empty functions of the names @payment-auth/ky uses: the bundle no longer
 * validates, but its size says what everything except valibot weighs.
 */
function valibotStub(): Plugin {
  const dir = fileURLToPath(new URL('../packages/ky/src/', import.meta.url))
  const names = new Set<string>()
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(`${d}${entry.name}/`)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
        for (const m of readFileSync(`${d}${entry.name}`, 'utf8').matchAll(/\bv\.([A-Za-z]+)/g)) names.add(m[1]!)
    }
  }
  walk(dir)
  return {
    name: 'valibot-stub',
    setup(b) {
      b.onResolve({ filter: /^valibot$/ }, () => ({ path: 'valibot', namespace: 'stub' }))
      b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
        // `export { f as name }`: a name may be a reserved word (`v.function`).
        contents: `const f = () => f\nexport { ${[...names].map((n) => `f as ${n}`).join(', ')} }\n`,
        loader: 'js',
      }))
    },
  }
}

/** Bundles `contents` (an ES module) for the browser; `external` packages are left out. */
export async function bundle(contents: string, external: string[] = [], { stubValibot = false } = {}): Promise<Size> {
  const result = await build({
    stdin: { contents, loader: 'ts', resolveDir: root, sourcefile: 'bench-entry.ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    external,
    // Our packages from their sources (the export condition of this repository's tools).
    conditions: ['@payment-auth/source'],
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
    plugins: stubValibot ? [valibotStub()] : [],
    metafile: true,
    write: false,
  })
  const code = result.outputFiles[0]!.contents
  const inputs: Record<string, number> = {}
  for (const output of Object.values(result.metafile.outputs)) {
    for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) inputs[group(path)] = (inputs[group(path)] ?? 0) + bytesInOutput
  }
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length, inputs }
}

/** Our figure: `names` exported from @payment-auth/ky, ky excluded. */
export function bundleSize(names: string[]): Promise<Size> {
  return bundle(`export { ${names.join(', ')} } from ${JSON.stringify(KY_SRC)}`, ['ky'])
}

/** The one-dialect figure the budget and the goal are about. */
export const oneDialectSize = () => bundleSize(['withPaymentAuth', 'oauth2'])

const KY_RECIPE = `
import ky from 'ky'
export function createApi(tokenUrl, clientId, clientSecret) {
  let token
  const getNewToken = async () => {
    const { access_token } = await ky.post(tokenUrl, { body: new URLSearchParams({ grant_type: 'client_credentials' }), headers: { authorization: 'Basic ' + btoa(clientId + ':' + clientSecret) } }).json()
    return (token = access_token)
  }
  return ky.create({
    hooks: {
      beforeRequest: [async ({ request }) => { request.headers.set('Authorization', 'Bearer ' + (token ?? (await getNewToken()))) }],
      afterResponse: [async ({ request, response, retryCount }) => {
        if (response.status === 401 && retryCount === 0) {
          const fresh = await getNewToken()
          const headers = new Headers(request.headers)
          headers.set('Authorization', 'Bearer ' + fresh)
          return ky.retry({ request: new Request(request, { headers }), code: 'TOKEN_REFRESHED' })
        }
      }],
    },
  })
}
`

interface Row {
  name: string
  what: string
  kind: 'ours' | 'competitor'
  excluded: Size
  included: Size
}

export async function size(): Promise<Outcome> {
  const ours = (names: string[], extra = '') => `export { ${names.join(', ')} } from ${JSON.stringify(KY_SRC)}\n${extra}`
  const withKy = "export { default as ky } from 'ky'\n"
  const rows: Row[] = []
  const add = async (name: string, what: string, kind: Row['kind'], contents: string, lib: 'ky' | 'axios' | undefined) => {
    rows.push({
      name,
      what,
      kind,
      excluded: await bundle(contents, lib ? [lib] : []),
      included: await bundle(
        lib === 'ky' ? contents + withKy : lib === 'axios' ? contents + "export { default as axios } from 'axios'\n" : contents,
      ),
    })
  }
  await add('payment-auth', 'withPaymentAuth + oauth2', 'ours', ours(['withPaymentAuth', 'oauth2']), 'ky')
  await add('ky recipe', "ky README afterResponse + beforeRequest (the app's own code)", 'competitor', KY_RECIPE, 'ky')
  await add(
    'OAuth2Fetch',
    'OAuth2Client + OAuth2Fetch (uses fetch: no ky/axios)',
    'competitor',
    "export { OAuth2Client, OAuth2Fetch } from '@badgateway/oauth2-client'\n",
    undefined,
  )
  await add(
    'axios-auth-refresh',
    'createAuthRefreshInterceptor',
    'competitor',
    "export { default as createAuthRefreshInterceptor } from 'axios-auth-refresh'\n",
    'axios',
  )
  const more: Row[] = []
  for (const dialect of ['stablelink', 'stonex', 'abbeycross', 'edge']) {
    const contents = ours(['withPaymentAuth', dialect])
    more.push({
      name: `payment-auth + ${dialect}`,
      what: `withPaymentAuth + ${dialect}`,
      kind: 'ours',
      excluded: await bundle(contents, ['ky']),
      included: await bundle(contents + withKy),
    })
  }
  {
    const contents = ours(['withPaymentAuth', 'edge'], `export { idbStore } from '@payment-auth/store-idb'\n`)
    more.push({
      name: 'payment-auth + edge + idbStore',
      what: 'the browser setup: edge dialect + idbStore (idb-keyval included)',
      kind: 'ours',
      excluded: await bundle(contents, ['ky']),
      included: await bundle(contents + withKy),
    })
  }
  {
    const contents = ours([
      'withPaymentAuth',
      'createTokenManager',
      'memoryStore',
      'isPaymentAuthError',
      'PaymentAuthError',
      'defineProvider',
      'oauth2',
      'stablelink',
      'stonex',
      'abbeycross',
      'edge',
    ])
    more.push({
      name: 'payment-auth, everything',
      what: 'every export, every dialect',
      kind: 'ours',
      excluded: await bundle(contents, ['ky']),
      included: await bundle(contents + withKy),
    })
  }
  const one = rows[0]!.excluded.gzipped
  const ourInputs = Object.entries(rows[0]!.excluded.inputs)
    .filter(([, bytes]) => bytes > 0)
    .sort((a, b) => b[1] - a[1])
  const ourTotal = ourInputs.reduce((t, [, b]) => t + b, 0)
  const valibotBytes = rows[0]!.excluded.inputs['valibot'] ?? 0
  const withoutValibot = await bundle(ours(['withPaymentAuth', 'oauth2']), ['ky'], { stubValibot: true })
  more.push({
    name: 'payment-auth, valibot stubbed out',
    what: 'withPaymentAuth + oauth2 with valibot replaced by empty functions: what the rest weighs (does not validate)',
    kind: 'ours',
    excluded: withoutValibot,
    included: await bundle(ours(['withPaymentAuth', 'oauth2']) + withKy, [], { stubValibot: true }),
  })
  const row = (r: Row) => [r.name, r.what, r.excluded.minified, r.excluded.gzipped, r.included.gzipped]
  return {
    id: 'size',
    title: '6. Bundle size',
    method:
      'esbuild (minify, ESM, platform browser, es2022), then gzip -9 of the output; ky or axios left external ("excluded") or bundled ("included"). Ours includes valibot, which it uses to validate token answers.',
    tables: [
      {
        title: `minified + gzipped bytes (goal for payment-auth with one dialect, ky excluded: <= ${SIZE_GOAL}; regression budget ${BUNDLE_BUDGET_BYTES} in bench/budget.ts)`,
        columns: ['bundle', 'what', 'minified, excluded', 'gzipped, ky/axios excluded', 'gzipped, ky/axios included'],
        rows: rows.map(row),
      },
      {
        title: 'where the bytes of withPaymentAuth + oauth2 go (minified, before gzip; esbuild metafile)',
        columns: ['input', 'minified bytes', 'share'],
        rows: ourInputs.map(([name, bytes]) => [name, bytes, `${((100 * bytes) / ourTotal).toFixed(1)}%`]),
      },
      {
        title: 'payment-auth, other shapes (gzipped bytes)',
        columns: ['bundle', 'what', 'minified, excluded', 'gzipped, ky excluded', 'gzipped, ky included'],
        rows: more.map(row),
      },
    ],
    goals: [
      { what: 'withPaymentAuth + one dialect, min+gzip, ky excluded', goal: `<= ${SIZE_GOAL} B`, ours: `${one} B`, met: one <= SIZE_GOAL },
    ],
    notes: [
      one > SIZE_GOAL
        ? `Over the goal by ${one - SIZE_GOAL} B. valibot, which validates every token answer, is ${((100 * valibotBytes) / ourTotal).toFixed(0)}% of the minified bytes (${valibotBytes} of ${ourTotal}); with valibot stubbed out the same bundle gzips to ${withoutValibot.gzipped} B, so dropping valibot for hand-written checks saves about ${one - withoutValibot.gzipped} B and still leaves ${withoutValibot.gzipped - SIZE_GOAL > 0 ? `${withoutValibot.gzipped - SIZE_GOAL} B over` : 'us within'} the ${SIZE_GOAL} B goal: the token manager (${rows[0]!.excluded.inputs['@payment-auth/ky src/manager.ts'] ?? 0} minified bytes: single-flight, two refresh windows, backoff, breaker, store I/O with deadlines, events) is the next largest part. The budget test (bench/size.test.ts) only stops regressions past ${BUNDLE_BUDGET_BYTES} B.`
        : `Within the goal; the budget test (bench/size.test.ts) stops regressions past ${BUNDLE_BUDGET_BYTES} B.`,
      'The ky recipe is the smallest because it is a dozen lines of app code that do none of the work measured in 1-3 (single-flight, refresh ahead, compare-and-invalidate).',
    ],
    summary: [
      {
        label: '6. bundle, min+gzip bytes: ky/axios excluded / included',
        values: Object.fromEntries(rows.map((r) => [r.name, `${r.excluded.gzipped} / ${r.included.gzipped}`])),
      },
    ],
    data: { rows, more },
    chart: 'size.svg',
    svg: barChart(
      'Bundle size, minified + gzipped',
      [
        {
          title: 'ky / axios excluded, bytes',
          goal: { value: SIZE_GOAL, label: `goal (ours) ${SIZE_GOAL} B` },
          bars: rows.map((r) => ({ label: r.name, value: r.excluded.gzipped, display: `${r.excluded.gzipped} B`, kind: r.kind })),
        },
        {
          title: 'ky / axios included, bytes',
          bars: rows.map((r) => ({ label: r.name, value: r.included.gzipped, display: `${r.included.gzipped} B`, kind: r.kind })),
        },
      ],
      'esbuild --minify, gzip -9; OAuth2Fetch needs neither ky nor axios',
    ),
  }
}

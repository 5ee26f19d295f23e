/**
 * 6. Minified + gzipped bundle of each competitor as a browser app would ship it (esbuild,
 * minify, ESM, platform browser, gzip -9), with ky / axios excluded (the app has them anyway)
 * and included. Ours: withPaymentAuth + one dialect (valibot included). The regression budget
 * of that figure lives in bench/budget.ts (checked by bench/size.test.ts); the goal below is
 * the target we report against.
 */
import { build, type Plugin } from 'esbuild'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { installedDist, rootModules } from './lib/dist.ts'
import { BUDGETS, GOALS, type ShapeName } from './budget.ts'
import type { Outcome } from './lib/report.ts'
import { barChart } from './lib/svg.ts'

export interface Size {
  /** Minified bytes loaded up front. */
  minified: number
  /** Gzipped bytes loaded up front. */
  gzipped: number
  /** Gzipped bytes of the chunks loaded on first use (dynamic imports). */
  lazy: number
  /** The input files (paths) of what loads up front, and of what loads on first use. */
  upFrontInputs: string[]
  lazyInputs: string[]
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

export interface BundleOptions {
  /** Replace valibot with empty functions (what the rest weighs). */
  stubValibot?: boolean
  /** `dist`: our packages as published (built by bench/lib/dist.ts, what users bundle); `source`: their TypeScript, for a per-module breakdown. */
  from?: 'dist' | 'source'
}

/**
 * Bundles `contents` (an ES module importing `@payment-auth/*` and npm packages) for the browser as
 * an app's bundler does: esbuild, minify, ESM, code splitting on. `gzipped` is what the page loads
 * up front (the entry and what it imports statically); `lazy` what loads on first use (a dynamic
 * `import()`, e.g. the private_key_jwt signer). `external` packages are left out.
 */
export async function bundle(
  contents: string,
  external: string[] = [],
  { stubValibot = false, from = 'dist' }: BundleOptions = {},
): Promise<Size> {
  const work = mkdtempSync(join(tmpdir(), 'payment-auth-size-'))
  // From dist, the entry sits beside the built packages' node_modules; from source, it finds ours
  // through `nodePaths` (the workspace links), so nothing is written into the repository.
  const entry = join(from === 'dist' ? await installedDist() : work, `.size-entry-${basename(work)}.ts`)
  writeFileSync(entry, contents)
  try {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      minify: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      external,
      nodePaths: [rootModules],
      // From source: our packages' TypeScript (the export condition of this repository's tools).
      conditions: from === 'source' ? ['@payment-auth/source'] : [],
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel: 'silent',
      plugins: stubValibot ? [valibotStub()] : [],
      metafile: true,
      outdir: work,
      write: false,
    })
    const outputs = result.metafile.outputs
    const entryOut = Object.keys(outputs).find((name) => outputs[name]!.entryPoint !== undefined)!
    const initial = new Set<string>()
    const visit = (name: string) => {
      if (initial.has(name)) return
      initial.add(name)
      for (const i of outputs[name]!.imports) if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path)
    }
    visit(entryOut)
    const text = (names: string[]) =>
      names.map((name) => result.outputFiles.find((f) => f.path.endsWith(name.replace(/^.*\//, '')))!.text).join('\n')
    const upFront = text([...initial])
    // Chunks the up-front code can load (esbuild also emits a chunk for a dynamic import its tree shaking dropped).
    const lazyNames = [
      ...new Set([...initial].flatMap((name) => outputs[name]!.imports.filter((i) => i.kind === 'dynamic-import').map((i) => i.path))),
    ].filter((name) => !initial.has(name))
    const inputsOf = (names: Iterable<string>) => [...names].flatMap((name) => Object.keys(outputs[name]!.inputs))
    const inputs: Record<string, number> = {}
    for (const output of Object.values(outputs)) {
      for (const [path, { bytesInOutput }] of Object.entries(output.inputs))
        inputs[group(path)] = (inputs[group(path)] ?? 0) + bytesInOutput
    }
    return {
      minified: upFront.length,
      gzipped: gzipSync(upFront, { level: 9 }).length,
      lazy: lazyNames.reduce((t, name) => t + gzipSync(text([name]), { level: 9 }).length, 0),
      upFrontInputs: inputsOf(initial),
      lazyInputs: inputsOf(lazyNames),
      inputs,
    }
  } finally {
    rmSync(entry, { force: true })
    rmSync(work, { recursive: true, force: true })
  }
}

/** The three shapes users build, with their budgets (bench/budget.ts). */
export const SHAPES = {
  /** withPaymentAuth + one dialect: the figure the issue compares with OAuth2Fetch. */
  oneDialect: "export { withPaymentAuth, oauth2 } from '@payment-auth/ky'\n",
  /** A frontend: the edge dialect and IndexedDB shared across tabs. */
  frontend: "export { withPaymentAuth, edge } from '@payment-auth/ky'\nexport { idbStore } from '@payment-auth/store-idb'\n",
  /** Every export of the main entry. */
  everything: "export * from '@payment-auth/ky'\n",
} as const satisfies Record<ShapeName, string>

/** One shape as users build it (dist, ky excluded). */
export const shapeSize = (shape: ShapeName) => bundle(SHAPES[shape], ['ky'])

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

/** What each module of withPaymentAuth + oauth2 does: the behaviour its bytes pay for. */
const BEHAVIOUR: Record<string, string> = {
  valibot: 'validation engine: option checks of every factory, token-answer checks',
  '@payment-auth/ky src/manager.ts':
    'token manager: cache, single flight, refresh ahead (and in the background), refresh grant, rejection epochs, backoff, breaker, store I/O with deadlines and lock, events',
  '@payment-auth/ky src/hooks.ts': 'ky hooks: attach the token, origin guard, 401 replay (body copy, second replay), abort',
  '@payment-auth/ky src/answer.ts': 'token answers: bounded JSON read, checks, lifetime (expires_in, JWT exp), error mapping, Retry-After',
  '@payment-auth/ky src/client-auth.ts': 'client authentication: secret basic/post, tls, private_key_jwt key checks',
  '@payment-auth/ky src/jws.ts': 'private_key_jwt signing (WebCrypto JWS): loaded on first use',
  '@payment-auth/ky src/dialects/oauth2.ts': 'the oauth2 dialect: options, token request',
  '@payment-auth/ky src/options.ts': 'option checks and their messages',
  '@payment-auth/ky src/errors.ts': 'PaymentAuthError, guards, redaction of secrets',
  '@payment-auth/ky src/store.ts': 'stored-record checks (readRecord) and lifetimes',
  '@payment-auth/ky src/provider.ts': 'defineProvider',
  '@payment-auth/ky src/diagnostics.ts': 'diagnostics tap (events to tests and telemetry)',
  '@payment-auth/ky src/events.ts': 'event helpers',
}

/** A row for results.json: sizes, without the input paths (temporary directories, different each run). */
const withoutPaths = (r: Row) => {
  const sizes = ({ upFrontInputs: _u, lazyInputs: _l, ...rest }: Size) => rest
  return { ...r, excluded: sizes(r.excluded), included: sizes(r.included) }
}

export async function size(): Promise<Outcome> {
  const withKy = "export { default as ky } from 'ky'\n"
  const rows: Row[] = []
  const add = async (name: string, what: string, kind: Row['kind'], contents: string, lib: 'ky' | 'axios' | undefined) => {
    const added: Row = {
      name,
      what,
      kind,
      excluded: await bundle(contents, lib ? [lib] : []),
      included: await bundle(
        lib === 'ky' ? contents + withKy : lib === 'axios' ? contents + "export { default as axios } from 'axios'\n" : contents,
      ),
    }
    rows.push(added)
    return added
  }
  const oneDialect = await add('payment-auth', 'withPaymentAuth + oauth2', 'ours', SHAPES.oneDialect, 'ky')
  await add('ky recipe', "ky README afterResponse + beforeRequest (the app's own code)", 'competitor', KY_RECIPE, 'ky')
  const oauth2FetchRow = await add(
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
  const ours = async (name: string, what: string, contents: string) => {
    const row: Row = { name, what, kind: 'ours', excluded: await bundle(contents, ['ky']), included: await bundle(contents + withKy) }
    more.push(row)
    return row
  }
  for (const dialect of ['stablelink', 'stonex', 'abbeycross', 'edge', 'paypal']) {
    await ours(
      `payment-auth + ${dialect}`,
      `withPaymentAuth + ${dialect}`,
      `export { withPaymentAuth, ${dialect} } from '@payment-auth/ky'\n`,
    )
  }
  const frontend = await ours(
    'payment-auth + edge + idbStore',
    'the frontend shape: edge dialect + idbStore (idb-keyval included)',
    SHAPES.frontend,
  )
  const everything = await ours('payment-auth, everything', 'every export of @payment-auth/ky, every dialect', SHAPES.everything)
  const shapes: Record<ShapeName, Size> = { oneDialect: oneDialect.excluded, frontend: frontend.excluded, everything: everything.excluded }

  // Per module, from the sources (the dist's chunks do not say which module a byte came from).
  const bySource = await bundle(SHAPES.oneDialect, ['ky'], { from: 'source' })
  const ourInputs = Object.entries(bySource.inputs)
    .filter(([, bytes]) => bytes > 0)
    .sort((a, b) => b[1] - a[1])
  const ourTotal = ourInputs.reduce((t, [, b]) => t + b, 0)
  const gzPerByte = bySource.gzipped / bySource.minified
  const withoutValibot = await bundle(SHAPES.oneDialect, ['ky'], { stubValibot: true, from: 'source' })
  more.push({
    name: 'payment-auth, valibot stubbed out',
    what: 'withPaymentAuth + oauth2 with valibot replaced by empty functions: what the rest weighs (does not validate)',
    kind: 'ours',
    excluded: withoutValibot,
    included: await bundle(SHAPES.oneDialect + withKy, [], { stubValibot: true, from: 'source' }),
  })
  const one = shapes.oneDialect.gzipped
  /** The one-dialect goal: OAuth2Fetch's size, measured in this run. */
  const oauth2Fetch = oauth2FetchRow.excluded.gzipped
  const row = (r: Row) => [r.name, r.what, r.excluded.minified, r.excluded.gzipped, r.excluded.lazy || '', r.included.gzipped]
  return {
    id: 'size',
    title: '6. Bundle size',
    method:
      'As users build: each package\'s published `dist` (its own tsdown config, built into a temporary node_modules), bundled by esbuild (minify, ESM, platform browser, es2022, code splitting as an app\'s bundler does), then gzip -9; ky or axios left external ("excluded") or bundled ("included"). "Up front" is what a page loads with the entry; "on first use" the chunks behind a dynamic import (the private_key_jwt signer). Ours includes valibot, which it uses to validate options and token answers.',
    tables: [
      {
        title: `minified + gzipped bytes (goal for payment-auth with one dialect, ky excluded: <= ${oauth2Fetch}, OAuth2Fetch's; budgets in bench/budget.ts)`,
        columns: [
          'bundle',
          'what',
          'minified, up front',
          'gzipped up front, ky/axios excluded',
          'gzipped on first use',
          'gzipped, ky/axios included',
        ],
        rows: rows.map(row),
      },
      {
        title:
          "what withPaymentAuth + oauth2 pays for, per module (minified bytes from the sources; gzipped estimated at the bundle's own ratio)",
        columns: ['module', 'behaviour', 'minified bytes', 'share', '~gzipped bytes'],
        rows: ourInputs.map(([name, bytes]) => [
          name,
          BEHAVIOUR[name] ?? '',
          bytes,
          `${((100 * bytes) / ourTotal).toFixed(1)}%`,
          Math.round(bytes * gzPerByte),
        ]),
      },
      {
        title: 'payment-auth, other shapes',
        columns: ['bundle', 'what', 'minified, up front', 'gzipped up front, ky excluded', 'gzipped on first use', 'gzipped, ky included'],
        rows: more.map(row),
      },
      {
        title: 'the three shapes against their budgets (bench/size.test.ts fails past them)',
        columns: ['shape', 'gzipped up front, ky excluded', 'budget', 'goal'],
        rows: (Object.keys(shapes) as ShapeName[]).map((k) => [
          k,
          shapes[k].gzipped,
          BUDGETS[k],
          k === 'oneDialect' ? oauth2Fetch : ((GOALS as Partial<Record<ShapeName, number>>)[k] ?? ''),
        ]),
      },
    ],
    goals: [
      {
        what: 'withPaymentAuth + one dialect, min+gzip, ky excluded',
        goal: `<= ${oauth2Fetch} B`,
        ours: `${one} B`,
        met: one <= oauth2Fetch,
      },
      {
        what: 'frontend: withPaymentAuth + edge + idbStore, min+gzip, ky excluded',
        goal: `<= ${GOALS.frontend} B`,
        ours: `${shapes.frontend.gzipped} B`,
        met: shapes.frontend.gzipped <= GOALS.frontend,
      },
    ],
    notes: [
      `One dialect: ${one} B up front against OAuth2Fetch's ${oauth2Fetch} B${one > oauth2Fetch ? `, ${one - oauth2Fetch} B over the goal` : ''}. With valibot stubbed out the same bundle is ${withoutValibot.gzipped} B: our own code, not the validation library, is most of it; the token manager alone is ${bySource.inputs['@payment-auth/ky src/manager.ts'] ?? 0} minified bytes.`,
      'The ky recipe is the smallest because it is a dozen lines of app code that do none of the work measured in 1-3 (single-flight, refresh ahead, compare-and-invalidate).',
    ],
    summary: [
      {
        label: '6. bundle, min+gzip bytes: ky/axios excluded / included',
        values: Object.fromEntries(rows.map((r) => [r.name, `${r.excluded.gzipped} / ${r.included.gzipped}`])),
      },
    ],
    data: { rows: rows.map(withoutPaths), more: more.map(withoutPaths) },
    chart: 'size.svg',
    svg: barChart(
      'Bundle size, minified + gzipped',
      [
        {
          title: 'ky / axios excluded, bytes',
          goal: { value: oauth2Fetch, label: `goal (ours) ${oauth2Fetch} B` },
          bars: rows.map((r) => ({ label: r.name, value: r.excluded.gzipped, display: `${r.excluded.gzipped} B`, kind: r.kind })),
        },
        {
          title: 'ky / axios included, bytes',
          bars: rows.map((r) => ({ label: r.name, value: r.included.gzipped, display: `${r.included.gzipped} B`, kind: r.kind })),
        },
      ],
      'esbuild --minify --splitting, gzip -9; OAuth2Fetch needs neither ky nor axios',
    ),
  }
}

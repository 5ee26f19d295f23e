/**
 * README code is tested: every ```ts block of README.md, packages/*\/README.md and
 * apps/*\/README.md is extracted into its own module and typechecked, strict, as a consumer's
 * project would compile it, with the placeholders of test/readme/prelude.d.ts in scope. Blocks
 * of Worker READMEs (store-kv, edge), and any block that imports `cloudflare:*`, compile against
 * @cloudflare/workers-types; the others against the DOM and Node. A shape that is not code belongs in a ```text block; a block fenced
 * ```ts nocheck needs a third-party SDK this repository does not install (the otel README's Node,
 * browser and Worker set-ups, which name the versions they were checked against).
 */
import { execFile } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from './edge-dev.ts'

const WORKER_READMES = new Set(['packages/store-kv/README.md', 'apps/edge/README.md'])

function readmes(): string[] {
  const inside = (dir: string) => readdirSync(join(root, dir)).map((name) => `${dir}/${name}/README.md`)
  return ['README.md', ...inside('packages'), ...inside('apps')].filter((path) => {
    try {
      readFileSync(join(root, path))
      return true
    } catch {
      return false
    }
  })
}

/** The ```ts blocks of a markdown file, with the line each starts on. */
function tsBlocks(markdown: string): Array<{ line: number; code: string }> {
  const blocks: Array<{ line: number; code: string }> = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ts\s*$/.test(lines[i]!)) continue
    const start = i + 1
    while (++i < lines.length && !/^```\s*$/.test(lines[i]!));
    blocks.push({ line: start + 1, code: lines.slice(start, i).join('\n') })
  }
  return blocks
}

const tsc = (project: string) =>
  new Promise<{ code: number; out: string }>((resolve) =>
    execFile(join(root, 'node_modules/.bin/tsc'), ['-p', project], { cwd: root }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  )

function project(dir: string, files: string[], worker: boolean): string {
  const compilerOptions = {
    target: 'ES2023',
    module: 'ESNext',
    moduleResolution: 'Bundler',
    strict: true,
    noEmit: true,
    // A Workers project (create-cloudflare's template) skips lib checks: ky's own types conflict with workers-types.
    skipLibCheck: worker,
    customConditions: ['@payment-auth/source'],
    allowImportingTsExtensions: true,
    lib: worker ? ['ES2023'] : ['ES2023', 'DOM', 'DOM.Iterable'],
    types: worker ? ['@cloudflare/workers-types'] : ['node'],
  }
  const path = join(dir, worker ? 'tsconfig.worker.json' : 'tsconfig.json')
  writeFileSync(path, JSON.stringify({ compilerOptions, files: [join(root, 'test/readme/prelude.d.ts'), ...files] }, null, 2))
  return path
}

describe('README code', () => {
  it('every ts block in the READMEs compiles, strict, as a consumer would build it', async () => {
    const dir = join(root, 'node_modules/.cache/readme-snippets')
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    const files = { web: [] as string[], worker: [] as string[] }
    for (const readme of readmes()) {
      for (const { line, code } of tsBlocks(readFileSync(join(root, readme), 'utf8'))) {
        const file = join(dir, `${readme.replace(/[/.]/g, '_')}_L${line}.ts`)
        // Each block is its own module (`export {}`), so top-level await and local names work.
        writeFileSync(file, `${code}\nexport {}\n`)
        const worker = WORKER_READMES.has(readme) || /from 'cloudflare:/.test(code)
        files[worker ? 'worker' : 'web'].push(file)
      }
    }
    expect(files.web.length + files.worker.length).toBeGreaterThan(8)
    for (const [kind, list] of Object.entries(files)) {
      if (list.length === 0) continue
      const { code, out } = await tsc(project(dir, list, kind === 'worker'))
      expect(out.replaceAll(dir + '/', '').replaceAll(relative(root, dir), ''), `tsc on the ${kind} README blocks`).toBe('')
      expect(code).toBe(0)
    }
  }, 120_000)
})

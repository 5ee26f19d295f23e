/**
 * The packages as a user installs them: each one's own tsdown config (packages/<name>/tsdown.config.ts)
 * built into a temporary `node_modules/@payment-auth/<name>/` with its package.json, so a bundler
 * resolves `@payment-auth/ky` through its `exports` to `dist`, exactly as from the registry.
 * Built without declarations or source maps (a bundle does not include them); ~0.2 s.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, type UserConfig } from 'tsdown'

const root = fileURLToPath(new URL('../../', import.meta.url))
/** The packages a browser bundle of ours can contain. */
const PACKAGES = ['ky', 'store-idb'] as const

let installed: Promise<string> | undefined

/** Builds the packages once per process; returns the directory that holds their `node_modules`. */
export function installedDist(): Promise<string> {
  if (installed) return installed
  installed = (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'payment-auth-dist-'))
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
    for (const name of PACKAGES) {
      const source = join(root, 'packages', name)
      const target = join(dir, 'node_modules', '@payment-auth', name)
      const { default: config } = (await import(join(source, 'tsdown.config.ts'))) as { default: UserConfig }
      await build({ ...config, config: false, cwd: source, outDir: join(target, 'dist'), dts: false, sourcemap: false, logLevel: 'silent' })
      cpSync(join(source, 'package.json'), join(target, 'package.json'))
    }
    return dir
  })()
  return installed
}

/** Where the packages' own dependencies (ky, valibot, idb-keyval) resolve from. */
export const rootModules = join(root, 'node_modules')

import { defineConfig, type UserConfig } from 'tsdown'

type NeverBundle = NonNullable<NonNullable<UserConfig['deps']>['neverBundle']>

/**
 * The build of every @payment-auth package: ESM entries (`name: source`) with their .d.ts and
 * source maps (what the package publishes: dist only); `neverBundle` stays an import.
 */
export const packageBuild = (neverBundle: NeverBundle, entry: Record<string, string> = { index: 'src/index.ts' }) =>
  defineConfig({
    entry,
    format: 'esm',
    platform: 'neutral',
    dts: true,
    sourcemap: true,
    clean: true,
    unbundle: true,
    deps: { neverBundle },
  })

import { defineConfig, type UserConfig } from 'tsdown'

type NeverBundle = NonNullable<NonNullable<UserConfig['deps']>['neverBundle']>

/**
 * The build of every @payment-auth package: one ESM entry with its .d.ts and source maps (what
 * the package publishes: dist only); `neverBundle` stays an import.
 */
export const packageBuild = (neverBundle: NeverBundle) =>
  defineConfig({ entry: ['src/index.ts'], format: 'esm', platform: 'neutral', dts: true, sourcemap: true, clean: true, deps: { neverBundle } })

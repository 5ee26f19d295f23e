import { defineConfig, type UserConfig } from 'tsdown'

/** The build of every @payment-auth package: ESM entries (`name: source`) with their .d.ts; `neverBundle` stays an import. */
export const packageBuild = (neverBundle: NonNullable<UserConfig['deps']>['neverBundle'], entry: Record<string, string> = { index: 'src/index.ts' }) =>
  defineConfig({ entry, format: 'esm', platform: 'neutral', dts: true, clean: true, deps: { neverBundle } })

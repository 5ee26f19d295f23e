import { defineConfig, type UserConfig } from 'tsdown'

/** The build of every @payment-auth package: one ESM entry with its .d.ts; `neverBundle` stays an import. */
export const packageBuild = (neverBundle: NonNullable<UserConfig['deps']>['neverBundle']) =>
  defineConfig({ entry: ['src/index.ts'], format: 'esm', platform: 'neutral', dts: true, clean: true, deps: { neverBundle } })

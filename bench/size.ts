/**
 * Minified + gzipped size of @payment-auth/ky as an app would ship it: one dialect plus
 * withPaymentAuth, ky excluded (the app has it anyway), valibot included.
 */
import { build } from 'esbuild'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'

const source = fileURLToPath(new URL('../packages/ky/src/index.ts', import.meta.url))

export async function bundleSize(names: string[]): Promise<{ minified: number; gzipped: number }> {
  const result = await build({
    stdin: { contents: `export { ${names.join(', ')} } from ${JSON.stringify(source)}`, loader: 'ts', resolveDir: process.cwd() },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    external: ['ky'],
    write: false,
  })
  const code = result.outputFiles[0]!.contents
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length }
}

export const SIZE_GOAL = 3000

export async function size() {
  const rows: Record<string, { minified: number; gzipped: number }> = {}
  for (const dialect of ['oauth2', 'stablelink', 'stonex', 'abbeycross']) {
    rows[`withPaymentAuth + ${dialect}`] = await bundleSize(['withPaymentAuth', dialect])
  }
  rows['everything'] = await bundleSize(['withPaymentAuth', 'createTokenManager', 'memoryStore', 'isPaymentAuthError', 'PaymentAuthError', 'defineProvider', 'oauth2', 'stablelink', 'stonex', 'abbeycross'])
  console.log('\nbundle size, minified + gzipped (ky excluded, valibot included)')
  console.table(rows)
  const one = rows['withPaymentAuth + oauth2']!.gzipped
  console.log(`one dialect: ${one} bytes (goal <= ${SIZE_GOAL})`)
  return rows
}

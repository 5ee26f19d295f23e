/**
 * The Chromium the browser tests and the tabs benchmark drive, found without a manual step:
 * 1. `CHROMIUM_PATH`, when set (it must exist);
 * 2. a system Chromium or Chrome (Debian/Ubuntu, Fedora, macOS paths);
 * 3. else the Chromium that `npm install` brought (`@sparticuz/chromium`, Linux x64/arm64:
 *    unpacked once to the temp folder on first use).
 * Where none of these exists (e.g. macOS without Chrome) it returns `undefined`, and Playwright
 * falls back to a browser of its own (`npx playwright install chromium`).
 */
import { existsSync } from 'node:fs'

/** Flags for a headless run on a machine with no outside network (no background connections). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

const SYSTEM_CHROMIUM = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome-stable',
  '/usr/bin/google-chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
]

export interface FoundChromium {
  executablePath: string
  source: 'CHROMIUM_PATH' | 'system' | 'npm'
}

export async function findChromium({ env = process.env, systemPaths = SYSTEM_CHROMIUM } = {}): Promise<FoundChromium | undefined> {
  const fromEnv = env['CHROMIUM_PATH']
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH is set to a file that does not exist: ${fromEnv}`)
    return { executablePath: fromEnv, source: 'CHROMIUM_PATH' }
  }
  const system = systemPaths.find((path) => existsSync(path))
  if (system) return { executablePath: system, source: 'system' }
  if (process.platform !== 'linux') return undefined
  const { default: bundled } = await import('@sparticuz/chromium')
  return { executablePath: await bundled.executablePath(), source: 'npm' }
}

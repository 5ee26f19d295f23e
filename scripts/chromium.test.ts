import { execFile } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { findChromium } from './chromium.ts'

const version = (path: string) =>
  new Promise<string>((resolve, reject) =>
    execFile(path, ['--version'], { timeout: 30_000 }, (error, out) => (error ? reject(error) : resolve(out))),
  )

describe('finding Chromium for the browser tests', () => {
  it('CHROMIUM_PATH comes first', async () => {
    expect(await findChromium({ env: { CHROMIUM_PATH: process.execPath }, systemPaths: [] })).toEqual({
      executablePath: process.execPath,
      source: 'CHROMIUM_PATH',
    })
  })

  it('a CHROMIUM_PATH that does not exist is an error naming the variable, not a silent fallback', async () => {
    await expect(findChromium({ env: { CHROMIUM_PATH: '/nowhere/chromium' } })).rejects.toThrow(
      'CHROMIUM_PATH is set to a file that does not exist: /nowhere/chromium',
    )
  })

  it('a system Chromium comes next', async () => {
    expect(await findChromium({ env: {}, systemPaths: ['/nowhere/chromium', process.execPath] })).toEqual({
      executablePath: process.execPath,
      source: 'system',
    })
  })

  it.runIf(process.platform === 'linux')(
    'without either, the Chromium that npm install brought runs (no apt step)',
    async () => {
      const found = await findChromium({ env: {}, systemPaths: [] })
      expect(found?.source).toBe('npm')
      expect(await version(found!.executablePath)).toMatch(/^Chromium \d+\./)
    },
    60_000,
  )
})

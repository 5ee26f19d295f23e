/** Runs the example scripts under a real runtime (node_modules/.bin/deno, /bun) for the tests beside them. */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('..', import.meta.url))
export const bin = (name: string) => `${root}node_modules/.bin/${name}`

/** Runs `command` from the repository root with `env` added; resolves with its exit code and output. */
export function run(command: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(command, args, { cwd: root, timeout: 120_000, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

/** The last line a script printed, as JSON (the scripts end with their figures). */
export const lastJson = (stdout: string): unknown => JSON.parse(stdout.trim().split('\n').pop()!)

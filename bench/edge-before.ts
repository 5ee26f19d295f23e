/**
 * The edge Worker now against the edge Worker of another commit, in the same run (issue 13: the
 * warm /v1/token throughput "stays at or above" the ratio it had before the operator controls).
 * Not part of `npm run bench`: it needs the other commit checked out and installed beside this one.
 *
 *   git worktree add ../before 2667413 && (cd ../before && npm install)
 *   BEFORE=../before npx node bench/edge-before.ts            # from the repository root (npx: npm's Node 24)
 *
 * Both Workers (each with its own sandbox, under its own checkout's `wrangler dev`) and the empty
 * Worker (a POST like the token request, and a GET) are measured in rotated order, ROUNDS rounds
 * (default 25) of 600 ms with 8 concurrent loops each; a ratio is taken within a round and the
 * median and middle half of the rounds' ratios are printed.
 */
import { resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { startEdgeDev, startWranglerDev } from '../scripts/edge-dev.ts'
import { median } from './lib/stats.ts'

const beforeDir = process.env['BEFORE']
if (!beforeDir) throw new Error('set BEFORE to the checkout of the other commit (see the comment at the top of bench/edge-before.ts)')
const other = (await import(pathToFileURL(resolve(beforeDir, 'scripts/edge-dev.ts')).href)) as { startEdgeDev: typeof startEdgeDev }

const RAISED_RATE_LIMIT = ['--var', 'RATE_LIMIT_PER_MINUTE:100000000']
const CALLER_KEY = 'pa_demo_caller_key_0001'
const ROUNDS = Number(process.env['ROUNDS'] ?? 25)

/** Requests per second with `concurrency` loops for `ms`. */
async function throughput(send: () => Promise<Response>, ms: number, concurrency = 8): Promise<number> {
  let done = 0
  const started = performance.now()
  const until = started + ms
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const response = await send()
        const body = await response.text()
        if (!response.ok) throw new Error(`HTTP ${response.status}: ${body.slice(0, 200)}`)
        done++
      }
    }),
  )
  return (done * 1000) / (performance.now() - started)
}

const tokenPost = (url: string) => () =>
  fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'oauth2' }),
  })

const now = await startEdgeDev({ extraArgs: RAISED_RATE_LIMIT })
const before = await other.startEdgeDev({ extraArgs: RAISED_RATE_LIMIT })
const empty = await startWranglerDev(['-c', fileURLToPath(new URL('./empty.wrangler.toml', import.meta.url)), '--port', '0'])
try {
  const targets: Record<string, () => Promise<Response>> = {
    now: tokenPost(`${now.edgeUrl}/v1/token`),
    before: tokenPost(`${before.edgeUrl}/v1/token`),
    'empty POST': tokenPost(new URL('/v1/token', empty.url).href),
    'empty GET': () => fetch(empty.url),
  }
  const names = Object.keys(targets)
  for (const name of names) await throughput(targets[name]!, 1000)
  const rps: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]))
  for (let round = 0; round < ROUNDS; round++)
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + round) % names.length]!
      rps[name]!.push(await throughput(targets[name]!, 600))
    }
  const quartile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.floor(p * (values.length - 1))]!
  const ratio = (a: string, b: string) => {
    const per = rps[a]!.map((x, i) => x / rps[b]![i]!)
    return `${median(per).toFixed(3)} (middle half ${quartile(per, 0.25).toFixed(3)}..${quartile(per, 0.75).toFixed(3)})`
  }
  console.log(`req/s, median of ${ROUNDS} rounds:`, Object.fromEntries(names.map((name) => [name, Math.round(median(rps[name]!))])))
  console.log('now / before:', ratio('now', 'before'))
  console.log('to the empty Worker sent the same POST: now', ratio('now', 'empty POST'), '; before', ratio('before', 'empty POST'))
  console.log('to the empty Worker GET: now', ratio('now', 'empty GET'), '; before', ratio('before', 'empty GET'))
} finally {
  await now.stop()
  await before.stop()
  await empty.stop()
}

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
import { pathToFileURL } from 'node:url'
import { startEdgeDev } from '../scripts/edge-dev.ts'
import { measureRounds, RAISED_RATE_LIMIT, ratiosTo, startEmpty, tokenRequest } from './edge.ts'
import { median, spread } from './lib/stats.ts'

const beforeDir = process.env['BEFORE']
if (!beforeDir) throw new Error('set BEFORE to the checkout of the other commit (see the comment at the top of bench/edge-before.ts)')
const other = (await import(pathToFileURL(resolve(beforeDir, 'scripts/edge-dev.ts')).href)) as { startEdgeDev: typeof startEdgeDev }

const ROUNDS = Number(process.env['ROUNDS'] ?? 25)

const running: { stop(): Promise<void> }[] = []
try {
  const now = await startEdgeDev({ extraArgs: RAISED_RATE_LIMIT })
  running.push(now)
  const before = await other.startEdgeDev({ extraArgs: RAISED_RATE_LIMIT })
  running.push(before)
  const empty = await startEmpty()
  running.push(empty)
  const rounds = await measureRounds(
    {
      now: { send: tokenRequest(`${now.edgeUrl}/v1/token`, 'oauth2') },
      before: { send: tokenRequest(`${before.edgeUrl}/v1/token`, 'oauth2') },
      'empty POST': { send: tokenRequest(empty.url, 'oauth2') },
      'empty GET': { send: () => fetch(empty.url) },
    },
    { rounds: ROUNDS, ms: 600, warmUpMs: 1000 },
  )
  const ratio = (a: string, b: string) => spread(ratiosTo(rounds, b, a).throughput)
  console.log(
    `req/s, median of ${ROUNDS} rounds:`,
    Object.fromEntries(Object.entries(rounds).map(([name, r]) => [name, Math.round(median(r.rps))])),
  )
  console.log('now / before:', ratio('now', 'before'))
  console.log('to the empty Worker sent the same POST: now', ratio('now', 'empty POST'), '; before', ratio('before', 'empty POST'))
  console.log('to the empty Worker GET: now', ratio('now', 'empty GET'), '; before', ratio('before', 'empty GET'))
} finally {
  for (const server of running) await server.stop()
}

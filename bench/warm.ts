/**
 * Client-side cost of withPaymentAuth on the warm path: bare ky vs ky + withPaymentAuth, both
 * against the same in-memory fetch, interleaved in the same run. Reports microseconds per request
 * and the ratio; medians over rounds, each round timing both clients back to back.
 */
import ky from 'ky'
import { defineProvider, withPaymentAuth } from '../packages/ky/src/index.ts'

const memoryFetch = async () => new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } })

async function perRequestMicros(client: typeof ky, n: number): Promise<number> {
  const start = performance.now()
  for (let i = 0; i < n; i++) await client.get('https://api.bench.test/v1/ping').json()
  return ((performance.now() - start) * 1000) / n
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

export async function warm({ rounds = 30, n = 2000 } = {}) {
  const provider = defineProvider({
    name: 'bench',
    origins: ['https://api.bench.test'],
    buildTokenRequest: () => new Request('https://auth.bench.test/token', { method: 'POST' }),
  })
  const bare = ky.create({ fetch: memoryFetch })
  const authed = bare.extend(withPaymentAuth({ provider, fetch: async () => Response.json({ access_token: 'bench-token', expires_in: 3600 }) }))
  await perRequestMicros(bare, 2000) // warm up the JIT and the token cache
  await perRequestMicros(authed, 2000)
  const bareUs: number[] = []
  const authUs: number[] = []
  const ratios: number[] = []
  for (let r = 0; r < rounds; r++) {
    // Alternate which client goes first so drift (GC, JIT, the other core) cancels out.
    const first = r % 2 ? await perRequestMicros(authed, n) : await perRequestMicros(bare, n)
    const second = r % 2 ? await perRequestMicros(bare, n) : await perRequestMicros(authed, n)
    const [b, a] = r % 2 ? [second, first] : [first, second]
    bareUs.push(b)
    authUs.push(a)
    ratios.push(a / b)
  }
  const diffs = authUs.map((a, i) => a - bareUs[i]!).sort((x, y) => x - y)
  const result = {
    bareUs: median(bareUs),
    authUs: median(authUs),
    overheadUs: median(diffs),
    overheadIqrUs: [diffs[Math.floor(rounds / 4)]!, diffs[Math.floor((3 * rounds) / 4)]!] as const,
    ratio: median(ratios),
  }
  console.log('\nwarm path, in-memory fetch (median of %d rounds x %d requests)', rounds, n)
  console.table({
    'bare ky': { 'us/request': result.bareUs.toFixed(2) },
    'ky + withPaymentAuth': { 'us/request': result.authUs.toFixed(2) },
  })
  console.log(
    `overhead: +${result.overheadUs.toFixed(2)} us per request (middle half of rounds ${result.overheadIqrUs.map((x) => x.toFixed(2)).join(' .. ')}; goal <= +3 us), ratio ${result.ratio.toFixed(3)}`,
  )
  return result
}

/**
 * `npm run bench` runs every benchmark; `npm run bench -- <name>` runs one.
 * Each reports figures measured in this run against a baseline measured in the same run.
 */
import { size } from './size.ts'
import { warm } from './warm.ts'

const benches: Record<string, () => Promise<unknown>> = { warm, size }
const wanted = process.argv.slice(2)
const unknown = wanted.filter((name) => !(name in benches))
if (unknown.length) {
  console.error(`unknown bench: ${unknown.join(', ')}; choose from ${Object.keys(benches).join(', ')}`)
  process.exit(2)
}
console.log(`node ${process.version}, ${new Date().toISOString()}`)
for (const name of wanted.length ? wanted : Object.keys(benches)) await benches[name]!()

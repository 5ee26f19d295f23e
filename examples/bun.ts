// npx bun run examples/bun.ts
import { main } from './script.ts'

declare const Bun: { env: Record<string, string | undefined> }
declare const process: { exit(code: number): never }
process.exit(await main((name) => Bun.env[name], 'bun'))

// npx deno run --allow-net=127.0.0.1 --allow-env examples/deno.ts
import { main } from './script.ts'

declare const Deno: { env: { get(name: string): string | undefined }; exit(code: number): never }
Deno.exit(await main((name) => Deno.env.get(name), 'deno'))

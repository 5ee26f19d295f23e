/**
 * `npm start`: the edge Worker under `wrangler dev`, offline, against the sandbox with the
 * sample credentials of `.dev.vars.example`; prints curl commands that work as printed.
 * `npm start -- --check` runs those commands, prints their answers, and exits.
 */
import { exec } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { DEFAULT_EDGE_PORT, DEFAULT_SANDBOX_PORT, PortInUseError, portFromEnv, startEdgeDev } from './edge-dev.ts'

/** The sample caller of wrangler.toml (its SHA-256 is what the Worker stores). */
const CALLER_KEY = 'pa_demo_caller_key_0001'

/** The documented ports, or EDGE_PORT / SANDBOX_PORT (0 picks a free one); a taken port fails at once. */
const dev = await startEdgeDev({
  edgePort: portFromEnv('EDGE_PORT', DEFAULT_EDGE_PORT),
  sandboxPort: portFromEnv('SANDBOX_PORT', DEFAULT_SANDBOX_PORT),
}).catch((error: unknown) => {
  console.error(error instanceof PortInUseError ? `npm start: ${error.message}` : error)
  process.exit(1)
})
/** The admin key of .dev.vars (what `wrangler dev` runs with; copied from .dev.vars.example on first run). */
const ADMIN_KEY = /^ADMIN_KEY=(.+)$/m.exec(readFileSync(new URL('../.dev.vars', import.meta.url), 'utf8'))?.[1]?.trim()
if (!ADMIN_KEY) console.log('(.dev.vars has no ADMIN_KEY: the admin routes are off. Copy it from .dev.vars.example to try them.)\n')
const auth = `-H 'authorization: Bearer ${CALLER_KEY}'`
const json = `-H 'content-type: application/json'`
const commands = [
  ['health', `curl -s ${dev.edgeUrl}/healthz`],
  ['a token (oauth2, scope read)', `curl -s -X POST ${dev.edgeUrl}/v1/token ${auth} ${json} -d '{"provider":"oauth2","scope":"read"}'`],
  ['a token (stablelink)', `curl -s -X POST ${dev.edgeUrl}/v1/token ${auth} ${json} -d '{"provider":"stablelink"}'`],
  [
    'a proxied API call (the token never leaves the Worker)',
    `curl -s -X POST ${dev.edgeUrl}/v1/proxy/stablelink/payments?ref=42 ${auth} ${json} -d '{"amount":100,"currency":"EUR"}'`,
  ],
  ['no caller credential: 401', `curl -s -i -X POST ${dev.edgeUrl}/v1/token ${json} -d '{"provider":"oauth2"}'`],
]
if (ADMIN_KEY) {
  const admin = `-H 'authorization: Bearer ${ADMIN_KEY}'`
  const id = `runtime-demo-${Date.now()}`
  commands.push([
    'a caller created at run time gets a token, then is deleted and refused (401)',
    [
      `KEY=$(curl -s -X POST ${dev.edgeUrl}/v1/admin/callers ${admin} ${json} -d '{"id":"${id}","providers":["stonex"]}' | sed -E 's/.*"key":"([^"]+)".*/\\1/')`,
      `curl -s -X POST ${dev.edgeUrl}/v1/token -H "authorization: Bearer $KEY" ${json} -d '{"provider":"stonex"}'; echo`,
      `curl -s -o /dev/null -w 'DELETE %{http_code}\\n' -X DELETE ${dev.edgeUrl}/v1/admin/callers/${id} ${admin}`,
      `curl -s -w ' HTTP %{http_code}\\n' -X POST ${dev.edgeUrl}/v1/token -H "authorization: Bearer $KEY" ${json} -d '{"provider":"stonex"}'`,
    ].join(' && \\\n  '),
  ])
}

console.log(`payment-auth edge Worker on ${dev.edgeUrl} (wrangler dev, offline), providers: the sandbox on ${dev.sandbox.url}\n`)
for (const [what, command] of commands) console.log(`# ${what}\n${command}\n`)

if (process.argv.includes('--check')) {
  let failed = 0
  for (const [what, command] of commands) {
    // Asynchronously: this process also serves the sandbox the Worker calls.
    let out = ''
    try {
      out = (await promisify(exec)(command!, { encoding: 'utf8', timeout: 20_000 })).stdout
    } catch (error) {
      out = String(error)
    }
    const ok = what!.includes('run time')
      ? /"access_token"[\s\S]*DELETE 204[\s\S]*"invalid_token"[\s\S]*HTTP 401/.test(out)
      : what!.includes('401')
        ? /^HTTP\/1\.1 401/.test(out)
        : /"(ok|access_token)"/.test(out)
    if (!ok) failed++
    const shown = what!.includes('run time')
      ? out
          .trim()
          .split('\n')
          .map((line) => line.slice(0, 130))
          .join(' | ')
      : out.split('\n')[0]!.slice(0, 160)
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: ${shown}`)
  }
  await dev.stop()
  process.exit(failed ? 1 : 0)
}

console.log('Ctrl-C to stop.')
process.once('SIGINT', () => void dev.stop().then(() => process.exit(0)))
process.once('SIGTERM', () => void dev.stop().then(() => process.exit(0)))

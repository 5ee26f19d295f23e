/**
 * Serves a sandbox on loopback with `node:http` (the only Node-specific file).
 *
 *   npx node apps/sandbox/src/serve.ts          # SANDBOX_PORT=8790 by default, 0 = random
 *
 * Prints `sandbox listening on http://127.0.0.1:<port>` and exits cleanly on
 * SIGINT/SIGTERM. `startSandboxServer()` does the same in-process for scripts
 * and benchmarks.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { pathToFileURL } from 'node:url'
import { createSandbox, type Sandbox } from './index.ts'

/** Loopback host the server binds to. */
export const SANDBOX_HOST = '127.0.0.1'
/** Port used when neither an option nor `SANDBOX_PORT` says otherwise. */
export const SANDBOX_DEFAULT_PORT = 8790

/** Options of {@link startSandboxServer}. */
export interface SandboxServerOptions {
  /** Port to listen on (default 8790; 0 picks a free one). */
  port?: number
  /** Sandbox to serve (default: a new one). */
  sandbox?: Sandbox
}

/** A running sandbox server. */
export interface SandboxServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string
  sandbox: Sandbox
  /** Stops listening and closes open connections. */
  close(): Promise<void>
}

function toRequest(req: IncomingMessage, origin: string, signal: AbortSignal): Request {
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue
    if (Array.isArray(value)) for (const item of value) headers.append(name, item)
    else headers.set(name, value)
  }
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD'
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal }
  if (hasBody) {
    init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>
    init.duplex = 'half'
  }
  return new Request(new URL(req.url ?? '/', origin), init)
}

async function writeResponse(response: Response, res: ServerResponse, method: string): Promise<void> {
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of response.headers) {
    if (name === 'set-cookie') continue
    headers[name] = value
  }
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) headers['set-cookie'] = cookies
  if (response.statusText) res.writeHead(response.status, response.statusText, headers)
  else res.writeHead(response.status, headers)
  if (!response.body || method === 'HEAD') {
    res.end()
    return
  }
  for await (const chunk of response.body) {
    if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve))
  }
  res.end()
}

/** Starts a loopback HTTP server in front of a sandbox. */
export function startSandboxServer(options: SandboxServerOptions = {}): Promise<SandboxServer> {
  const sandbox = options.sandbox ?? createSandbox()
  const port = options.port ?? SANDBOX_DEFAULT_PORT
  let origin = `http://${SANDBOX_HOST}:${port}`

  const server = createServer((req, res) => {
    const aborter = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished) aborter.abort(new Error('client disconnected'))
    })
    let request: Request
    try {
      request = toRequest(req, origin, aborter.signal)
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad_request"}')
      return
    }
    sandbox
      .fetch(request)
      .then((response) => writeResponse(response, res, request.method))
      .catch((error: unknown) => {
        if (error instanceof TypeError && error.message === 'fetch failed') {
          // The 'network' fault: drop the connection without an answer.
          res.destroy()
          return
        }
        if (aborter.signal.aborted) return
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: 'internal_error', error_description: String(error) }))
        } else {
          res.destroy()
        }
      })
  })

  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, SANDBOX_HOST, () => {
      server.off('error', reject)
      const address = server.address() as AddressInfo
      origin = `http://${SANDBOX_HOST}:${address.port}`
      resolve({
        url: origin,
        sandbox,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((error) => (error ? fail(error) : done()))
            server.closeAllConnections()
          }),
      })
    })
  })
}

function isEntryPoint(): boolean {
  const entry = process.argv[1]
  if (!entry) return false
  try {
    return import.meta.url === pathToFileURL(entry).href
  } catch {
    return false
  }
}

async function main(): Promise<void> {
  const raw = process.env['SANDBOX_PORT']
  const port = raw === undefined || raw === '' ? SANDBOX_DEFAULT_PORT : Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`SANDBOX_PORT must be a port number, got ${raw}`)
    process.exit(2)
  }
  const server = await startSandboxServer({ port }).catch((error: unknown) => {
    if ((error as { code?: string } | null)?.code !== 'EADDRINUSE') throw error
    console.error(`sandbox: port ${port} is already in use: stop what holds it, or set SANDBOX_PORT to another port (0 picks a free one)`)
    process.exit(1)
  })
  console.log(`sandbox listening on ${server.url}`)
  let closing = false
  const stop = (): void => {
    if (closing) return
    closing = true
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (isEntryPoint()) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}

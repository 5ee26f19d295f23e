/** Small Web-API helpers shared by the routes: responses, encodings, random values, delays. */

/** A JSON response. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  })
}

/** A JSON response for token endpoints: adds `Cache-Control: no-store` as RFC 6749 asks. */
export function tokenJson(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return json(body, status, { 'cache-control': 'no-store', pragma: 'no-cache', ...headers })
}

/** A raw response with the given content type. */
export function raw(body: string, status: number, contentType: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { 'content-type': contentType, ...headers } })
}

/** `405 Method Not Allowed` with an `Allow` header. */
export function methodNotAllowed(allow: string): Response {
  return json({ error: 'method_not_allowed', error_description: `use ${allow}` }, 405, { allow })
}

/** Encodes bytes as unpadded base64url. */
export function base64urlEncode(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Encodes a string's UTF-8 bytes as unpadded base64url. */
export function base64urlString(text: string): string {
  return base64urlEncode(new TextEncoder().encode(text))
}

/** Decodes standard base64 to a UTF-8 string, or `undefined` when it is not valid base64. */
export function base64Decode(text: string): string | undefined {
  try {
    const binary = atob(text)
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0))
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return undefined
  }
}

/** An unguessable token: `bytes` random bytes from `crypto.getRandomValues`, base64url (32 chars by default). */
export function randomToken(bytes = 24): string {
  return base64urlEncode(crypto.getRandomValues(new Uint8Array(bytes)))
}

/** A random RFC 4122 version 4 UUID. */
export function uuid(): string {
  return crypto.randomUUID()
}

/** Resolves after `ms` milliseconds, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Reads a request body and parses it as JSON; `ok: false` (with the raw text) when it is not JSON. */
export async function readJson(request: Request): Promise<{ ok: true; value: unknown } | { ok: false; text: string }> {
  const text = await request.text()
  try {
    return { ok: true, value: JSON.parse(text) as unknown }
  } catch {
    return { ok: false, text }
  }
}

/** True for a plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

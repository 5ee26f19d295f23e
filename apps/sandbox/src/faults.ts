/**
 * Answers of injected faults. Each one issues no token. The delay ('slow',
 * `delayMs`) and the 'network' throw are handled by the token pipeline in
 * `tokens.ts`; this module only builds the faulty responses.
 */
import { json, raw, tokenJson } from './http.ts'
import { abbeyError } from './providers/abbeycross.ts'
import type { Fault } from './types.ts'

/** Default `delayMs` of the 'slow' fault. */
export const SLOW_FAULT_DEFAULT_MS = 2000
/** Default `Retry-After` of the 'non_working_hours' fault, in seconds. */
export const NON_WORKING_HOURS_RETRY_AFTER = 3600

function retryAfterHeader(retryAfter: number | undefined): Record<string, string> {
  return retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) }
}

const BAD_GATEWAY_HTML =
  '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n'

const MAINTENANCE_HTML =
  '<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Scheduled maintenance</h1><p>We will be back shortly.</p></body></html>\n'

/** A fault that answers with a response (the others delay or throw). */
export type AnsweringFault = Exclude<Fault, 'slow' | 'network'>

/**
 * The response of an answering fault. `validAnswer` gives the JSON text of a
 * valid-looking success body of the provider (used by 'truncated').
 */
export async function faultResponse(
  fault: AnsweringFault,
  retryAfter: number | undefined,
  validAnswer: () => Promise<string>,
): Promise<Response> {
  switch (fault) {
    case '500':
      return json({ error: 'server_error', error_description: 'Internal Server Error' }, 500)
    case '502':
      return raw(BAD_GATEWAY_HTML, 502, 'text/html')
    case '503':
      return json({ error: 'temporarily_unavailable', error_description: 'Service Unavailable' }, 503, retryAfterHeader(retryAfter))
    case '409':
      return json(abbeyError('conflict', 'Action could not be completed because of conflict.'), 409)
    case '429':
      return json({ error: 'rate_limited', error_description: 'Too Many Requests' }, 429, retryAfterHeader(retryAfter))
    case 'malformed':
      return tokenJson({ token_type: 'bearer', expires_in: 'abc' })
    case 'html':
      return raw(MAINTENANCE_HTML, 200, 'text/html; charset=utf-8')
    case 'truncated': {
      const text = await validAnswer()
      return raw(text.slice(0, Math.floor(text.length / 2)), 200, 'application/json; charset=utf-8', {
        'cache-control': 'no-store',
      })
    }
    case 'envelope_error':
      return tokenJson({ retcode: 500, retmsg: 'system busy', success: false })
    case 'non_working_hours':
      return json(
        abbeyError('non_working_hours', 'The server is currently unavailable due to non-working hours'),
        503,
        retryAfterHeader(retryAfter ?? NON_WORKING_HOURS_RETRY_AFTER),
      )
  }
}

/**
 * The pipeline every token request goes through, whatever the dialect:
 * count it, take the next injected fault, wait (latency, 'slow', `delayMs`),
 * then answer with the fault or let the dialect answer.
 */
import { SLOW_FAULT_DEFAULT_MS, faultResponse } from './faults.ts'
import { methodNotAllowed, sleep } from './http.ts'
import type { Dialect } from './providers/dialect.ts'
import { enterTokenCall, leaveTokenCall, takeFault, type SandboxState } from './state.ts'

/** What a refused connection looks like to `fetch` callers. */
function networkError(): TypeError {
  return new TypeError('fetch failed', {
    cause: new Error('connect ECONNREFUSED (sandbox fault injection: network)'),
  })
}

/** Handles one request to a provider's token route. Rejects with a `TypeError` for the 'network' fault. */
export async function handleTokenRoute(state: SandboxState, dialect: Dialect, request: Request): Promise<Response> {
  const p = state.providers[dialect.provider]
  p.stats.tokenCalls++
  if (request.method !== 'POST') return methodNotAllowed('POST')
  const grant = await dialect.grantOf(request)
  p.stats.byGrant[grant] = (p.stats.byGrant[grant] ?? 0) + 1

  enterTokenCall(state, p)
  try {
    const fault = takeFault(p)
    if (fault?.fault === 'network') {
      await sleep(fault.delayMs ?? 0, request.signal)
      throw networkError()
    }
    const faultDelay = fault ? (fault.delayMs ?? (fault.fault === 'slow' ? SLOW_FAULT_DEFAULT_MS : 0)) : 0
    await sleep(p.config.tokenLatencyMs + faultDelay, request.signal)
    if (!fault || fault.fault === 'slow') return await dialect.handleToken(state, p, request)
    return await faultResponse(fault.fault, fault.retryAfter, async () => JSON.stringify(await dialect.sampleAnswer(state, p)))
  } finally {
    leaveTokenCall(state, p)
  }
}

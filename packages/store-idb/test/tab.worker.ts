/// <reference lib="webworker" />
/**
 * A "browser tab" for the multi-tab tests: a dedicated module worker of the test page's origin,
 * so it shares the real IndexedDB, Web Locks and BroadcastChannel with the page and the other
 * workers. It runs a token manager over idbStore; its token endpoint is the page (postMessage).
 */
import { createTokenManager, type PaymentAuthEvent, type TokenManager } from '@payment-auth/ky'
import { testProvider } from '@payment-auth/test-support/provider'
import { idbStore, type IdbStoreEvent } from '../src/index.ts'

export type TabCommand =
  | { id: number; cmd: 'init'; dbName: string; lockTimeout?: number }
  | { id: number; cmd: 'getToken' }
  | { id: number; cmd: 'invalidate'; token: string }
  | { id: number; cmd: 'peek' }
  | { id: number; cmd: 'events' }

/** tab -> page: a token request (`fetch`), or the answer to a command (`id`). */
export type TabMessage = { fetch: number } | { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string }

/** page -> tab: the token endpoint's answer to `fetch`. */
export interface EndpointAnswer {
  fetchId: number
  status: number
  body: unknown
}

const scope = self as unknown as DedicatedWorkerGlobalScope
let tokens: TokenManager | undefined
const events: Array<PaymentAuthEvent | IdbStoreEvent> = []
const pending = new Map<number, (answer: EndpointAnswer) => void>()
let fetches = 0

/** The manager's token fetch: ask the page, which plays the token endpoint. */
async function fetchFromPage(_input: Request, init?: RequestInit): Promise<Response> {
  const fetchId = ++fetches
  const answer = new Promise<EndpointAnswer>((resolve, reject) => {
    pending.set(fetchId, resolve)
    init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
  })
  scope.postMessage({ fetch: fetchId } satisfies TabMessage)
  const { status, body } = await answer
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

async function run(command: TabCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'init': {
      const store = idbStore({
        dbName: command.dbName,
        onEvent: (e) => events.push(e),
        ...(command.lockTimeout !== undefined && { lockTimeout: command.lockTimeout }),
      })
      tokens = createTokenManager({
        provider: testProvider(),
        store,
        fetch: fetchFromPage,
        timeout: 60_000,
        onEvent: (e) => events.push(e),
      })
      return true
    }
    case 'getToken':
      return tokens!.getToken()
    case 'invalidate':
      return tokens!.invalidate(command.token)
    case 'peek':
      return tokens!.peek() ?? null
    case 'events':
      // A token another tab pushed (no acquisition id) is told apart from an acquisition that ended in the store.
      return events.map((e) => (e.type === 'token_adopted' && e.id === undefined ? 'token_pushed' : e.type))
  }
}

scope.onmessage = async (event: MessageEvent<TabCommand | EndpointAnswer>) => {
  const data = event.data
  if ('fetchId' in data) {
    pending.get(data.fetchId)?.(data)
    pending.delete(data.fetchId)
    return
  }
  try {
    scope.postMessage({ id: data.id, ok: true, value: await run(data) } satisfies TabMessage)
  } catch (error) {
    scope.postMessage({ id: data.id, ok: false, error: String(error) } satisfies TabMessage)
  }
}

/**
 * The script use of @payment-auth/ky, shared by the Deno and Bun entry points: the same code
 * runs on every runtime with `fetch`. Two modes, chosen by the environment:
 *
 * - direct: a provider's token endpoint with secrets from the environment
 *   (PAY_TOKEN_URL, PAY_CLIENT_ID, PAY_CLIENT_SECRET, PAY_API_URL);
 * - edge: tokens from the edge Worker, the secret staying there
 *   (EDGE_URL, EDGE_KEY, EDGE_PROVIDER, PAY_API_URL).
 *
 * It makes 20 concurrent API calls and prints one JSON line of what happened.
 */
import ky from 'ky'
import { edge, oauth2, withPaymentAuth, type PaymentAuthEvent } from '../packages/ky/src/index.ts'

export async function main(env: (name: string) => string | undefined, runtime: string): Promise<number> {
  const need = (name: string) =>
    env(name) ??
    (() => {
      throw new Error(`set ${name}`)
    })()
  const apiUrl = need('PAY_API_URL')
  const mode = env('EDGE_URL') ? 'edge' : 'direct'
  const provider =
    mode === 'edge'
      ? edge({ url: need('EDGE_URL'), provider: env('EDGE_PROVIDER') ?? 'oauth2', credential: need('EDGE_KEY'), apiBaseUrl: apiUrl })
      : oauth2({
          tokenUrl: need('PAY_TOKEN_URL'),
          clientId: need('PAY_CLIENT_ID'),
          clientSecret: need('PAY_CLIENT_SECRET'),
          scope: 'read write',
        })
  const events: PaymentAuthEvent[] = []
  const api = ky.create({ baseUrl: apiUrl.replace(/\/?$/, '/') }).extend(withPaymentAuth({ provider, onEvent: (e) => events.push(e) }))
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, (_, i) => api.post('payments', { json: { amount: i + 1 } }).json<{ body: string }>()),
  )
  const ok = results.filter((r) => r.status === 'fulfilled' && JSON.parse(r.value.body).amount > 0).length
  const tokenCalls = events.filter((e) => e.type === 'token_acquired').length
  console.log(JSON.stringify({ runtime, mode, requests: results.length, ok, tokenCalls }))
  return ok === results.length && tokenCalls === 1 ? 0 : 1
}

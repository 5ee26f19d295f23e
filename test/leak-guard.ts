/**
 * The secret-leak guard of the whole test run (a vitest setup file of every project): every
 * event and every PaymentAuthError created in a test (through the diagnostics tap), and all
 * console output, is scanned for the test credentials. A hit fails the test that caused it,
 * naming the credential and where it was found, never printing it.
 */
import { afterEach } from 'vitest'
import { SANDBOX_CREDENTIALS as C } from '@payment-auth/sandbox'
import devVarsExample from '../.dev.vars.example?raw'
import { parseDevVars } from './support/dev-vars.ts'
import { guardPrivateJwk, TEST_CREDENTIALS_KEY } from './support/guard.ts'

/** Every credential the tests use: name -> value. Client ids are public; secrets and keys are not. */
export const TEST_CREDENTIALS: Record<string, string> = {
  'stablelink api secret': C.stablelink.apiSecret,
  'oauth2 client secret': C.oauth2.clientSecret,
  'stonex client secret': C.stonex.clientSecret,
  'abbeycross client secret': C.abbeycross.clientSecret,
  'paypal client secret': C.paypal.clientSecret,
  'checkout client secret': C.checkout.clientSecret,
  'edge demo caller key': 'pa_demo_caller_key_0001',
  'unit-test secret': 'test_secret_Zq81xW',
  'leak-test secret': 'sk_live_51HxQz9TopSecretValue',
  'leak-test api key': 'ak_public_but_private_42',
  'property-test secret': 'prop_secret_Vq7Lm2Xc9',
  'edge-dialect test credential': 'caller-key-SECRET-123',
}
// The edge tests run with the Wrangler secrets of .dev.vars.example (apps/edge/vitest.config.ts).
for (const [name, value] of Object.entries(parseDevVars(devVarsExample))) {
  if (name.endsWith('_SECRET') || name === 'ADMIN_KEY') TEST_CREDENTIALS[`edge ${name} of .dev.vars.example`] = value
  // `<kid>:<base64 key>,...`: each key on its own.
  if (name === 'TOKEN_ENCRYPTION_KEYS') {
    for (const entry of value.split(','))
      TEST_CREDENTIALS[`edge token encryption key ${entry.split(':')[0]}`] = entry.slice(entry.indexOf(':') + 1)
  }
}
// Tests register keys and secrets they make at run time through test/support/guard.ts.
;(globalThis as Record<symbol, unknown>)[TEST_CREDENTIALS_KEY] = TEST_CREDENTIALS
guardPrivateJwk('oauth2 JWT demo client', C.oauth2Jwt.privateJwk)

const seen: Array<{ where: string; text: string }> = []

function text(value: unknown): string {
  if (value instanceof Error) {
    const own = Object.fromEntries(Object.entries(value))
    let cause = ''
    for (let c: unknown = value.cause; c instanceof Error; c = c.cause) cause += ` ${c.name}: ${c.message} ${c.stack ?? ''}`
    return `${value.name}: ${value.message} ${value.stack ?? ''} ${JSON.stringify(own)}${cause}`
  }
  try {
    return typeof value === 'string' ? value : JSON.stringify(value)
  } catch {
    return String(value)
  }
}

;(globalThis as Record<symbol, unknown>)[Symbol.for('payment-auth.diagnostics')] = (item: unknown) => {
  const where = item instanceof Error ? 'a PaymentAuthError' : `an event (${(item as { type?: string }).type})`
  seen.push({ where, text: text(item) })
}

for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  const original = console[level].bind(console)
  console[level] = (...args: unknown[]) => {
    seen.push({ where: `console.${level}`, text: args.map(text).join(' ') })
    original(...args)
  }
}

afterEach(() => {
  const items = seen.splice(0)
  const hits: string[] = []
  for (const { where, text: t } of items) {
    for (const [name, value] of Object.entries(TEST_CREDENTIALS)) if (t.includes(value)) hits.push(`the ${name} appeared in ${where}`)
  }
  if (hits.length) throw new Error(`secret-leak guard: ${[...new Set(hits)].join('; ')}`)
})

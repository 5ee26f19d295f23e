/**
 * Options are checked where they are given: each factory (`withPaymentAuth`, `createTokenManager`,
 * every dialect, `defineProvider`, the stores) validates its own with valibot before any request,
 * and a mistake is a `PaymentAuthError` `invalid_config` naming the option and what it must be,
 * never its value (it may be a credential).
 */
import * as v from 'valibot'
import { PaymentAuthError } from './errors.ts'

const isHttpUrl = (value: string) => {
  try {
    return /^https?:$/.test(new URL(value).protocol)
  } catch {
    return false
  }
}

/** A non-empty string (client ids, secrets, names). */
export const text = v.pipe(v.string('must be a string'), v.nonEmpty('must not be empty'))
/** An absolute http(s) URL. */
export const httpUrl = v.pipe(v.string('must be a URL string'), v.check(isHttpUrl, 'must be an absolute http(s) URL'))
export const optionalText = v.optional(v.string('must be a string'))
export const func = v.function('must be a function')
export const nonNegative = v.pipe(v.number('must be a number'), v.minValue(0, 'must not be negative'))
export const origins = v.array(httpUrl, 'must be an array of origins')

/** What a value is, without showing it: `undefined`, `null`, `string`, `number`, `object`... */
const kind = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value)

/**
 * Checks `options` against `schema` (objects of the helpers above, with their own messages).
 * Throws `invalid_config` with "`<where>`: `<option>` <what it must be> (got <type>)".
 */
export function checkOptions<const S extends v.GenericSchema>(where: string, schema: S, options: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, options, { abortEarly: true })
  if (result.success) return result.output
  const issue = result.issues[0]
  const name = v.getDotPath(issue)
  const hint = issue.input === undefined && issue.expected === 'string' ? ' (is an environment variable unset?)' : ''
  throw new PaymentAuthError(`${where}: ${name ? `\`${name}\`` : 'the options'} ${issue.message} (got ${kind(issue.input)})${hint}`, {
    code: 'invalid_config',
    provider: where,
  })
}

/** `{baseUrl, clientId, clientSecret, apiBaseUrl?}`: the options of the JSON-credentials dialects (StoneX, AbbeyCross). */
export const BaseUrlCredentials = v.object(
  { baseUrl: httpUrl, clientId: text, clientSecret: text, apiBaseUrl: v.optional(httpUrl) },
  'must be an object',
)

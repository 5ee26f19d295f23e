/**
 * Options are checked where they are given: each factory (`withPaymentAuth`, `createTokenManager`,
 * every dialect, `defineProvider`, the stores) validates its own with valibot before any request,
 * and a mistake is a `PaymentAuthError` `invalid_config` naming the option and what it must be,
 * never its value (it may be a credential).
 *
 * Every check is a `v.custom` predicate inside `v.object` / `v.optional` / `v.array`: valibot's
 * smallest API (its object walk, paths and `safeParse`), so the browser pays for one kind of
 * schema, not for `string`, `number`, `pipe`, `union`, `picklist`... each (bench/RESULTS.md,
 * section 6, has the bytes).
 */
import * as v from 'valibot'
import { PaymentAuthError } from './errors.ts'

type Message = string | ((input: unknown) => string)

/** A value `test` accepts; `message` (or a function of the value) says what it must be. */
export const is = <T>(test: (value: unknown) => boolean, message: Message) =>
  v.custom<T>(test, typeof message === 'string' ? message : (issue) => message(issue.input))

const isString = (value: unknown): value is string => typeof value === 'string'
const isNumber = (value: unknown): value is number => typeof value === 'number' && !Number.isNaN(value)

const isHttpUrl = (value: unknown) => {
  try {
    return /^https?:$/.test(new URL(value as string).protocol)
  } catch {
    return false
  }
}

/**
 * A check of an option that may be a string (a credential, an id, a URL): its issue `expected` is
 * `'string'`, so that `checkOptions` asks whether an environment variable is unset when the value
 * is missing, whatever the message says.
 */
export const stringOption = <T = string>(test: (value: unknown) => boolean, message: Message) =>
  Object.assign(is<T>(test, message), { expects: 'string' })

/** Any string. */
export const string = stringOption(isString, 'must be a string')
/** A non-empty string (client ids, secrets, names). */
export const text = stringOption(
  (value) => isString(value) && value !== '',
  (value) => (isString(value) ? 'must not be empty' : 'must be a string'),
)
/** An absolute http(s) URL. */
export const httpUrl = stringOption(
  (value) => isString(value) && isHttpUrl(value),
  (value) => (isString(value) ? 'must be an absolute http(s) URL' : 'must be a URL string'),
)
export const optionalText = v.optional(string)
export const func = is<(...args: never[]) => unknown>((value) => typeof value === 'function', 'must be a function')
export const boolean = is<boolean>((value) => typeof value === 'boolean', 'must be a boolean')
/** A number at least `min`. */
const atLeast = (min: number, words: string) =>
  is<number>(
    (value) => isNumber(value) && value >= min,
    (value) => (isNumber(value) ? words : 'must be a number'),
  )
export const nonNegative = atLeast(0, 'must not be negative')
export const positive = atLeast(1, 'must be at least 1')
/** One of `values`. */
export const oneOf = <const T extends readonly string[]>(values: T, message: string) =>
  is<T[number]>((value) => values.includes(value as string), message)
export const origins = v.array(httpUrl, 'must be an array of origins')
/** An options object: `entries` checked, anything else ignored. */
export const object = <const E extends v.ObjectEntries>(entries: E, message = 'must be an object') => v.object(entries, message)

/** What a value is, without showing it: `undefined`, `null`, `string`, `number`, `object`... */
const kind = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value)

/**
 * Checks `options` against `schema` (objects of the helpers above, with their own messages).
 * Throws `invalid_config` with "`<where>`: `<option>` <what it must be> (got <type>)"; a string
 * that is missing adds "(is an environment variable unset?)".
 */
export function checkOptions<const S extends v.GenericSchema>(where: string, schema: S, options: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, options, { abortEarly: true })
  if (result.success) return result.output
  const issue = result.issues[0]
  const name = issue.path?.map((item) => item.key).join('.')
  const hint = issue.input === undefined && issue.expected === 'string' ? ' (is an environment variable unset?)' : ''
  throw new PaymentAuthError(`${where}: ${name ? `\`${name}\`` : 'the options'} ${issue.message} (got ${kind(issue.input)})${hint}`, {
    code: 'invalid_config',
    provider: where,
  })
}

/** `{baseUrl, clientId, clientSecret, apiBaseUrl?}`: the options of the JSON-credentials dialects (StoneX, AbbeyCross). */
export const BaseUrlCredentials = object({ baseUrl: httpUrl, clientId: text, clientSecret: text, apiBaseUrl: v.optional(httpUrl) })

/**
 * `@payment-auth/ky/store`: for authors of a `TokenStore` adapter (the shipped ones use it).
 *
 * @example
 * ```ts
 * import { readRecord, usefulUntil, type TokenStore } from '@payment-auth/ky/store'
 *
 * const map = new Map<string, string>()
 * export const jsonStore: TokenStore = {
 *   get(key) {
 *     const record = readRecord(JSON.parse(map.get(key) ?? 'null'))
 *     return record && usefulUntil(record) > Date.now() ? record : undefined
 *   },
 *   set: (key, record) => void map.set(key, JSON.stringify(record)),
 *   delete: (key) => void map.delete(key),
 * }
 * ```
 */
export { memoryStore, readRecord, usefulUntil, type TokenRecord, type TokenStore } from './store.ts'
/** Check an adapter's options like the shipped factories do: `invalid_config` naming the option, never its value. */
export { checkOptions, func, nonNegative, object, string, text } from './options.ts'

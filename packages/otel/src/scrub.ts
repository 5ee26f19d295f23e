/** Longest attribute string kept: an attribute is a label, not a payload. */
const MAX_LENGTH = 256

/**
 * What any string becomes before it is an attribute: credentials in a URL's userinfo are
 * replaced with `REDACTED` (OpenTelemetry's rule for `url.full`), query strings and fragments
 * are cut off (where credentials travel: stablelink's `api_secret`, signed-URL signatures),
 * and the result is capped at 256 characters. The events carry no token, secret or URL: this
 * is the second line of defence, for a provider name or code that someone made from a URL.
 *
 * @example
 * ```ts
 * scrub('https://user:pw@auth.example/token?api_secret=s3cr3t#x') // 'https://REDACTED:REDACTED@auth.example/token'
 * ```
 */
export function scrub(value: string): string {
  // Fast path: what the events normally carry (names and codes) has none of these characters.
  if (!/[?#@]/.test(value) && value.length <= MAX_LENGTH) return value
  const cleaned = value.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/?#\s@]*@/gi, '$1REDACTED:REDACTED@').replace(/[?#]\S*/g, '')
  return cleaned.length > MAX_LENGTH ? cleaned.slice(0, MAX_LENGTH) : cleaned
}

/**
 * A token as the edge hands it out: the record without its refresh token, the rule for when a
 * cached one may still be served, and the `/v1/token` answer.
 */
import type { TokenRecord } from '@payment-auth/ky'
import { NO_STORE } from './errors.ts'

/**
 * Refresh ahead (seconds): the Durable Object's token manager starts refreshing this long
 * before expiry (at most half the lifetime), and from then on no cache serves the token, so
 * callers always get a token with life left.
 */
export const REFRESH_AHEAD_SECONDS = 60

/** Whether a cached record may be handed out at `now`: not stamped in the future, not inside the refresh-ahead margin. */
export function servable(record: TokenRecord, now: number): boolean {
  const margin = Math.min(REFRESH_AHEAD_SECONDS * 1000, (record.expiresAt - record.receivedAt) / 2)
  return record.receivedAt <= now && now < record.expiresAt - margin
}

/** What leaves the Durable Object (RPC answers, KV): the access token only, never the refresh token. */
export function publicRecord(record: TokenRecord): TokenRecord {
  const { v, accessToken, receivedAt, expiresAt, scope } = record
  return scope === undefined ? { v, accessToken, receivedAt, expiresAt } : { v, accessToken, receivedAt, expiresAt, scope }
}

/** 200 `{access_token, token_type: "Bearer", expires_in}` (remaining seconds), never cached by anyone. */
export function tokenResponse(record: TokenRecord, now = Date.now()): Response {
  const body = { access_token: record.accessToken, token_type: 'Bearer', expires_in: Math.max(0, Math.floor((record.expiresAt - now) / 1000)) }
  return Response.json(body, { headers: NO_STORE })
}

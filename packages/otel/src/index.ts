/**
 * @payment-auth/otel: OpenTelemetry spans and metrics for the token work of @payment-auth/ky.
 * `telemetry()` is an event listener (the `onEvent` option); it depends on `@opentelemetry/api`
 * only, so it works with whichever SDK the application set up (Node, the browser, a Worker).
 */
export { telemetry, SCOPE, type TelemetryOptions } from './telemetry.ts'
export { scrub } from './scrub.ts'
export { VERSION } from './version.ts'

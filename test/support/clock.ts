/**
 * The one clock of the tests.
 *
 * It starts at the real time of the run, never at a calendar date: code that still reads
 * the real clock (a default `Date.now`, a JWT library, a browser) agrees with it on any
 * day. A test that moves time passes `clock.now` to every store, manager and sandbox it
 * builds, so everything in the test reads the same clock.
 *
 * @example
 * ```ts
 * const clock = fakeClock()
 * const store = memoryStore({ now: clock.now })
 * const tokens = createTokenManager({ provider, store, now: clock.now })
 * clock.advance(700_000)
 * ```
 */
export interface FakeClock {
  /** The current time, epoch milliseconds. */
  t: number
  now(): number
  /** Moves the clock by `ms` (negative turns it back) and returns the new time. */
  advance(ms: number): number
}

export function fakeClock(start: number = Date.now()): FakeClock {
  const clock: FakeClock = {
    t: start,
    now: () => clock.t,
    advance: (ms) => (clock.t += ms),
  }
  return clock
}

/**
 * Cross-context mutual exclusion with the Web Locks API, with a steal after a timeout so that
 * an orphaned or hung holder (a frozen tab, a stuck request) cannot freeze every other tab.
 */

const TIMED_OUT = Symbol('timed out')

/** The Web Locks manager of this context, or `undefined` (old browsers, insecure origins, Node, happy-dom). */
export function webLocks(): LockManager | undefined {
  try {
    return (globalThis as { navigator?: { locks?: LockManager | null } }).navigator?.locks ?? undefined
  } catch {
    return undefined
  }
}

/**
 * Runs `fn` while holding the lock `name` in every same-origin context (tabs, workers).
 *
 * 1. Wait up to `timeoutMs` for the lock.
 * 2. Timed out: the holder may be hung. The first waiter that takes the `<name>:steal` marker
 *    without waiting steals the lock (`{ steal: true }`) and holds the marker while `fn` runs;
 *    the other waiters queue once more (the stealer will finish and release), so waiters that
 *    time out together do not steal from each other.
 * 3. Still nothing after a second `timeoutMs`: steal regardless (the stealer hangs too).
 *
 * If the lock is stolen from us while `fn` runs, `fn` keeps running and its own outcome is returned.
 */
export async function withLock<T>(
  locks: LockManager,
  name: string,
  fn: () => Promise<T>,
  timeoutMs: number,
  onSteal: () => void,
): Promise<T> {
  let run: Promise<T> | undefined
  const hold = (): Promise<T> => (run = (async () => fn())())

  /** One request; `TIMED_OUT` if it was not granted in time. */
  async function request(options: LockOptions, timed: boolean): Promise<T | typeof TIMED_OUT> {
    const controller = new AbortController()
    const timer = timed ? setTimeout(() => controller.abort(), timeoutMs) : undefined
    try {
      return await locks.request(name, timed ? { ...options, signal: controller.signal } : options, () => {
        clearTimeout(timer)
        return hold()
      })
    } catch (error) {
      // `fn` ran (and threw, or the lock was stolen from us while it ran): its outcome counts.
      if (run) return run
      if (controller.signal.aborted) return TIMED_OUT
      throw error
    } finally {
      clearTimeout(timer)
    }
  }

  const first = await request({}, true)
  if (first !== TIMED_OUT) return first

  const stole = await locks.request(`${name}:steal`, { ifAvailable: true }, async (marker) => {
    if (!marker) return TIMED_OUT
    onSteal()
    return request({ steal: true }, false)
  })
  if (stole !== TIMED_OUT) return stole

  const second = await request({}, true)
  if (second !== TIMED_OUT) return second
  onSteal()
  return (await request({ steal: true }, false)) as T
}

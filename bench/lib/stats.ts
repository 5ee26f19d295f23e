/** Small statistics and timing helpers shared by the measures. */

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** The middle half of `xs`: [25th, 75th] percentile (nearest rank). */
export const iqr = (xs: readonly number[]): [number, number] => {
  const s = [...xs].sort((a, b) => a - b)
  return [s[Math.floor((s.length - 1) / 4)]!, s[Math.ceil((3 * (s.length - 1)) / 4)]!]
}

export const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0)

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Rejects after `ms` with `what timed out`; the timer never keeps the process alive. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
    timer.unref?.()
  })
  return Promise.race([work, expired]).finally(() => clearTimeout(timer))
}

/** Rounds for display: `digits` after the point. */
export const fixed = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a')
/** `fixed` with a sign: `+1.20`, `-0.30`. */
export const signed = (x: number, digits = 2): string => `${x >= 0 ? '+' : ''}${fixed(x, digits)}`

/** The median and, in brackets, the middle half: `0.912 (middle half 0.850..0.980)`. */
export const spread = (xs: readonly number[], digits = 3): string =>
  `${fixed(median(xs), digits)} (middle half ${iqr(xs)
    .map((x) => fixed(x, digits))
    .join('..')})`

/** Interleaving order for round `r`: rotates the list so no client always runs first. */
export function rotate<T>(items: readonly T[], r: number): T[] {
  const k = r % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

export interface Paired {
  /** us per request of the subject, per round. */
  subject: number[]
  /** us per request of the baseline, per round. */
  baseline: number[]
  /** subject - baseline, per round. */
  diffs: number[]
  /** subject / baseline, per round. */
  ratios: number[]
}

export const emptyPaired = (): Paired => ({ subject: [], baseline: [], diffs: [], ratios: [] })

/**
 * One round of a subject timed against its baseline: four back-to-back batches, ABBA in even
 * rounds and BAAB in odd ones, so slow drift (GC, JIT) hits both alike. Each batch returns us per
 * request; each side counts its faster batch (other processes on a small machine only ever add
 * time, so the faster batch is the less disturbed one), and the difference and the ratio are
 * taken within the round and appended to `into`.
 */
export async function pairedRound(baseline: () => Promise<number>, subject: () => Promise<number>, r: number, into: Paired): Promise<void> {
  let a1: number, a2: number, b1: number, b2: number
  if (r % 2 === 0) {
    a1 = await baseline()
    b1 = await subject()
    b2 = await subject()
    a2 = await baseline()
  } else {
    b1 = await subject()
    a1 = await baseline()
    a2 = await baseline()
    b2 = await subject()
  }
  const a = Math.min(a1, a2)
  const b = Math.min(b1, b2)
  into.baseline.push(a)
  into.subject.push(b)
  into.diffs.push(b - a)
  into.ratios.push(b / a)
}

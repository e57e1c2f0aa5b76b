/**
 * Backoff: capped exponential delays with jitter, the one formula every wait in the
 * library uses (the flusher's retries, a Kafka transport's probes and reconnects, the
 * replacement of a worker), so that many sinks that lost the same broker do not come
 * back to it in step.
 *
 * @module
 */

/** Full jitter: uniform in `[0, ceiling)`. */
export const FULL_JITTER: readonly [number, number] = [0, 1];
/** ±20% around the ceiling. */
export const SPREAD_JITTER: readonly [number, number] = [0.8, 1.2];
/** No jitter: the ceiling itself. */
export const NO_JITTER: readonly [number, number] = [1, 1];

/**
 * The delay before attempt number `attempt` (0 for the first): the ceiling
 * `min(maxMs, firstMs * 2 ** attempt)` times a factor drawn uniformly from
 * `[low, high)` of `jitter` (default {@linkcode FULL_JITTER}), rounded down. `random`
 * returns numbers in `[0, 1)`.
 *
 * @example
 * ```ts
 * import { backoffDelay, NO_JITTER } from "./policy.ts";
 *
 * // The fourth retry waits less than 50 * 2 ** 3 = 400 ms, at random (here: halfway).
 * if (backoffDelay(3, 50, 2000, () => 0.5) !== 200) throw new Error("200 ms");
 * if (backoffDelay(10, 50, 2000, () => 0.5) !== 1000) throw new Error("capped at 2000 ms, halfway");
 * // Without jitter: 100, 200, 400, ... up to the cap.
 * if (backoffDelay(2, 100, 5000, Math.random, NO_JITTER) !== 400) throw new Error("400 ms");
 * ```
 */
export function backoffDelay(attempt: number, firstMs: number, maxMs: number, random: () => number, jitter: readonly [number, number] = FULL_JITTER): number {
  const ceiling = Math.min(maxMs, firstMs * 2 ** Math.min(attempt, 30));
  const [low, high] = jitter;
  return Math.floor(ceiling * (low === high ? low : low + (high - low) * random()));
}

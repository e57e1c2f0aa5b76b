/**
 * Retry timing: capped exponential backoff with full jitter, so that many sinks that
 * lost the same broker do not come back to it in step.
 *
 * @module
 */

/**
 * The delay before retry number `attempt` (0 for the first): uniform in
 * `[0, min(maxMs, initialMs * 2 ** attempt))`.
 *
 * @example
 * ```ts
 * import { backoffDelay } from "./policy.ts";
 *
 * // The fourth retry waits less than 50 * 2 ** 3 = 400 ms, at random (here: halfway).
 * if (backoffDelay(3, 50, 2000, () => 0.5) !== 200) throw new Error("200 ms");
 * if (backoffDelay(10, 50, 2000, () => 0.5) !== 1000) throw new Error("capped at 2000 ms, halfway");
 * ```
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

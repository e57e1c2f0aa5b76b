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
 * const d = backoffDelay(3, 50, 2000, Math.random);
 * console.assert(d >= 0 && d < 400);
 * ```
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Time, the one way: a {@linkcode Scheduler} (the current time, and timers that can be
 * cancelled and that do not keep the process alive unless asked to) is passed to the
 * core and to the transports, so that nothing reads the clock or starts a timer on its
 * own, and tests can drive time by hand. {@linkcode withDeadline} is the one way to wait
 * for something with a time limit.
 *
 * @module
 */

/** A timer started by a {@linkcode Scheduler}. */
export interface Timer {
  /** Stops it; nothing happens if it already ran or was cancelled. */
  cancel(): void;
}

/** Options of {@linkcode Scheduler.later} and {@linkcode Scheduler.every}. */
export interface TimerOptions {
  /**
   * Keep the process alive while the timer is pending (someone awaits it).
   * @default false
   */
  readonly keepAlive?: boolean;
}

/**
 * The current time and timers. The sink's default runs on the runtime's own timers; tests
 * pass one whose time moves only when they say so.
 */
export interface Scheduler {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once, after `ms` milliseconds (0 when negative). */
  later(ms: number, fn: () => void, options?: TimerOptions): Timer;
  /** Runs `fn` every `ms` milliseconds until cancelled. */
  every(ms: number, fn: () => void, options?: TimerOptions): Timer;
}

/**
 * What {@linkcode withDeadline} resolves with when the time ran out first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TIMED_OUT, withDeadline } from "./scheduler.ts";
 * import { systemScheduler } from "../runtime.ts";
 *
 * const slow = new Promise((resolve) => setTimeout(resolve, 50, "late"));
 * assert.equal(await withDeadline(systemScheduler, slow, 1, { keepAlive: true }), TIMED_OUT);
 * ```
 */
export const TIMED_OUT: unique symbol = Symbol("timed out");
/**
 * What {@linkcode withDeadline} resolves with when the signal aborted first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ABORTED, withDeadline } from "./scheduler.ts";
 * import { systemScheduler } from "../runtime.ts";
 *
 * const controller = new AbortController();
 * const waiting = withDeadline(systemScheduler, new Promise(() => {}), 60_000, { signal: controller.signal });
 * controller.abort();
 * assert.equal(await waiting, ABORTED);
 * ```
 */
export const ABORTED: unique symbol = Symbol("aborted");

/** Options of {@linkcode withDeadline}. */
export interface DeadlineOptions extends TimerOptions {
  /** Stop waiting, with {@linkcode ABORTED}, when this aborts. */
  readonly signal?: AbortSignal | null;
}

/**
 * Waits for `promise` for at most `ms` milliseconds (forever when `ms` is `Infinity`):
 * resolves with its value, or with {@linkcode TIMED_OUT} when the time runs out first, or
 * with {@linkcode ABORTED} when `options.signal` aborts first; rejects as `promise` does
 * if it rejects in time. A late rejection is not reported as unhandled.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TIMED_OUT, withDeadline } from "./scheduler.ts";
 * import { systemScheduler } from "../runtime.ts";
 *
 * const never = new Promise<string>(() => {});
 * // keepAlive: the timer is all this program waits for.
 * assert.equal(await withDeadline(systemScheduler, never, 5, { keepAlive: true }), TIMED_OUT);
 * assert.equal(await withDeadline(systemScheduler, Promise.resolve("done"), 5), "done");
 * ```
 */
export function withDeadline<T>(
  scheduler: Scheduler,
  promise: Promise<T>,
  ms: number,
  options: DeadlineOptions = {},
): Promise<T | typeof TIMED_OUT | typeof ABORTED> {
  promise.catch(() => {});
  const signal = options.signal ?? null;
  if (signal?.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      timer?.cancel();
      signal?.removeEventListener("abort", onAbort);
      settle();
    };
    const onAbort = () => finish(() => resolve(ABORTED));
    const timer = Number.isFinite(ms) ? scheduler.later(ms, () => finish(() => resolve(TIMED_OUT)), options) : null;
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(error)),
    );
  });
}

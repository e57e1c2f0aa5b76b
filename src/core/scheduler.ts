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
 * import { TIMED_OUT, type Scheduler, type Timer, withDeadline } from "./scheduler.ts";
 *
 * // A scheduler driven by hand: its one timer fires when the example says so.
 * let fire = (): void => {};
 * const none: Timer = { cancel() {} };
 * const scheduler: Scheduler = {
 *   now: () => 0,
 *   later: (_ms, fn) => ((fire = fn), none),
 *   every: () => none,
 * };
 *
 * const slow = new Promise((resolve) => setTimeout(resolve, 50, "late"));
 * const waiting = withDeadline(scheduler, slow, 1);
 * fire(); // the 1 ms pass before the 50
 * if ((await waiting) !== TIMED_OUT) throw new Error("timed out");
 * ```
 */
export const TIMED_OUT: unique symbol = Symbol("timed out");
/**
 * What {@linkcode withDeadline} resolves with when the signal aborted first.
 *
 * @example
 * ```ts
 * import { ABORTED, type Scheduler, type Timer, withDeadline } from "./scheduler.ts";
 *
 * // A scheduler driven by hand: its one timer fires when the example says so.
 * let fire = (): void => {};
 * const none: Timer = { cancel() {} };
 * const scheduler: Scheduler = {
 *   now: () => 0,
 *   later: (_ms, fn) => ((fire = fn), none),
 *   every: () => none,
 * };
 *
 * const controller = new AbortController();
 * const waiting = withDeadline(scheduler, new Promise(() => {}), 60_000, { signal: controller.signal });
 * controller.abort();
 * if ((await waiting) !== ABORTED) throw new Error("aborted");
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
 * import { TIMED_OUT, type Scheduler, type Timer, withDeadline } from "./scheduler.ts";
 *
 * // A scheduler driven by hand: its one timer fires when the example says so.
 * let fire = (): void => {};
 * const none: Timer = { cancel() {} };
 * const scheduler: Scheduler = {
 *   now: () => 0,
 *   later: (_ms, fn) => ((fire = fn), none),
 *   every: () => none,
 * };
 *
 * const never = new Promise<string>(() => {});
 * const waiting = withDeadline(scheduler, never, 5);
 * fire(); // the 5 ms pass
 * if ((await waiting) !== TIMED_OUT) throw new Error("timed out");
 * if ((await withDeadline(scheduler, Promise.resolve("done"), 5)) !== "done") throw new Error("done in time");
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

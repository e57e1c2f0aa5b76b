/**
 * Noticing a broker that stopped answering without closing its connections: records on
 * their way to it and no answer for a while.
 *
 * A hung broker (a stopped process, a stalled disk, packets dropped in silence) keeps its
 * TCP connections open, so a Kafka client hears of nothing wrong until a request times
 * out, and the transports leave those timeouts long because they retry without limit.
 * Without this a transport's `state()` would say `up` through the whole outage.
 *
 * @module
 */

import { type TimerHandle, unrefInterval } from "../runtime.ts";

/** How long records may wait with no answer at all before the broker counts as down. */
export const STALL_MS = 5000;

/** How often the watch looks. */
const CHECK_EVERY_MS = 1000;

/**
 * Calls `onStall` when `waiting()` stayed above 0 while `answers()` did not move for
 * `quietMs` (then again after each further `quietMs`). `stalled` stays true until an
 * answer comes or nothing waits.
 */
export class StallWatch {
  readonly #waiting: () => number;
  readonly #answers: () => number;
  readonly #onStall: (quietMs: number) => void;
  readonly #quietMs: number;
  #seen = -1;
  #quietSince = 0;
  #lastStall = 0;
  #timer: TimerHandle | null = null;
  /** Whether records wait and no answer came for `quietMs`. */
  stalled = false;

  /**
   * `waiting`: records (or requests) sent and not answered; `answers`: a count that
   * moves with every answer, success or failure.
   */
  constructor(waiting: () => number, answers: () => number, onStall: (quietMs: number) => void, quietMs = STALL_MS) {
    this.#waiting = waiting;
    this.#answers = answers;
    this.#onStall = onStall;
    this.#quietMs = quietMs;
  }

  /** Starts looking (idempotent). The timer does not keep the process alive. */
  start(): void {
    if (this.#timer === null) this.#timer = unrefInterval(() => this.check(Date.now()), Math.min(CHECK_EVERY_MS, this.#quietMs));
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.stalled = false;
  }

  /** One look, at time `now` (the timer calls it; exposed for tests). */
  check(now: number): void {
    const answers = this.#answers();
    if (this.#waiting() <= 0 || answers !== this.#seen) {
      this.#seen = answers;
      this.#quietSince = now;
      this.#lastStall = now;
      this.stalled = false;
      return;
    }
    if (now - this.#lastStall >= this.#quietMs) {
      this.#lastStall = now;
      this.stalled = true;
      this.#onStall(now - this.#quietSince);
    }
  }
}

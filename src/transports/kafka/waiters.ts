/**
 * Callers waiting for something that happens to all of them at once (a connection
 * attempt ends, a queue drains, a gate opens), each for at most a deadline or until its
 * signal aborts.
 *
 * @module
 */

import { type Scheduler, withDeadline } from "../../core/scheduler.ts";

/**
 * A list of waiters woken together.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Waiters } from "./waiters.ts";
 * import { systemScheduler } from "../../runtime.ts";
 *
 * const waiters = new Waiters();
 * const waited = waiters.wait(systemScheduler, null);
 * waiters.wakeAll();
 * assert.equal(await waited, undefined);
 * ```
 */
export class Waiters {
  #wakes: Array<() => void> = [];

  /** Resolves at the next {@linkcode Waiters.wakeAll}, when `signal` aborts, or after `ms`. */
  async wait(scheduler: Scheduler, signal: AbortSignal | null, ms: number = Infinity): Promise<void> {
    let wake = (): void => {};
    const woken = new Promise<void>((resolve) => this.#wakes.push(wake = resolve));
    await withDeadline(scheduler, woken, ms, { signal });
    // Timed out or aborted: forget it, so that waits nobody wakes do not pile up.
    const at = this.#wakes.indexOf(wake);
    if (at >= 0) this.#wakes.splice(at, 1);
  }

  /** Wakes every waiter. */
  wakeAll(): void {
    const wakes = this.#wakes;
    this.#wakes = [];
    for (const wake of wakes) wake();
  }
}

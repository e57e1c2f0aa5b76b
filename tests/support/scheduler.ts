/**
 * A {@linkcode Scheduler} whose time moves only when a test says so: `advance(ms)` runs
 * the timers that fall due, in time order, at their own time, and lets the promise
 * callbacks they start run before the next one.
 */

import type { Scheduler, Timer, TimerOptions } from "../../src/core/scheduler.ts";

interface Entry {
  at: number;
  readonly seq: number;
  readonly fn: () => void;
  readonly every: number; // 0: once
  readonly keepAlive: boolean;
  cancelled: boolean;
}

const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;

/** Lets every promise callback queued so far (and those they queue) run. */
export function settle(): Promise<void> {
  // One turn of the event loop: the microtask queue is empty when a task runs.
  // setImmediate where there is one (Node, Deno, Bun): a timer of 0 ms waits 1 to 2 ms
  // there, and tests settle thousands of times.
  return new Promise((resolve) => {
    if (typeof immediate === "function") immediate(resolve);
    else setTimeout(resolve, 0);
  });
}

export class FakeScheduler implements Scheduler {
  #now: number;
  #seq = 0;
  #entries: Entry[] = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  later(ms: number, fn: () => void, options?: TimerOptions): Timer {
    return this.#add(this.#now + Math.max(0, ms), fn, 0, options?.keepAlive === true);
  }

  every(ms: number, fn: () => void, options?: TimerOptions): Timer {
    return this.#add(this.#now + Math.max(1, ms), fn, Math.max(1, ms), options?.keepAlive === true);
  }

  /** Timers not yet run or cancelled (intervals count while they run). */
  get pending(): number {
    return this.#entries.filter((e) => !e.cancelled).length;
  }

  /** Timers pending that keep the process alive. */
  get keepingAlive(): number {
    return this.#entries.filter((e) => !e.cancelled && e.keepAlive).length;
  }

  /** When the next timer falls due, or Infinity. */
  get nextAt(): number {
    let next = Infinity;
    for (const e of this.#entries) if (!e.cancelled && e.at < next) next = e.at;
    return next;
  }

  /** Moves time forward by `ms`, running what falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const entry = this.#next(target);
      if (entry === null) break;
      this.#now = Math.max(this.#now, entry.at);
      if (entry.every > 0) entry.at += entry.every;
      else entry.cancelled = true;
      entry.fn();
      this.#entries = this.#entries.filter((e) => !e.cancelled);
      await settle();
    }
    this.#now = Math.max(this.#now, target);
    await settle();
  }

  /**
   * Moves time forward by `ms` without running any timer: time that passes while the
   * caller holds the event loop (a synchronous burst). Timers that fall due meanwhile run,
   * late, at the next `advance`.
   */
  jump(ms: number): void {
    this.#now += ms;
  }

  /**
   * Advances time from one timer to the next until `promise` settles, and returns what it
   * resolves with (or throws what it rejects with). Throws when no timer is left, or none
   * within `limitMs`, and the promise is still pending: nothing could settle it.
   */
  async drive<T>(promise: Promise<T>, limitMs = 24 * 3_600_000): Promise<T> {
    let done = false;
    const watched = promise.then(
      (value) => ((done = true), value),
      (error: unknown) => {
        done = true;
        throw error;
      },
    );
    watched.catch(() => {});
    const limit = this.#now + limitMs;
    await settle();
    while (!done) {
      const next = this.nextAt;
      if (next === Infinity || next > limit) {
        throw new Error(`FakeScheduler.drive: the promise is still pending and ${next === Infinity ? "no timer is left" : `no timer falls due within ${limitMs} ms`}`);
      }
      await this.advance(Math.max(0, next - this.#now));
    }
    return watched;
  }

  /** Advances to each next timer until none is left that runs once (at most `limit` steps). */
  async runAll(limit = 10_000): Promise<void> {
    for (let i = 0; i < limit; i++) {
      let next = Infinity;
      for (const e of this.#entries) if (!e.cancelled && e.every === 0 && e.at < next) next = e.at;
      if (next === Infinity) return;
      await this.advance(Math.max(0, next - this.#now));
    }
    throw new Error(`FakeScheduler.runAll: timers still pending after ${limit} steps`);
  }

  #add(at: number, fn: () => void, every: number, keepAlive: boolean): Timer {
    const entry: Entry = { at, seq: this.#seq++, fn, every, keepAlive, cancelled: false };
    this.#entries.push(entry);
    return { cancel: () => void (entry.cancelled = true) };
  }

  #next(target: number): Entry | null {
    let best: Entry | null = null;
    for (const e of this.#entries) {
      if (e.cancelled || e.at > target) continue;
      if (best === null || e.at < best.at || (e.at === best.at && e.seq < best.seq)) best = e;
    }
    return best;
  }
}

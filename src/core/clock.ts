/**
 * A coarse wall clock for the hot path. Reading `Date.now()` costs more than copying a
 * small record, so the sink reads this clock instead: a field refreshed every
 * millisecond by a timer that runs only while records keep arriving (it stops after a
 * tick with no activity, and does not keep the process alive), and refreshed again
 * every {@linkcode REFRESH_EVERY} reads so that a long synchronous burst of emits does
 * not stamp every record with the burst's start. The first read after an idle spell
 * reads the real time. Timestamps are thus late by at most about a millisecond, or by
 * the event loop's lag when a synchronous task holds it.
 *
 * A read costs a field load and a test: the caller passes a counter that it increments
 * anyway (the sink passes its ring's count of frames, or of records offered) instead of
 * the clock keeping its own.
 * The sink's fast path (records without key or headers) goes further and reads
 * {@linkcode CoarseClock.last} with no test at all: it learns from `onStop` when that
 * value stops being current, and calls `read` itself every so many bytes of a burst.
 *
 * @module
 */

import type { Scheduler, Timer } from "./scheduler.ts";

/** Reads between two forced refreshes during a synchronous burst. A power of two. */
export const REFRESH_EVERY = 64;

/** A wall clock, in milliseconds since the epoch, cheap to read. */
export class CoarseClock {
  #now = 0;
  #timer: Timer | null = null;
  readonly #scheduler: Scheduler;
  /** The activity counter at the last tick. */
  #seen = -1;
  readonly #activity: () => number;
  readonly #tickMs: number;
  readonly #onStop: () => void;
  readonly #onTick: (() => void) | null;

  /**
   * The clock reads `scheduler`'s time. `activity` returns a number that changes
   * whenever the clock is read (the counter the reads pass); the ticker stops after a
   * tick in which it did not change, and then calls `onStop`. `onTick`, if given, is
   * called on every other tick (worker mode publishes the ring's frames then).
   */
  constructor(scheduler: Scheduler, activity: () => number, tickMs = 1, onStop: () => void = () => {}, onTick: (() => void) | null = null) {
    this.#scheduler = scheduler;
    this.#activity = activity;
    this.#tickMs = tickMs;
    this.#onStop = onStop;
    this.#onTick = onTick;
  }

  /**
   * The time of the last tick or read, without any check: current only while the
   * ticker runs. A reader that uses it must stop doing so when `onStop` is called, and
   * call `now` or `read` from time to time during a synchronous burst.
   */
  get last(): number {
    return this.#now;
  }

  /** Reads the real time (and starts the ticker if it is stopped). */
  read(): number {
    return this.#refresh();
  }

  /**
   * The current time, to about a millisecond. `seq` is the caller's counter, one step per
   * read: every {@linkcode REFRESH_EVERY}th value reads the real time.
   */
  now(seq: number): number {
    if (this.#timer !== null && (seq & (REFRESH_EVERY - 1)) !== 0) return this.#now;
    return this.#refresh();
  }

  /** Stops the ticking timer (a later read starts it again). */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = null;
    this.#onStop();
  }

  #refresh(): number {
    this.#now = this.#scheduler.now();
    if (this.#timer === null) {
      this.#seen = this.#activity();
      this.#timer = this.#scheduler.every(this.#tickMs, () => {
        const activity = this.#activity();
        if (activity === this.#seen) {
          this.stop();
          return;
        }
        this.#seen = activity;
        this.#now = this.#scheduler.now();
        this.#onTick?.();
      });
    }
    return this.#now;
  }
}

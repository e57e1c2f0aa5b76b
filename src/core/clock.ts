/**
 * A coarse wall clock for the hot path. Reading `Date.now()` costs more than copying a
 * small record, so the sink reads this clock instead: a field refreshed every
 * millisecond by a timer that runs only while records keep arriving (it stops after a
 * tick with no reads, and does not keep the process alive), and refreshed again every
 * {@linkcode REFRESH_EVERY} reads so that a long synchronous burst of emits does not
 * stamp every record with the burst's start. The first read after an idle spell reads
 * the real time. Timestamps are thus late by at most about a millisecond, or by the
 * event loop's lag when a synchronous task holds it.
 *
 * @module
 */

import { type TimerHandle, unrefInterval } from "../runtime.ts";

/** Reads between two forced refreshes during a synchronous burst. A power of two. */
export const REFRESH_EVERY = 64;

/** A wall clock, in milliseconds since the epoch, cheap to read. */
export class CoarseClock {
  #now = 0;
  #reads = 0;
  #readSinceTick = false;
  #timer: TimerHandle | null = null;
  readonly #tickMs: number;

  constructor(tickMs = 1) {
    this.#tickMs = tickMs;
  }

  /** The current time, to about a millisecond. */
  now(): number {
    this.#readSinceTick = true;
    if (this.#timer === null) this.#start();
    else if ((++this.#reads & (REFRESH_EVERY - 1)) === 0) this.#now = Date.now();
    return this.#now;
  }

  /** Stops the ticking timer (a later read starts it again). */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #start(): void {
    this.#now = Date.now();
    this.#readSinceTick = false;
    this.#timer = unrefInterval(() => {
      if (!this.#readSinceTick) {
        this.stop();
        return;
      }
      this.#readSinceTick = false;
      this.#now = Date.now();
    }, this.#tickMs);
  }
}

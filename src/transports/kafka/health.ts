/**
 * How a Kafka transport sees its connection: `connecting` until a broker first
 * answered, then `up` or `down`, and `closed`. While down, a probe (a metadata request
 * the adapter sends its own way) runs every second until one is answered. And a broker
 * that stopped answering without closing its connections is noticed by a
 * {@linkcode StallWatch}: records on their way and no answer for a while.
 *
 * A hung broker (a stopped process, a stalled disk, packets dropped in silence) keeps its
 * TCP connections open, so a Kafka client hears of nothing wrong until a request times
 * out, and the transports leave those timeouts long because they retry without limit.
 * Without the stall watch `state()` would say `up` through the whole outage.
 *
 * @module
 */

import type { TransportState } from "../../core/contract.ts";
import { type Scheduler, type Timer, withDeadline } from "../../core/scheduler.ts";

/** How long records may wait with no answer at all before the broker counts as down. */
export const STALL_MS = 5000;

/** How often the stall watch looks. */
const CHECK_EVERY_MS = 1000;

/** How often the broker is probed while down; also how long a probe may take. */
export const PROBE_EVERY_MS = 1000;

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
  #timer: Timer | null = null;
  /** Whether records wait and no answer came for `quietMs`. */
  stalled = false;

  /**
   * `waiting`: records (or requests) sent and not answered; `answers`: a count that
   * moves with every answer, success or failure.
   */
  constructor(waiting: () => number, answers: () => number, onStall: (quietMs: number) => void, quietMs: number = STALL_MS) {
    this.#waiting = waiting;
    this.#answers = answers;
    this.#onStall = onStall;
    this.#quietMs = quietMs;
  }

  /** Starts looking on `scheduler` (idempotent). Its timer does not keep the process alive. */
  start(scheduler: Scheduler): void {
    if (this.#timer === null) this.#timer = scheduler.every(Math.min(CHECK_EVERY_MS, this.#quietMs), () => this.check(scheduler.now()));
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = null;
    this.stalled = false;
  }

  /** One look, at time `now` (the timer calls it). */
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

/**
 * A probe of the broker while down: a promise that resolves `true` when the answer means
 * up, or `null` when no probe can be sent now (it is tried again a second later).
 */
export type Probe = () => Promise<boolean> | null;

/** A transport's view of its connection. See the module docs. */
export class Health {
  readonly #probe: Probe;
  readonly #stall: StallWatch;
  #scheduler: Scheduler | null = null;
  #answers = 0;
  #everUp = false;
  #up = false;
  #closed = false;
  #probeTimer: Timer | null = null;
  #probing = false;

  /**
   * `waiting`: records sent and not answered, for the stall watch; `probe`: how to ask a
   * broker whether it is back.
   */
  constructor(waiting: () => number, probe: Probe) {
    this.#probe = probe;
    this.#stall = new StallWatch(waiting, () => this.#answers, () => {
      if (this.#up) this.down();
    });
  }

  /** Starts the stall watch on `scheduler` (the transport's, given when the sink starts it). */
  start(scheduler: Scheduler): void {
    if (this.#closed) return;
    this.#scheduler = scheduler;
    this.#stall.start(scheduler);
  }

  /** An answer came to something sent (success or failure): the broker is not hung. */
  answered(): void {
    this.#answers++;
  }

  /** Whether records wait and got no answer for the stall watch's quiet time. */
  get stalled(): boolean {
    return this.#stall.stalled;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether a broker ever answered. */
  get everUp(): boolean {
    return this.#everUp;
  }

  get up(): boolean {
    return this.#up;
  }

  state(): TransportState {
    if (this.#closed) return "closed";
    if (!this.#everUp) return "connecting";
    return this.#up ? "up" : "down";
  }

  /** A broker answered. */
  markUp(): void {
    this.#everUp = true;
    this.#up = true;
    this.#probeTimer?.cancel();
    this.#probeTimer = null;
  }

  /** Something says the brokers are gone: `down` (once one ever answered), and probe until one answers. */
  down(): void {
    if (this.#closed || !this.#everUp) return;
    this.#up = false;
    this.#scheduleProbe();
  }

  /** For good: `closed`, no more timers. */
  close(): void {
    this.#closed = true;
    this.#stall.stop();
    this.#probeTimer?.cancel();
    this.#probeTimer = null;
  }

  /** While down, asks a broker now and then: an answer means up again. */
  #scheduleProbe(): void {
    const scheduler = this.#scheduler;
    if (this.#probeTimer !== null || this.#closed || scheduler === null) return;
    this.#probeTimer = scheduler.later(PROBE_EVERY_MS, () => {
      this.#probeTimer = null;
      if (this.#up || this.#closed) return;
      const probe = this.#probing ? null : this.#probe();
      if (probe === null) {
        this.#scheduleProbe();
        return;
      }
      this.#probing = true;
      const done = (ok: unknown) => {
        this.#probing = false;
        // A broker that answers metadata but not produce requests stays down.
        if (ok === true && !this.#stall.stalled) this.markUp();
        else this.#scheduleProbe();
      };
      withDeadline(scheduler, probe, PROBE_EVERY_MS).then(done, () => done(false));
    });
  }
}

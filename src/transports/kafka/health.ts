/**
 * How a Kafka transport sees its connection: `connecting` until a broker first
 * answered, then `up` or `down`, and `closed`. A known failure (bad credentials, a
 * certificate that does not verify, TLS expected, no bootstrap broker reachable, a
 * stall: a {@linkcode KafkaFailure}) makes it `down` at once, even before a broker ever
 * answered, and stays until a broker answers; every change of state or failure is told
 * once to a listener (the transport's `onError` and `logger` hooks). While down, a probe (a metadata request
 * the adapter sends its own way) runs every second until one is answered; while the
 * failure is one of authentication or TLS, each attempt costs the broker a handshake
 * and none will succeed before someone fixes the cause, so the probes back off (1 s
 * doubling to {@linkcode PROBE_BACKOFF_MAX_MS}, ±20% jitter) and the adapters make no
 * other connection attempt ({@linkcode Health.backingOff}). And a broker
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
import { backoffDelay, SPREAD_JITTER } from "../../core/policy.ts";
import { type Scheduler, type Timer, withDeadline } from "../../core/scheduler.ts";
import { failure, type KafkaFailure } from "./failures.ts";

/** Told on every change of a {@linkcode Health}'s state or failure: the new ones, and the state before. */
export type HealthListener = (state: TransportState, failure: KafkaFailure | null, previous: TransportState) => void;

/** How long records may wait with no answer at all before the broker counts as down. */
export const STALL_MS = 5000;

/** How often the stall watch looks. */
const CHECK_EVERY_MS = 1000;

/** How often the broker is probed while down; also how long a probe may take. */
export const PROBE_EVERY_MS = 1000;

/** The longest wait between probes while down with an authentication or TLS failure (before ±20% jitter). */
export const PROBE_BACKOFF_MAX_MS = 10_000;

/** The wait before attempt `n` (from 0): `firstMs` doubling up to `maxMs`, with ±20% jitter (`random` in [0, 1)). */
export function backoffMs(n: number, firstMs: number, maxMs: number, random: () => number = Math.random): number {
  return backoffDelay(n, firstMs, maxMs, random, SPREAD_JITTER);
}

/** Failures no retry fixes before someone does (credentials, certificates, the listener): attempts back off. */
const backsOff = (f: KafkaFailure | null) => f !== null && (f.code.startsWith("SASL_") || f.code.startsWith("TLS_"));

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
  readonly #listener: HealthListener | null;
  readonly #random: () => number;
  /** Probes sent and not answered since the last time up, for the backoff. */
  #probeFailures = 0;
  #failure: KafkaFailure | null = null;
  /** The state and failure code last told to the listener. */
  #told = "connecting";
  #toldState: TransportState = "connecting";
  #scheduler: Scheduler | null = null;
  #answers = 0;
  #everUp = false;
  #up = false;
  #closed = false;
  #probeTimer: Timer | null = null;
  #probing = false;

  /**
   * `waiting`: records sent and not answered, for the stall watch; `probe`: how to ask a
   * broker whether it is back; `random`: the backoff's jitter.
   */
  constructor(waiting: () => number, probe: Probe, listener: HealthListener | null = null, random: () => number = Math.random) {
    this.#probe = probe;
    this.#listener = listener;
    this.#random = random;
    this.#stall = new StallWatch(waiting, () => this.#answers, (quietMs) => {
      if (this.#up) this.fail(failure("BROKER_STALLED", `records sent ${quietMs} ms ago got no answer`));
    });
  }

  /**
   * Why the transport is down, while it is, and after it closed down (why it was down
   * then); `null` when up or connecting, and once closed if it was not down.
   */
  get failure(): KafkaFailure | null {
    return this.#up ? null : this.#failure;
  }

  /**
   * Whether connection attempts are left to the probe, which backs off: down with an
   * authentication or TLS failure. A send then fails at once (retriably) with the failure.
   */
  get backingOff(): boolean {
    return !this.#closed && !this.#up && backsOff(this.#failure);
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
    if (this.#up) return "up";
    return this.#everUp || this.#failure !== null ? "down" : "connecting";
  }

  /** A broker answered: `up`, and the failure cleared. */
  markUp(): void {
    this.#everUp = true;
    this.#up = true;
    this.#failure = null;
    this.#probeFailures = 0;
    this.#probeTimer?.cancel();
    this.#probeTimer = null;
    this.#tell();
  }

  /**
   * Something says the brokers are gone: `down` (once one ever answered, or at once with
   * a known `why`), and probe until one answers. Without `why`, the failure is that no
   * broker answers.
   */
  down(why?: KafkaFailure | null): void {
    if (this.#closed) return;
    if (why !== undefined && why !== null) {
      this.fail(why);
      return;
    }
    if (!this.#everUp) return;
    this.fail(this.#failure ?? failure("BROKERS_UNREACHABLE", "the connection to the brokers was lost"));
  }

  /** A known failure: `down` with it (replacing an earlier one), and probe until a broker answers. */
  fail(why: KafkaFailure): void {
    if (this.#closed) return;
    this.#up = false;
    this.#failure = why;
    this.#scheduleProbe();
    this.#tell();
  }

  /** For good: `closed`, no more timers. */
  close(): void {
    this.#closed = true;
    this.#stall.stop();
    this.#probeTimer?.cancel();
    this.#probeTimer = null;
    this.#tell();
  }

  /** Tells the listener of a change of state or failure code (never of the same one twice). */
  #tell(): void {
    const state = this.state();
    const f = this.failure;
    const key = `${state}:${f?.code ?? ""}`;
    if (key === this.#told) return;
    const previous = this.#toldState;
    this.#told = key;
    this.#toldState = state;
    try {
      this.#listener?.(state, f, previous);
    } catch {
      // an application's hook must not break the transport
    }
  }

  /** How long until the next probe: a second, or backing off (see the module docs). */
  #probeDelay(): number {
    return backsOff(this.#failure) ? backoffMs(this.#probeFailures, PROBE_EVERY_MS, PROBE_BACKOFF_MAX_MS, this.#random) : PROBE_EVERY_MS;
  }

  /** While down, asks a broker now and then: an answer means up again. */
  #scheduleProbe(delay: number = this.#probeDelay()): void {
    const scheduler = this.#scheduler;
    if (this.#probeTimer !== null || this.#closed || scheduler === null) return;
    this.#probeTimer = scheduler.later(delay, () => {
      this.#probeTimer = null;
      if (this.#up || this.#closed) return;
      const probe = this.#probing ? null : this.#probe();
      if (probe === null) {
        this.#scheduleProbe(PROBE_EVERY_MS);
        return;
      }
      this.#probing = true;
      const done = (ok: unknown) => {
        this.#probing = false;
        // A broker that answers metadata but not produce requests stays down.
        if (ok === true && !this.#stall.stalled) this.markUp();
        else {
          this.#probeFailures++;
          this.#scheduleProbe();
        }
      };
      withDeadline(scheduler, probe, PROBE_EVERY_MS).then(done, () => done(false));
    });
  }
}

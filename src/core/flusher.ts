/**
 * The flusher: drains the backlog into transport batches, on the same thread as the hot
 * path but never inside it.
 *
 * A batch leaves the ring when it is full (`maxRecords` or `maxBatchBytes`), when its
 * oldest record has waited `lingerMs`, or when a flush or close asks. Records are copied
 * out of the ring into one buffer per batch, so the ring frees their space at once; they
 * stay counted as in flight (against `capacityBytes`) until the transport settles them.
 * A retriable failure keeps the records and sends them again after a backoff; a
 * permanent one drops them as `rejected`; a record that reaches `maxAgeMs` before it is
 * delivered is dropped as `expired`.
 *
 * @module
 */

import { EXPIRED, REJECTED, SHUTDOWN } from "./accounting.ts";
import type { FlusherBacklog, FlusherLedger, Shipment } from "./backlog.ts";
import type { OutRecord, SendReport, Transport } from "./contract.ts";
import type { AcceptListener } from "./encode.ts";
import { ShedsinkError } from "./errors.ts";
import { backoffDelay } from "./policy.ts";
import { type Scheduler, type Timer, TIMED_OUT, withDeadline } from "./scheduler.ts";
import type { CoreSettings } from "./settings.ts";

/** The settings the flusher runs by. */
export type FlusherSettings = Pick<
  CoreSettings<unknown>,
  "maxRecords" | "maxBatchBytes" | "lingerMs" | "maxInFlight" | "maxAgeMs" | "initialDelayMs" | "maxDelayMs"
>;

/** A caller of `flush()`: settled once every record up to `target` (exclusive) is. */
interface FlushWaiter {
  readonly target: number;
  readonly resolve: (settled: boolean) => void;
}

const OUTCOME_DELIVERED = 0;
const OUTCOME_REJECTED = 1;
const OUTCOME_RETRY = 2;
const OUTCOME_EXPIRED = 3;
const OUTCOME_ABORTED = 4;

/** Whether an error says that trying again may work. */
function isRetriable(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { retriable?: unknown }).retriable === true;
}

/** Drains a backlog into a transport. */
export class Flusher implements AcceptListener {
  readonly #backlog: FlusherBacklog;
  readonly #acct: FlusherLedger;
  readonly #transport: Transport;
  readonly #settings: FlusherSettings;
  readonly #scheduler: Scheduler;
  readonly #random: () => number;
  /**
   * Shipments handed to the transport, each with the controller of its own signal: one
   * signal per send keeps a transport's abort listeners per signal few, however many
   * sends are in flight.
   */
  readonly #inFlight: Map<Shipment, AbortController> = new Map();
  readonly #retry: Shipment[] = [];
  #waiters: FlushWaiter[] = [];
  #timer: Timer | null = null;
  #timerAt = Infinity;
  #timerKeepsAlive = false;
  #kicked = false;
  /** `accepted()` rouses the flusher when pending bytes or records reach these (see #updateThresholds). */
  #heedBytes = 0;
  #heedRecords = 0;
  #running = false;
  #draining = false;
  #stopped = false;
  #backoffUntil = 0;
  #attempt = 0;
  #onIdle: (() => void) | null = null;
  /** Sends that failed retriably and were scheduled again. */
  retries = 0;
  /** Batches handed to the transport. */
  sends = 0;
  /**
   * The last error a transport reported, if any. A retriable one clears when a send
   * succeeds after it; a final one (a rejection) stays until the next error.
   */
  lastError: unknown = null;
  /**
   * Of the records dropped as `shutdown`, those handed to the transport that had no
   * answer for them (sends still in flight at the deadline, or aborted by it): the
   * transport may have passed them to a broker, which may write them.
   */
  readonly inDoubt = { records: 0, bytes: 0 };

  constructor(
    backlog: FlusherBacklog,
    acct: FlusherLedger,
    transport: Transport,
    settings: FlusherSettings,
    scheduler: Scheduler,
    random: () => number = Math.random,
  ) {
    this.#backlog = backlog;
    this.#acct = acct;
    this.#transport = transport;
    this.#settings = settings;
    this.#scheduler = scheduler;
    this.#random = random;
  }

  /** Called after a record was accepted: starts the linger clock or a send. Cheap. */
  accepted(): void {
    const backlog = this.#backlog;
    if (backlog.bytes >= this.#heedBytes || backlog.count >= this.#heedRecords) this.#rouse();
  }

  /** Bytes of records that may be accepted unheard: while pending bytes stay below the threshold. */
  unheardBytes(): number {
    return this.#heedBytes - this.#backlog.bytes - 1;
  }

  /** Likewise, records. */
  unheardRecords(): number {
    return this.#heedRecords - this.#backlog.count - 1;
  }

  /** What `accepted` found: a full batch (send now), or the first record since the flusher went idle (start lingering). */
  #rouse(): void {
    const backlog = this.#backlog;
    if (backlog.count >= this.#settings.maxRecords || backlog.bytes >= this.#settings.maxBatchBytes) {
      this.kick();
    } else if (this.#timer === null && !this.#kicked) {
      this.#arm(this.#settings.lingerMs);
    }
    this.#updateThresholds();
  }

  /**
   * Sets the thresholds `accepted` compares against: any record rouses an idle flusher;
   * while it lingers only a full batch does; once it is about to run, nothing does.
   */
  #updateThresholds(): void {
    // The writer's fast path does not call accepted(): make it come back.
    this.#backlog.ring.attendNow();
    if (this.#kicked || this.#stopped) {
      this.#heedBytes = Infinity;
      this.#heedRecords = Infinity;
    } else if (this.#timer !== null) {
      this.#heedBytes = this.#settings.maxBatchBytes;
      this.#heedRecords = this.#settings.maxRecords;
    } else {
      this.#heedBytes = 0;
      this.#heedRecords = 0;
    }
  }

  /** Runs the flusher soon (in a microtask), once however often it is called. */
  kick(): void {
    if (this.#kicked || this.#stopped) return;
    this.#kicked = true;
    this.#updateThresholds();
    queueMicrotask(() => {
      this.#kicked = false;
      this.#updateThresholds();
      this.#run();
    });
  }

  /**
   * Resolves once every record accepted so far is settled (true), or after `timeoutMs`
   * (false). Sends partial batches without lingering meanwhile. A caller awaiting a
   * flush keeps the process alive until it settles.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    const target = this.#backlog.ring.appended;
    if (this.#minUnsettled() >= target) return true;
    let waiter: FlushWaiter | null = null;
    const settled = new Promise<boolean>((resolve) => {
      waiter = { target, resolve };
      this.#waiters.push(waiter);
    });
    this.kick();
    const result = await withDeadline(this.#scheduler, settled, timeoutMs, { keepAlive: true });
    if (result !== TIMED_OUT) return true;
    this.#waiters = this.#waiters.filter((w) => w !== waiter);
    return false;
  }

  /** From now on, send whatever is pending without lingering. */
  drain(): void {
    this.#draining = true;
    this.kick();
  }

  /**
   * Stops for good: aborts sends in flight, waits up to `graceMs` for them to settle,
   * then drops everything still held as `shutdown`.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopped = true;
    this.#clearTimer();
    const reason = new ShedsinkError("SINK_CLOSING", "the sink is closing");
    for (const controller of this.#inFlight.values()) controller.abort(reason);
    if (this.#inFlight.size > 0 && graceMs > 0) {
      const idle = new Promise<void>((resolve) => {
        this.#onIdle = resolve;
      });
      await withDeadline(this.#scheduler, idle, graceMs, { keepAlive: true });
    }
    this.#onIdle = null;
    for (const shipment of this.#inFlight.keys()) this.#abandon(shipment.batch.records.length, shipment.batch.bytes);
    this.#inFlight.clear();
    for (const shipment of this.#retry) this.#acct.loseInFlight(SHUTDOWN, shipment.batch.records.length, shipment.batch.bytes);
    this.#retry.length = 0;
    this.#backlog.dropAll(SHUTDOWN);
    this.#resolveFlushes();
  }

  /** Drops records the transport was given and did not answer for, as `shutdown`. */
  #abandon(records: number, bytes: number): void {
    this.#acct.loseInFlight(SHUTDOWN, records, bytes);
    this.inDoubt.records += records;
    this.inDoubt.bytes += bytes;
  }

  #run(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    try {
      this.#pump();
    } finally {
      this.#running = false;
    }
  }

  #pump(): void {
    const s = this.#settings;
    const backlog = this.#backlog;
    const now = this.#scheduler.now();
    if (now < this.#backoffUntil) {
      this.#arm(this.#backoffUntil - now);
      return;
    }
    backlog.expire(now);
    // Records dropped by the hot path or by expiry may have satisfied a flush.
    this.#resolveFlushes();
    // One batch per turn of the event loop: handing a batch to a transport is synchronous
    // work (librdkafka's produce() per record), so several in a row would hold up the
    // application's own callbacks, most visibly when a backlog drains after an outage.
    let sent = false;
    while (this.#inFlight.size < s.maxInFlight) {
      if (sent) {
        this.#arm(0);
        return;
      }
      let shipment: Shipment | null;
      const held = this.#retry.shift();
      if (held !== undefined) {
        shipment = this.#dropExpired(held, now);
        if (shipment === null) continue;
      } else {
        if (backlog.count === 0) return;
        const full = backlog.count >= s.maxRecords || backlog.bytes >= s.maxBatchBytes;
        if (!full && !this.#draining && this.#waiters.length === 0) {
          const due = backlog.oldestTimestamp() + s.lingerMs;
          if (now < due) {
            this.#arm(due - now);
            return;
          }
        }
        shipment = backlog.take(s.maxRecords, s.maxBatchBytes);
        if (shipment === null) return;
      }
      this.#send(shipment);
      sent = true;
    }
  }

  #send(shipment: Shipment): void {
    const controller = new AbortController();
    this.#inFlight.set(shipment, controller);
    this.sends++;
    this.#acct.sent?.();
    let promise: Promise<SendReport | undefined>;
    try {
      promise = this.#transport.send(shipment.batch, controller.signal);
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (report) => this.#settle(shipment, report, null),
      (error: unknown) => this.#settle(shipment, undefined, error ?? new Error("send failed")),
    );
  }

  #settle(shipment: Shipment, report: SendReport | undefined, error: unknown): void {
    // A shipment no longer in flight was abandoned at shutdown and already counted.
    if (!this.#inFlight.delete(shipment)) return;
    const acct = this.#acct;
    const { records, bytes } = shipment.batch;
    let retried = false;
    if (error !== null) {
      if (this.#stopped) {
        // Perhaps the abort reason: the fate of the batch is unknown.
        this.#abandon(records.length, bytes);
      } else if (isRetriable(error)) {
        this.#retry.unshift(shipment);
        retried = true;
      } else {
        acct.loseInFlight(REJECTED, records.length, bytes);
      }
      this.lastError = error;
    } else if (report === undefined) {
      acct.deliver(records.length, bytes);
    } else {
      retried = this.#apply(shipment, report);
    }
    if (retried) {
      this.retries++;
      const delay = backoffDelay(this.#attempt++, this.#settings.initialDelayMs, this.#settings.maxDelayMs, this.#random);
      this.#backoffUntil = this.#scheduler.now() + delay;
    } else {
      this.#attempt = 0;
      // Delivered after retriable failures: they are over.
      if (error === null && report?.error === undefined && isRetriable(this.lastError)) this.lastError = null;
    }
    acct.sent?.();
    this.#resolveFlushes();
    if (this.#inFlight.size === 0 && this.#onIdle !== null) this.#onIdle();
    this.kick();
  }

  /** Applies a per-record report. Returns whether some records are to be retried. */
  #apply(shipment: Shipment, report: SendReport): boolean {
    const { records } = shipment.batch;
    const outcome = new Uint8Array(records.length);
    const mark = (list: ReadonlyArray<number> | undefined, value: number) => {
      if (list === undefined) return;
      for (const i of list) if (i >= 0 && i < outcome.length && outcome[i] === OUTCOME_DELIVERED) outcome[i] = value;
    };
    mark(report.rejected, OUTCOME_REJECTED);
    mark(report.expired, OUTCOME_EXPIRED);
    mark(report.aborted, OUTCOME_ABORTED);
    mark(report.retry, OUTCOME_RETRY);
    if (report.error !== undefined) this.lastError = report.error;
    const acct = this.#acct;
    const kept = subset(shipment, (record, i) => {
      switch (outcome[i]) {
        case OUTCOME_DELIVERED:
          acct.deliver(1, record.size);
          return false;
        case OUTCOME_REJECTED:
          acct.loseInFlight(REJECTED, 1, record.size);
          return false;
        case OUTCOME_EXPIRED:
          acct.loseInFlight(EXPIRED, 1, record.size);
          return false;
        case OUTCOME_ABORTED:
          this.#abandon(1, record.size);
          return false;
        default:
          if (!this.#stopped) return true;
          acct.loseInFlight(SHUTDOWN, 1, record.size);
          return false;
      }
    });
    if (kept === null) return false;
    this.#retry.unshift(kept);
    return true;
  }

  /** Drops the records of a held shipment that reached `maxAgeMs`; null when none is left. */
  #dropExpired(shipment: Shipment, now: number): Shipment | null {
    const oldest = now - this.#settings.maxAgeMs;
    const { records } = shipment.batch;
    if (records.length === 0 || records[0]!.timestamp >= oldest) return shipment;
    const kept = subset(shipment, (record) => {
      if (record.timestamp >= oldest) return true;
      this.#acct.loseInFlight(EXPIRED, 1, record.size);
      return false;
    });
    this.#resolveFlushes();
    return kept;
  }

  /** The smallest sequence number not yet settled (`appended` when all are). */
  #minUnsettled(): number {
    const ring = this.#backlog.ring;
    let min = ring.count > 0 ? ring.removed : ring.appended;
    for (const shipment of this.#inFlight.keys()) if (shipment.seqs[0]! < min) min = shipment.seqs[0]!;
    for (const shipment of this.#retry) if (shipment.seqs[0]! < min) min = shipment.seqs[0]!;
    return min;
  }

  /** Resolves the flush waiters whose records are all settled. */
  #resolveFlushes(): void {
    if (this.#waiters.length === 0) return;
    const min = this.#minUnsettled();
    const still: FlushWaiter[] = [];
    for (const waiter of this.#waiters) {
      if (waiter.target <= min) waiter.resolve(true);
      else still.push(waiter);
    }
    this.#waiters = still;
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    const at = this.#scheduler.now() + ms;
    // Idle lingering and backoff never keep the process alive; a pending flush or close
    // does, since someone awaits it.
    const keepAlive = this.#draining || this.#waiters.length > 0;
    if (this.#timer !== null) {
      if (this.#timerAt <= at && (this.#timerKeepsAlive || !keepAlive)) return;
      this.#timer.cancel();
    }
    this.#timerAt = at;
    this.#timerKeepsAlive = keepAlive;
    this.#timer = this.#scheduler.later(ms, () => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.#updateThresholds();
      this.#run();
    }, { keepAlive });
    this.#updateThresholds();
  }

  #clearTimer(): void {
    this.#timer?.cancel();
    this.#timer = null;
    this.#timerAt = Infinity;
    this.#updateThresholds();
  }
}

/** The records of `shipment` for which `keep` returns true, as a shipment; null when none. */
function subset(shipment: Shipment, keep: (record: OutRecord, index: number) => boolean): Shipment | null {
  const { records } = shipment.batch;
  const kept: OutRecord[] = [];
  const seqs: number[] = [];
  let bytes = 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    if (!keep(record, i)) continue;
    kept.push(record);
    seqs.push(shipment.seqs[i]!);
    bytes += record.size;
  }
  return kept.length === 0 ? null : { batch: { records: kept, bytes }, seqs: Float64Array.from(seqs) };
}

/**
 * The flusher: drains the ring into transport batches, in the same thread as the hot
 * path but never inside it.
 *
 * A batch leaves the ring when it is full (`maxRecords` or `maxBytes`), when its oldest
 * record has waited `lingerMs`, or when a flush or close asks. Records are copied out of
 * the ring into one buffer per batch, so the ring frees their space at once; they stay
 * counted as in flight (against `capacityBytes`) until the transport settles them. A
 * retriable failure keeps the records and sends them again after a backoff; a permanent
 * one drops them as `rejected`; a record that reaches `maxAgeMs` before it is delivered
 * is dropped as `expired`.
 *
 * @module
 */

import type { Accounting } from "./accounting.ts";
import { EXPIRED, REJECTED, SHUTDOWN } from "./accounting.ts";
import { frameTimestamp, type Header, readFrame, SIZE_AT } from "./frame.ts";
import { backoffDelay } from "./policy.ts";
import type { ByteRing } from "./ring.ts";
import type { RecordWriter } from "./encode.ts";
import type { Batch, OutRecord, SendReport, Transport } from "../transport.ts";
import { type TimerHandle, unrefTimeout } from "../runtime.ts";

/** Settings the flusher runs by. */
export interface FlusherSettings {
  readonly maxRecords: number;
  readonly maxBatchBytes: number;
  readonly lingerMs: number;
  readonly maxInFlight: number;
  readonly maxAgeMs: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** A batch with the sequence numbers (acceptance order) of its records. */
interface Shipment {
  readonly batch: Batch;
  readonly seqs: Float64Array;
}

interface Waiter {
  readonly target: number;
  readonly resolve: (settled: boolean) => void;
}

const OUTCOME_DELIVERED = 0;
const OUTCOME_REJECTED = 1;
const OUTCOME_RETRY = 2;
const OUTCOME_EXPIRED = 3;
const OUTCOME_ABORTED = 4;

/** Whether an error says that trying again may work. */
export function isRetriable(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { retriable?: unknown }).retriable === true;
}

/** Drains a ring into a transport. */
export class Flusher<T> {
  readonly #ring: ByteRing;
  readonly #acct: Accounting;
  readonly #writer: RecordWriter<T>;
  readonly #transport: Transport;
  readonly #settings: FlusherSettings;
  readonly #staticHeaders: ReadonlyArray<Header> | null;
  /**
   * Shipments handed to the transport, each with the controller of its own signal: one
   * signal per send keeps a transport's abort listeners per signal few, however many
   * sends are in flight.
   */
  readonly #inFlight: Map<Shipment, AbortController> = new Map();
  readonly #retry: Shipment[] = [];
  readonly #offsets: Float64Array;
  readonly #random: () => number;
  #waiters: Waiter[] = [];
  #timer: TimerHandle | null = null;
  #timerAt = Infinity;
  #timerKeepsAlive = false;
  #kicked = false;
  /** `notify` wakes the flusher when pending bytes or records reach these (see #updateWake). */
  #wakeBytes = 0;
  #wakeRecords = 0;
  #running = false;
  #draining = false;
  #stopped = false;
  #backoffUntil = 0;
  #attempt = 0;
  /** Sends that failed retriably and were scheduled again. */
  retries = 0;
  /** Batches handed to the transport. */
  sends = 0;
  /** The last error a transport reported, if any. */
  lastError: unknown = null;

  constructor(
    ring: ByteRing,
    acct: Accounting,
    writer: RecordWriter<T>,
    transport: Transport,
    settings: FlusherSettings,
    staticHeaders: ReadonlyArray<Header> | null,
    random: () => number = Math.random,
  ) {
    this.#ring = ring;
    this.#acct = acct;
    this.#writer = writer;
    this.#transport = transport;
    this.#settings = settings;
    this.#staticHeaders = staticHeaders;
    this.#offsets = new Float64Array(settings.maxRecords);
    this.#random = random;
  }

  /** Called after a record was accepted: starts the linger clock or a send. Cheap. */
  notify(): void {
    // The ring holds exactly the pending records.
    const ring = this.#ring;
    if (ring.frameBytes >= this.#wakeBytes || ring.count >= this.#wakeRecords) this.#rouse();
  }

  /**
   * Bytes of frames that may be accepted without `notify` before the flusher needs to
   * hear of one: while pending bytes stay below the wake threshold.
   */
  bytesUntilWake(): number {
    return this.#wakeBytes - this.#ring.frameBytes - 1;
  }

  /** Likewise, frames: while pending records stay below the wake threshold. */
  recordsUntilWake(): number {
    return this.#wakeRecords - this.#ring.count - 1;
  }

  /**
   * What `notify` found: a full batch (send now), or the first record since the flusher
   * went idle (start lingering).
   */
  #rouse(): void {
    const acct = this.#acct;
    if (acct.pendingRecords >= this.#settings.maxRecords || acct.pendingBytes >= this.#settings.maxBatchBytes) {
      this.kick();
    } else if (this.#timer === null && !this.#kicked) {
      this.#arm(this.#settings.lingerMs);
    }
    this.#updateWake();
  }

  /**
   * Sets the thresholds `notify` compares against: any record wakes an idle flusher;
   * while it lingers only a full batch does; once it is about to run, nothing does.
   */
  #updateWake(): void {
    // The writer's fast path for bytes does not call notify: make it come back.
    this.#ring.attendNow();
    if (this.#kicked || this.#stopped) {
      this.#wakeBytes = Infinity;
      this.#wakeRecords = Infinity;
    } else if (this.#timer !== null) {
      this.#wakeBytes = this.#settings.maxBatchBytes;
      this.#wakeRecords = this.#settings.maxRecords;
    } else {
      this.#wakeBytes = 0;
      this.#wakeRecords = 0;
    }
  }

  /** Runs the flusher soon (in a microtask), once however often it is called. */
  kick(): void {
    if (this.#kicked || this.#stopped) return;
    this.#kicked = true;
    this.#updateWake();
    queueMicrotask(() => {
      this.#kicked = false;
      this.#updateWake();
      this.#run();
    });
  }

  /**
   * Resolves once every record accepted so far is settled (true), or at the deadline
   * (false). Sends partial batches without lingering meanwhile.
   */
  flush(timeoutMs: number): Promise<boolean> {
    const target = this.#ring.appended;
    if (this.#minUnsettled() >= target) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        target,
        resolve: (settled) => {
          if (timer !== null) clearTimeout(timer);
          resolve(settled);
        },
      };
      // A caller awaiting a flush keeps the process alive until it settles.
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs)
        : null;
      this.#waiters.push(waiter);
      this.kick();
    });
  }

  /** From now on, send whatever is pending without lingering. */
  drain(): void {
    this.#draining = true;
    this.kick();
  }

  /** Batches in the transport's hands. */
  get inFlightBatches(): number {
    return this.#inFlight.size;
  }

  /**
   * Of the records dropped as `shutdown`, those handed to the transport that had no
   * answer for them (sends still in flight at the deadline, or aborted by it): the
   * transport may have passed them to a broker, which may write them.
   */
  readonly inDoubt = { records: 0, bytes: 0 };

  /** Drops records the transport was given and did not answer for, as `shutdown`. */
  #abandon(records: number, bytes: number): void {
    this.#acct.loseInFlight(SHUTDOWN, records, bytes);
    this.inDoubt.records += records;
    this.inDoubt.bytes += bytes;
  }

  /**
   * Stops for good: aborts sends in flight, waits up to `graceMs` for them to settle,
   * then drops everything still held as `shutdown`.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopped = true;
    this.#clearTimer();
    const reason = new Error("shedsink: the sink is closing");
    for (const controller of this.#inFlight.values()) controller.abort(reason);
    if (this.#inFlight.size > 0 && graceMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.#onIdle = null;
    const acct = this.#acct;
    for (const shipment of this.#inFlight.keys()) this.#abandon(shipment.batch.records.length, shipment.batch.bytes);
    this.#inFlight.clear();
    for (const shipment of this.#retry) acct.loseInFlight(SHUTDOWN, shipment.batch.records.length, shipment.batch.bytes);
    this.#retry.length = 0;
    while (this.#writer.dropOldest(SHUTDOWN));
    this.#wake();
  }

  #onIdle: (() => void) | null = null;

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
    const acct = this.#acct;
    const now = Date.now();
    if (now < this.#backoffUntil) {
      this.#arm(this.#backoffUntil - now);
      return;
    }
    this.#writer.expire(now);
    // Records dropped by the hot path or by expiry may have satisfied a flush.
    this.#wake();
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
        if (acct.pendingRecords === 0) return;
        const full = acct.pendingRecords >= s.maxRecords || acct.pendingBytes >= s.maxBatchBytes;
        if (!full && !this.#draining && this.#waiters.length === 0) {
          const due = frameTimestamp(this.#ring.view, this.#ring.peek()) + s.lingerMs;
          if (now < due) {
            this.#arm(due - now);
            return;
          }
        }
        shipment = this.#take();
      }
      this.#send(shipment);
      sent = true;
    }
  }

  /** Moves up to one batch's worth of frames out of the ring into a buffer of its own. */
  #take(): Shipment {
    const ring = this.#ring;
    const view = ring.view;
    const s = this.#settings;
    const offsets = this.#offsets;
    const firstSeq = ring.removed;
    let count = 0;
    let bytes = 0;
    while (count < s.maxRecords) {
      const at = ring.peek();
      if (at < 0) break;
      const size = view.getUint32(at + SIZE_AT, true);
      if (count > 0 && bytes + size > s.maxBatchBytes) break;
      offsets[count++] = at;
      bytes += size;
      ring.shift();
    }
    // Nothing writes to the ring until this returns, so the shifted frames are intact.
    const out = new Uint8Array(bytes);
    const outView = new DataView(out.buffer);
    const records: OutRecord[] = new Array(count);
    const seqs = new Float64Array(count);
    let pos = 0;
    let runStart = offsets[0]!;
    let runEnd = runStart;
    for (let i = 0; i < count; i++) {
      const at = offsets[i]!;
      if (at !== runEnd) {
        out.set(ring.bytes.subarray(runStart, runEnd), pos);
        pos += runEnd - runStart;
        runStart = at;
      }
      runEnd = at + view.getUint32(at + SIZE_AT, true);
    }
    out.set(ring.bytes.subarray(runStart, runEnd), pos);
    pos = 0;
    for (let i = 0; i < count; i++) {
      const record = readFrame(out, outView, pos, this.#staticHeaders);
      records[i] = record;
      seqs[i] = firstSeq + i;
      pos += record.size;
    }
    this.#acct.take(count, bytes);
    return { batch: { records, bytes }, seqs };
  }

  #send(shipment: Shipment): void {
    const controller = new AbortController();
    this.#inFlight.set(shipment, controller);
    this.sends++;
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
      this.#backoffUntil = Date.now() + backoffDelay(this.#attempt++, this.#settings.initialDelayMs, this.#settings.maxDelayMs, this.#random);
    } else {
      this.#attempt = 0;
    }
    this.#wake();
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
    const kept: OutRecord[] = [];
    const keptSeqs: number[] = [];
    let keptBytes = 0;
    for (let i = 0; i < records.length; i++) {
      const size = records[i]!.size;
      switch (outcome[i]) {
        case OUTCOME_DELIVERED:
          acct.deliver(1, size);
          break;
        case OUTCOME_REJECTED:
          acct.loseInFlight(REJECTED, 1, size);
          break;
        case OUTCOME_EXPIRED:
          acct.loseInFlight(EXPIRED, 1, size);
          break;
        case OUTCOME_ABORTED:
          this.#abandon(1, size);
          break;
        default:
          if (this.#stopped) {
            acct.loseInFlight(SHUTDOWN, 1, size);
          } else {
            kept.push(records[i]!);
            keptSeqs.push(shipment.seqs[i]!);
            keptBytes += size;
          }
      }
    }
    if (kept.length === 0) return false;
    this.#retry.unshift({ batch: { records: kept, bytes: keptBytes }, seqs: Float64Array.from(keptSeqs) });
    return true;
  }

  /** Drops the records of a held shipment that reached `maxAgeMs`; null when none is left. */
  #dropExpired(shipment: Shipment, now: number): Shipment | null {
    const oldest = now - this.#settings.maxAgeMs;
    const { records } = shipment.batch;
    if (records.length === 0 || records[0]!.timestamp >= oldest) return shipment;
    const kept: OutRecord[] = [];
    const keptSeqs: number[] = [];
    let keptBytes = 0;
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      if (record.timestamp < oldest) {
        this.#acct.loseInFlight(EXPIRED, 1, record.size);
      } else {
        kept.push(record);
        keptSeqs.push(shipment.seqs[i]!);
        keptBytes += record.size;
      }
    }
    this.#wake();
    return kept.length === 0 ? null : { batch: { records: kept, bytes: keptBytes }, seqs: Float64Array.from(keptSeqs) };
  }

  /** The smallest sequence number not yet settled (`appended` when all are). */
  #minUnsettled(): number {
    let min = this.#ring.count > 0 ? this.#ring.removed : this.#ring.appended;
    for (const shipment of this.#inFlight.keys()) if (shipment.seqs[0]! < min) min = shipment.seqs[0]!;
    for (const shipment of this.#retry) if (shipment.seqs[0]! < min) min = shipment.seqs[0]!;
    return min;
  }

  /** Resolves the flush waiters whose records are all settled. */
  #wake(): void {
    if (this.#waiters.length === 0) return;
    const min = this.#minUnsettled();
    const still: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (waiter.target <= min) waiter.resolve(true);
      else still.push(waiter);
    }
    this.#waiters = still;
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    const at = Date.now() + ms;
    // Idle lingering and backoff never keep the process alive; a pending flush or close
    // does, since someone awaits it.
    const keepAlive = this.#draining || this.#waiters.length > 0;
    if (this.#timer !== null) {
      if (this.#timerAt <= at && (this.#timerKeepsAlive || !keepAlive)) return;
      clearTimeout(this.#timer);
    }
    this.#timerAt = at;
    this.#timerKeepsAlive = keepAlive;
    const fire = () => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.#updateWake();
      this.#run();
    };
    this.#timer = keepAlive ? setTimeout(fire, Math.max(0, ms)) : unrefTimeout(fire, Math.max(0, ms));
    this.#updateWake();
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Infinity;
    this.#updateWake();
  }
}

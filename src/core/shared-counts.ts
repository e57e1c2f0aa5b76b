/**
 * The worker's counters, in the control block of a shared ring (`ring-control.ts`), and
 * how the application's thread reads them with its own into one {@linkcode Counts}.
 *
 * Each counter has one writer. The application's thread (the producer) counts what it
 * accepts, refuses and evicts in its own `Accounting`. The worker (the consumer) counts
 * what it claims from the ring (`left`: taken for the transport, or dropped there),
 * delivers, holds in flight and loses, and its sends and retries, here. It writes them
 * as a whole, into one of two copies: the one the GENERATION word does not point at,
 * then bumps GENERATION (an atomic add: the copy's bytes are written before it, and the
 * next copy's after). A reader takes the copy GENERATION points at and checks that
 * GENERATION did not move meanwhile (a compare-and-swap that changes nothing, so that
 * its reads are ordered before the check); else it reads again. A worker that dies
 * half-way through a write leaves the last whole copy current.
 *
 * The producer derives `pending` (accepted less what it evicted, less what the worker
 * claimed), so every snapshot keeps the conservation law, in records and in bytes.
 *
 * @module
 */

import { type Count, type Counts, DROP_REASONS, type DropReason } from "./accounting.ts";
import { COUNTERS_AT, GENERATION, IN_FLIGHT } from "./ring-control.ts";

const REASONS = DROP_REASONS.length;
/** Most shedding classes (see `shedding.ts`). */
const CLASSES = 8;

const LEFT_RECORDS = 0;
const LEFT_BYTES = 1;
const DELIVERED_RECORDS = 2;
const DELIVERED_BYTES = 3;
const IN_FLIGHT_RECORDS = 4;
const IN_FLIGHT_BYTES = 5;
const SENDS = 6;
const RETRIES = 7;
const LOST_RECORDS = 8;
const LOST_BYTES = LOST_RECORDS + REASONS;
const LEFT_BY_CLASS = LOST_BYTES + REASONS;
const FIELDS = LEFT_BY_CLASS + CLASSES;

/**
 * Bytes the counters take in a control block.
 *
 * @example
 * ```ts
 * import { COUNTER_BYTES } from "./shared-counts.ts";
 * if (COUNTER_BYTES % 8 !== 0) throw new Error("two copies of float64s");
 * ```
 */
export const COUNTER_BYTES: number = 2 * FIELDS * 8;

/** The worker's counters, as one snapshot. */
export class WorkerCounts {
  /** Every counter, by field (see the constants above). */
  readonly fields: Float64Array = new Float64Array(FIELDS);

  /** Records (and bytes) the worker claimed from the ring, all reasons together. */
  get left(): Count {
    return { records: this.fields[LEFT_RECORDS]!, bytes: this.fields[LEFT_BYTES]! };
  }
  get delivered(): Count {
    return { records: this.fields[DELIVERED_RECORDS]!, bytes: this.fields[DELIVERED_BYTES]! };
  }
  get inFlight(): Count {
    return { records: this.fields[IN_FLIGHT_RECORDS]!, bytes: this.fields[IN_FLIGHT_BYTES]! };
  }
  get sends(): number {
    return this.fields[SENDS]!;
  }
  get retries(): number {
    return this.fields[RETRIES]!;
  }
  /** Records of class `cls` the worker claimed from the ring. */
  leftOfClass(cls: number): number {
    return this.fields[LEFT_BY_CLASS + cls]!;
  }
  /** Records lost by the worker under reason index `reason`. */
  lost(reason: number): Count {
    return { records: this.fields[LOST_RECORDS + reason]!, bytes: this.fields[LOST_BYTES + reason]! };
  }
}

/** Reads the current copy of the counters in `control` into `into`; returns it. */
export function readWorkerCounts(control: SharedArrayBuffer, into: WorkerCounts = new WorkerCounts()): WorkerCounts {
  const ints = new Int32Array(control, 0, COUNTERS_AT / 4);
  const copies = new Float64Array(control, COUNTERS_AT, 2 * FIELDS);
  for (;;) {
    const generation = Atomics.load(ints, GENERATION);
    const from = (generation & 1) * FIELDS;
    into.fields.set(copies.subarray(from, from + FIELDS));
    if (Atomics.compareExchange(ints, GENERATION, generation, generation) === generation) return into;
  }
}

/**
 * The worker's side: its counters, kept here and written to the control block after
 * every change. Starts from what the block holds (a worker that replaces a dead one
 * goes on from its counts).
 */
export class WorkerLedger {
  readonly #ints: Int32Array;
  readonly #copies: Float64Array;
  readonly #now: WorkerCounts;
  /** Where the sends and retries are read from when the counters are written. */
  activity: { readonly sends: number; readonly retries: number } | null = null;

  constructor(control: SharedArrayBuffer) {
    this.#ints = new Int32Array(control, 0, COUNTERS_AT / 4);
    this.#copies = new Float64Array(control, COUNTERS_AT, 2 * FIELDS);
    this.#now = readWorkerCounts(control);
  }

  /** The counters as this writer holds them. */
  get counts(): WorkerCounts {
    return this.#now;
  }

  /** Records left the ring for the transport. `byClass[c]`: how many of class c (null: all class 0). */
  take(records: number, bytes: number, byClass: Float64Array | null = null): void {
    const f = this.#now.fields;
    f[LEFT_RECORDS]! += records;
    f[LEFT_BYTES]! += bytes;
    f[IN_FLIGHT_RECORDS]! += records;
    f[IN_FLIGHT_BYTES]! += bytes;
    this.#byClass(records, byClass);
    this.write();
  }

  /** Records were dropped straight from the ring under `reason` (expired, shutdown). */
  losePending(reason: number, records: number, bytes: number, byClass: Float64Array | null = null): void {
    const f = this.#now.fields;
    f[LEFT_RECORDS]! += records;
    f[LEFT_BYTES]! += bytes;
    f[LOST_RECORDS + reason]! += records;
    f[LOST_BYTES + reason]! += bytes;
    this.#byClass(records, byClass);
    this.write();
  }

  /** In-flight records were delivered. */
  deliver(records: number, bytes: number): void {
    const f = this.#now.fields;
    f[IN_FLIGHT_RECORDS]! -= records;
    f[IN_FLIGHT_BYTES]! -= bytes;
    f[DELIVERED_RECORDS]! += records;
    f[DELIVERED_BYTES]! += bytes;
    this.write();
  }

  /** In-flight records were dropped. */
  loseInFlight(reason: number, records: number, bytes: number): void {
    const f = this.#now.fields;
    f[IN_FLIGHT_RECORDS]! -= records;
    f[IN_FLIGHT_BYTES]! -= bytes;
    f[LOST_RECORDS + reason]! += records;
    f[LOST_BYTES + reason]! += bytes;
    this.write();
  }

  #byClass(records: number, byClass: Float64Array | null): void {
    const f = this.#now.fields;
    if (byClass === null) {
      f[LEFT_BY_CLASS]! += records;
      return;
    }
    for (let c = 0; c < byClass.length; c++) f[LEFT_BY_CLASS + c]! += byClass[c]!;
  }

  /** Called when a send started or settled, before the counters are written (the worker posts its status). */
  onSend: (() => void) | null = null;

  /** A send started or settled: tells `onSend`, then writes the counters (sends and retries with them). */
  sent(): void {
    this.onSend?.();
    this.write();
  }

  /** Writes the counters to the block (the copy not current, then GENERATION), and the bytes in flight. */
  write(): void {
    const f = this.#now.fields;
    if (this.activity !== null) {
      f[SENDS] = this.activity.sends;
      f[RETRIES] = this.activity.retries;
    }
    const generation = Atomics.load(this.#ints, GENERATION);
    this.#copies.set(f, ((generation + 1) & 1) * FIELDS);
    Atomics.add(this.#ints, GENERATION, 1);
    Atomics.store(this.#ints, IN_FLIGHT, f[IN_FLIGHT_BYTES]!);
  }
}

/**
 * The sink's counters: the producer's (`producer`, from its `Accounting`, whose
 * `pending` counts everything it accepted and did not evict) with the worker's.
 *
 * @example
 * ```ts
 * import { Accounting, conservationErrors } from "./accounting.ts";
 * import { mergeCounts, WorkerCounts } from "./shared-counts.ts";
 *
 * const producer = new Accounting({ appended: 3, appendedBytes: 90, outside: 0 }).snapshot();
 * const worker = new WorkerCounts(); // nothing taken yet
 * const c = mergeCounts(producer, worker);
 * if (c.pending.records !== 3 || conservationErrors(c).length !== 0) throw new Error("all pending");
 * ```
 */
export function mergeCounts(producer: Counts, worker: WorkerCounts): Counts {
  const dropped = {} as Record<DropReason, Count>;
  let lostRecords = producer.lost.records;
  let lostBytes = producer.lost.bytes;
  for (let i = 0; i < REASONS; i++) {
    const reason = DROP_REASONS[i]!;
    const mine = producer.dropped[reason];
    const theirs = worker.lost(i);
    dropped[reason] = { records: mine.records + theirs.records, bytes: mine.bytes + theirs.bytes };
    lostRecords += theirs.records;
    lostBytes += theirs.bytes;
  }
  const left = worker.left;
  return {
    offered: producer.offered,
    accepted: producer.accepted,
    delivered: worker.delivered,
    pending: { records: producer.pending.records - left.records, bytes: producer.pending.bytes - left.bytes },
    inFlight: worker.inFlight,
    refused: producer.refused,
    lost: { records: lostRecords, bytes: lostBytes },
    dropped,
    shed: producer.shed,
  };
}

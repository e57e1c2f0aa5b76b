/**
 * Counters for every record the sink is offered, in records and in bytes, and the
 * conservation law they keep:
 *
 * ```
 * offered  = accepted + refused                          (refused: dropped on arrival)
 * accepted = delivered + lost + pending + inFlight       (lost: dropped after acceptance)
 * ```
 *
 * A drop is counted under exactly one reason. `oversize`, `invalid` and `closed` happen
 * only on arrival; `expired`, `rejected` and `shutdown` only after acceptance;
 * `buffer_full` on arrival under `whenFull: "drop-newest"` and after acceptance (an
 * evicted record) under `"drop-oldest"`; `shed` (graded shedding, see `shedding.ts`) on
 * arrival, and after acceptance when a record of a less important class is evicted to
 * make room under `"drop-oldest"`. Shed records are also counted by class. `worker_lost`
(worker mode) only after acceptance: records the flusher's worker held when it died.
 *
 * @module
 */

/**
 * Every reason a record can be dropped for.
 *
 * @example
 * ```ts
 * import { Accounting, DROP_REASONS, OVERSIZE } from "./accounting.ts";
 *
 * const ledger = new Accounting({ appended: 0, appendedBytes: 0, outside: 0 });
 * ledger.refuse(OVERSIZE, 2_000_000); // a record larger than maxRecordBytes
 * const counts = ledger.snapshot();
 * const dropped = DROP_REASONS.filter((reason) => counts.dropped[reason].records > 0);
 * if (dropped.join() !== "oversize") throw new Error(`dropped: ${dropped}`);
 * ```
 */
export const DROP_REASONS = [
  "buffer_full",
  "oversize",
  "invalid",
  "closed",
  "expired",
  "rejected",
  "shutdown",
  "shed",
  "worker_lost",
] as const;

/** One of {@linkcode DROP_REASONS}. */
export type DropReason = (typeof DROP_REASONS)[number];

/** Indexes into the per-reason counters, one per {@linkcode DROP_REASONS} entry. */
export const BUFFER_FULL = 0;
export const OVERSIZE = 1;
export const INVALID = 2;
export const CLOSED = 3;
export const EXPIRED = 4;
export const REJECTED = 5;
export const SHUTDOWN = 6;
export const SHED = 7;
export const WORKER_LOST = 8;

/** A count in records and in bytes. */
export interface Count {
  /** How many records. */
  readonly records: number;
  /** Their bytes, framing included (see `capacityBytes`). */
  readonly bytes: number;
}

/** A snapshot of the counters. */
export interface Counts {
  /** Records given to `emit()` or the writable. */
  readonly offered: Count;
  /** Records that entered the buffer. */
  readonly accepted: Count;
  /** Records Kafka acknowledged. */
  readonly delivered: Count;
  /** Records in the buffer, not yet handed to the transport. */
  readonly pending: Count;
  /** Records handed to the transport (or held for a retry), not yet settled. */
  readonly inFlight: Count;
  /** Records dropped on arrival, never accepted (sum over reasons). */
  readonly refused: Count;
  /** Records dropped after acceptance (sum over reasons). */
  readonly lost: Count;
  /** Every drop by reason, on arrival and after acceptance together. */
  readonly dropped: Readonly<Record<DropReason, Count>>;
  /**
   * The `shed` drops by class (index 0 is class 0), on arrival and after acceptance
   * together; empty when the sink does not shed. They add up to `dropped.shed`.
   */
  readonly shed: ReadonlyArray<Count>;
}

/**
 * Where accepted records are counted (the frames a ring took in, and their bytes), and
 * where the bytes in flight are told, since they count against the same capacity.
 */
export interface Intake {
  readonly appended: number;
  readonly appendedBytes: number;
  outside: number;
}

/**
 * The sink's counters. Accepting a record touches none of them: the intake (the ring)
 * counts accepted records, and offered and pending are derived on reading.
 */
export class Accounting {
  readonly #intake: Intake;
  deliveredRecords = 0;
  deliveredBytes = 0;
  inFlightRecords = 0;
  inFlightBytes = 0;
  /** Accepted records that left the buffer (taken by the transport or dropped there). */
  #leftRecords = 0;
  #leftBytes = 0;
  /** Refused records, all reasons together. */
  #refusedRecords = 0;
  #refusedBytes = 0;
  /** Dropped on arrival, by reason index. */
  readonly refusedRecords: Float64Array = new Float64Array(DROP_REASONS.length);
  readonly refusedBytes: Float64Array = new Float64Array(DROP_REASONS.length);
  /** Dropped after acceptance, by reason index. */
  readonly lostRecords: Float64Array = new Float64Array(DROP_REASONS.length);
  readonly lostBytes: Float64Array = new Float64Array(DROP_REASONS.length);
  /** `shed` drops by class, on arrival and after acceptance together. */
  readonly shedRecords: Float64Array;
  readonly shedBytes: Float64Array;

  /**
   * `intake` counts the accepted records (the sink's ring counts the frames it takes
   * in), and is told the bytes in flight. `classes`: the shedding classes (0 without
   * shedding).
   */
  constructor(intake: Intake, classes = 0) {
    this.#intake = intake;
    this.shedRecords = new Float64Array(classes);
    this.shedBytes = new Float64Array(classes);
  }

  // Accepted records are counted by the intake, and offered and pending follow from the
  // other counters, so accepting a record (the hot path) updates none of them.

  /** Records that entered the buffer. */
  get acceptedRecords(): number {
    return this.#intake.appended;
  }

  get acceptedBytes(): number {
    return this.#intake.appendedBytes;
  }

  /** Records offered: accepted or refused. */
  get offeredRecords(): number {
    return this.acceptedRecords + this.#refusedRecords;
  }

  get offeredBytes(): number {
    return this.acceptedBytes + this.#refusedBytes;
  }

  /** Records in the buffer. */
  get pendingRecords(): number {
    return this.acceptedRecords - this.#leftRecords;
  }

  get pendingBytes(): number {
    return this.acceptedBytes - this.#leftBytes;
  }

  /** A record was offered and refused on arrival. */
  refuse(reason: number, bytes: number): void {
    this.#refusedRecords++;
    this.#refusedBytes += bytes;
    this.refusedRecords[reason]!++;
    this.refusedBytes[reason]! += bytes;
  }

  /** A record of class `cls` was shed on arrival. */
  refuseShed(cls: number, bytes: number): void {
    this.refuse(SHED, bytes);
    this.shedRecords[cls]!++;
    this.shedBytes[cls]! += bytes;
  }

  /** A pending record of class `cls` was shed (evicted for a more important one). */
  losePendingShed(cls: number, bytes: number): void {
    this.losePending(SHED, bytes);
    this.shedRecords[cls]!++;
    this.shedBytes[cls]! += bytes;
  }

  /** Pending records left the buffer for the transport. */
  take(records: number, bytes: number): void {
    this.#leftRecords += records;
    this.#leftBytes += bytes;
    this.inFlightRecords += records;
    this.#intake.outside = this.inFlightBytes += bytes;
  }

  /** A pending record was dropped (evicted, expired or left at shutdown). */
  losePending(reason: number, bytes: number): void {
    this.#leftRecords++;
    this.#leftBytes += bytes;
    this.lostRecords[reason]!++;
    this.lostBytes[reason]! += bytes;
  }

  /** In-flight records were delivered. */
  deliver(records: number, bytes: number): void {
    this.inFlightRecords -= records;
    this.#intake.outside = this.inFlightBytes -= bytes;
    this.deliveredRecords += records;
    this.deliveredBytes += bytes;
  }

  /** In-flight records were dropped. */
  loseInFlight(reason: number, records: number, bytes: number): void {
    this.inFlightRecords -= records;
    this.#intake.outside = this.inFlightBytes -= bytes;
    this.lostRecords[reason]! += records;
    this.lostBytes[reason]! += bytes;
  }

  /** A plain snapshot. */
  snapshot(): Counts {
    const dropped = {} as Record<DropReason, Count>;
    let refusedRecords = 0;
    let refusedBytes = 0;
    let lostRecords = 0;
    let lostBytes = 0;
    for (let i = 0; i < DROP_REASONS.length; i++) {
      const rr = this.refusedRecords[i]!;
      const rb = this.refusedBytes[i]!;
      const lr = this.lostRecords[i]!;
      const lb = this.lostBytes[i]!;
      refusedRecords += rr;
      refusedBytes += rb;
      lostRecords += lr;
      lostBytes += lb;
      dropped[DROP_REASONS[i]!] = { records: rr + lr, bytes: rb + lb };
    }
    const shed: Count[] = [];
    for (let c = 0; c < this.shedRecords.length; c++) shed.push({ records: this.shedRecords[c]!, bytes: this.shedBytes[c]! });
    return {
      offered: { records: this.offeredRecords, bytes: this.offeredBytes },
      accepted: { records: this.acceptedRecords, bytes: this.acceptedBytes },
      delivered: { records: this.deliveredRecords, bytes: this.deliveredBytes },
      pending: { records: this.pendingRecords, bytes: this.pendingBytes },
      inFlight: { records: this.inFlightRecords, bytes: this.inFlightBytes },
      refused: { records: refusedRecords, bytes: refusedBytes },
      lost: { records: lostRecords, bytes: lostBytes },
      dropped,
      shed,
    };
  }
}

/**
 * Whether a snapshot keeps the conservation law, in records and in bytes. Returns the
 * broken equations, or an empty array when it holds.
 *
 * @example
 * ```ts
 * import { Accounting, conservationErrors } from "./accounting.ts";
 *
 * // One record of 30 bytes accepted (by the ring, the ledger's intake), still pending.
 * const ledger = new Accounting({ appended: 1, appendedBytes: 30, outside: 0 });
 * if (conservationErrors(ledger.snapshot()).length !== 0) throw new Error("the law holds");
 * const broken = { ...ledger.snapshot(), delivered: { records: 5, bytes: 999 } };
 * if (conservationErrors(broken).length !== 2) throw new Error("records and bytes both break");
 * ```
 */
export function conservationErrors(c: Counts): string[] {
  const errors: string[] = [];
  for (const unit of ["records", "bytes"] as const) {
    const offered = c.offered[unit];
    const accepted = c.accepted[unit];
    const refused = c.refused[unit];
    const right = c.delivered[unit] + c.lost[unit] + c.pending[unit] + c.inFlight[unit];
    if (offered !== accepted + refused) {
      errors.push(`${unit}: offered ${offered} != accepted ${accepted} + refused ${refused}`);
    }
    if (accepted !== right) {
      errors.push(
        `${unit}: accepted ${accepted} != delivered ${c.delivered[unit]} + lost ${c.lost[unit]} + pending ${c.pending[unit]} + inFlight ${c.inFlight[unit]}`,
      );
    }
    let byReason = 0;
    for (const reason of DROP_REASONS) byReason += c.dropped[reason][unit];
    if (byReason !== refused + c.lost[unit]) {
      errors.push(`${unit}: drops by reason ${byReason} != refused ${refused} + lost ${c.lost[unit]}`);
    }
    if (c.shed.length > 0) {
      let byClass = 0;
      for (const count of c.shed) byClass += count[unit];
      if (byClass !== c.dropped.shed[unit]) errors.push(`${unit}: shed by class ${byClass} != shed ${c.dropped.shed[unit]}`);
    }
  }
  return errors;
}

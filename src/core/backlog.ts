/**
 * The records accepted and not yet handed on: the ring that holds them, and every way
 * they leave it other than being written in, which is the writer's (`encode.ts`):
 * eviction (expired records, the oldest one to make room, everything at shutdown), each
 * counted by the ledger under its reason, and taking a batch's worth out for the
 * transport.
 *
 * @module
 */

import { type Accounting, BUFFER_FULL, EXPIRED, SHED } from "./accounting.ts";
import type { Batch, OutRecord } from "./contract.ts";
import { frameClass, frameTimestamp, type Header, readFrame, SIZE_AT } from "./frame.ts";
import type { FrameRing } from "./ring-layout.ts";

/** A batch taken out of the ring, with the acceptance number of each record. */
export interface Shipment {
  readonly batch: Batch;
  /** `seqs[i]`: the ring's frame number of `batch.records[i]` (acceptance order). */
  readonly seqs: Float64Array;
}

/**
 * What the flusher drains: the in-thread `Backlog`, or, in a worker, the consumer's side
 * of a shared ring (`ring-consumer.ts`).
 */
export interface FlusherBacklog {
  /** Records pending. */
  readonly count: number;
  /** Bytes of the records pending. */
  readonly bytes: number;
  /** Frame numbers: the next one to be accepted, the oldest pending, how many are pending; and a call when the flusher's thresholds change. */
  readonly ring: { readonly appended: number; readonly removed: number; readonly count: number; attendNow(): void };
  /** When the oldest pending record was accepted, or Infinity. */
  oldestTimestamp(): number;
  /** Drops the records older than `maxAgeMs` at `now` as `expired`. */
  expire(now: number): number;
  /** Takes a batch out, counted in flight; null when nothing is pending. */
  take(maxRecords: number, maxBytes: number): Shipment | null;
  /** Drops every pending record under `reason`. */
  dropAll(reason: number): void;
}

/** Where the flusher counts what becomes of the records in flight: `Accounting`, or the worker's ledger. */
export interface FlusherLedger {
  deliver(records: number, bytes: number): void;
  loseInFlight(reason: number, records: number, bytes: number): void;
  /** A send started or settled: its sends, retries and last error may have changed (the worker's ledger tells the other thread). */
  sent?(): void;
}

/** The pending records: a ring and how records leave it. */
export class Backlog implements FlusherBacklog {
  /** The ring the records are in. */
  readonly ring: FrameRing;
  readonly #acct: Accounting;
  readonly #maxAgeMs: number;
  readonly #staticHeaders: ReadonlyArray<Header> | null;
  /** Offsets of the frames being taken, reused from batch to batch. */
  #offsets: Float64Array;
  /**
   * With graded shedding, the records pending per class (the writer counts them in, the
   * backlog out); null without. Knowing them, eviction looks for a class only where it is.
   * On a ring shared with a worker, the worker's removals are taken off by
   * {@linkcode settleHeld}, which eviction calls first.
   */
  readonly held: Float64Array | null;
  /** Worker mode: the worker's removals per class, as last taken off `held`, and as read now. */
  readonly #removedSeen: Float64Array | null;
  readonly #removedNow: Float64Array | null;

  /**
   * `staticHeaders` go on every record taken out, before its own. `classes`: the
   * shedding classes (0 without shedding).
   */
  constructor(ring: FrameRing, acct: Accounting, maxAgeMs: number, maxRecords: number, staticHeaders: ReadonlyArray<Header> | null, classes = 0) {
    this.ring = ring;
    this.#acct = acct;
    this.#maxAgeMs = maxAgeMs;
    this.#staticHeaders = staticHeaders;
    this.#offsets = new Float64Array(maxRecords);
    this.held = classes > 0 ? new Float64Array(classes) : null;
    const shared = classes > 0 && typeof ring.removedElsewhere === "function";
    this.#removedSeen = shared ? new Float64Array(classes) : null;
    this.#removedNow = shared ? new Float64Array(classes) : null;
  }

  /**
   * Worker mode: takes off `held` the records of each class the worker removed (took for
   * the transport, or dropped) since the last call, as its counters say. The worker
   * counts a record after it claimed it, so `held` may still count a record it claimed a
   * moment ago, never miss one that is pending. Nothing in thread mode.
   */
  settleHeld(): void {
    const seen = this.#removedSeen;
    if (seen === null) return;
    const now = this.#removedNow!;
    const held = this.held!;
    this.ring.removedElsewhere!(now);
    for (let c = 0; c < seen.length; c++) {
      const removed = now[c]! - seen[c]!;
      if (removed !== 0) {
        held[c]! -= removed;
        seen[c] = now[c]!;
      }
    }
  }

  /** Records pending. */
  get count(): number {
    return this.ring.count;
  }

  /** Bytes of the records pending. */
  get bytes(): number {
    return this.ring.frameBytes;
  }

  /** When the oldest pending record was accepted (ms since the epoch), or Infinity when none is. */
  oldestTimestamp(): number {
    const at = this.ring.peek();
    return at < 0 ? Infinity : frameTimestamp(this.ring.view, at);
  }

  /**
   * Drops the pending records older than `maxAgeMs` at `now` as `expired`, oldest first.
   * Returns how many were dropped.
   */
  expire(now: number): number {
    const ring = this.ring;
    this.#expiredBefore = now - this.#maxAgeMs;
    let dropped = 0;
    // Tested and removed in one step: on a shared ring, the other thread may take the
    // oldest record between a look and a removal.
    for (let size = ring.shiftIf(this.#isExpired); size > 0; size = ring.shiftIf(this.#isExpired)) {
      if (this.held !== null) this.held[frameClass(ring.view, ring.lastShifted)]!--;
      this.#acct.losePending(EXPIRED, size);
      dropped++;
    }
    return dropped;
  }

  #expiredBefore = 0;
  readonly #isExpired = (at: number): boolean => frameTimestamp(this.ring.view, at) < this.#expiredBefore;

  /** Drops the oldest pending record under `reason`. Returns false when none is left. */
  dropOldest(reason: number): boolean {
    const size = this.ring.shift();
    if (size === 0) return false;
    if (this.held !== null) this.held[frameClass(this.ring.view, this.ring.lastShifted)]!--;
    this.#acct.losePending(reason, size);
    return true;
  }

  /** Drops every pending record under `reason`. */
  dropAll(reason: number): void {
    while (this.dropOldest(reason));
  }

  /**
   * Graded shedding under drop-oldest: makes room for a record of class `cls` and `size`
   * bytes by evicting records of the least important class held that is less important
   * than it (`shed`; a little more than `size`, a 64th of the capacity, so that the next
   * records find room too and the moves stay few), else the oldest of its own class
   * (`buffer_full`, as without shedding). Never a more important one: false then.
   */
  makeRoom(cls: number, size: number): boolean {
    this.settleHeld();
    const held = this.held!;
    for (let c = held.length - 1; c > cls; c--) {
      if (held[c]! > 0 && this.shedClass(c, size + (this.ring.capacity >> 6), SHED) > 0) return true;
    }
    return held[cls]! > 0 && this.shedClass(cls, size, BUFFER_FULL) > 0;
  }

  /**
   * Evicts pending records of class `cls` (graded shedding), oldest first, until `want`
   * bytes are freed or none of the class is left, each counted under `reason` (`SHED`
   * counts by class too). Returns the bytes freed. The records around them keep their
   * order.
   */
  shedClass(cls: number, want: number, reason: number): number {
    if (this.held![cls]! <= 0) return 0;
    this.#victimClass = cls;
    this.#victimReason = reason;
    return this.ring.evictWhere(this.#isVictim, want, this.#evictOne);
  }

  // shedClass's callbacks, made once.
  #victimClass = -1;
  #victimReason = SHED;
  readonly #isVictim = (at: number): boolean => frameClass(this.ring.view, at) === this.#victimClass;
  readonly #evictOne = (_at: number, size: number): void => {
    this.held![this.#victimClass]!--;
    if (this.#victimReason === SHED) this.#acct.losePendingShed(this.#victimClass, size);
    else this.#acct.losePending(this.#victimReason, size);
  };

  /**
   * Moves up to `maxRecords` records and `maxBytes` bytes (at least one record) out of
   * the ring into a buffer of their own, so that the ring frees their space at once; the
   * ledger counts them in flight. Null when nothing is pending.
   */
  take(maxRecords: number, maxBytes: number): Shipment | null {
    const ring = this.ring;
    const view = ring.view;
    if (this.#offsets.length < maxRecords) this.#offsets = new Float64Array(maxRecords);
    const offsets = this.#offsets;
    const firstSeq = ring.removed;
    let count = 0;
    let bytes = 0;
    while (count < maxRecords) {
      const at = ring.peek();
      if (at < 0) break;
      const size = view.getUint32(at + SIZE_AT, true);
      if (count > 0 && bytes + size > maxBytes) break;
      offsets[count++] = at;
      bytes += size;
      if (this.held !== null) this.held[frameClass(view, at)]!--;
      ring.shift();
    }
    if (count === 0) return null;
    // Nothing writes to the ring until this returns, so the shifted frames are intact.
    const shipment = shipOut(ring.bytes, view, offsets, count, bytes, firstSeq, this.#staticHeaders);
    this.#acct.take(count, bytes);
    return shipment;
  }
}

/**
 * Copies the frames at `offsets[0..count)` of a ring (`bytes`, `view`), `total` bytes
 * together, into a buffer of their own, in runs of adjacent frames (one run unless the
 * ring wrapped), and reads them as records: frame `i` is number `firstSeq + i`.
 * `staticHeaders` go on every record before its own.
 */
export function shipOut(
  bytes: Uint8Array,
  view: DataView,
  offsets: Float64Array,
  count: number,
  total: number,
  firstSeq: number,
  staticHeaders: ReadonlyArray<Header> | null,
): Shipment {
  const out = new Uint8Array(total);
  const outView = new DataView(out.buffer);
  let pos = 0;
  let runStart = offsets[0]!;
  let runEnd = runStart;
  for (let i = 0; i < count; i++) {
    const at = offsets[i]!;
    if (at !== runEnd) {
      out.set(bytes.subarray(runStart, runEnd), pos);
      pos += runEnd - runStart;
      runStart = at;
    }
    runEnd = at + view.getUint32(at + SIZE_AT, true);
  }
  out.set(bytes.subarray(runStart, runEnd), pos);
  const records: OutRecord[] = new Array(count);
  const seqs = new Float64Array(count);
  pos = 0;
  for (let i = 0; i < count; i++) {
    const record = readFrame(out, outView, pos, staticHeaders);
    records[i] = record;
    seqs[i] = firstSeq + i;
    pos += record.size;
  }
  return { batch: { records, bytes: total }, seqs };
}

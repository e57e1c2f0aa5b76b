/**
 * The records accepted and not yet handed on: the ring that holds them, and every way
 * they leave it other than being written in, which is the writer's (`encode.ts`):
 * eviction (expired records, the oldest one to make room, everything at shutdown), each
 * counted by the ledger under its reason, and taking a batch's worth out for the
 * transport.
 *
 * @module
 */

import { type Accounting, EXPIRED } from "./accounting.ts";
import type { Batch, OutRecord } from "./contract.ts";
import { frameTimestamp, type Header, readFrame, SIZE_AT } from "./frame.ts";
import type { ByteRing } from "./ring.ts";

/** A batch taken out of the ring, with the acceptance number of each record. */
export interface Shipment {
  readonly batch: Batch;
  /** `seqs[i]`: the ring's frame number of `batch.records[i]` (acceptance order). */
  readonly seqs: Float64Array;
}

/** The pending records: a ring and how records leave it. */
export class Backlog {
  /** The ring the records are in. */
  readonly ring: ByteRing;
  readonly #acct: Accounting;
  readonly #maxAgeMs: number;
  readonly #staticHeaders: ReadonlyArray<Header> | null;
  /** Offsets of the frames being taken, reused from batch to batch. */
  #offsets: Float64Array;

  /** `staticHeaders` go on every record taken out, before its own. */
  constructor(ring: ByteRing, acct: Accounting, maxAgeMs: number, maxRecords: number, staticHeaders: ReadonlyArray<Header> | null) {
    this.ring = ring;
    this.#acct = acct;
    this.#maxAgeMs = maxAgeMs;
    this.#staticHeaders = staticHeaders;
    this.#offsets = new Float64Array(maxRecords);
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
    const oldest = now - this.#maxAgeMs;
    let dropped = 0;
    for (let at = ring.peek(); at >= 0 && frameTimestamp(ring.view, at) < oldest; at = ring.peek()) {
      this.#acct.losePending(EXPIRED, ring.shift());
      dropped++;
    }
    return dropped;
  }

  /** Drops the oldest pending record under `reason`. Returns false when none is left. */
  dropOldest(reason: number): boolean {
    const size = this.ring.shift();
    if (size === 0) return false;
    this.#acct.losePending(reason, size);
    return true;
  }

  /** Drops every pending record under `reason`. */
  dropAll(reason: number): void {
    while (this.dropOldest(reason));
  }

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
      ring.shift();
    }
    if (count === 0) return null;
    // Nothing writes to the ring until this returns, so the shifted frames are intact.
    // They are copied in runs of adjacent frames: one run unless the ring wrapped.
    const out = new Uint8Array(bytes);
    const outView = new DataView(out.buffer);
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
    const records: OutRecord[] = new Array(count);
    const seqs = new Float64Array(count);
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
}

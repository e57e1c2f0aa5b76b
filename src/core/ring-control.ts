/**
 * The control block of a ring shared between two threads (`shared-ring.ts` writes it,
 * `ring-consumer.ts` reads it), and the positions in it, as named constants.
 *
 * The block is a `SharedArrayBuffer` of its own beside the ring's bytes:
 *
 * ```
 * byte  word                 writer    what
 * 0     CURSOR (u64)         both, CAS the oldest frame not yet claimed nor evicted:
 *                                      (its sequence number mod 2^32) << 32 | offset << 1 | lock
 * 8     HAZARD (u64)         consumer  the cursor it is claiming from and copying, or NONE
 * 16    PUBLISHED (i32)      producer  frames committed (mod 2^32) that the consumer may read
 * 20    IN_FLIGHT (i32)      consumer  bytes of the records it holds (taken, not yet settled)
 * 24    HEED_RECORDS (i32)   consumer  pending records at which the producer wakes it
 * 28    HEED_BYTES (i32)     consumer  pending bytes at which the producer wakes it
 * 32    WAKE (i32)           producer  bumped to wake the consumer (Atomics.notify)
 * 36    WAKE_SEEN (i32)      consumer  the last WAKE it saw: WAKE != WAKE_SEEN means a wake is pending
 * 40    HEARTBEAT (i32)      consumer  bumped while it lives
 * 44    GENERATION (i32)     consumer  which copy of the counters is current (see shared-counts.ts)
 * 48    PUBLISHED_HEAD (i32) producer  the write position when PUBLISHED was last written
 * 64    the counters, two copies (shared-counts.ts)
 * ```
 *
 * @module
 */

/** Index of the cursor in a `BigUint64Array` over the block. */
export const CURSOR = 0;
/** Index of the hazard in a `BigUint64Array` over the block. */
export const HAZARD = 1;
/** Indexes in an `Int32Array` over the block. */
export const PUBLISHED = 4;
export const IN_FLIGHT = 5;
export const HEED_RECORDS = 6;
export const HEED_BYTES = 7;
export const WAKE = 8;
export const WAKE_SEEN = 9;
export const HEARTBEAT = 10;
export const GENERATION = 11;
export const PUBLISHED_HEAD = 12;
/** The worker's JavaScript heap in use, in KiB, as it last reported it on its beat. */
export const WORKER_HEAP_KIB = 13;
/** Byte offset of the counters. */
export const COUNTERS_AT = 64;

/** The hazard's value when the consumer copies nothing. */
export const NONE = 0xffff_ffff_ffff_ffffn;
/** A heed threshold that is never reached. */
export const NEVER = 0x7fff_ffff;

/** A cursor word: sequence number (mod 2^32), offset, lock bit. */
export function packCursor(seq: number, offset: number, locked = false): bigint {
  return (BigInt(seq >>> 0) << 32n) | (BigInt(offset) << 1n) | (locked ? 1n : 0n);
}

/** The sequence number (mod 2^32) of a cursor word. */
export function cursorSeq(cursor: bigint): number {
  return Number(cursor >> 32n);
}

/** The offset of a cursor word. */
export function cursorOffset(cursor: bigint): number {
  return Number(BigInt.asUintN(32, cursor) >> 1n);
}

/** Whether the producer holds the cursor (mid-ring compaction). */
export function cursorLocked(cursor: bigint): boolean {
  return (cursor & 1n) === 1n;
}

/**
 * The offset of the frame at `offset`: `offset` itself, or 0 when the end of the buffer
 * from there is padding (fewer than four bytes left, or a zero length word).
 */
export function frameAt(view: DataView, capacity: number, offset: number): number {
  return capacity - offset < 4 || view.getUint32(offset, true) === 0 ? 0 : offset;
}

/** `seq` (mod 2^32) as a full count, given a full count `near` at most 2^31 after it. */
export function unwrapBefore(seq: number, near: number): number {
  return near - ((((near >>> 0) - seq) >>> 0));
}

/**
 * A new control block, its cursor at (0, 0), no hazard, nothing pending, the consumer
 * to be woken by the first record.
 *
 * @example
 * ```ts
 * import { controlBlock, CURSOR, cursorOffset, cursorSeq, HAZARD, NONE } from "./ring-control.ts";
 *
 * const words = new BigUint64Array(controlBlock(0));
 * if (cursorSeq(words[CURSOR]!) !== 0 || cursorOffset(words[CURSOR]!) !== 0 || words[HAZARD] !== NONE) throw new Error("fresh");
 * ```
 */
export function controlBlock(counterBytes: number): SharedArrayBuffer {
  const block = new SharedArrayBuffer(COUNTERS_AT + counterBytes);
  new BigUint64Array(block, 0, 2)[HAZARD] = NONE;
  return block;
}

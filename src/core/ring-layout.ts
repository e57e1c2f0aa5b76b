/**
 * What every ring of frames offers the writer and the backlog: {@linkcode FrameRing},
 * implemented by the in-thread `ByteRing` (`ring.ts`) and by the producer's side of the
 * ring shared with a worker (`shared-ring.ts`). Both store frames alike: contiguous,
 * each starting with its length word, the end of the buffer left as padding (a zero
 * length word when four bytes remain) when a frame does not fit there.
 *
 * @module
 */

/**
 * Bytes of the length word that starts every frame and marks padding.
 *
 * @example
 * ```ts
 * import { LENGTH_BYTES } from "./ring-layout.ts";
 * if (LENGTH_BYTES !== 4) throw new Error("a u32");
 * ```
 */
export const LENGTH_BYTES = 4;

/** A FIFO of variable-length frames in a fixed byte buffer, as the writer and backlog use it. */
export interface FrameRing {
  /** A byte view of the whole buffer. */
  readonly bytes: Uint8Array;
  /** A DataView of the whole buffer. */
  readonly view: DataView;
  /** Size of the buffer in bytes. */
  readonly capacity: number;
  /** Frames held. */
  readonly count: number;
  /** Bytes held for frames (the in-thread ring: frames only; the shared one: padding too). */
  readonly frameBytes: number;
  /** Frames ever committed: the next frame's sequence number. */
  readonly appended: number;
  /** Bytes of the frames ever committed. */
  readonly appendedBytes: number;
  /** Frames ever removed: the oldest frame's sequence number. */
  readonly removed: number;
  /** Bytes held elsewhere that count against the same capacity (records in flight). */
  outside: number;
  /** The offset of the frame last removed by `shift` or `shiftIf` (its bytes are intact until the next write). */
  readonly lastShifted: number;
  reserve(size: number): number;
  tryReserve(size: number): number;
  attendAfter(bytes: number, frames?: number): void;
  attendNow(): void;
  freeAtHead(): number;
  freeAtStart(): number;
  commit(offset: number, size: number): void;
  append(offset: number, size: number): void;
  peek(): number;
  shift(): number;
  shiftIf(test: (at: number) => boolean): number;
  evictWhere(victim: (at: number) => boolean, want: number, removed: (at: number, size: number) => void): number;
  /**
   * A ring shared with a worker: sets `into[c]` to the frames of class `c` the other side
   * has removed (taken or dropped) so far, all told, as it last counted them. Absent on
   * a ring only this thread removes from.
   */
  removedElsewhere?(into: Float64Array): void;
  /**
   * A ring shared with another thread: the bytes held for records, pending and in flight,
   * exactly as the sink counts them, given the bytes pending by this side's own count.
   */
  usedBytes?(pendingHere: number): number;
}

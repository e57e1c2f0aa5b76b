/**
 * A byte ring buffer of variable-length frames in one preallocated buffer.
 *
 * Each frame is stored contiguously: when a frame does not fit between the write position
 * and the end of the buffer, the rest of the buffer becomes padding (marked by a zero
 * length word when four bytes remain) and the frame starts at offset 0. Frames are read
 * and removed in the order they were written (FIFO); appending, peeking, taking and
 * evicting are O(1). The buffer may be an `ArrayBuffer` or a `SharedArrayBuffer`.
 *
 * The ring knows nothing about what a frame holds except that its first four bytes are
 * its total length (little-endian u32, never 0): `src/core/frame.ts` owns the layout.
 *
 * @module
 */

import { Compactor } from "./compact.ts";
import { type FrameRing, LENGTH_BYTES } from "./ring-layout.ts";

export { LENGTH_BYTES } from "./ring-layout.ts";

/**
 * Writes a zero into every 4 KiB of `bytes`, so that the memory behind it is mapped now.
 * A fresh buffer's pages are mapped by the system on first write; left to the ring, that
 * first write would come inside an `emit()`, most of them while an outage fills the ring
 * for the first time, each a page fault of microseconds on the caller's path. The ring is
 * empty, so its bytes mean nothing yet.
 */
function prefault(bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] = 0;
}

/**
 * A FIFO of variable-length frames in a fixed byte buffer.
 *
 * @example
 * ```ts
 * import { ByteRing } from "./ring.ts";
 *
 * const ring = new ByteRing(new ArrayBuffer(64));
 * const at = ring.reserve(8);
 * ring.view.setUint32(at, 8, true); // a frame starts with its length
 * ring.commit(at, 8);
 * const [held, oldest] = [ring.count, ring.peek()];
 * if (held !== 1 || oldest !== at) throw new Error("one frame held");
 * const removed = ring.shift();
 * if (removed !== 8 || ring.count > 0) throw new Error("and removed");
 * ```
 */
export class ByteRing implements FrameRing {
  /** The backing buffer. */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** A byte view of the whole buffer, for writing frames at the offsets `reserve` gives. */
  readonly bytes: Uint8Array;
  /** A DataView of the whole buffer. */
  readonly view: DataView;
  /** Size of the buffer in bytes. */
  readonly capacity: number;

  #head = 0; // next write offset (0 whenever the ring is empty)
  #tail = 0; // offset of the oldest frame (or of padding before it)
  #padding = 0; // bytes of padding held (the skipped end of the buffer, at most one run)
  #appended = 0; // frames ever committed
  #appendedBytes = 0; // their bytes
  #removed = 0; // frames ever shifted
  #removedBytes = 0; // their bytes
  // The fast path (tryReserve): a frame of `size` bytes goes at #head when #head + size <=
  // #fast. #fast is at most the end of the room at #head (contiguous and within the
  // budget) and at most the owner's attention mark (see attendAfter). Appends at #head
  // keep it right: they use up as much room as they advance #head. Anything that moves
  // #head otherwise sets it to -1. Shifts and deliveries only make it conservative.
  #fast = -1;
  // And the fast path takes frames while #appended < #fastFrames (see attendAfter).
  #fastFrames = 0;
  // The end of the room at #head as last computed (or -1): what #fast is without the mark.
  // The same rules keep it right; reserve uses it before computing the room again.
  #room = -1;

  /**
   * Bytes held elsewhere that count against the same capacity (a sink's records in
   * flight), kept up to date by their owner. It may grow only by bytes that leave the
   * ring (by `shift`) in the same synchronous step; it may shrink at any time.
   */
  outside = 0;

  /** The offset of the frame last removed by `shift` (its bytes stay intact until the next write). */
  lastShifted = -1;

  constructor(buffer: ArrayBuffer | SharedArrayBuffer) {
    if (buffer.byteLength < LENGTH_BYTES * 2) {
      throw new RangeError(`ByteRing needs a buffer of at least ${LENGTH_BYTES * 2} bytes, got ${buffer.byteLength}`);
    }
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.capacity = buffer.byteLength;
    prefault(this.bytes);
  }

  /** Frames held. */
  get count(): number {
    return this.#appended - this.#removed;
  }

  /** Bytes of the frames held, padding excluded. */
  get frameBytes(): number {
    return this.#appendedBytes - this.#removedBytes;
  }

  /** Frames ever committed: the next frame's sequence number. */
  get appended(): number {
    return this.#appended;
  }

  /** Bytes of the frames ever committed. */
  get appendedBytes(): number {
    return this.#appendedBytes;
  }

  /** Frames ever removed: the oldest frame's sequence number. */
  get removed(): number {
    return this.#removed;
  }

  /**
   * The offset at which a frame of `size` bytes can be written contiguously, or -1 when
   * it does not fit now. Changes nothing: call `commit` once the frame is written.
   *
   * The frame must also fit the budget: the frames held, the bytes held `outside` and
   * `size` together within `capacity`.
   */
  reserve(size: number): number {
    const head = this.#head;
    if (head + size <= this.#room) return head;
    const outside = this.outside;
    this.#room = this.#roomEnd(outside);
    if (head + size <= this.#room) return head;
    if (head <= this.#tail || this.#appended === this.#removed) return -1;
    // Wrap to 0: possible when the frames before the oldest leave room, and the budget
    // (which the padding does not count against) allows it.
    return this.#tail >= size && this.#appendedBytes - this.#removedBytes + outside + size <= this.capacity ? 0 : -1;
  }

  /**
   * The fast half of `reserve`: the offset for a frame of `size` bytes at the write
   * position, or -1 when `reserve` has to look further, or when the owner's attention
   * mark is reached (see `attendAfter`). Never an offset `reserve` would refuse.
   */
  tryReserve(size: number): number {
    const head = this.#head;
    return head + size <= this.#fast && this.#appended < this.#fastFrames ? head : -1;
  }

  /**
   * Lets `tryReserve` succeed for at most `bytes` more bytes of frames appended at the
   * write position (fewer if the room ends sooner), and at most `frames` more frames, so
   * that the owner gets control back then. `attendNow` makes the next `tryReserve` fail.
   */
  attendAfter(bytes: number, frames = Infinity): void {
    const end = (this.#room = this.#roomEnd(this.outside));
    const mark = this.#head + bytes;
    this.#fast = mark < end ? mark : end;
    this.#fastFrames = this.#appended + frames;
  }

  /** Makes the next `tryReserve` fail (see `attendAfter`). */
  attendNow(): void {
    this.#fast = -1;
  }

  /** The end of the room at #head: contiguous, and within the budget. */
  #roomEnd(outside: number): number {
    const held = this.#appendedBytes - this.#removedBytes;
    const budget = this.capacity - held - outside;
    const room = held === 0 ? this.capacity : this.#head > this.#tail ? this.capacity - this.#head : this.#tail - this.#head;
    return this.#head + (budget < room ? budget : room);
  }

  /**
   * The free bytes that follow the newest frame contiguously: the largest frame
   * `reserve` places there without wrapping. For writers that learn a frame's size only
   * while writing it.
   */
  freeAtHead(): number {
    if (this.#appended === this.#removed) return this.capacity;
    const head = this.#head;
    const tail = this.#tail;
    return head > tail ? this.capacity - head : tail - head;
  }

  /** The free bytes at the start of the buffer, before the oldest frame: where `reserve` wraps to. */
  freeAtStart(): number {
    return this.#appended !== this.#removed && this.#head > this.#tail ? this.#tail : 0;
  }

  /**
   * Makes the frame written at `offset` (as returned by `reserve`) part of the ring.
   * `size` may be smaller than what was reserved. The caller must have written the
   * frame's length word (`size`) at `offset`.
   */
  commit(offset: number, size: number): void {
    const end = offset + size;
    if (offset === this.#head && end !== this.capacity) {
      this.#head = end;
      this.#appendedBytes += size;
      this.#appended++;
      return;
    }
    this.#commitSlow(offset, size, end);
  }

  /** `commit` for an offset `tryReserve` gave, with nothing written to the ring since. */
  append(offset: number, size: number): void {
    this.#head = offset + size;
    this.#appendedBytes += size;
    this.#appended++;
  }

  #commitSlow(offset: number, size: number, end: number): void {
    if (offset !== this.#head) {
      // Wrapped to 0 (never with the ring empty: #head is 0 then): the end of the buffer
      // becomes padding.
      const pad = this.capacity - this.#head;
      if (pad >= LENGTH_BYTES) this.view.setUint32(this.#head, 0, true);
      this.#padding += pad;
    }
    this.#head = end === this.capacity ? 0 : end;
    this.#appendedBytes += size;
    this.#appended++;
    this.#fast = -1;
    this.#room = -1;
  }

  /** The offset of the oldest frame, or -1 when the ring is empty. */
  peek(): number {
    if (this.#appended === this.#removed) return -1;
    this.#skipPadding();
    return this.#tail;
  }

  /** Removes the oldest frame and returns its size (0 when the ring is empty). */
  shift(): number {
    if (this.#appended === this.#removed) return 0;
    this.#skipPadding();
    const size = this.view.getUint32(this.#tail, true);
    this.lastShifted = this.#tail;
    const next = this.#tail + size;
    this.#tail = next === this.capacity ? 0 : next;
    this.#removedBytes += size;
    this.#removed++;
    if (this.#appended === this.#removed) {
      // Empty: start again at 0 so the next frame has the whole buffer.
      this.#head = 0;
      this.#tail = 0;
      this.#padding = 0;
      this.#fast = -1;
      this.#room = -1;
    }
    return size;
  }

  /**
   * Removes the frames for which `victim(at)` is true, oldest first, until at least
   * `want` bytes are freed or none is left, and keeps every other frame, in its order.
   * `removed(at, size)` is called for each victim before it goes. Returns the bytes freed.
   *
   * How the frames around the victims move: see {@linkcode Compactor}.
   */
  evictWhere(victim: (at: number) => boolean, want: number, removed: (at: number, size: number) => void): number {
    if (this.#appended === this.#removed) return 0;
    this.#skipPadding();
    const c = this.#compactor;
    c.run(this.bytes, this.view, this.#tail, this.#head, victim, want, removed);
    if (c.victims === 0) return 0;
    this.#tail = c.tail;
    this.#head = c.head;
    this.#removed += c.victims;
    this.#removedBytes += c.freed;
    this.#fast = -1;
    this.#room = -1;
    if (this.#appended === this.#removed) {
      this.#head = 0;
      this.#tail = 0;
      this.#padding = 0;
    }
    return c.freed;
  }

  /** Removes the oldest frame if `test(at)` is true of it; returns its size, or 0. */
  shiftIf(test: (at: number) => boolean): number {
    if (this.#appended === this.#removed) return 0;
    this.#skipPadding();
    return test(this.#tail) ? this.shift() : 0;
  }

  readonly #compactor = new Compactor();

  #skipPadding(): void {
    const tail = this.#tail;
    const rest = this.capacity - tail;
    if (rest < LENGTH_BYTES || this.view.getUint32(tail, true) === 0) {
      this.#padding = 0;
      this.#tail = 0;
    }
  }
}

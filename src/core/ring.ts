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

/** Bytes of the length word that starts every frame and marks padding. */
export const LENGTH_BYTES = 4;

/**
 * A FIFO of variable-length frames in a fixed byte buffer.
 *
 * @example
 * ```ts
 * import { ByteRing } from "./ring.ts";
 * const ring = new ByteRing(new ArrayBuffer(64));
 * const at = ring.reserve(8);
 * ring.view.setUint32(at, 8, true);
 * ring.commit(at, 8);
 * console.assert(ring.count === 1 && ring.peek() === at);
 * ring.shift();
 * console.assert(ring.count === 0);
 * ```
 */
export class ByteRing {
  /** The backing buffer. */
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** A byte view of the whole buffer, for writing frames at the offsets `reserve` gives. */
  readonly bytes: Uint8Array;
  /** A DataView of the whole buffer. */
  readonly view: DataView;
  /** Size of the buffer in bytes. */
  readonly capacity: number;

  #head = 0; // next write offset
  #tail = 0; // offset of the oldest frame (or of padding before it)
  #used = 0; // bytes occupied, padding included
  #count = 0; // frames held
  #frameBytes = 0; // bytes of frames held, padding excluded
  #appended = 0; // frames ever committed
  #removed = 0; // frames ever shifted

  constructor(buffer: ArrayBuffer | SharedArrayBuffer) {
    if (buffer.byteLength < LENGTH_BYTES * 2) {
      throw new RangeError(`ByteRing needs a buffer of at least ${LENGTH_BYTES * 2} bytes, got ${buffer.byteLength}`);
    }
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.capacity = buffer.byteLength;
  }

  /** Frames held. */
  get count(): number {
    return this.#count;
  }

  /** Bytes of the frames held, padding excluded. */
  get frameBytes(): number {
    return this.#frameBytes;
  }

  /** Frames ever committed: the next frame's sequence number. */
  get appended(): number {
    return this.#appended;
  }

  /** Frames ever removed: the oldest frame's sequence number. */
  get removed(): number {
    return this.#removed;
  }

  /** Bytes occupied, padding included (never above `capacity`). */
  get used(): number {
    return this.#used;
  }

  /**
   * The offset at which a frame of `size` bytes can be written contiguously, or -1 when
   * it does not fit now. Changes nothing: call `commit` once the frame is written.
   */
  reserve(size: number): number {
    const cap = this.capacity;
    if (this.#used === 0) return size <= cap ? 0 : -1;
    const head = this.#head;
    const tail = this.#tail;
    if (head > tail) {
      if (cap - head >= size) return head;
      return tail >= size ? 0 : -1;
    }
    // head <= tail with data held: the free space is [head, tail) (empty when equal).
    return tail - head >= size ? head : -1;
  }

  /**
   * The free bytes that follow the newest frame contiguously: the largest frame
   * `reserve` places there without wrapping. For writers that learn a frame's size only
   * while writing it.
   */
  freeAtHead(): number {
    if (this.#used === 0) return this.capacity;
    const head = this.#head;
    const tail = this.#tail;
    return head > tail ? this.capacity - head : tail - head;
  }

  /** The free bytes at the start of the buffer, before the oldest frame: where `reserve` wraps to. */
  freeAtStart(): number {
    return this.#used !== 0 && this.#head > this.#tail ? this.#tail : 0;
  }

  /**
   * Makes the frame written at `offset` (as returned by `reserve`) part of the ring.
   * `size` may be smaller than what was reserved. The caller must have written the
   * frame's length word (`size`) at `offset`.
   */
  commit(offset: number, size: number): void {
    const cap = this.capacity;
    if (this.#used === 0) {
      this.#tail = offset;
    } else if (offset !== this.#head) {
      // Wrapped to 0: the end of the buffer becomes padding.
      const pad = cap - this.#head;
      if (pad >= LENGTH_BYTES) this.view.setUint32(this.#head, 0, true);
      this.#used += pad;
    }
    const end = offset + size;
    this.#head = end === cap ? 0 : end;
    this.#used += size;
    this.#frameBytes += size;
    this.#count++;
    this.#appended++;
  }

  /** The offset of the oldest frame, or -1 when the ring is empty. */
  peek(): number {
    if (this.#count === 0) return -1;
    this.#skipPadding();
    return this.#tail;
  }

  /** Removes the oldest frame and returns its size (0 when the ring is empty). */
  shift(): number {
    if (this.#count === 0) return 0;
    this.#skipPadding();
    const size = this.view.getUint32(this.#tail, true);
    const next = this.#tail + size;
    this.#tail = next === this.capacity ? 0 : next;
    this.#used -= size;
    this.#frameBytes -= size;
    this.#count--;
    this.#removed++;
    if (this.#count === 0) {
      // Empty: start again at 0 so the next frame has the whole buffer.
      this.#head = 0;
      this.#tail = 0;
      this.#used = 0;
    }
    return size;
  }

  /** Drops every frame. */
  clear(): void {
    this.#removed += this.#count;
    this.#head = 0;
    this.#tail = 0;
    this.#used = 0;
    this.#count = 0;
    this.#frameBytes = 0;
  }

  #skipPadding(): void {
    const tail = this.#tail;
    const rest = this.capacity - tail;
    if (rest < LENGTH_BYTES || this.view.getUint32(tail, true) === 0) {
      this.#used -= rest;
      this.#tail = 0;
    }
  }
}

/**
 * The producer's side of a ring shared with a worker: the application's thread writes
 * frames here exactly as into a `ByteRing` (same layout, same padding, same fast path),
 * and a worker (`ring-consumer.ts`) takes them out from the oldest end. The frames are
 * in one `SharedArrayBuffer`, the positions in a control block (`ring-control.ts`).
 *
 * ## Who moves what
 *
 * The producer alone writes frames and moves the write position; it publishes how many
 * frames it committed (PUBLISHED) and the consumer reads no further. Both remove frames
 * from the oldest end (the consumer takes or expires them, the producer evicts them:
 * drop-oldest, expiry when full), each by one compare-and-swap of the cursor word (the
 * oldest frame's sequence number and offset), so every frame is claimed or evicted
 * exactly once, and counted once, by whoever won the swap. A failed swap means the other
 * side moved on: the producer reads the cursor again and retries, and never waits.
 *
 * ## Why eviction is safe while the consumer reads
 *
 * The consumer copies claimed frames out after its swap, so their bytes must stay intact
 * until it is done. Before claiming it publishes a hazard (the cursor it claims from),
 * checks that the cursor still holds that value, claims, copies, adds the bytes to
 * IN_FLIGHT, and only then clears the hazard. The producer writes new frames only up to
 * the reclaim frontier: the older of the cursor and the hazard, read in that order (the
 * cursor first): if the producer read a cursor past a claim, the claim's hazard was
 * published before that swap and is cleared after the copy, so it reads the hazard or a
 * finished copy. Evicting moves only the cursor: bytes behind a hazard stay unwritten.
 *
 * Mid-ring eviction (graded shedding under drop-oldest, `evictWhere`) moves frames that
 * the consumer could be reading while it decides what to claim: the producer first sets
 * the cursor's lock bit (by a swap), moves frames only between the cursor and the write
 * position (never the claimed frames behind it), and stores the new cursor. A consumer
 * that read frames meanwhile fails its swap (the cursor changed) and drops what it read;
 * one that sees the lock backs off until the cursor is stored again. Emptying the ring
 * back to offset 0 is also a swap of the cursor, done only when no copy is under way.
 *
 * The budget: bytes from the frontier to the write position (padding included, a little
 * conservative) plus IN_FLIGHT. Bytes pass from the ring to IN_FLIGHT while both count
 * them (between the consumer's swap and its clearing of the hazard), never while neither
 * does. The producer reads the frontier and IN_FLIGHT now and then (when the room it
 * knew of runs out, at attention marks, on the clock's ticks); in between its view only
 * over-counts, since the consumer only ever frees bytes.
 *
 * @module
 */

import { Compactor } from "./compact.ts";
import type { FrameRing } from "./ring-layout.ts";
import { CURSOR, cursorOffset, cursorSeq, frameAt, HAZARD, IN_FLIGHT, NONE, packCursor, PUBLISHED, PUBLISHED_HEAD, unwrapBefore } from "./ring-control.ts";
import { readWorkerCounts, WorkerCounts } from "./shared-counts.ts";

/**
 * The producer's side of a shared ring.
 *
 * @example
 * ```ts
 * import { SharedRing } from "./shared-ring.ts";
 * import { controlBlock } from "./ring-control.ts";
 *
 * const ring = new SharedRing(new SharedArrayBuffer(64), controlBlock(0));
 * const at = ring.reserve(8);
 * ring.view.setUint32(at, 8, true);
 * ring.commit(at, 8);
 * const held: number = ring.count;
 * const evicted = ring.shift();
 * if (held !== 1 || evicted !== 8 || ring.count > 0) throw new Error("one frame in, evicted");
 * ```
 */
export class SharedRing implements FrameRing {
  readonly buffer: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly capacity: number;
  /** The control block (`ring-control.ts`). */
  readonly control: SharedArrayBuffer;
  readonly #words: BigUint64Array;
  readonly #ints: Int32Array;
  #head = 0;
  #appended = 0;
  #appendedBytes = 0;
  // As in ByteRing: the fast path's end, its frame limit, and the room at #head.
  #fast = -1;
  #fastFrames = 0;
  #room = -1;
  // The reclaim frontier as last read, and the bytes held from it to #head then (padding
  // included) less #bytesBase: frameBytes is #heldBase + #appendedBytes.
  #frontier = 0;
  #frontierSeq = 0;
  #heldBase = 0;
  #outside = 0;
  lastShifted = -1;
  readonly #compactor = new Compactor();
  #workerCounts: WorkerCounts | null = null;

  constructor(buffer: SharedArrayBuffer, control: SharedArrayBuffer) {
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.capacity = buffer.byteLength;
    this.control = control;
    this.#words = new BigUint64Array(control, 0, 2);
    this.#ints = new Int32Array(control);
    for (let i = 0; i < this.bytes.length; i += 4096) this.bytes[i] = 0; // map the pages now (see ring.ts)
  }

  get count(): number {
    return ((this.#appended >>> 0) - cursorSeq(Atomics.load(this.#words, CURSOR))) >>> 0;
  }

  /** Bytes held from the reclaim frontier (as last read) to the write position. */
  get frameBytes(): number {
    return this.#heldBase + this.#appendedBytes;
  }

  /** Frames pending, about: those appended since the frontier last read (an over-count). */
  get pending(): number {
    return (((this.#appended >>> 0) - this.#frontierSeq) >>> 0);
  }

  get appended(): number {
    return this.#appended;
  }

  get appendedBytes(): number {
    return this.#appendedBytes;
  }

  get removed(): number {
    return unwrapBefore(cursorSeq(Atomics.load(this.#words, CURSOR)), this.#appended);
  }

  /** The bytes the consumer holds in flight, as last read. The consumer sets them. */
  get outside(): number {
    return this.#outside;
  }

  set outside(_bytes: number) {
    // Written by the consumer (IN_FLIGHT), never here.
  }

  /** Lets the consumer read every frame committed so far. */
  publish(): void {
    Atomics.store(this.#ints, PUBLISHED_HEAD, this.#head === this.capacity ? 0 : this.#head);
    Atomics.store(this.#ints, PUBLISHED, this.#appended | 0);
  }

  /**
   * Reads the frontier and the bytes in flight again. Cursor, hazard, in flight: in that
   * order (see the module docs).
   */
  refresh(): void {
    const cursor = Atomics.load(this.#words, CURSOR);
    const hazard = this.#copying(cursor, Atomics.load(this.#words, HAZARD));
    this.#outside = Atomics.load(this.#ints, IN_FLIGHT);
    const from = hazard ?? cursor;
    const seq = cursorSeq(from);
    let at = cursorOffset(from);
    // The fast path may leave the write position at the very end: the same place as 0.
    const head = this.#head === this.capacity ? 0 : this.#head;
    const held = at !== head ? (head - at + this.capacity) % this.capacity : seq === (this.#appended >>> 0) ? 0 : this.capacity;
    if (held === 0 && this.#head !== 0) {
      // Empty, and no copy under way: start again at 0 so that the next frame has the
      // whole buffer. A swap, as the consumer may be reading the cursor.
      if (Atomics.compareExchange(this.#words, CURSOR, cursor, packCursor(seq, 0)) === cursor) {
        this.#head = 0;
        this.#fast = -1;
        this.#room = -1;
        at = 0;
      }
    }
    this.#frontier = at;
    this.#frontierSeq = seq;
    this.#heldBase = held - this.#appendedBytes;
  }

  /**
   * The hazard, if it protects a copy under way: older than the cursor, and no older
   * than the frontier last read (at the same offset if of the same frame). Any other
   * value is one the consumer read before the cursor moved on, and will fail to confirm
   * (the cursor no longer holds it), so it protects nothing; its offset may even be
   * from a lap before, which must not be taken for the frontier.
   */
  #copying(cursor: bigint, hazard: bigint): bigint | null {
    if (hazard === NONE) return null;
    const behind = (cursorSeq(hazard) - this.#frontierSeq) >>> 0;
    const cursorBehind = (cursorSeq(cursor) - this.#frontierSeq) >>> 0;
    if (behind >= cursorBehind) return null;
    return behind > 0 || cursorOffset(hazard) === this.#frontier ? hazard : null;
  }

  reserve(size: number): number {
    const head = this.#head;
    if (head + size <= this.#room) return head;
    this.refresh();
    this.#room = this.#roomEnd();
    if (this.#head + size <= this.#room) return this.#head;
    const held = this.frameBytes;
    if (held === 0 || this.#head < this.#frontier || (this.#head === this.#frontier)) return -1;
    // Wrap to 0: the bytes before the frontier, if the budget allows (padding counted).
    return this.#frontier >= size && held + (this.capacity - this.#head) + this.#outside + size <= this.capacity ? 0 : -1;
  }

  tryReserve(size: number): number {
    const head = this.#head;
    return head + size <= this.#fast && this.#appended < this.#fastFrames ? head : -1;
  }

  attendAfter(bytes: number, frames = Infinity): void {
    this.publish();
    this.refresh();
    const end = (this.#room = this.#roomEnd());
    const mark = this.#head + bytes;
    this.#fast = mark < end ? mark : end;
    this.#fastFrames = this.#appended + frames;
  }

  attendNow(): void {
    this.publish();
    this.#fast = -1;
  }

  /** The end of the room at #head: contiguous, and within the budget. */
  #roomEnd(): number {
    const held = this.frameBytes;
    const budget = this.capacity - held - this.#outside;
    const head = this.#head;
    const room = held === 0 ? this.capacity - head : head > this.#frontier ? this.capacity - head : head < this.#frontier ? this.#frontier - head : 0;
    return head + (budget < room ? budget : room);
  }

  freeAtHead(): number {
    this.refresh();
    const head = this.#head;
    return this.frameBytes === 0 ? this.capacity - head : head > this.#frontier ? this.capacity - head : head < this.#frontier ? this.#frontier - head : 0;
  }

  freeAtStart(): number {
    return this.frameBytes > 0 && this.#head > this.#frontier ? this.#frontier : 0;
  }

  commit(offset: number, size: number): void {
    const end = offset + size;
    if (offset !== this.#head) {
      // Wrapped to 0: the end of the buffer becomes padding, held until the consumer passes it.
      const pad = this.capacity - this.#head;
      if (pad >= 4) this.view.setUint32(this.#head, 0, true);
      this.#heldBase += pad;
      this.#fast = -1;
      this.#room = -1;
    }
    this.#head = end === this.capacity ? 0 : end;
    if (end === this.capacity) {
      this.#fast = -1;
      this.#room = -1;
    }
    this.#appendedBytes += size;
    this.#appended++;
    this.publish();
  }

  append(offset: number, size: number): void {
    this.#head = offset + size;
    this.#appendedBytes += size;
    this.#appended++;
  }

  peek(): number {
    const cursor = Atomics.load(this.#words, CURSOR);
    if (cursorSeq(cursor) === (this.#appended >>> 0)) return -1;
    return frameAt(this.view, this.capacity, cursorOffset(cursor));
  }

  /**
   * Evicts the oldest frame (drop-oldest) and returns its size; 0 when none is left, or
   * while the consumer copies a batch out (its bytes are not free yet: the caller then
   * refuses the new record rather than evict more).
   */
  shift(): number {
    const cursor = Atomics.load(this.#words, CURSOR);
    if (this.#copying(cursor, Atomics.load(this.#words, HAZARD)) !== null) return 0;
    return this.shiftIf(always);
  }

  shiftIf(test: (at: number) => boolean): number {
    this.publish();
    const words = this.#words;
    for (;;) {
      const cursor = Atomics.load(words, CURSOR);
      const seq = cursorSeq(cursor);
      if (seq === (this.#appended >>> 0)) return 0;
      const at = frameAt(this.view, this.capacity, cursorOffset(cursor));
      if (!test(at)) return 0;
      const size = this.view.getUint32(at, true);
      const next = at + size === this.capacity ? 0 : at + size;
      if (Atomics.compareExchange(words, CURSOR, cursor, packCursor(seq + 1, next)) === cursor) {
        this.lastShifted = at;
        this.#fast = -1;
        this.#room = -1;
        return size;
      }
      // The consumer claimed it first: look at the new oldest frame.
    }
  }

  evictWhere(victim: (at: number) => boolean, want: number, removed: (at: number, size: number) => void): number {
    this.publish();
    const words = this.#words;
    let cursor: bigint;
    for (;;) {
      cursor = Atomics.load(words, CURSOR);
      if (cursorSeq(cursor) === (this.#appended >>> 0)) return 0;
      if (Atomics.compareExchange(words, CURSOR, cursor, cursor | 1n) === cursor) break;
    }
    // Locked: the consumer claims nothing until the cursor is stored again.
    const seq = cursorSeq(cursor);
    const c = this.#compactor;
    c.run(this.bytes, this.view, frameAt(this.view, this.capacity, cursorOffset(cursor)), this.#head, victim, want, removed);
    Atomics.store(words, CURSOR, c.victims === 0 ? cursor : packCursor(seq + c.victims, c.tail));
    if (c.victims === 0) return 0;
    this.#head = c.head;
    this.#fast = -1;
    this.#room = -1;
    this.refresh();
    return c.freed;
  }

  /**
   * The bytes held for records now, pending and in flight, exactly as the sink counts
   * them (padding and a copy under way excluded), given the bytes this side holds as
   * pending by its own count (`pendingHere`): for decisions that must match `stats()`
   * (shedding), where the budget's positions over-count.
   */
  usedBytes(pendingHere: number): number {
    const counts = readWorkerCounts(this.control, this.#workerCounts ??= new WorkerCounts());
    return pendingHere - counts.left.bytes + counts.inFlight.bytes;
  }

  /**
   * The frames of each class the consumer removed, as its counters say (`shared-counts.ts`):
   * it counts a frame after its claim, so between the two this is behind, never ahead.
   */
  removedElsewhere(into: Float64Array): void {
    const counts = readWorkerCounts(this.control, this.#workerCounts ??= new WorkerCounts());
    for (let c = 0; c < into.length; c++) into[c] = counts.leftOfClass(c);
  }
}

const always = (): boolean => true;

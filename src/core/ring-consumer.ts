/**
 * The consumer's side of a ring shared with the application's thread (see
 * `shared-ring.ts` for the protocol): what the flusher drains when it runs in a worker.
 * It takes batches from the oldest end, expires records there, and drops what is left
 * at shutdown, each by claiming frames with one compare-and-swap of the cursor under a
 * published hazard, and counts all of it in the worker's ledger (`shared-counts.ts`).
 *
 * @module
 */

import { EXPIRED } from "./accounting.ts";
import { type FlusherBacklog, type Shipment, shipOut } from "./backlog.ts";
import { FRAME_HEADER_BYTES, frameClass, frameTimestamp, type Header } from "./frame.ts";
import {
  CURSOR,
  cursorLocked,
  cursorOffset,
  cursorSeq,
  frameAt,
  HAZARD,
  HEED_BYTES,
  HEED_RECORDS,
  NEVER,
  NONE,
  packCursor,
  PUBLISHED,
  PUBLISHED_HEAD,
  unwrapBefore,
} from "./ring-control.ts";
import type { WorkerLedger } from "./shared-counts.ts";

/** Spins on a locked cursor before napping between looks. */
const SPINS = 64;

/**
 * The consumer's side of a shared ring.
 *
 * @example
 * ```ts
 * import { controlBlock } from "./ring-control.ts";
 * import { SharedRing } from "./shared-ring.ts";
 * import { RingConsumer } from "./ring-consumer.ts";
 * import { COUNTER_BYTES, WorkerLedger } from "./shared-counts.ts";
 * import { writePlainFrameHeader } from "./frame.ts";
 *
 * const data = new SharedArrayBuffer(256);
 * const control = controlBlock(COUNTER_BYTES);
 * const producer = new SharedRing(data, control);
 * const at = producer.reserve(24);
 * writePlainFrameHeader(producer.view, at, 24, 1000);
 * producer.commit(at, 24);
 * producer.publish();
 * const consumer = new RingConsumer(data, control, new WorkerLedger(control), { maxAgeMs: 60_000, maxRecords: 10 });
 * const shipment = consumer.take(10, 1 << 20);
 * if (shipment?.batch.records.length !== 1 || consumer.count !== 0) throw new Error("one record taken");
 * ```
 */
export class RingConsumer implements FlusherBacklog {
  /** The ring's bytes. */
  readonly data: Uint8Array;
  readonly view: DataView;
  readonly capacity: number;
  readonly #words: BigUint64Array;
  readonly #ints: Int32Array;
  readonly #nap = new Int32Array(new SharedArrayBuffer(4));
  readonly #ledger: WorkerLedger;
  readonly #maxAgeMs: number;
  readonly #staticHeaders: ReadonlyArray<Header> | null;
  /** Offsets of the frames claimed, reused. */
  readonly #offsets: Float64Array;
  /** Claimed frames per class, reused; null without shedding. */
  readonly #byClass: Float64Array | null;
  /** Frames committed, as a full count (PUBLISHED holds it mod 2^32). */
  #appended: number;
  /** What the last claim took: its bytes and the first frame's number (mod 2^32). */
  #claimedBytes = 0;
  #claimedSeq = 0;
  /** Called when the flusher's thresholds change (the worker then tells the producer). */
  onAttend: () => void = () => {};

  /**
   * `appended`: the frames committed so far (a worker that starts late is told the full
   * count; the ring holds it mod 2^32). `classes`: the shedding classes (0 without).
   */
  constructor(
    buffer: SharedArrayBuffer,
    control: SharedArrayBuffer,
    ledger: WorkerLedger,
    options: { maxAgeMs: number; maxRecords: number; staticHeaders?: ReadonlyArray<Header> | null; classes?: number; appended?: number },
  ) {
    this.data = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.capacity = buffer.byteLength;
    this.#words = new BigUint64Array(control, 0, 2);
    this.#ints = new Int32Array(control, 0, 16);
    this.#ledger = ledger;
    this.#maxAgeMs = options.maxAgeMs;
    this.#staticHeaders = options.staticHeaders ?? null;
    this.#offsets = new Float64Array(Math.max(1, options.maxRecords));
    const classes = options.classes ?? 0;
    this.#byClass = classes > 0 ? new Float64Array(classes) : null;
    this.#appended = options.appended ?? 0;
  }

  /** The flusher reads the frame numbers here (see `FlusherBacklog`). */
  get ring(): this {
    return this;
  }

  /** Frames committed and published, as a full count. */
  get appended(): number {
    const published = Atomics.load(this.#ints, PUBLISHED);
    this.#appended += ((published - this.#appended) >>> 0) & 0x7fffffff;
    return this.#appended;
  }

  /** The oldest pending frame's number. */
  get removed(): number {
    return unwrapBefore(cursorSeq(this.#cursor()), this.appended);
  }

  /** Records pending (published, neither claimed nor evicted). */
  get count(): number {
    const pending = (Atomics.load(this.#ints, PUBLISHED) - cursorSeq(this.#cursor())) >>> 0;
    return pending > 0x7fffffff ? 0 : pending;
  }

  /** Bytes pending, about (padding included, read apart from the count): for batching decisions. */
  get bytes(): number {
    const cursor = this.#cursor();
    const head = Atomics.load(this.#ints, PUBLISHED_HEAD);
    const at = cursorOffset(cursor);
    if (at !== head) return (head - at + this.capacity) % this.capacity;
    return Atomics.load(this.#ints, PUBLISHED) >>> 0 === cursorSeq(cursor) ? 0 : this.capacity;
  }

  /** Tells the producer when to wake the consumer: at `records` pending records or `bytes` pending bytes. */
  heed(records: number, bytes: number): void {
    Atomics.store(this.#ints, HEED_RECORDS, records < NEVER ? Math.max(0, records) : NEVER);
    Atomics.store(this.#ints, HEED_BYTES, bytes < NEVER ? Math.max(0, bytes) : NEVER);
  }

  attendNow(): void {
    this.onAttend();
  }

  oldestTimestamp(): number {
    for (;;) {
      const cursor = this.#cursor();
      if (Atomics.load(this.#ints, PUBLISHED) >>> 0 === cursorSeq(cursor)) return Infinity;
      const at = frameAt(this.view, this.capacity, cursorOffset(cursor));
      const timestamp = at + FRAME_HEADER_BYTES <= this.capacity ? frameTimestamp(this.view, at) : NaN;
      // Not claimed, so the producer may evict it and write over it: valid only if the
      // cursor did not move meanwhile.
      if (Atomics.load(this.#words, CURSOR) === cursor) return timestamp;
    }
  }

  expire(now: number): number {
    return this.#drop(EXPIRED, now - this.#maxAgeMs);
  }

  dropAll(reason: number): void {
    this.#drop(reason, Infinity);
  }

  /** Claims and drops the oldest records accepted before `before` under `reason`; returns how many. */
  #drop(reason: number, before: number): number {
    let dropped = 0;
    for (;;) {
      const count = this.#claim(this.#offsets.length, Infinity, before);
      if (count === 0) return dropped;
      this.#classesOf(count);
      this.#ledger.losePending(reason, count, this.#claimedBytes, this.#byClass);
      Atomics.store(this.#words, HAZARD, NONE);
      dropped += count;
    }
  }

  /**
   * Moves up to `maxRecords` records and `maxBytes` bytes (at least one record) out of
   * the ring into a buffer of their own, counted in flight. Null when nothing is pending.
   */
  take(maxRecords: number, maxBytes: number): Shipment | null {
    const count = this.#claim(Math.min(maxRecords, this.#offsets.length), maxBytes, Infinity);
    if (count === 0) return null;
    const firstSeq = unwrapBefore(this.#claimedSeq, this.appended);
    const bytes = this.#claimedBytes;
    // Claimed, behind the hazard: the producer writes nothing over them until it is cleared.
    const shipment = shipOut(this.data, this.view, this.#offsets, count, bytes, firstSeq, this.#staticHeaders);
    this.#classesOf(count);
    // Counted in flight (IN_FLIGHT too) before the hazard goes: the producer's budget
    // counts these bytes twice for a moment, never not at all.
    this.#ledger.take(count, bytes, this.#byClass);
    Atomics.store(this.#words, HAZARD, NONE);
    return shipment;
  }

  /** Counts the claimed frames by class into #byClass. */
  #classesOf(count: number): void {
    const byClass = this.#byClass;
    if (byClass === null) return;
    byClass.fill(0);
    for (let i = 0; i < count; i++) byClass[frameClass(this.view, this.#offsets[i]!)]!++;
  }

  /**
   * Claims the oldest frames: up to `most` of them and `maxBytes` bytes (at least one),
   * stopping at the first accepted at or after `before`. Their offsets go to #offsets,
   * their bytes to #claimedBytes. Returns how many; when more than 0, the hazard stays
   * published until the caller has copied and counted them.
   */
  #claim(most: number, maxBytes: number, before: number): number {
    const words = this.#words;
    const view = this.view;
    const capacity = this.capacity;
    const offsets = this.#offsets;
    for (let tries = 0; ; tries++) {
      if (tries > 1_000_000) throw new Error("shedsink: the shared ring's frames are not where its cursor says");
      const cursor = this.#cursor();
      // Nothing to claim (nothing pending, or, for expiry, the oldest frame not expired):
      // no hazard at all, so that the producer's evictions are not held up by a look
      // that takes nothing. The look is only a hint (the producer may be moving that
      // frame): the claim below checks again.
      const waiting = (Atomics.load(this.#ints, PUBLISHED) - cursorSeq(cursor)) >>> 0;
      let nothing = waiting === 0 || waiting > 0x7fffffff;
      if (!nothing && before !== Infinity) {
        const first = frameAt(view, capacity, cursorOffset(cursor));
        nothing = first + FRAME_HEADER_BYTES <= capacity && !(frameTimestamp(view, first) < before);
      }
      if (nothing) {
        // A hazard published by an earlier try must not stay behind.
        if (tries > 0) Atomics.store(words, HAZARD, NONE);
        return 0;
      }
      Atomics.store(words, HAZARD, cursor);
      // The hazard counts only if the cursor still holds what it names: then the
      // producer, which reads the cursor before the hazard, sees one or the other.
      if (Atomics.load(words, CURSOR) !== cursor) continue;
      const seq = cursorSeq(cursor);
      const pending = (Atomics.load(this.#ints, PUBLISHED) - seq) >>> 0;
      const limit = pending > 0x7fffffff ? 0 : Math.min(pending, most);
      let at = cursorOffset(cursor);
      let count = 0;
      let bytes = 0;
      let torn = false;
      while (count < limit) {
        at = frameAt(view, capacity, at);
        const size = view.getUint32(at, true);
        // Sizes that no frame has: the producer is moving frames (its swap will make ours fail).
        if (size < FRAME_HEADER_BYTES || size > capacity - at) {
          torn = true;
          break;
        }
        if (before !== Infinity && !(frameTimestamp(view, at) < before)) break;
        if (count > 0 && bytes + size > maxBytes) break;
        offsets[count++] = at;
        bytes += size;
        at += size;
        if (at === capacity) at = 0;
      }
      if (torn) continue;
      if (count === 0) {
        Atomics.store(words, HAZARD, NONE);
        return 0;
      }
      if (Atomics.compareExchange(words, CURSOR, cursor, packCursor(seq + count, at)) !== cursor) continue;
      this.#claimedBytes = bytes;
      this.#claimedSeq = seq;
      return count;
    }
  }

  /** The cursor, once the producer does not hold it: the consumer may wait, the producer never does. */
  #cursor(): bigint {
    for (let spins = 0; ; spins++) {
      const cursor = Atomics.load(this.#words, CURSOR);
      if (!cursorLocked(cursor)) return cursor;
      if (spins >= SPINS) Atomics.wait(this.#nap, 0, 0, 1);
    }
  }
}

/**
 * The hot path: turning one record into one frame in the ring, or into one counted drop.
 *
 * `Uint8Array` values are copied into the ring with no allocation; strings are encoded
 * as UTF-8 straight into the ring (by a `Buffer` over it on Node and Bun, by
 * `TextEncoder.encodeInto` elsewhere: see `utf8TargetFor` in `runtime.ts`); other values
 * go through the configured `encode` (`JSON.stringify` by default). Records with no
 * key and no headers take a fast path: no call to the flusher until the ring's attention
 * mark (see #attend). Nothing here throws for a record: a value that
 * cannot be encoded is dropped as `invalid`, one that is too large as `oversize`, one
 * that does not fit as `buffer_full`.
 *
 * @module
 */

import type { Accounting } from "./accounting.ts";
import { BUFFER_FULL, INVALID, OVERSIZE } from "./accounting.ts";
import type { Backlog } from "./backlog.ts";
import type { CoarseClock } from "./clock.ts";
import { FRAME_HEADER_BYTES, KEY_LENGTH_AT, NO_KEY_NO_HEADERS, readParts, type RecordParts, SIZE_AT, TIMESTAMP_AT, writeFrameHeader, writePlainFrameHeader } from "./frame.ts";
import type { FrameRing } from "./ring-layout.ts";
import { ShedPolicy } from "./shedding.ts";
import type { CoreSettings, HeaderValues, RecordSchema, Utf8Target } from "./settings.ts";

const ENCODE_JSON = 0;
const ENCODE_FUNCTION = 1;
const ENCODE_SCHEMA = 2;

/**
 * Bytes of records without key or headers that the fast path takes between two visits
 * to the slow path, which reads the real time: a synchronous burst is stamped at most
 * this many bytes late.
 */
export const ATTENTION_BYTES = 64 * 1024;

/**
 * Who hears of accepted records (the flusher), and how many it can go without hearing
 * of: the fast path tells nobody until the ring's attention mark (see #attend).
 */
export interface AcceptListener {
  /** A record was accepted by a path other than the fast one. */
  accepted(): void;
  /**
   * Bytes of records that may be accepted without `accepted()` before the listener must
   * hear of one (0: the next one; it may be negative or Infinity).
   */
  unheardBytes(): number;
  /** Likewise, records. */
  unheardRecords(): number;
}

/**
 * Writes records into the ring under the capacity and `whenFull` policy, counting every
 * outcome.
 */
export class RecordWriter<T> {
  readonly #ring: FrameRing;
  readonly #backlog: Backlog;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #acct: Accounting;
  readonly #encoder: TextEncoder = new TextEncoder();
  readonly #maxRecordBytes: number;
  readonly #dropOldest: boolean;
  readonly #encodeKind: number;
  readonly #encodeFn: ((record: T) => Uint8Array | string) | null;
  readonly #schema: RecordSchema | null;
  readonly #keyFn: ((record: T) => string | Uint8Array | null | undefined) | null;
  readonly #headersFn: ((record: T) => HeaderValues | null | undefined) | null;
  readonly #clock: CoarseClock;
  /** No key and no headers: a frame is its header and its value. */
  readonly #plain: boolean;
  /** The ring's bytes as a target that encodes strings in place; null to use `encodeInto`. */
  readonly #utf8: Utf8Target | null;
  #scratch: Uint8Array | null = null;
  /** The key and headers of the record being written (reused). */
  readonly #parts: RecordParts = { key: null, headers: null, invalid: false };
  readonly #listener: AcceptListener;
  /** Graded shedding (null without): the policy, and the records held per class. */
  readonly #policy: ShedPolicy<T> | null;
  readonly #held: Float64Array | null;
  /** The class of the record being written (0 without shedding). */
  #cls = 0;
  /** Shedding, and no key and no headers: bytes have a fast path of their own (#writeClassedBytes). */
  readonly #plainClassed: boolean;
  /** Bytes held below which no class is shed (the lowest start level). */
  readonly #lowestStart: number;

  /** `utf8`: a target that encodes strings in place into the ring's bytes, or null to use `encodeInto`. */
  constructor(
    backlog: Backlog,
    acct: Accounting,
    settings: CoreSettings<T>,
    clock: CoarseClock,
    listener: AcceptListener,
    utf8: Utf8Target | null,
  ) {
    this.#clock = clock;
    this.#backlog = backlog;
    this.#ring = backlog.ring;
    this.#bytes = this.#ring.bytes;
    this.#view = this.#ring.view;
    this.#acct = acct;
    this.#listener = listener;
    this.#maxRecordBytes = settings.maxRecordBytes;
    this.#dropOldest = settings.whenFull === "drop-oldest";
    const encode = settings.encode;
    this.#encodeKind = encode === "json" ? ENCODE_JSON : typeof encode === "function" ? ENCODE_FUNCTION : ENCODE_SCHEMA;
    this.#encodeFn = typeof encode === "function" ? encode : null;
    this.#schema = typeof encode === "object" ? encode : null;
    this.#keyFn = settings.key;
    this.#headersFn = typeof settings.headers === "function" ? settings.headers : null;
    const shedding = settings.shedding;
    this.#policy = shedding === null ? null : new ShedPolicy(shedding, settings.capacityBytes);
    this.#held = backlog.held;
    // With shedding every record takes the general path, which decides and counts by class.
    this.#plain = this.#keyFn === null && this.#headersFn === null && shedding === null;
    this.#plainClassed = this.#keyFn === null && this.#headersFn === null && shedding !== null;
    this.#lowestStart = this.#policy === null ? 0 : this.#policy.lowestStartBytes;
    this.#utf8 = utf8;
  }

  /** Writes one record. Returns true when it was accepted. Never throws. */
  write(record: T): boolean {
    // Bytes, no key, no headers: the cheapest record. When the ring's fast reserve
    // succeeds (room, and no attention mark reached: see #attend) the frame is written
    // with the clock's last tick and nothing else is checked or told. Written out here,
    // not in a method of its own: engines stop inlining a few calls deep (JavaScriptCore
    // at a depth of 5 by default), and the level saved keeps the ring's calls inlined
    // (Bun: 16.5 ns per 256-byte record, against 23.6 with the method).
    // ArrayBuffer.isView first: it looks at the value itself, where instanceof asks its
    // prototype, which a revoked Proxy (or one whose trap throws) answers by throwing.
    if (!this.#plain || !(ArrayBuffer.isView(record) && record instanceof Uint8Array)) {
      return this.#plainClassed && ArrayBuffer.isView(record) && record instanceof Uint8Array ? this.#writeClassedBytes(record) : this.#writeAny(record);
    }
    const size = FRAME_HEADER_BYTES + record.length;
    const at = this.#ring.tryReserve(size);
    if (at < 0) return this.#writePlainBytesSlow(record, size);
    this.#bytes.set(record, at + FRAME_HEADER_BYTES);
    // writePlainFrameHeader, written out for the same reason.
    const view = this.#view;
    view.setUint32(at + SIZE_AT, size, true);
    view.setFloat64(at + TIMESTAMP_AT, this.#clock.last, true);
    view.setFloat64(at + KEY_LENGTH_AT, NO_KEY_NO_HEADERS, true);
    this.#ring.append(at, size);
    return true;
  }

  #writePlainBytesSlow(record: Uint8Array, size: number): boolean {
    if (size <= this.#maxRecordBytes) {
      const at = this.#ring.reserve(size);
      if (at >= 0) {
        // Room, so the fast path stopped at an attention mark: a burst's worth of bytes
        // went by, or the flusher wants to hear of the next record. The clock is read so
        // that a long synchronous burst is not stamped with its start.
        this.#clock.read();
        this.#bytes.set(record, at + FRAME_HEADER_BYTES);
        this.#finish(at, size, null, null);
        this.#attend();
        return true;
      }
    }
    if (!this.#writeBytes(record, record.length, FRAME_HEADER_BYTES, null, null)) return false;
    this.#attend();
    return true;
  }

  /** `write`'s fast path with shedding: below every class's start level nothing is shed. */
  #writeClassedBytes(record: Uint8Array): boolean {
    if ((this.#cls = this.#policy!.classify(record as T)) < 0) return this.#refuse(INVALID, 0);
    const size = FRAME_HEADER_BYTES + record.length;
    const ring = this.#ring;
    const at = ring.tryReserve(size);
    if (at >= 0 && ring.frameBytes + ring.outside + size <= this.#lowestStart) {
      this.#bytes.set(record, at + FRAME_HEADER_BYTES);
      writePlainFrameHeader(this.#view, at, size, this.#clock.last, this.#cls);
      ring.append(at, size);
      this.#held![this.#cls]!++;
      return true;
    }
    const kept = this.#writeBytes(record, record.length, FRAME_HEADER_BYTES, null, null);
    this.#attend();
    return kept;
  }

  /**
   * Sets the point where the byte fast path gives control back: after
   * {@linkcode ATTENTION_BYTES} (or `maxRecordBytes` if smaller), or sooner when the
   * flusher wants to hear of a record.
   */
  #attend(): void {
    const unheard = this.#listener.unheardBytes();
    // At most maxRecordBytes too: a record that the fast path fits in is never oversize.
    const most = ATTENTION_BYTES < this.#maxRecordBytes ? ATTENTION_BYTES : this.#maxRecordBytes;
    this.#ring.attendAfter(unheard < most ? unheard : most, this.#listener.unheardRecords());
  }

  #writeAny(record: T): boolean {
    if (this.#plain) {
      if (typeof record === "string") return this.#writePlainString(record);
      const value = this.#encodeValue(record);
      if (value === null) return this.#refuse(INVALID, 0);
      return typeof value === "string" ? this.#writePlainString(value) : this.#writeBytes(value, value.length, FRAME_HEADER_BYTES, null, null);
    }
    if (this.#policy !== null && (this.#cls = this.#policy.classify(record)) < 0) return this.#refuse(INVALID, 0);
    const value = typeof record === "string" || (ArrayBuffer.isView(record) && record instanceof Uint8Array) ? record : this.#encodeValue(record);
    if (value === null) return this.#refuse(INVALID, 0);
    // Shedding, no key, no headers, below every start level (nothing can be shed): a string takes the plain fast path.
    if (this.#plainClassed && typeof value === "string" && this.#ring.frameBytes + this.#ring.outside < this.#lowestStart) return this.#writePlainString(value);
    const parts = this.#parts;
    readParts(parts, record, this.#keyFn, this.#headersFn, this.#encoder);
    if (parts.invalid) return this.#refuse(INVALID, 0);
    const { key, headers } = parts;
    const fixed = FRAME_HEADER_BYTES + (key === null ? 0 : key.length) + (headers === null ? 0 : headers.length);
    return typeof value === "string"
      ? this.#writeString(value, fixed, key, headers)
      : this.#writeBytes(value, value.length, fixed, key, headers);
  }

  #encodeValue(record: T): Uint8Array | string | null {
    try {
      if (this.#encodeKind === ENCODE_JSON) {
        const text = JSON.stringify(record);
        return typeof text === "string" ? text : null;
      }
      if (this.#encodeKind === ENCODE_FUNCTION) {
        const out = this.#encodeFn!(record);
        return typeof out === "string" || out instanceof Uint8Array ? out : null;
      }
      const result = this.#schema!["~standard"].validate(record) as { issues?: unknown; value?: unknown } | Promise<unknown>;
      if (result instanceof Promise || result.issues !== undefined) return null;
      const text = JSON.stringify(result.value);
      return typeof text === "string" ? text : null;
    } catch {
      return null;
    }
  }

  /**
   * Copies the first `length` bytes of `value` in as the record's value. Only a record
   * that gets a place costs a view of a longer buffer (scratch space), not one refused.
   */
  #writeBytes(value: Uint8Array, length: number, fixed: number, key: Uint8Array | null, headers: Uint8Array | null): boolean {
    const size = fixed + length;
    if (size > this.#maxRecordBytes) return this.#refuse(OVERSIZE, size);
    if (this.#policy !== null && this.#sheds(size)) return false;
    const at = this.#place(size);
    if (at < 0) return this.#refuse(BUFFER_FULL, size);
    this.#bytes.set(length === value.length ? value : value.subarray(0, length), at + fixed);
    this.#finish(at, size, key, headers);
    return true;
  }

  /**
   * A string value, no key, no headers: the fast path of the bytes (see `write`), for the
   * most the string can take as UTF-8. What the fast path gives is within
   * `maxRecordBytes` (see #attend), so the record cannot be oversize.
   */
  #writePlainString(value: string): boolean {
    const most = FRAME_HEADER_BYTES + value.length * 3;
    const at = this.#ring.tryReserve(most);
    if (at < 0) return this.#writePlainStringSlow(value, most);
    const utf8 = this.#utf8;
    const size = FRAME_HEADER_BYTES + (utf8 !== null
      ? utf8.utf8Write(value, at + FRAME_HEADER_BYTES, most - FRAME_HEADER_BYTES)
      : this.#encoder.encodeInto(value, this.#bytes.subarray(at + FRAME_HEADER_BYTES, at + most)).written);
    writePlainFrameHeader(this.#view, at, size, this.#clock.last, this.#cls);
    this.#ring.append(at, size);
    if (this.#held !== null) this.#held[this.#cls]!++;
    return true;
  }

  #writePlainStringSlow(value: string, most: number): boolean {
    // As for bytes: past an attention mark, a record that has room reads the time, so
    // that a long synchronous burst is not stamped with its start.
    if (this.#ring.reserve(most) >= 0) this.#clock.read();
    if (!this.#writeString(value, FRAME_HEADER_BYTES, null, null)) return false;
    this.#attend();
    return true;
  }

  #writeString(value: string, fixed: number, key: Uint8Array | null, headers: Uint8Array | null): boolean {
    // UTF-8 takes at least one byte per UTF-16 unit and at most three.
    const least = fixed + value.length;
    if (least > this.#maxRecordBytes) return this.#refuse(OVERSIZE, least);
    const most = fixed + value.length * 3;
    const at = this.#ring.reserve(most);
    if (at >= 0) {
      // The ring's reserve kept `most` bytes within capacity (in-flight bytes counted).
      const utf8 = this.#utf8;
      const written = utf8 !== null
        ? utf8.utf8Write(value, at + fixed, most - fixed)
        : this.#encoder.encodeInto(value, this.#bytes.subarray(at + fixed, at + most)).written;
      const size = fixed + written;
      if (size > this.#maxRecordBytes) return this.#refuse(OVERSIZE, size);
      if (this.#policy !== null && this.#sheds(size)) return false;
      this.#finish(at, size, key, headers);
      return true;
    }
    const scratch = this.#scratchBuffer();
    const result = this.#encoder.encodeInto(value, scratch.subarray(0, this.#maxRecordBytes - fixed));
    if (result.read < value.length) {
      return this.#refuse(OVERSIZE, fixed + result.written + (value.length - result.read));
    }
    return this.#writeBytes(scratch, result.written, fixed, key, headers);
  }

  /** Where a frame of `size` bytes goes, after making room if the policy allows; -1 if nowhere. */
  #place(size: number): number {
    // The ring's reserve keeps the frames held plus those in flight within capacity.
    const at = this.#ring.reserve(size);
    if (at >= 0) return at;
    // Full: expired records go first, whatever the policy.
    this.#backlog.expire(this.#clock.now(this.#acct.offeredRecords));
    for (;;) {
      const at = this.#ring.reserve(size);
      if (at >= 0) return at;
      if (!this.#dropOldest) return -1;
      if (this.#held === null ? !this.#backlog.dropOldest(BUFFER_FULL) : !this.#backlog.makeRoom(this.#cls, size)) return -1;
    }
  }

  /** Whether the record being written (class #cls) gives way at this fill; counts it if so. */
  #sheds(size: number): boolean {
    const ring = this.#ring;
    let used = ring.frameBytes + ring.outside;
    // A ring shared with a worker knows its fill by positions as last read: padding, a
    // copy under way and what was freed since count too. Before a record is refused for
    // it, the fill as the counters have it, which stats() shows.
    if (ring.usedBytes !== undefined && used >= this.#lowestStart) used = ring.usedBytes(this.#acct.pendingBytes);
    if (!this.#policy!.shed(this.#cls, used)) return false;
    this.#acct.refuseShed(this.#cls, size);
    return true;
  }

  #finish(at: number, size: number, key: Uint8Array | null, headers: Uint8Array | null): void {
    const keyLength = key === null ? -1 : key.length;
    let after = at + FRAME_HEADER_BYTES;
    if (key !== null) {
      this.#bytes.set(key, after);
      after += key.length;
    }
    if (headers !== null) this.#bytes.set(headers, after);
    // The ring's count of frames steps once per record accepted: the clock's read counter.
    writeFrameHeader(this.#view, at, size, this.#clock.now(this.#ring.appended), keyLength, headers === null ? 0 : headers.length, this.#cls);
    if (this.#held !== null) this.#held[this.#cls]!++;
    this.#ring.commit(at, size); // counts it accepted (the ring is the accounting's intake)
    this.#listener.accepted();
  }

  #refuse(reason: number, bytes: number): false {
    this.#acct.refuse(reason, bytes);
    return false;
  }

  #scratchBuffer(): Uint8Array {
    if (this.#scratch === null) this.#scratch = new Uint8Array(this.#maxRecordBytes);
    return this.#scratch;
  }
}

/**
 * The layout of one record in the ring, and reading a frame back out.
 *
 * ```
 * offset  size  field
 * 0       4     frame size in bytes, this header included (u32 LE, never 0)
 * 4       8     timestamp, ms since the epoch (f64 LE)
 * 12      4     key length (i32 LE, -1 for no key)
 * 16      4     headers length (u32 LE, 0 for none) in the low 29 bits; the record's
 *               shedding class (0-7, 0 without shedding) in the top 3
 * 20      k     key bytes
 * 20+k    h     headers (u16 count, then per header: u16 name length, name, u32 value length, value)
 * 20+k+h  v     value bytes (the rest of the frame)
 * ```
 *
 * Every frame's size counts against `capacityBytes`, so a record costs its encoded
 * bytes plus {@linkcode FRAME_HEADER_BYTES}.
 *
 * @module
 */

import type { OutRecord } from "./contract.ts";
import type { HeaderValues } from "./settings.ts";

/** Bytes of framing every record costs on top of its key, headers and value. */
export const FRAME_HEADER_BYTES = 20;

/** Byte offsets of the frame header's fields. */
export const SIZE_AT = 0;
export const TIMESTAMP_AT = 4;
export const KEY_LENGTH_AT = 12;
export const HEADERS_LENGTH_AT = 16;

/** Where the shedding class sits in the headers-length word: its top 3 bits. */
export const CLASS_SHIFT = 29;
/** The headers length's bits of that word. */
export const HEADERS_LENGTH_MASK = (1 << CLASS_SHIFT) - 1;
/** The largest frame whose headers length leaves room for the class bits. */
export const MAX_FRAME_BYTES = HEADERS_LENGTH_MASK;

/** Writes a frame header at `at`. The key, headers and value follow it. */
export function writeFrameHeader(
  view: DataView,
  at: number,
  size: number,
  timestamp: number,
  keyLength: number,
  headersLength: number,
  cls = 0,
): void {
  view.setUint32(at + SIZE_AT, size, true);
  view.setFloat64(at + TIMESTAMP_AT, timestamp, true);
  view.setInt32(at + KEY_LENGTH_AT, keyLength, true);
  view.setUint32(at + HEADERS_LENGTH_AT, (headersLength | (cls << CLASS_SHIFT)) >>> 0, true);
}

/** The shedding class of the frame at `at` (0 when the sink does not shed). */
export function frameClass(view: DataView, at: number): number {
  return view.getUint32(at + HEADERS_LENGTH_AT, true) >>> CLASS_SHIFT;
}

/**
 * The key length (-1: none) and headers length (0) of a frame with neither, which follow
 * each other in the frame header, as the float64 with the same eight bytes: one store
 * writes both.
 */
export const NO_KEY_NO_HEADERS: number = (() => {
  const view = new DataView(new ArrayBuffer(8));
  view.setInt32(0, -1, true);
  view.setUint32(HEADERS_LENGTH_AT - KEY_LENGTH_AT, 0, true);
  return view.getFloat64(0, true);
})();

/**
 * {@linkcode NO_KEY_NO_HEADERS} for a record of each shedding class: the class sits in
 * the top bits of the headers-length word.
 */
export const NO_KEY_NO_HEADERS_BY_CLASS: Float64Array = (() => {
  const out = new Float64Array(8);
  const view = new DataView(new ArrayBuffer(8));
  for (let cls = 0; cls < 8; cls++) {
    view.setInt32(0, -1, true);
    view.setUint32(HEADERS_LENGTH_AT - KEY_LENGTH_AT, (cls << CLASS_SHIFT) >>> 0, true);
    out[cls] = view.getFloat64(0, true);
  }
  return out;
})();

/**
 * Writes the header of a frame with no key and no headers at `at`: the hot path's
 * {@linkcode writeFrameHeader}, three stores. `cls`: the record's shedding class.
 */
export function writePlainFrameHeader(view: DataView, at: number, size: number, timestamp: number, cls = 0): void {
  view.setUint32(at + SIZE_AT, size, true);
  view.setFloat64(at + TIMESTAMP_AT, timestamp, true);
  view.setFloat64(at + KEY_LENGTH_AT, cls === 0 ? NO_KEY_NO_HEADERS : NO_KEY_NO_HEADERS_BY_CLASS[cls]!, true);
}

/** The timestamp of the frame at `at`. */
export function frameTimestamp(view: DataView, at: number): number {
  return view.getFloat64(at + TIMESTAMP_AT, true);
}

/** A record header as a name and value bytes. */
export type Header = readonly [string, Uint8Array];

const decoder = new TextDecoder();

/**
 * Reads the frame that starts at `start` in `bytes` (a copy the caller owns) as an
 * {@linkcode OutRecord} whose arrays are views into `bytes`.
 */
export function readFrame(
  bytes: Uint8Array,
  view: DataView,
  start: number,
  staticHeaders: ReadonlyArray<Header> | null,
): OutRecord {
  const size = view.getUint32(start + SIZE_AT, true);
  const timestamp = view.getFloat64(start + TIMESTAMP_AT, true);
  const keyLength = view.getInt32(start + KEY_LENGTH_AT, true);
  const headersLength = view.getUint32(start + HEADERS_LENGTH_AT, true) & HEADERS_LENGTH_MASK;
  let at = start + FRAME_HEADER_BYTES;
  let key: Uint8Array | null = null;
  if (keyLength >= 0) {
    key = bytes.subarray(at, at + keyLength);
    at += keyLength;
  }
  let headers = staticHeaders;
  if (headersLength > 0) {
    headers = decodeHeaders(bytes, view, at, staticHeaders);
    at += headersLength;
  }
  return { key, value: bytes.subarray(at, start + size), headers, timestamp, size };
}

/** Turns header values into the `[name, bytes]` pairs records carry. */
export function headerPairs(values: HeaderValues, encoder: TextEncoder): Header[] {
  const out: Header[] = [];
  for (const name of Object.keys(values)) {
    const value = values[name]!;
    out.push([name, typeof value === "string" ? encoder.encode(value) : value]);
  }
  return out;
}

/** A record's key and encoded headers, as its frame holds them. */
export interface RecordParts {
  key: Uint8Array | null;
  headers: Uint8Array | null;
  /** The key or headers function threw, or the key was neither a string nor bytes. */
  invalid: boolean;
}

/** Fills `parts` from the sink's `key` and `headers` functions (either may be null). Never throws. */
export function readParts<T>(
  parts: RecordParts,
  record: T,
  keyFn: ((record: T) => string | Uint8Array | null | undefined) | null,
  headersFn: ((record: T) => HeaderValues | null | undefined) | null,
  encoder: TextEncoder,
): void {
  parts.key = null;
  parts.headers = null;
  parts.invalid = false;
  try {
    if (keyFn !== null) {
      const k = keyFn(record);
      if (typeof k === "string") parts.key = encoder.encode(k);
      else if (k instanceof Uint8Array) parts.key = k;
      else if (k !== null && k !== undefined) parts.invalid = true;
    }
    if (!parts.invalid && headersFn !== null) {
      const h = headersFn(record);
      if (h !== null && h !== undefined) {
        const pairs = headerPairs(h, encoder);
        if (pairs.length > 0) parts.headers = encodeHeaders(pairs);
      }
    }
  } catch {
    parts.invalid = true;
  }
}

/** Encodes headers into the frame's header block layout. */
export function encodeHeaders(headers: ReadonlyArray<Header>): Uint8Array {
  const encoder = new TextEncoder();
  const names = headers.map(([name]) => encoder.encode(name));
  let length = 2;
  for (let i = 0; i < headers.length; i++) length += 2 + names[i]!.length + 4 + headers[i]![1].length;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint16(0, headers.length, true);
  let at = 2;
  for (let i = 0; i < headers.length; i++) {
    const name = names[i]!;
    const value = headers[i]![1];
    view.setUint16(at, name.length, true);
    out.set(name, at + 2);
    at += 2 + name.length;
    view.setUint32(at, value.length, true);
    out.set(value, at + 4);
    at += 4 + value.length;
  }
  return out;
}

function decodeHeaders(
  bytes: Uint8Array,
  view: DataView,
  start: number,
  staticHeaders: ReadonlyArray<Header> | null,
): Header[] {
  const count = view.getUint16(start, true);
  const out: Header[] = staticHeaders === null ? [] : staticHeaders.slice();
  let at = start + 2;
  for (let i = 0; i < count; i++) {
    const nameLength = view.getUint16(at, true);
    const name = decoder.decode(bytes.subarray(at + 2, at + 2 + nameLength));
    at += 2 + nameLength;
    const valueLength = view.getUint32(at, true);
    out.push([name, bytes.subarray(at + 4, at + 4 + valueLength)]);
    at += 4 + valueLength;
  }
  return out;
}

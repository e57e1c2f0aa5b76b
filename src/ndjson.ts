/**
 * `ndjson()`: a `TransformStream` that turns newline-delimited JSON (bytes or text, split
 * anywhere) into parsed values, one per line, for piping an upload into a sink:
 *
 * ```ts ignore
 * await request.body.pipeThrough(ndjson()).pipeTo(sink.writableStream());
 * ```
 *
 * A bad line never errors the stream. By default it comes out as an {@linkcode InvalidLine}
 * in place of the record, which a sink counts as dropped for the reason `invalid` (its
 * `toJSON()` throws, so JSON encoding refuses it): every line of an upload is then
 * accounted for in the sink's counters, and `onInvalid` sees each one to log it.
 *
 * @module
 */

import * as v from "valibot";
import { integer, parseOptions } from "./validate.ts";
import { systemScheduler } from "./runtime.ts";

/** Why a line could not be parsed. */
export type InvalidLineReason = "syntax" | "encoding" | "too_long";

/** Options of {@linkcode ndjson}. */
export interface NdjsonOptions {
  /**
   * Longest line accepted, in UTF-8 bytes without the line break. A longer line is not
   * held in memory: its bytes are skipped up to the next line break and it comes out as
   * an {@linkcode InvalidLine} with reason `"too_long"`. This bounds the memory the
   * stream holds, whatever the input.
   * @default 1048576 (1 MiB, the sink's default `maxRecordBytes`)
   */
  maxLineBytes?: number;
  /**
   * What becomes of a bad line: `"forward"` writes an {@linkcode InvalidLine} downstream
   * (a sink counts it as `invalid`); `"skip"` leaves it out (then only `onInvalid` sees it).
   * @default "forward"
   */
  invalid?: "forward" | "skip";
  /**
   * Called with every bad line, before it is forwarded or skipped: to log it, or count it
   * yourself. An exception thrown here errors the stream.
   */
  onInvalid?: (line: InvalidLine) => void;
  /**
   * Lines after which the stream pauses for one turn of the event loop (a `setTimeout(0)`)
   * before it goes on, so that a large upload piped into a sink does not hold the event
   * loop for long: the values of one chunk are otherwise passed down in a single run of
   * promise jobs, with no I/O in between, and a server's other requests wait. About a
   * millisecond of work at the default. `0`: never pause.
   * @default 256
   */
  yieldEvery?: number;
}

const PREVIEW_CHARS = 120;

/**
 * A line that was not valid JSON, not valid UTF-8, or longer than `maxLineBytes`. It
 * carries where and why, and a short preview of the line, not the line itself.
 *
 * `JSON.stringify()` throws on it, so a sink with `encode: "json"` (the default) or a
 * schema counts it as dropped for the reason `invalid`; a custom `encode` function
 * should throw for it too (test `record instanceof InvalidLine`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidLine, ndjson } from "./ndjson.ts";
 *
 * const out: unknown[] = [];
 * await ReadableStream.from(['{"a":1}\n', "{oops\n"]).pipeThrough(ndjson())
 *   .pipeTo(new WritableStream({ write: (v) => void out.push(v) }));
 * assert.deepEqual(out[0], { a: 1 });
 * assert.ok(out[1] instanceof InvalidLine);
 * assert.deepEqual([out[1].line, out[1].reason], [2, "syntax"]);
 * ```
 */
export class InvalidLine {
  /** The line's number in the stream, from 1 (blank lines count). */
  readonly line: number;
  /** Why it was refused. */
  readonly reason: InvalidLineReason;
  /** Its length in bytes, without the line break. */
  readonly bytes: number;
  /** Its first characters (at most 120), for logs. */
  readonly preview: string;
  /** The parse or decode error, if any. */
  readonly error: unknown;

  /** A line that could not be used; see the fields for each argument. */
  constructor(line: number, reason: InvalidLineReason, bytes: number, preview: string, error?: unknown) {
    this.line = line;
    this.reason = reason;
    this.bytes = bytes;
    this.preview = preview;
    this.error = error;
  }

  /** A one-line description, such as `line 7: syntax (Unexpected token …)`. */
  get message(): string {
    const detail = this.error instanceof Error ? this.error.message : this.reason === "too_long" ? `${this.bytes} bytes` : "";
    return `line ${this.line}: ${this.reason}${detail === "" ? "" : ` (${detail})`}`;
  }

  /** Throws: an invalid line has no JSON form, so JSON encoders refuse it. */
  toJSON(): never {
    throw new TypeError(`NDJSON ${this.message} cannot be encoded`);
  }
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
const DEFAULT_YIELD_EVERY = 256;

const nextTurn = () => new Promise<void>((resolve) => systemScheduler.later(0, resolve, { keepAlive: true }));

const OptionsSchema = v.strictObject(
  {
    maxLineBytes: v.optional(integer(1, 2 ** 31 - 1, "an integer from 1 to 2147483647")),
    invalid: v.optional(v.picklist(["forward", "skip"], '"forward" or "skip"')),
    onInvalid: v.optional(v.custom<(line: InvalidLine) => void>((x) => typeof x === "function", "a function")),
    yieldEvery: v.optional(integer(0, Number.MAX_SAFE_INTEGER, "an integer >= 0")),
  },
  "an options object with maxLineBytes, invalid, onInvalid, yieldEvery",
);

/**
 * Parses newline-delimited JSON. Input chunks are `Uint8Array` (UTF-8) or `string`, split
 * anywhere (inside a line, inside a multi-byte character); each output chunk is the value
 * of one line (`JSON.parse`), or an {@linkcode InvalidLine}.
 *
 * - Lines end with `\n` or `\r\n`; the last line needs no line break.
 * - Blank lines (empty or only whitespace) are skipped, not reported.
 * - A UTF-8 byte order mark at the very start is skipped.
 * - A bad line never errors the stream (see {@linkcode NdjsonOptions.invalid}); a chunk
 *   that is neither bytes nor a string does (a `TypeError`: a programmer error).
 * - Note that a line holding a JSON string (`"text"`) yields a JS string, which a sink
 *   writes as raw UTF-8 (without the quotes), like any string record.
 *
 * Throws `InvalidOptionError` for a bad option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSink, memoryTransport, ndjson } from "../mod.ts";
 *
 * const sink = createSink({ transport: memoryTransport() });
 * const upload = new Blob(['{"table":"orders","rows":1}\n{"tab', 'le":"users","rows":3}\nnot json\n']);
 * await upload.stream().pipeThrough(ndjson()).pipeTo(sink.writableStream());
 * const report = await sink.close();
 * assert.equal(report.delivered.records, 2);
 * assert.equal(report.dropped.invalid.records, 1);
 * ```
 */
export function ndjson(options: NdjsonOptions = {}): TransformStream<Uint8Array | string, unknown> {
  const o = parseOptions(OptionsSchema, options);
  const mode = o.invalid ?? "forward";
  const parser = new LineParser(o.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, mode === "forward", o.onInvalid ?? null, o.yieldEvery ?? DEFAULT_YIELD_EVERY);
  return new TransformStream<Uint8Array | string, unknown>({
    transform(chunk, controller) {
      return parser.push(toBytes(chunk), controller);
    },
    flush(controller) {
      parser.end(controller);
    },
  });
}

const encoder = new TextEncoder();

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return encoder.encode(chunk);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError(`ndjson(): expected Uint8Array or string chunks, received ${chunk === null ? "null" : typeof chunk}`);
}

type Out = TransformStreamDefaultController<unknown>;

class LineParser {
  readonly #max: number;
  readonly #forward: boolean;
  readonly #onInvalid: ((line: InvalidLine) => void) | null;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  /** Pieces of the current line not yet ended (copies, never views of input chunks). */
  #parts: Uint8Array[] = [];
  #partBytes = 0;
  /** The current line is over the limit: its bytes are counted, not kept. */
  #skipping = false;
  #skippedBytes = 0;
  #skippedPreview: Uint8Array | null = null;
  #skippedLast = 0;
  #line = 0;
  #started = false;
  readonly #yieldEvery: number;
  #sinceYield = 0;

  constructor(max: number, forward: boolean, onInvalid: ((line: InvalidLine) => void) | null, yieldEvery: number) {
    this.#max = max;
    this.#forward = forward;
    this.#onInvalid = onInvalid;
    this.#yieldEvery = yieldEvery;
  }

  /** Parses the lines of a chunk; returns a promise when it pauses to let the event loop turn. */
  push(bytes: Uint8Array, out: Out): Promise<void> | undefined {
    let start = 0;
    if (!this.#started && bytes.length > 0) {
      this.#started = true;
      if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    }
    return this.#lines(bytes, start, out);
  }

  #lines(bytes: Uint8Array, start: number, out: Out): Promise<void> | undefined {
    for (;;) {
      const nl = bytes.indexOf(NEWLINE, start);
      if (nl < 0) {
        this.#hold(bytes.subarray(start));
        return undefined;
      }
      this.#endLine(bytes.subarray(start, nl), out);
      start = nl + 1;
      if (this.#yieldEvery > 0 && ++this.#sinceYield >= this.#yieldEvery) {
        this.#sinceYield = 0;
        const from = start;
        return nextTurn().then(() => this.#lines(bytes, from, out));
      }
    }
  }

  end(out: Out): void {
    if (this.#partBytes > 0 || this.#skipping) this.#endLine(new Uint8Array(0), out);
  }

  /** Keeps the start of a line that is not ended yet, or counts it if it is too long. */
  #hold(piece: Uint8Array): void {
    if (piece.length === 0) return;
    if (this.#skipping) {
      this.#skippedBytes += piece.length;
      this.#skippedLast = piece[piece.length - 1]!;
      return;
    }
    // One byte of slack: the line may still end with "\r\n", and "\r" is not content.
    if (this.#partBytes + piece.length > this.#max + 1) {
      this.#startSkipping(piece);
      return;
    }
    this.#parts.push(piece.slice());
    this.#partBytes += piece.length;
  }

  #startSkipping(piece: Uint8Array): void {
    const head = new Uint8Array(Math.min(PREVIEW_CHARS * 4, this.#partBytes + piece.length));
    let at = 0;
    for (const part of [...this.#parts, piece]) {
      if (at >= head.length) break;
      const n = Math.min(part.length, head.length - at);
      head.set(part.subarray(0, n), at);
      at += n;
    }
    this.#skippedPreview = head;
    this.#skippedBytes = this.#partBytes + piece.length;
    this.#skippedLast = piece[piece.length - 1]!;
    this.#skipping = true;
    this.#parts = [];
    this.#partBytes = 0;
  }

  #endLine(tail: Uint8Array, out: Out): void {
    this.#line++;
    if (this.#skipping) {
      let bytes = this.#skippedBytes + tail.length;
      if ((tail.length > 0 ? tail[tail.length - 1] : this.#skippedLast) === CR) bytes--;
      const preview = this.#skippedPreview ?? tail;
      this.#skipping = false;
      this.#skippedBytes = 0;
      this.#skippedPreview = null;
      this.#invalid(new InvalidLine(this.#line, "too_long", bytes, previewOf(preview)), out);
      return;
    }
    let line: Uint8Array;
    if (this.#parts.length === 0) {
      line = tail;
    } else {
      line = new Uint8Array(this.#partBytes + tail.length);
      let at = 0;
      for (const part of this.#parts) {
        line.set(part, at);
        at += part.length;
      }
      line.set(tail, at);
      this.#parts = [];
      this.#partBytes = 0;
    }
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > this.#max) {
      this.#invalid(new InvalidLine(this.#line, "too_long", line.length, previewOf(line)), out);
      return;
    }
    if (isBlank(line)) return;
    let text: string;
    try {
      text = this.#decoder.decode(line);
    } catch (error) {
      this.#invalid(new InvalidLine(this.#line, "encoding", line.length, previewOf(line), error), out);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.#invalid(new InvalidLine(this.#line, "syntax", line.length, text.slice(0, PREVIEW_CHARS), error), out);
      return;
    }
    out.enqueue(value);
  }

  #invalid(line: InvalidLine, out: Out): void {
    this.#onInvalid?.(line);
    if (this.#forward) out.enqueue(line);
  }
}

const lenient = new TextDecoder("utf-8", { ignoreBOM: true });

function previewOf(bytes: Uint8Array): string {
  return lenient.decode(bytes.subarray(0, PREVIEW_CHARS * 4)).slice(0, PREVIEW_CHARS);
}

/** True for a line of only JSON whitespace (space, tab, CR, LF) or nothing. */
function isBlank(line: Uint8Array): boolean {
  for (let i = 0; i < line.length; i++) {
    const b = line[i];
    if (b !== 0x20 && b !== 0x09 && b !== CR && b !== NEWLINE) return false;
  }
  return true;
}

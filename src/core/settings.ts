/**
 * What the core runs by: the sink's options once validated and completed
 * ({@linkcode CoreSettings}), and the types they are made of. `src/options.ts` validates
 * the user's options into these.
 *
 * @module
 */

import type { ShedSettings } from "./shedding.ts";

/**
 * A schema that validates a record before it is encoded as JSON: a valibot schema, or any
 * other schema that implements Standard Schema v1 with synchronous validation.
 */
export interface RecordSchema {
  /** The Standard Schema v1 interface: `validate` must answer synchronously. */
  readonly "~standard": {
    readonly version: 1;
    readonly validate: (value: unknown) => unknown;
  };
}

/** How records that are neither `Uint8Array` nor `string` become bytes. */
export type Encode<T> = "json" | ((record: T) => Uint8Array | string) | RecordSchema;

/** Header values: UTF-8 strings or raw bytes. */
export type HeaderValues = Readonly<Record<string, string | Uint8Array>>;

/** What to do with a record that does not fit. */
export type WhenFull = "drop-newest" | "drop-oldest";

/** Writes a string as UTF-8 at a byte offset of the buffer it was made for (a Node `Buffer`). */
export interface Utf8Target {
  /** Writes `text` at `offset`, at most `length` bytes and never part of a character; returns the bytes written. */
  utf8Write(text: string, offset: number, length: number): number;
}

/** The sink's options with every default filled in: see `SinkOptions` for each one. */
export interface CoreSettings<T> {
  readonly capacityBytes: number;
  readonly whenFull: WhenFull;
  readonly maxRecords: number;
  readonly maxBatchBytes: number;
  readonly lingerMs: number;
  readonly maxInFlight: number;
  readonly maxRecordBytes: number;
  readonly maxAgeMs: number;
  readonly encode: Encode<T>;
  readonly key: ((record: T) => string | Uint8Array | null | undefined) | null;
  readonly headers: HeaderValues | ((record: T) => HeaderValues | null | undefined) | null;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Graded shedding, or null for none. */
  readonly shedding: ShedSettings<T> | null;
}

/** How this engine writes text fastest (see `src/runtime.ts`). */
export interface EngineHints {
  /** A target that encodes strings in place into the ring's bytes, or null for `encodeInto`. */
  readonly utf8For: (bytes: Uint8Array) => Utf8Target | null;
}

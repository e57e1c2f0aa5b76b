/**
 * The sink's options: their types with defaults, the one object the defaults live in,
 * and their validation (once, at construction) into a resolved, fully-populated form.
 *
 * @module
 */

import * as v from "valibot";
import type { Transport } from "./core/contract.ts";
import { InvalidOptionError } from "./core/errors.ts";
import type { Scheduler } from "./core/scheduler.ts";
import type { CoreSettings, Encode, HeaderValues, RecordSchema, WhenFull } from "./core/settings.ts";
import { MAX_FRAME_BYTES } from "./core/frame.ts";
import { resolveShedding, type SheddingOptions } from "./shedding.ts";
import { integer, parseOptions } from "./validate.ts";
import { localModules } from "./worker/locate.ts";
import { type WorkerPlan, workerSpec } from "./worker/spec.ts";

export type { Encode, HeaderValues, RecordSchema, WhenFull } from "./core/settings.ts";

/** How records are grouped into the batches the transport sends. */
export interface BatchOptions {
  /**
   * Most records in one batch.
   * @default 1000
   */
  maxRecords?: number;
  /**
   * Most bytes (frames, see `capacityBytes`) in one batch.
   * @default 1048576 (1 MiB)
   */
  maxBytes?: number;
  /**
   * How long the oldest pending record may wait for a batch to fill before the batch is
   * sent anyway, in milliseconds.
   * @default 20
   */
  lingerMs?: number;
  /**
   * Most batches handed to the transport at once.
   * @default 4
   */
  maxInFlight?: number;
}

/** How the flusher waits before sending again after a retriable failure. */
export interface RetryOptions {
  /**
   * The first delay's upper bound in milliseconds. Each delay is drawn uniformly from
   * zero to `min(maxDelayMs, initialDelayMs * 2 ** attempt)` ("full jitter").
   * @default 50
   */
  initialDelayMs?: number;
  /**
   * The largest delay's upper bound in milliseconds.
   * @default 2000
   */
  maxDelayMs?: number;
}

/** Where the flusher runs: see `SinkOptions.flusher`. */
export type FlusherMode = "thread" | "worker";

/** Options of {@linkcode createSink}. */
export interface SinkOptions<T = unknown> {
  /** Where batches go: `memoryTransport()`, `confluentTransport()`, … Required. */
  transport: Transport;
  /**
   * Bytes held for records, pending and in flight together. Each record costs its key,
   * headers and value plus 20 bytes of framing.
   * @default 5242880 (5 MiB)
   */
  capacityBytes?: number;
  /**
   * When a record does not fit: refuse it (`"drop-newest"`) or evict the oldest pending
   * records to make room (`"drop-oldest"`). Either way the drop is counted as
   * `buffer_full`.
   * @default "drop-newest"
   */
  whenFull?: WhenFull;
  /** Batching. */
  batch?: BatchOptions;
  /**
   * Largest record (framing included) accepted, in bytes; larger ones are dropped as
   * `oversize`. At most `capacityBytes`.
   * @default 1048576 (1 MiB), or `capacityBytes` when smaller
   */
  maxRecordBytes?: number;
  /**
   * Age in milliseconds after which a record not yet delivered is dropped as `expired`.
   * @default 120000
   */
  maxAgeMs?: number;
  /**
   * How records other than `Uint8Array` and `string` (which are written as they are)
   * become bytes: `"json"`, a function, or a schema to validate with before JSON.
   * @default "json"
   */
  encode?: Encode<T>;
  /** The partition key of a record; `null` or `undefined` for none. */
  key?: (record: T) => string | Uint8Array | null | undefined;
  /** Headers added to every record, or a function giving a record's own headers. */
  headers?: HeaderValues | ((record: T) => HeaderValues | null | undefined);
  /** Backoff after retriable transport failures. */
  retry?: RetryOptions;
  /**
   * Graded shedding: records of less important classes give way first as the buffer
   * fills, each counted as `shed` by class. See {@linkcode SheddingOptions}.
   * @default none: every record is treated alike
   */
  shedding?: SheddingOptions<T>;
  /**
   * A buffer to hold the ring in, of exactly `capacityBytes` bytes (for example a
   * `SharedArrayBuffer`). By default the sink allocates an `ArrayBuffer`.
   */
  buffer?: ArrayBuffer | SharedArrayBuffer;
  /**
   * Where the flusher and the transport run: on the application's thread (`"thread"`),
   * or in a worker thread (`"worker"`), where the application's thread only encodes and
   * appends records to a ring in a `SharedArrayBuffer` and wakes the worker when it
   * sleeps. Worker mode needs a transport that can run in a worker (`memoryTransport`,
   * `kafkaTransport`, which uses `@platformatic/kafka` there, `platformaticTransport`;
   * not `confluentTransport`) and, on Node, Node 22 or later. See docs/worker.md.
   *
   * When not given, the transport chooses (`Transport.preferredFlusher`): `kafkaTransport`
   * and `platformaticTransport` run in a worker, where the application's thread pays a
   * fifth or less of what it pays with them in thread mode (README, Performance); their
   * hooks (`logger`, `onError`, a SASL token provider) are called on the application's
   * thread. They run on the thread when `@platformatic/kafka` (which the worker uses) is
   * not installed or `use: "confluent"` is set, as every other transport does; and when
   * the sink is given a `buffer` or its modules were loaded over https (JSR) rather than
   * from files, where the sink says why once (the transport's `logger`, else
   * `console.warn`). `stats().flusher` says which it is.
   * @default the transport's preference, else "thread"
   */
  flusher?: FlusherMode;
  /**
   * Where the sink and its transport read the time and start timers. Tests pass one they
   * drive by hand.
   * @default the runtime's own clock and timers (`systemScheduler`)
   */
  scheduler?: Scheduler;
}

/**
 * Every default, in one place.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSink, DEFAULTS, memoryTransport } from "../mod.ts";
 *
 * const sink = createSink({ transport: memoryTransport() });
 * assert.equal(sink.stats().capacityBytes, DEFAULTS.capacityBytes); // 5 MiB
 * await sink.close();
 * ```
 */
export const DEFAULTS = {
  capacityBytes: 5 * 1024 * 1024,
  whenFull: "drop-newest",
  batch: { maxRecords: 1000, maxBytes: 1024 * 1024, lingerMs: 20, maxInFlight: 4 },
  maxRecordBytes: 1024 * 1024,
  maxAgeMs: 120_000,
  encode: "json",
  retry: { initialDelayMs: 50, maxDelayMs: 2000 },
} as const satisfies Partial<SinkOptions>;

/** Options with every default filled in. */
export interface ResolvedOptions<T> extends CoreSettings<T> {
  readonly transport: Transport;
  readonly buffer: ArrayBuffer | SharedArrayBuffer | null;
  readonly scheduler: Scheduler | null;
  readonly flusher: FlusherMode;
  /** Worker mode: how the worker makes the transport (null in thread mode). */
  readonly plan: WorkerPlan | null;
}

const MAX_CAPACITY = 2 ** 31 - 1;

const isTransport = (x: unknown): x is Transport =>
  typeof x === "object" && x !== null &&
  typeof (x as Transport).send === "function" &&
  typeof (x as Transport).state === "function" &&
  typeof (x as Transport).close === "function";

const isSchema = (x: unknown): x is RecordSchema =>
  typeof x === "object" && x !== null &&
  typeof (x as RecordSchema)["~standard"]?.validate === "function";

const isBuffer = (x: unknown): x is ArrayBuffer | SharedArrayBuffer =>
  x instanceof ArrayBuffer ||
  (typeof SharedArrayBuffer === "function" && x instanceof SharedArrayBuffer);

const isScheduler = (x: unknown): x is Scheduler =>
  typeof x === "object" && x !== null &&
  typeof (x as Scheduler).now === "function" &&
  typeof (x as Scheduler).later === "function" &&
  typeof (x as Scheduler).every === "function";

const OptionsSchema = v.strictObject(
  {
    transport: v.custom<Transport>(isTransport, "a Transport (an object with send, state and close)"),
    capacityBytes: v.optional(integer(256, MAX_CAPACITY, `an integer from 256 to ${MAX_CAPACITY}`)),
    whenFull: v.optional(v.picklist(["drop-newest", "drop-oldest"], '"drop-newest" or "drop-oldest"')),
    batch: v.optional(
      v.strictObject(
        {
          maxRecords: v.optional(integer(1, 1_000_000, "an integer from 1 to 1000000")),
          maxBytes: v.optional(integer(1, MAX_CAPACITY, "a positive integer")),
          lingerMs: v.optional(integer(0, 60_000, "an integer from 0 to 60000")),
          maxInFlight: v.optional(integer(1, 64, "an integer from 1 to 64")),
        },
        "an object with maxRecords, maxBytes, lingerMs, maxInFlight",
      ),
    ),
    maxRecordBytes: v.optional(integer(21, MAX_CAPACITY, "an integer above 20 (the framing)")),
    maxAgeMs: v.optional(integer(1, 2 ** 31 - 1, "a positive integer")),
    encode: v.optional(
      v.union(
        [
          v.literal("json"),
          v.custom<(record: unknown) => Uint8Array | string>((x) => typeof x === "function"),
          v.custom<RecordSchema>(isSchema),
        ],
        '"json", a function, or a schema (valibot or any Standard Schema)',
      ),
    ),
    key: v.optional(v.custom<(record: unknown) => unknown>((x) => typeof x === "function", "a function")),
    headers: v.optional(
      v.union(
        [
          v.custom<(record: unknown) => unknown>((x) => typeof x === "function"),
          v.record(
            v.string(),
            v.union([v.string(), v.instance(Uint8Array)]),
          ),
        ],
        "an object of string or Uint8Array values, or a function",
      ),
    ),
    retry: v.optional(
      v.strictObject(
        {
          initialDelayMs: v.optional(integer(1, 600_000, "an integer from 1 to 600000")),
          maxDelayMs: v.optional(integer(1, 600_000, "an integer from 1 to 600000")),
        },
        "an object with initialDelayMs, maxDelayMs",
      ),
    ),
    shedding: v.optional(v.custom<SheddingOptions<unknown>>((x) => typeof x === "object" && x !== null, "an object with classOf or field, and optionally names and levels")),
    buffer: v.optional(v.custom<ArrayBuffer | SharedArrayBuffer>(isBuffer, "an ArrayBuffer or SharedArrayBuffer")),
    scheduler: v.optional(v.custom<Scheduler>(isScheduler, "a Scheduler (an object with now, later and every)")),
    flusher: v.optional(v.picklist(["thread", "worker"], '"thread" or "worker"')),
  },
  "an options object",
);

/**
 * Validates options and fills in defaults. Throws {@linkcode InvalidOptionError} naming
 * the first bad option, the value given and what was expected.
 */
export function resolveOptions<T>(options: SinkOptions<T>): ResolvedOptions<T> {
  parseOptions(OptionsSchema, options);
  const o = options;
  const capacityBytes = o.capacityBytes ?? DEFAULTS.capacityBytes;
  const maxBatchBytes = o.batch?.maxBytes ?? Math.min(DEFAULTS.batch.maxBytes, capacityBytes);
  const maxRecordBytes = o.maxRecordBytes ?? Math.min(DEFAULTS.maxRecordBytes, capacityBytes, maxBatchBytes);
  const initialDelayMs = o.retry?.initialDelayMs ?? DEFAULTS.retry.initialDelayMs;
  const maxDelayMs = o.retry?.maxDelayMs ?? Math.max(DEFAULTS.retry.maxDelayMs, initialDelayMs);
  if (maxBatchBytes > capacityBytes) {
    throw new InvalidOptionError("INVALID_OPTION", "batch.maxBytes", maxBatchBytes, `at most capacityBytes (${capacityBytes})`);
  }
  if (maxRecordBytes > capacityBytes) {
    throw new InvalidOptionError("INVALID_OPTION", "maxRecordBytes", maxRecordBytes, `at most capacityBytes (${capacityBytes})`);
  }
  if (maxRecordBytes > maxBatchBytes) {
    throw new InvalidOptionError("INVALID_OPTION", "maxRecordBytes", maxRecordBytes, `at most batch.maxBytes (${maxBatchBytes}), so that every record fits in a batch`);
  }
  if (maxDelayMs < initialDelayMs) {
    throw new InvalidOptionError("INVALID_OPTION", "retry.maxDelayMs", maxDelayMs, `at least retry.initialDelayMs (${initialDelayMs})`);
  }
  const shedding = o.shedding === undefined ? null : resolveShedding(o.shedding);
  if (shedding !== null && maxRecordBytes > MAX_FRAME_BYTES) {
    throw new InvalidOptionError("INVALID_OPTION", "maxRecordBytes", maxRecordBytes, `at most ${MAX_FRAME_BYTES} with shedding`);
  }
  if (o.flusher === "worker" && o.buffer !== undefined) {
    throw new InvalidOptionError("INVALID_OPTION", "buffer", o.buffer, 'no buffer with flusher: "worker" (the sink shares its own with the worker)');
  }
  if (o.buffer !== undefined && o.buffer.byteLength !== capacityBytes) {
    throw new InvalidOptionError("INVALID_OPTION", "buffer", o.buffer, `a buffer of exactly capacityBytes (${capacityBytes}) bytes, not ${o.buffer.byteLength}`);
  }
  return {
    transport: o.transport,
    capacityBytes,
    whenFull: o.whenFull ?? DEFAULTS.whenFull,
    maxRecords: o.batch?.maxRecords ?? DEFAULTS.batch.maxRecords,
    maxBatchBytes,
    lingerMs: o.batch?.lingerMs ?? DEFAULTS.batch.lingerMs,
    maxInFlight: o.batch?.maxInFlight ?? DEFAULTS.batch.maxInFlight,
    maxRecordBytes,
    maxAgeMs: o.maxAgeMs ?? DEFAULTS.maxAgeMs,
    encode: o.encode ?? DEFAULTS.encode,
    key: o.key ?? null,
    headers: o.headers ?? null,
    initialDelayMs,
    maxDelayMs,
    shedding,
    buffer: o.buffer ?? null,
    scheduler: o.scheduler ?? null,
    ...placement(o),
  };
}

/** How long `close()` keeps flushing by default, in milliseconds (see `CloseOptions`). */
const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

const CloseSchema = v.strictObject(
  { timeoutMs: v.optional(v.pipe(v.number(), v.finite(), v.minValue(0))) },
  "an object with timeoutMs",
);
const FlushSchema = v.strictObject(
  { timeoutMs: v.optional(v.pipe(v.number(), v.check((n) => !Number.isNaN(n)), v.minValue(0))) },
  "an object with timeoutMs",
);

/** Validates `close()`'s options: returns `timeoutMs`, or throws {@linkcode InvalidOptionError}. */
export function closeTimeout(options: unknown): number {
  const o = parseOptions(CloseSchema, options, { code: "INVALID_ARGUMENT", prefix: "close", whole: { timeoutMs: "a finite number >= 0" } });
  return o.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
}

/** Validates `flush()`'s options: returns `timeoutMs`, or throws {@linkcode InvalidOptionError}. */
export function flushTimeout(options: unknown): number {
  const o = parseOptions(FlushSchema, options, { code: "INVALID_ARGUMENT", prefix: "flush", whole: { timeoutMs: "a number >= 0" } });
  return o.timeoutMs ?? Infinity;
}

/**
 * Where the flusher runs, and the transport's spec for a worker. Given `flusher:
 * "worker"`, a transport or option that cannot run in a worker throws
 * `InvalidOptionError` naming it. Not given, the transport's preference when it can be
 * honoured; when it cannot (a `buffer`, an option that cannot cross to a worker, the
 * sink's modules loaded from a URL), the sink runs on the thread and says why once
 * (through the transport's `logger`, else `console.warn`).
 */
function placement<T>(o: SinkOptions<T>): { flusher: FlusherMode; plan: WorkerPlan | null } {
  if (o.flusher === "worker") return { flusher: "worker", plan: workerSpec(o.transport) };
  if (o.flusher === "thread" || o.transport.preferredFlusher !== "worker") return { flusher: "thread", plan: null };
  let why: string;
  if (o.buffer !== undefined) why = "a buffer was given (the worker shares the sink's own)";
  else if (!localModules()) why = "the sink's modules were not loaded from local files, which a worker needs";
  else {
    try {
      return { flusher: "worker", plan: workerSpec(o.transport) };
    } catch (error) {
      if (!(error instanceof InvalidOptionError)) throw error;
      why = error.message;
    }
  }
  const message = `shedsink: the flusher runs on the application's thread, not in a worker as ${o.transport.name} prefers: ${why}. Set flusher: "thread" to choose it and silence this.`;
  if (o.transport.log?.("warn", message) !== true) console.warn(message);
  return { flusher: "thread", plan: null };
}

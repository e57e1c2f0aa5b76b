/**
 * OpenTelemetry exporters (`shedsink/otel/exporters`): a `SpanExporter` and a
 * `LogRecordExporter` for the OpenTelemetry JS SDK that encode what they are given as
 * OTLP (protobuf by default, or JSON) with `@opentelemetry/otlp-transformer` and write it
 * into a sink of their own, which batches it to Kafka, bounds it in bytes and sheds the
 * least important records first.
 *
 * One Kafka message holds one `ExportTraceServiceRequest` / `ExportLogsServiceRequest`,
 * which is what the OpenTelemetry Collector's Kafka receiver reads (its `otlp_proto` and
 * `otlp_json` encodings). Put them behind the SDK's `SimpleSpanProcessor` /
 * `SimpleLogRecordProcessor`: the sink is the queue, so a batch processor in front would
 * only add a second one, counted in items and blind to priorities.
 *
 * A module of its own, apart from `shedsink/otel` (the metrics bridge, which imports
 * nothing): this one imports `@opentelemetry/otlp-transformer` (an optional peer
 * dependency) when it loads, so that `export()` is synchronous from the first call.
 *
 * @module
 */

import { JsonLogsSerializer, JsonTraceSerializer, ProtobufLogsSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import * as v from "valibot";
import { InvalidOptionError } from "../core/errors.ts";
import type { HeaderValues, SinkOptions } from "../options.ts";
import { DEFAULT_SHED_LEVELS, type ShedLevel } from "../shedding.ts";
import { createSink, type Sink } from "../sink.ts";
import { parseOptions } from "../validate.ts";

/**
 * A span as the exporter sees it: the fields of the SDK's `ReadableSpan` (from
 * `@opentelemetry/sdk-trace`) that a `classOf` or `key` may read. The SDK's spans are
 * such spans.
 */
export interface ExportedSpan {
  /** The span's name. */
  readonly name: string;
  /** `SpanKind`: INTERNAL 0, SERVER 1, CLIENT 2, PRODUCER 3, CONSUMER 4. */
  readonly kind: number;
  /** `SpanStatusCode` (UNSET 0, OK 1, ERROR 2) and message. */
  readonly status: { readonly code: number; readonly message?: string };
  /** The span's attributes. */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** The parent's context; undefined for a root span. */
  readonly parentSpanContext?: { readonly traceId: string; readonly spanId: string };
  /** The span's own trace and span ids (hex). */
  spanContext(): { readonly traceId: string; readonly spanId: string };
}

/**
 * A log record as the exporter sees it: the fields of the SDK's `ReadableLogRecord`
 * (from `@opentelemetry/sdk-logs`) that a `classOf` or `key` may read.
 */
export interface ExportedLogRecord {
  /** `SeverityNumber`: TRACE 1–4, DEBUG 5–8, INFO 9–12, WARN 13–16, ERROR 17–20, FATAL 21–24. */
  readonly severityNumber?: number;
  /** The severity as text, such as `"ERROR"`. */
  readonly severityText?: string;
  /** The body. */
  readonly body?: unknown;
  /** The record's attributes. */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** The context of the span the record was emitted in, if any. */
  readonly spanContext?: { readonly traceId: string; readonly spanId: string };
}

/**
 * What an exporter hands the SDK's result callback: the SDK's `ExportResult` (from
 * `@opentelemetry/core`), whose `code` 0 is `ExportResultCode.SUCCESS` and 1 is `FAILED`.
 */
export interface ExportOutcome {
  /** 0 (SUCCESS): the sink kept the message; 1 (FAILED): the sink dropped it. */
  readonly code: 0 | 1;
  /** With FAILED: why. */
  readonly error?: Error;
}

/** How the OTLP requests are encoded: see {@linkcode OtlpExporterOptions.format}. */
export type OtlpFormat = "protobuf" | "json";

/** What one Kafka message holds: see {@linkcode OtlpExporterOptions.messagePer}. */
export type OtlpMessagePer = "export" | "record";

/**
 * Options of {@linkcode ShedsinkSpanExporter} and {@linkcode ShedsinkLogRecordExporter}:
 * the sink's own options (`transport`, `capacityBytes`, `whenFull`, `batch`, `maxAgeMs`,
 * `flusher`, …, as for `createSink`), except `encode`, `shedding` and `key`, which the
 * exporter sets, and these.
 */
export interface OtlpExporterOptions<Item> extends Omit<SinkOptions<Uint8Array>, "encode" | "key" | "shedding" | "headers"> {
  /**
   * `"protobuf"`: each message is a binary `Export…ServiceRequest` (the Collector's Kafka
   * receiver encoding `otlp_proto`); `"json"`: its OTLP/JSON form (`otlp_json`).
   * @default "protobuf"
   */
  format?: OtlpFormat;
  /**
   * `"export"`: one message per `export()` call, holding every item of the call (behind
   * a simple processor, one span or log record); its class is the most important of
   * theirs. `"record"`: one message per span or log record, each with its own class,
   * whatever processor is in front.
   * @default "export"
   */
  messagePer?: OtlpMessagePer;
  /**
   * The class of an item for graded shedding, 0 (the most important, never shed) to
   * `levels.length - 1`. A class out of range, or a throw, drops the message as
   * `invalid`.
   * @default {@linkcode spanClass} / {@linkcode logRecordClass} (classes 0 to 3)
   */
  classOf?: (item: Item) => number;
  /**
   * The fill levels at which each class starts and finishes giving way, as for the
   * sink's `shedding.levels`.
   * @default DEFAULT_SHED_LEVELS: class 0 never; 1 from 85% to 100%; 2 from 70% to 90%; 3 from 50% to 75%
   */
  levels?: ReadonlyArray<ShedLevel>;
  /**
   * The partition key of a message, from the items it holds; none by default. For spans,
   * `(spans) => spans[0]?.spanContext().traceId` keeps each trace on one partition.
   */
  key?: (items: ReadonlyArray<Item>) => string | Uint8Array | null | undefined;
  /** Headers added to every message. */
  headers?: HeaderValues;
  /**
   * How long `forceFlush()` waits for the records accepted so far to be settled, in
   * milliseconds; it resolves either way (what was not settled stays buffered).
   * @default 30000 (the SDK's own forceFlush timeout)
   */
  forceFlushTimeoutMs?: number;
  /**
   * How long `shutdown()` lets the sink's `close()` flush, in milliseconds; what is
   * left is dropped as `shutdown`.
   * @default 5000
   */
  shutdownTimeoutMs?: number;
}

type KeyOf<Item> = (items: ReadonlyArray<Item>) => string | Uint8Array | null | undefined;

/** The `ISerializer` of `@opentelemetry/otlp-transformer`, the half used here. */
export interface OtlpSerializer<Item> {
  /** Encodes one export request holding `items`; undefined if it cannot. */
  serializeRequest(items: Item[]): Uint8Array | undefined;
}

const SUCCESS: ExportOutcome = Object.freeze({ code: 0 });
const EMPTY = new Uint8Array(0);
const NO_CLASS = -1;

/** The error a FAILED result carries: the sink dropped the message (its `stats().dropped` tells why). */
export class ExportDroppedError extends Error {
  /** An error saying `message`. */
  constructor(message: string) {
    super(message);
    this.name = "ExportDroppedError";
  }
}

const fraction = (what: string) => v.pipe(v.number(what), v.minValue(0, what), v.maxValue(1, what));
const ms = (what: string) => v.pipe(v.number(what), v.integer(what), v.minValue(0, what), v.maxValue(2 ** 31 - 1, what));

// The exporter's own options; the rest is the sink's, which createSink validates.
const ExporterSchema = v.looseObject(
  {
    format: v.optional(v.picklist(["protobuf", "json"], '"protobuf" or "json"')),
    messagePer: v.optional(v.picklist(["export", "record"], '"export" or "record"')),
    classOf: v.optional(v.custom<(item: unknown) => number>((x) => typeof x === "function", "a function")),
    levels: v.optional(
      v.array(
        v.strictObject({ start: fraction("a fraction from 0 to 1"), full: fraction("a fraction from 0 to 1") }, "an object with start and full"),
        "an array of levels",
      ),
    ),
    key: v.optional(v.custom<(items: unknown) => unknown>((x) => typeof x === "function", "a function")),
    headers: v.optional(v.record(v.string(), v.union([v.string(), v.instance(Uint8Array)]), "an object of string or Uint8Array values")),
    forceFlushTimeoutMs: v.optional(ms("an integer of milliseconds from 0")),
    shutdownTimeoutMs: v.optional(ms("an integer of milliseconds from 0")),
  },
  "an options object",
);

const SET_BY_THE_EXPORTER = ["encode", "shedding"] as const;

/**
 * What both exporters are: encoding, classes, the sink and its mapping of `forceFlush`
 * and `shutdown`. Use {@linkcode ShedsinkSpanExporter} or
 * {@linkcode ShedsinkLogRecordExporter}.
 */
export class OtlpExporter<Item> {
  /** The sink the exporter writes into: for `stats()`, `metrics()`, `registerSinkMetrics`. */
  readonly sink: Sink<Uint8Array>;
  readonly #serializer: OtlpSerializer<Item>;
  readonly #classOf: (item: Item) => number;
  readonly #perRecord: boolean;
  readonly #keyOf: KeyOf<Item> | null;
  readonly #forceFlushTimeoutMs: number;
  readonly #shutdownTimeoutMs: number;
  readonly #one: Item[] = [];
  readonly #failed: ExportOutcome;
  /** The class and key of the message being written, read back by the sink's `classOf` and `key` during `emit()`. */
  #class = NO_CLASS;
  #key: string | Uint8Array | null | undefined = null;

  /** Makes the exporter and its sink, encoding with `serializers[format]`; `what` names it in errors. */
  constructor(options: OtlpExporterOptions<Item>, serializers: Readonly<Record<OtlpFormat, OtlpSerializer<Item>>>, defaultClassOf: (item: Item) => number, what: string) {
    const o = parseOptions(ExporterSchema, options);
    const given = options as unknown as Record<string, unknown>;
    for (const name of SET_BY_THE_EXPORTER) {
      if (given[name] !== undefined) {
        throw new InvalidOptionError("INVALID_OPTION", name, given[name], `no such option of the ${what} (it writes OTLP bytes, classed by classOf and levels)`);
      }
    }
    const {
      format: _format,
      messagePer: _messagePer,
      classOf: _classOf,
      levels: _levels,
      key: _key,
      forceFlushTimeoutMs: _flushMs,
      shutdownTimeoutMs: _closeMs,
      ...sinkOptions
    } = options;
    const levels = o.levels ?? DEFAULT_SHED_LEVELS;
    this.#serializer = serializers[o.format ?? "protobuf"];
    this.#perRecord = o.messagePer === "record";
    if (o.classOf !== undefined) {
      this.#classOf = o.classOf as (item: Item) => number;
    } else {
      // The default classes are 0 to 3; with fewer levels, the last class takes the rest.
      const last = Math.max(0, levels.length - 1);
      this.#classOf = last >= 3 ? defaultClassOf : (item) => Math.min(defaultClassOf(item), last);
    }
    this.#keyOf = (o.key as KeyOf<Item> | undefined) ?? null;
    this.#forceFlushTimeoutMs = o.forceFlushTimeoutMs ?? 30_000;
    this.#shutdownTimeoutMs = o.shutdownTimeoutMs ?? 5000;
    this.#failed = Object.freeze({ code: 1, error: new ExportDroppedError(`shedsink ${what}: the sink dropped the message (see sink.stats().dropped)`) });
    this.sink = createSink<Uint8Array>({
      ...sinkOptions,
      shedding: { classOf: () => this.#class, levels },
      ...(this.#keyOf === null ? {} : { key: () => this.#key }),
    });
  }

  /**
   * Encodes `items` and writes them into the sink (one message, or one per item with
   * `messagePer: "record"`), then calls `resultCallback` at once: SUCCESS if the sink
   * kept every message, FAILED if it dropped one (counted in its `stats()` by reason).
   * An empty `items` writes nothing (SUCCESS).
   * Never throws, never waits.
   */
  export(items: Item[], resultCallback: (result: ExportOutcome) => void): void {
    let kept = true;
    if (items.length === 0) {
      // nothing to write: no empty request goes to Kafka
    } else if (!this.#perRecord || items.length === 1) {
      kept = this.#write(items);
    } else {
      const one = this.#one;
      for (let i = 0; i < items.length; i++) {
        one[0] = items[i]!;
        if (!this.#write(one)) kept = false;
      }
      one.length = 0;
    }
    resultCallback(kept ? SUCCESS : this.#failed);
  }

  /** Waits until what the sink accepted so far is settled (`sink.flush()`), for at most `forceFlushTimeoutMs`. */
  async forceFlush(): Promise<void> {
    await this.sink.flush({ timeoutMs: this.#forceFlushTimeoutMs });
  }

  /** Closes the sink (`sink.close()`): flushes for at most `shutdownTimeoutMs`, then drops the rest as `shutdown`. */
  async shutdown(): Promise<void> {
    await this.sink.close({ timeoutMs: this.#shutdownTimeoutMs });
  }

  #write(items: Item[]): boolean {
    let bytes: Uint8Array | undefined;
    try {
      let c = Infinity;
      for (let i = 0; i < items.length; i++) {
        const ci = this.#classOf(items[i]!);
        if (!(ci >= 0)) {
          c = NO_CLASS; // not a class (NaN, negative, not a number): the sink drops it as invalid
          break;
        }
        if (ci < c) c = ci;
      }
      this.#class = c;
      if (this.#keyOf !== null && c !== NO_CLASS) this.#key = this.#keyOf(items);
      if (c !== NO_CLASS) bytes = this.#serializer.serializeRequest(items);
    } catch {
      this.#class = NO_CLASS;
    }
    // A class the sink cannot use, or a request that did not encode: the sink counts it as invalid.
    if (bytes === undefined) this.#class = NO_CLASS;
    const kept = this.sink.emit(bytes ?? EMPTY);
    this.#key = null;
    return kept;
  }
}

/**
 * The class of a span by default: 0 for a span whose status is ERROR; 1 for entry points
 * (SERVER and CONSUMER spans, and root spans); 2 for calls out (CLIENT and PRODUCER);
 * 3 for INTERNAL spans. So under pressure internal detail goes first, then calls out,
 * then entry points, and failed spans stay as long as anything does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spanClass } from "./exporters.ts";
 *
 * const span = { status: { code: 2 }, kind: 0, parentSpanContext: { spanId: "b7ad6b7169203331" } };
 * assert.equal(spanClass(span as never), 0); // an error, whatever its kind
 * assert.equal(spanClass({ ...span, status: { code: 0 } } as never), 3); // an internal span
 * ```
 */
export function spanClass(span: ExportedSpan): number {
  if (span.status.code === 2) return 0; // SpanStatusCode.ERROR
  const kind = span.kind; // SpanKind: INTERNAL 0, SERVER 1, CLIENT 2, PRODUCER 3, CONSUMER 4
  if (kind === 1 || kind === 4 || span.parentSpanContext === undefined) return 1;
  return kind === 0 ? 3 : 2;
}

/**
 * The class of a log record by default, from its severity number (OpenTelemetry's
 * `SeverityNumber`): ERROR and FATAL (17 to 24) 0; WARN (13 to 16) 1; INFO (9 to 12) 2;
 * DEBUG and TRACE (1 to 8) 3. Without a severity number, its severity text is read
 * (`"error"`, `"WARN"`, …), and a record with neither is INFO: 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { logRecordClass } from "./exporters.ts";
 *
 * assert.equal(logRecordClass({ severityNumber: 17 } as never), 0); // ERROR
 * assert.equal(logRecordClass({ severityNumber: 5 } as never), 3); // DEBUG
 * assert.equal(logRecordClass({ severityText: "warning" } as never), 1);
 * ```
 */
export function logRecordClass(record: ExportedLogRecord): number {
  const n = record.severityNumber;
  if (typeof n === "number" && n > 0) return n >= 17 ? 0 : n >= 13 ? 1 : n >= 9 ? 2 : 3;
  const text = record.severityText;
  if (typeof text !== "string") return 2;
  switch (text.toLowerCase()) {
    case "fatal":
    case "critical":
    case "error":
      return 0;
    case "warn":
    case "warning":
      return 1;
    case "debug":
    case "trace":
      return 3;
    default:
      return 2;
  }
}

// The SDK gives the exporters its ReadableSpan and ReadableLogRecord, which the
// serializers take; the public types are the structural ExportedSpan / ExportedLogRecord.
const TRACE_SERIALIZERS = { protobuf: ProtobufTraceSerializer, json: JsonTraceSerializer } as unknown as Record<OtlpFormat, OtlpSerializer<ExportedSpan>>;
const LOGS_SERIALIZERS = { protobuf: ProtobufLogsSerializer, json: JsonLogsSerializer } as unknown as Record<OtlpFormat, OtlpSerializer<ExportedLogRecord>>;

/**
 * An OpenTelemetry `SpanExporter` that writes OTLP into a sink of its own (see the
 * module's head). Put it behind a `SimpleSpanProcessor`.
 *
 * Throws `InvalidOptionError` for a bad option, its own or the sink's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
 * import { memoryTransport } from "../../mod.ts";
 * import { ShedsinkSpanExporter } from "./exporters.ts";
 *
 * const transport = memoryTransport(); // kafkaTransport({ brokers, topic: "otlp_spans" }) in production
 * const exporter = new ShedsinkSpanExporter({ transport });
 * const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
 * provider.getTracer("checkout").startSpan("GET /cart").end();
 * await provider.forceFlush();
 * assert.equal(transport.received.length, 1); // one ExportTraceServiceRequest
 * await provider.shutdown(); // closes the sink
 * ```
 */
export class ShedsinkSpanExporter extends OtlpExporter<ExportedSpan> {
  /** Makes the exporter and its sink. */
  constructor(options: OtlpExporterOptions<ExportedSpan>) {
    super(options, TRACE_SERIALIZERS, spanClass, "span exporter");
  }
}

/**
 * An OpenTelemetry `LogRecordExporter` that writes OTLP into a sink of its own (see the
 * module's head). Put it behind a `SimpleLogRecordProcessor`.
 *
 * The SDK's `SimpleLogRecordProcessor.forceFlush()` does not call its exporter's, so
 * `LoggerProvider.forceFlush()` does not reach the sink: call the exporter's
 * `forceFlush()` (or `sink.flush()`) yourself when you need to wait for delivery.
 *
 * Throws `InvalidOptionError` for a bad option, its own or the sink's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SeverityNumber } from "@opentelemetry/api";
 * import { LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
 * import { memoryTransport } from "../../mod.ts";
 * import { ShedsinkLogRecordExporter } from "./exporters.ts";
 *
 * const transport = memoryTransport(); // kafkaTransport({ brokers, topic: "otlp_logs" }) in production
 * const exporter = new ShedsinkLogRecordExporter({ transport });
 * const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
 * provider.getLogger("checkout").emit({ severityNumber: SeverityNumber.ERROR, body: "card declined" });
 * await exporter.forceFlush();
 * assert.equal(transport.received.length, 1); // one ExportLogsServiceRequest
 * await provider.shutdown(); // closes the sink
 * ```
 */
export class ShedsinkLogRecordExporter extends OtlpExporter<ExportedLogRecord> {
  /** Makes the exporter and its sink. */
  constructor(options: OtlpExporterOptions<ExportedLogRecord>) {
    super(options, LOGS_SERIALIZERS, logRecordClass, "log record exporter");
  }
}

/**
 * OpenTelemetry bridge (`shedsink/otel`): registers a sink's counters and gauges as
 * observable instruments on an OpenTelemetry `Meter`, read from `sink.stats()` once per
 * collection.
 *
 * `@opentelemetry/api` is an optional peer dependency and this module imports nothing
 * of it, not even its types: you pass in the `Meter`, which it uses through the few
 * methods named in {@linkcode ObservingMeter}. The span and log record exporters, which
 * do import the OpenTelemetry SDK's packages, are in `shedsink/otel/exporters`.
 *
 * @module
 */

import { DROP_REASONS, type DropReason } from "./core/accounting.ts";
import * as v from "valibot";
import { parseOptions } from "./validate.ts";
import type { SinkStats } from "./stats.ts";
import { TRANSPORT_STATES } from "./core/contract.ts";

/** Attribute values, as OpenTelemetry takes them. */
export type MetricAttributes = Readonly<Record<string, string | number | boolean | ReadonlyArray<string> | ReadonlyArray<number> | ReadonlyArray<boolean> | undefined>>;

/** An observable instrument, as the meter made it (opaque here). */
export type ObservableInstrument = object;

/** What a batch callback of a meter is given: where to record observations. */
export interface ObservationResult {
  /** Records one value of an instrument, with attributes. */
  observe(instrument: ObservableInstrument, value: number, attributes?: MetricAttributes): void;
}

/** The options an instrument is created with. */
export interface InstrumentOptions {
  /** The unit, in UCUM case-sensitive notation. */
  unit?: string;
  /** What the instrument measures. */
  description?: string;
}

/**
 * The part of an OpenTelemetry `Meter` (from `@opentelemetry/api`, such as
 * `metrics.getMeter("my-service")`) that {@linkcode registerSinkMetrics} uses.
 */
export interface ObservingMeter {
  /** Creates an observable counter. */
  createObservableCounter(name: string, options?: InstrumentOptions): ObservableInstrument;
  /** Creates an observable up-down counter. */
  createObservableUpDownCounter(name: string, options?: InstrumentOptions): ObservableInstrument;
  /** Creates an observable gauge. */
  createObservableGauge(name: string, options?: InstrumentOptions): ObservableInstrument;
  /** Calls `callback` once per collection for all of `observables`. */
  addBatchObservableCallback(callback: (result: ObservationResult) => void, observables: ObservableInstrument[]): void;
  /** Undoes `addBatchObservableCallback`. */
  removeBatchObservableCallback(callback: (result: ObservationResult) => void, observables: ObservableInstrument[]): void;
}

/** Options of {@linkcode registerSinkMetrics}. */
export interface SinkMetricsOptions {
  /**
   * Attributes added to every observation, such as `{ sink: "query-insights" }` when a
   * process runs several sinks.
   * @default {}
   */
  attributes?: MetricAttributes;
  /**
   * The first part of every instrument name.
   * @default "shedsink"
   */
  prefix?: string;
  /**
   * Also register the sink's counters under the OpenTelemetry SDK's self-observability
   * names, as if the sink were the SDK's span or log record processor (see
   * {@linkcode SdkMetricsOptions}).
   * @default none: only the `<prefix>.*` instruments
   */
  sdk?: SdkMetricsOptions;
}

/**
 * The SDK's self-observability metrics (semantic conventions, `otel.sdk.*`, in
 * Development status), mapped from a sink's counters. `<signal>` is `span` or `log`; the
 * unit `{span}` or `{log_record}` counts the sink's records, each one Kafka message (one
 * span or log record behind the SDK's simple processors, or with `messagePer: "record"`):
 *
 * | instrument | kind | from the sink |
 * | --- | --- | --- |
 * | `otel.sdk.processor.<signal>.queue.size` | ObservableUpDownCounter | pending records (buffered, not yet handed to the Kafka client) |
 * | `otel.sdk.processor.<signal>.queue.capacity` | ObservableUpDownCounter | `capacityBytes` over the mean size of the records accepted so far (the sink is bounded in bytes, not records); not observed before the first record |
 * | `otel.sdk.processor.<signal>.processed` | ObservableCounter | without `error.type`: records delivered (acknowledged by Kafka); with `error.type`: records dropped, `queue_full` for `buffer_full` and `shed`, `already_shutdown` for `closed`, and the drop reason itself for the others (`oversize`, `invalid`, `expired`, `rejected`, `shutdown`, `worker_lost`) |
 * | `otel.sdk.exporter.<signal>.inflight` | ObservableUpDownCounter | records handed to the Kafka client (or held for a retry), not yet settled |
 *
 * Every observation carries `otel.component.type` (`shedsink`) and `otel.component.name`,
 * beside the bridge's `attributes`. One difference from the convention: a record is
 * counted as processed successfully when Kafka acknowledges it, not when it is handed
 * to the client, so that `processed` (with and without `error.type`), `queue.size` and
 * `inflight` add up to the records offered.
 */
export interface SdkMetricsOptions {
  /** Whose names: the span processor's (`otel.sdk.processor.span.*`) or the log record processor's (`otel.sdk.processor.log.*`). */
  signal: "span" | "log";
  /**
   * The `otel.component.name` attribute.
   * @default "shedsink/<n>", n counting the registrations in this process from 0
   */
  componentName?: string;
}

/** The `error.type` of each drop reason in `otel.sdk.processor.<signal>.processed`. */
const ERROR_TYPES: Readonly<Record<DropReason, string>> = {
  buffer_full: "queue_full",
  shed: "queue_full",
  closed: "already_shutdown",
  oversize: "oversize",
  invalid: "invalid",
  expired: "expired",
  rejected: "rejected",
  shutdown: "shutdown",
  worker_lost: "worker_lost",
};
const ERROR_TYPE_VALUES: ReadonlyArray<string> = [...new Set(Object.values(ERROR_TYPES))];

let sdkComponents = 0;

/** What {@linkcode registerSinkMetrics} returns. */
export interface SinkMetricsRegistration {
  /** The names of the instruments created, in creation order. */
  readonly instruments: ReadonlyArray<string>;
  /** Stops observing the sink (the instruments stay, with no more data). Idempotent. */
  unregister(): void;
}

const PREFIX_EXPECTED = "an instrument name prefix: a letter, then letters, digits, '_', '.', '-' or '/'";

const OptionsSchema = v.strictObject(
  {
    attributes: v.optional(v.custom<MetricAttributes>((x) => typeof x === "object" && x !== null && !Array.isArray(x), "an object of attributes")),
    prefix: v.optional(v.pipe(v.string(PREFIX_EXPECTED), v.regex(/^[A-Za-z][A-Za-z0-9_.\-/]*$/, PREFIX_EXPECTED))),
    sdk: v.optional(
      v.strictObject(
        {
          signal: v.picklist(["span", "log"], '"span" or "log"'),
          componentName: v.optional(v.pipe(v.string("a non-empty string"), v.minLength(1, "a non-empty string"))),
        },
        "an object with signal and componentName",
      ),
    ),
  },
  "an options object with attributes, prefix and sdk",
);

/**
 * Registers observable instruments for a sink (`<prefix>` is `shedsink` by default):
 *
 * | instrument | kind | unit | attributes |
 * | --- | --- | --- | --- |
 * | `<prefix>.records.{offered,accepted,delivered}` | ObservableCounter | `{record}` | |
 * | `<prefix>.records.dropped` | ObservableCounter | `{record}` | `reason` (every reason, zeros included) |
 * | `<prefix>.bytes.{offered,accepted,delivered}` | ObservableCounter | `By` | |
 * | `<prefix>.bytes.dropped` | ObservableCounter | `By` | `reason` |
 * | `<prefix>.send.retries` | ObservableCounter | `{send}` | |
 * | `<prefix>.pending.{records,bytes}` | ObservableUpDownCounter | `{record}` / `By` | |
 * | `<prefix>.inflight.{records,bytes}` | ObservableUpDownCounter | `{record}` / `By` | |
 * | `<prefix>.capacity` | ObservableUpDownCounter | `By` | |
 * | `<prefix>.buffer.utilization` | ObservableGauge | `1` | (pending + in flight) / capacity |
 * | `<prefix>.transport.state` | ObservableGauge | `1` | `transport`, `state` (1 for the current state, 0 for the others) |
 * | `<prefix>.{records,bytes}.shed` | ObservableCounter | `{record}` / `By` | `class` (only for a sink with `shedding`; they add up to the `shed` reason) |
 * | `<prefix>.worker.restarts` | ObservableCounter | `{restart}` | (only for a sink with `flusher: "worker"`) workers started to replace one that failed |
 * | `<prefix>.worker.heap` | ObservableGauge | `By` | (only for a sink with `flusher: "worker"`) the worker's JavaScript heap in use, as it last reported it |
 *
 * With the `sdk` option, also the SDK's self-observability instruments
 * (`otel.sdk.processor.<signal>.queue.size`, `…queue.capacity`, `…processed`,
 * `otel.sdk.exporter.<signal>.inflight`): see {@linkcode SdkMetricsOptions}.
 *
 * Levels that add up across sinks (records and bytes held, capacity) are up-down
 * counters; the ratio and the state are gauges. One batch callback reads `stats()` once
 * per collection, so all instruments of one collection come from the same snapshot.
 *
 * Throws `InvalidOptionError` for a bad option (`prefix`, `attributes`, `sdk`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { metrics } from "@opentelemetry/api";
 * import { createSink, memoryTransport } from "../mod.ts";
 * import { registerSinkMetrics } from "./otel.ts";
 *
 * const sink = createSink({ transport: memoryTransport() });
 * const registration = registerSinkMetrics(sink, metrics.getMeter("my-service"), {
 *   attributes: { sink: "query-insights" },
 *   sdk: { signal: "span" }, // and the otel.sdk.processor.span.* names
 * });
 * assert.ok(registration.instruments.includes("shedsink.records.dropped"));
 * assert.ok(registration.instruments.includes("otel.sdk.processor.span.processed"));
 * // ... at shutdown:
 * registration.unregister();
 * await sink.close();
 * ```
 */
export function registerSinkMetrics(
  sink: { stats(): SinkStats },
  meter: ObservingMeter,
  options: SinkMetricsOptions = {},
): SinkMetricsRegistration {
  const o = parseOptions(OptionsSchema, options);
  const prefix = o.prefix ?? "shedsink";
  const base: MetricAttributes = { ...(o.attributes ?? {}) };
  const names: string[] = [];
  const observables: ObservableInstrument[] = [];
  const counter = (name: string, unit: string, description: string) => {
    names.push(`${prefix}.${name}`);
    const o = meter.createObservableCounter(`${prefix}.${name}`, { unit, description });
    observables.push(o);
    return o;
  };
  const upDown = (name: string, unit: string, description: string) => {
    names.push(`${prefix}.${name}`);
    const o = meter.createObservableUpDownCounter(`${prefix}.${name}`, { unit, description });
    observables.push(o);
    return o;
  };
  const gauge = (name: string, unit: string, description: string) => {
    names.push(`${prefix}.${name}`);
    const o = meter.createObservableGauge(`${prefix}.${name}`, { unit, description });
    observables.push(o);
    return o;
  };

  const recordsOffered = counter("records.offered", "{record}", "Records given to the sink.");
  const recordsAccepted = counter("records.accepted", "{record}", "Records that entered the buffer.");
  const recordsDelivered = counter("records.delivered", "{record}", "Records acknowledged by Kafka.");
  const recordsDropped = counter("records.dropped", "{record}", "Records dropped, by reason.");
  const bytesOffered = counter("bytes.offered", "By", "Bytes of records given to the sink (framing included).");
  const bytesAccepted = counter("bytes.accepted", "By", "Bytes of records that entered the buffer (framing included).");
  const bytesDelivered = counter("bytes.delivered", "By", "Bytes of records acknowledged by Kafka (framing included).");
  const bytesDropped = counter("bytes.dropped", "By", "Bytes of records dropped, by reason.");
  const retries = counter("send.retries", "{send}", "Sends that failed retriably and were scheduled again.");
  const pendingRecords = upDown("pending.records", "{record}", "Records buffered, not yet handed to the transport.");
  const pendingBytes = upDown("pending.bytes", "By", "Bytes buffered, not yet handed to the transport.");
  const inFlightRecords = upDown("inflight.records", "{record}", "Records handed to the transport or held for a retry.");
  const inFlightBytes = upDown("inflight.bytes", "By", "Bytes handed to the transport or held for a retry.");
  const capacity = upDown("capacity", "By", "Bytes the sink may hold, pending and in flight together.");
  const utilization = gauge("buffer.utilization", "1", "Share of the capacity held by pending and in-flight records, from 0 to 1.");
  const transportState = gauge("transport.state", "1", "1 for the transport's current connection state, 0 for the others.");
  // With graded shedding only: the shed records by class.
  const classes = sink.stats().shed.length;
  const recordsShed = classes > 0 ? counter("records.shed", "{record}", "Records shed (graded shedding), by class.") : null;
  const bytesShed = classes > 0 ? counter("bytes.shed", "By", "Bytes of records shed (graded shedding), by class.") : null;
  // In worker mode only: the workers restarted.
  const inWorker = sink.stats().flusher === "worker";
  const workerRestarts = inWorker ? counter("worker.restarts", "{restart}", "Workers started to replace one that failed.") : null;
  const workerHeap = inWorker ? gauge("worker.heap", "By", "The worker's JavaScript heap in use, as it last reported it.") : null;
  // With `sdk`: the SDK's self-observability names.
  const sdk = o.sdk === undefined ? null : sdkInstruments(meter, o.sdk, base, names, observables);

  const callback = (result: ObservationResult): void => {
    const s = sink.stats();
    result.observe(recordsOffered, s.offered.records, base);
    result.observe(recordsAccepted, s.accepted.records, base);
    result.observe(recordsDelivered, s.delivered.records, base);
    result.observe(bytesOffered, s.offered.bytes, base);
    result.observe(bytesAccepted, s.accepted.bytes, base);
    result.observe(bytesDelivered, s.delivered.bytes, base);
    for (const reason of DROP_REASONS) {
      const attributes = { ...base, reason };
      result.observe(recordsDropped, s.dropped[reason].records, attributes);
      result.observe(bytesDropped, s.dropped[reason].bytes, attributes);
    }
    if (recordsShed !== null && bytesShed !== null) {
      s.shed.forEach((count, c) => {
        const attributes = { ...base, class: c };
        result.observe(recordsShed, count.records, attributes);
        result.observe(bytesShed, count.bytes, attributes);
      });
    }
    if (workerRestarts !== null) result.observe(workerRestarts, s.workerRestarts, base);
    if (workerHeap !== null) result.observe(workerHeap, s.workerHeapBytes, base);
    result.observe(retries, s.retries, base);
    result.observe(pendingRecords, s.pending.records, base);
    result.observe(pendingBytes, s.pending.bytes, base);
    result.observe(inFlightRecords, s.inFlight.records, base);
    result.observe(inFlightBytes, s.inFlight.bytes, base);
    result.observe(capacity, s.capacityBytes, base);
    result.observe(utilization, s.capacityBytes > 0 ? (s.pending.bytes + s.inFlight.bytes) / s.capacityBytes : 0, base);
    for (const state of TRANSPORT_STATES) {
      result.observe(transportState, state === s.transport.state ? 1 : 0, { ...base, transport: s.transport.name, state });
    }
    if (sdk !== null) observeSdk(result, sdk, s);
  };
  meter.addBatchObservableCallback(callback, observables);
  let registered = true;
  return {
    instruments: names,
    unregister() {
      if (!registered) return;
      registered = false;
      meter.removeBatchObservableCallback(callback, observables);
    },
  };
}

interface SdkInstruments {
  readonly queueSize: ObservableInstrument;
  readonly queueCapacity: ObservableInstrument;
  readonly processed: ObservableInstrument;
  readonly inflight: ObservableInstrument;
  readonly attributes: MetricAttributes;
  /** The attributes of `processed` by `error.type`, made once. */
  readonly failed: ReadonlyMap<string, MetricAttributes>;
}

function sdkInstruments(meter: ObservingMeter, options: SdkMetricsOptions, base: MetricAttributes, names: string[], observables: ObservableInstrument[]): SdkInstruments {
  const signal = options.signal;
  const unit = signal === "span" ? "{span}" : "{log_record}";
  const items = signal === "span" ? "spans" : "log records";
  const make = (kind: "counter" | "updown", name: string, description: string): ObservableInstrument => {
    const instrument = kind === "counter" ? meter.createObservableCounter(name, { unit, description }) : meter.createObservableUpDownCounter(name, { unit, description });
    names.push(name);
    observables.push(instrument);
    return instrument;
  };
  const componentName = options.componentName ?? `shedsink/${sdkComponents++}`;
  const attributes: MetricAttributes = { ...base, "otel.component.type": "shedsink", "otel.component.name": componentName };
  return {
    queueSize: make("updown", `otel.sdk.processor.${signal}.queue.size`, `The number of ${items} in the queue of the sink (buffered, not yet handed to the Kafka client).`),
    queueCapacity: make("updown", `otel.sdk.processor.${signal}.queue.capacity`, `The number of ${items} the sink's buffer can hold, at the mean size of those accepted so far.`),
    processed: make("counter", `otel.sdk.processor.${signal}.processed`, `The number of ${items} whose processing has finished: delivered, or dropped with error.type.`),
    inflight: make("updown", `otel.sdk.exporter.${signal}.inflight`, `The number of ${items} handed to the Kafka client and not yet settled.`),
    attributes,
    failed: new Map(ERROR_TYPE_VALUES.map((t) => [t, { ...attributes, "error.type": t }])),
  };
}

function observeSdk(result: ObservationResult, sdk: SdkInstruments, s: SinkStats): void {
  result.observe(sdk.queueSize, s.pending.records, sdk.attributes);
  if (s.accepted.records > 0 && s.accepted.bytes > 0) {
    result.observe(sdk.queueCapacity, Math.floor((s.capacityBytes * s.accepted.records) / s.accepted.bytes), sdk.attributes);
  }
  result.observe(sdk.processed, s.delivered.records, sdk.attributes);
  const byType = new Map<string, number>(ERROR_TYPE_VALUES.map((t) => [t, 0]));
  for (const reason of DROP_REASONS) {
    const t = ERROR_TYPES[reason];
    byType.set(t, byType.get(t)! + s.dropped[reason].records);
  }
  for (const [t, n] of byType) result.observe(sdk.processed, n, sdk.failed.get(t));
  result.observe(sdk.inflight, s.inFlight.records, sdk.attributes);
}

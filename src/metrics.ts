/**
 * Prometheus text exposition (format 0.0.4) of a sink's counters and gauges.
 *
 * @module
 */

import { DROP_REASONS } from "./core/accounting.ts";
import * as v from "valibot";
import { parseOptions } from "./validate.ts";
import type { SinkStats } from "./stats.ts";
import { TRANSPORT_STATES } from "./core/contract.ts";


/** Options of {@linkcode renderMetrics} and `sink.metrics()`. */
export interface MetricsOptions {
  /**
   * Labels added to every sample, such as `{ sink: "query-insights" }` when a process
   * runs several sinks.
   * @default {}
   */
  labels?: Readonly<Record<string, string>>;
}

const escape = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const LABEL_NAME_EXPECTED = "a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)";

const MetricsOptionsSchema = v.strictObject(
  {
    labels: v.optional(
      v.record(
        v.pipe(v.string(), v.regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, LABEL_NAME_EXPECTED), v.check((name) => !name.startsWith("__"), LABEL_NAME_EXPECTED)),
        v.string("a string label value"),
        "an object of label names to string values",
      ),
    ),
  },
  "an options object with labels",
);

/**
 * Renders stats as Prometheus text: counters `shedsink_{records,bytes}_{offered,accepted,
 * delivered}_total`, `shedsink_{records,bytes}_dropped_total{reason}` (one series per
 * reason, zeros included), with graded shedding `shedsink_{records,bytes}_shed_total{class}`
 * (one series per class; they add up to the `shed` reason), gauges for pending and in-flight records and bytes, capacity,
 * and `shedsink_transport_state{state}` (1 for the current state). In worker mode
 * (`flusher: "worker"`) also `shedsink_worker_restarts_total` (workers started to replace
 * one that failed) and the gauge `shedsink_worker_heap_bytes` (the worker's heap in use).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSink, memoryTransport, renderMetrics } from "../mod.ts";
 *
 * const sink = createSink({ transport: memoryTransport() });
 * sink.emit({ hello: "world" });
 * const text = renderMetrics(sink.stats(), { labels: { sink: "demo" } });
 * assert.match(text, /^shedsink_records_accepted_total\{sink="demo"\} 1$/m);
 * await sink.close();
 * ```
 */
export function renderMetrics(stats: SinkStats, options: MetricsOptions = {}): string {
  const base = Object.entries(parseOptions(MetricsOptionsSchema, options, { code: "INVALID_ARGUMENT" }).labels ?? {});
  const labels = (extra: ReadonlyArray<readonly [string, string]> = []) => {
    const all = [...base, ...extra];
    return all.length === 0 ? "" : `{${all.map(([k, v]) => `${k}="${escape(v)}"`).join(",")}}`;
  };
  const lines: string[] = [];
  const metric = (name: string, type: "counter" | "gauge", help: string, samples: ReadonlyArray<readonly [ReadonlyArray<readonly [string, string]>, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [extra, value] of samples) lines.push(`${name}${labels(extra)} ${value}`);
  };
  for (const [field, help] of [
    ["offered", "Records given to the sink."],
    ["accepted", "Records that entered the buffer."],
    ["delivered", "Records acknowledged by Kafka."],
  ] as const) {
    metric(`shedsink_records_${field}_total`, "counter", help, [[[], stats[field].records]]);
    metric(`shedsink_bytes_${field}_total`, "counter", `${help.slice(0, -1)}, in bytes (framing included).`, [[[], stats[field].bytes]]);
  }
  metric("shedsink_records_dropped_total", "counter", "Records dropped, by reason.", DROP_REASONS.map((r) => [[["reason", r]], stats.dropped[r].records] as const));
  metric("shedsink_bytes_dropped_total", "counter", "Bytes of records dropped, by reason.", DROP_REASONS.map((r) => [[["reason", r]], stats.dropped[r].bytes] as const));
  if (stats.shed.length > 0) {
    const byClass = (unit: "records" | "bytes") => stats.shed.map((count, c) => [[["class", String(c)]], count[unit]] as const);
    metric("shedsink_records_shed_total", "counter", "Records shed (graded shedding), by class.", byClass("records"));
    metric("shedsink_bytes_shed_total", "counter", "Bytes of records shed (graded shedding), by class.", byClass("bytes"));
  }
  metric("shedsink_pending_records", "gauge", "Records buffered, not yet handed to the transport.", [[[], stats.pending.records]]);
  metric("shedsink_pending_bytes", "gauge", "Bytes buffered, not yet handed to the transport.", [[[], stats.pending.bytes]]);
  metric("shedsink_inflight_records", "gauge", "Records handed to the transport or held for a retry.", [[[], stats.inFlight.records]]);
  metric("shedsink_inflight_bytes", "gauge", "Bytes handed to the transport or held for a retry.", [[[], stats.inFlight.bytes]]);
  metric("shedsink_capacity_bytes", "gauge", "Bytes the sink may hold, pending and in flight together.", [[[], stats.capacityBytes]]);
  metric("shedsink_send_retries_total", "counter", "Sends that failed retriably and were scheduled again.", [[[], stats.retries]]);
  if (stats.flusher === "worker") {
    metric("shedsink_worker_restarts_total", "counter", "Worker mode: workers started to replace one that failed.", [[[], stats.workerRestarts]]);
    metric("shedsink_worker_heap_bytes", "gauge", "Worker mode: the worker's JavaScript heap in use, as it last reported it.", [[[], stats.workerHeapBytes]]);
  }
  metric("shedsink_transport_state", "gauge", "1 for the transport's current connection state.", TRANSPORT_STATES.map((s) => [[["transport", stats.transport.name], ["state", s]], s === stats.transport.state ? 1 : 0] as const));
  return `${lines.join("\n")}\n`;
}

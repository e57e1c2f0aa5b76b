import { test } from "node:test";
import assert from "node:assert/strict";
import { createSink, DROP_REASONS, memoryTransport, renderMetrics } from "../../mod.ts";

// Prometheus text format 0.0.4: comments, then `name{label="value",...} number`.
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? -?[0-9.e+]+$/;

test("metrics() is well-formed Prometheus text with a TYPE for every metric", async () => {
  const sink = createSink({ transport: memoryTransport() });
  sink.emit("x");
  sink.emit({ bad: 1n });
  await sink.flush();
  const text = sink.metrics();
  assert.ok(text.endsWith("\n"));
  const typed = new Set<string>();
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      assert.ok(type === "counter" || type === "gauge", line);
      typed.add(name!);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    assert.match(line, SAMPLE);
    assert.ok(typed.has(line.split(/[{ ]/)[0]!), `sample before its TYPE: ${line}`);
  }
  assert.match(text, /^shedsink_records_offered_total 2$/m);
  assert.match(text, /^shedsink_records_delivered_total 1$/m);
  assert.match(text, /^shedsink_records_dropped_total\{reason="invalid"\} 1$/m);
  assert.match(text, /^shedsink_capacity_bytes 5242880$/m);
  assert.match(text, /^shedsink_transport_state\{transport="memory",state="up"\} 1$/m);
  assert.match(text, /^shedsink_transport_state\{transport="memory",state="down"\} 0$/m);
  for (const reason of DROP_REASONS) assert.match(text, new RegExp(`reason="${reason}"`));
  await sink.close({ timeoutMs: 100 });
});

test("metrics({ labels }) adds escaped labels to every sample and rejects bad label names", async () => {
  const sink = createSink({ transport: memoryTransport() });
  const text = sink.metrics({ labels: { sink: 'a"b\\c' } });
  for (const line of text.trimEnd().split("\n")) {
    if (!line.startsWith("#")) assert.ok(line.includes('sink="a\\"b\\\\c"'), line);
  }
  assert.throws(() => renderMetrics(sink.stats(), { labels: { "bad-name": "x" } }), { name: "InvalidOptionError", code: "INVALID_ARGUMENT", option: "labels.bad-name" });
  await sink.close({ timeoutMs: 100 });
});

test("metrics(): shedsink_worker_restarts_total in worker mode only", async () => {
  const sink = createSink({ transport: memoryTransport() });
  assert.doesNotMatch(sink.metrics(), /worker_restarts/);
  // The stats of a sink in worker mode whose worker was replaced twice.
  const text = renderMetrics({ ...sink.stats(), flusher: "worker", workerRestarts: 2 }, { labels: { sink: "s" } });
  assert.match(text, /^# TYPE shedsink_worker_restarts_total counter$/m);
  assert.match(text, /^shedsink_worker_restarts_total\{sink="s"\} 2$/m);
  assert.match(renderMetrics({ ...sink.stats(), flusher: "worker", workerHeapBytes: 12345678 }), /^# TYPE shedsink_worker_heap_bytes gauge\nshedsink_worker_heap_bytes 12345678$/m);
  await sink.close({ timeoutMs: 100 });
});

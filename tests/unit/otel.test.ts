import { test } from "node:test";
import assert from "node:assert/strict";
import { createSink, DROP_REASONS, InvalidOptionError, memoryTransport } from "../../mod.ts";
import { registerSinkMetrics } from "../../src/otel.ts";
import type { Meter } from "@opentelemetry/api";
import { asMeter, TestMeter, value } from "../support/meter.ts";

test("registerSinkMetrics creates observable counters, up-down counters and gauges with units", () => {
  const meter = new TestMeter();
  const sink = createSink({ transport: memoryTransport() });
  const registration = registerSinkMetrics(sink, asMeter(meter));
  const kinds = Object.fromEntries(meter.instruments.map((i) => [i.name, i.kind]));
  assert.deepEqual(registration.instruments, meter.instruments.map((i) => i.name));
  for (const f of ["offered", "accepted", "delivered", "dropped"]) {
    assert.equal(kinds[`shedsink.records.${f}`], "counter");
    assert.equal(kinds[`shedsink.bytes.${f}`], "counter");
  }
  assert.equal(kinds["shedsink.send.retries"], "counter");
  for (const n of ["pending.records", "pending.bytes", "inflight.records", "inflight.bytes", "capacity"]) {
    assert.equal(kinds[`shedsink.${n}`], "updown", n);
  }
  assert.equal(kinds["shedsink.buffer.utilization"], "gauge");
  assert.equal(kinds["shedsink.transport.state"], "gauge");
  const units = Object.fromEntries(meter.instruments.map((i) => [i.name, i.options?.unit]));
  assert.equal(units["shedsink.records.delivered"], "{record}");
  assert.equal(units["shedsink.bytes.dropped"], "By");
  assert.equal(units["shedsink.buffer.utilization"], "1");
  for (const i of meter.instruments) assert.ok((i.options?.description ?? "").length > 0, `${i.name} has a description`);
  assert.equal(meter.callbacks.length, 1, "one batch callback for all instruments");
  assert.equal(meter.callbacks[0]!.observables.length, meter.instruments.length);
  void sink.close({ timeoutMs: 100 });
});

test("a collection reports the sink's counters, drops by reason (zeros included) and the transport state", async () => {
  const meter = new TestMeter();
  const transport = memoryTransport();
  const sink = createSink({ transport, capacityBytes: 1024, batch: { lingerMs: 1 } });
  registerSinkMetrics(sink, asMeter(meter), { attributes: { sink: "query-insights" } });
  sink.emit({ table: "orders", rows: 1 });
  sink.emit({ bad: 1n });
  await sink.flush();
  transport.hang();
  for (let i = 0; i < 100; i++) sink.emit({ table: "users", i });
  const stats = sink.stats();
  const points = await meter.collect();
  for (const p of points) assert.equal(p.attributes.sink, "query-insights", `${p.name} carries the base attributes`);
  assert.equal(value(points, "shedsink.records.offered"), stats.offered.records);
  assert.equal(value(points, "shedsink.records.offered"), 102);
  assert.equal(value(points, "shedsink.records.delivered"), 1);
  assert.equal(value(points, "shedsink.bytes.accepted"), stats.accepted.bytes);
  for (const reason of DROP_REASONS) {
    assert.equal(value(points, "shedsink.records.dropped", { reason }), stats.dropped[reason].records, reason);
    assert.equal(value(points, "shedsink.bytes.dropped", { reason }), stats.dropped[reason].bytes, reason);
  }
  assert.equal(value(points, "shedsink.records.dropped", { reason: "invalid" }), 1);
  assert.ok(value(points, "shedsink.records.dropped", { reason: "buffer_full" })! > 0);
  const held = stats.pending.bytes + stats.inFlight.bytes;
  assert.equal(value(points, "shedsink.pending.records"), stats.pending.records);
  assert.equal(value(points, "shedsink.inflight.bytes"), stats.inFlight.bytes);
  assert.equal(value(points, "shedsink.capacity"), 1024);
  assert.equal(value(points, "shedsink.buffer.utilization"), held / 1024);
  assert.equal(value(points, "shedsink.transport.state", { transport: "memory", state: "up" }), 1);
  assert.equal(value(points, "shedsink.transport.state", { state: "down" }), 0);
  assert.equal(points.filter((p) => p.name === "shedsink.transport.state").length, 4);
  transport.release();
  await sink.close({ timeoutMs: 1000 });
});

test("unregister() stops the observations; prefix renames the instruments; a bad prefix throws", async () => {
  const meter = new TestMeter();
  const sink = createSink({ transport: memoryTransport() });
  const registration = registerSinkMetrics(sink, asMeter(meter), { prefix: "app.telemetry_sink" });
  assert.ok(meter.instruments.every((i) => i.name.startsWith("app.telemetry_sink.")));
  assert.ok((await meter.collect()).length > 0);
  registration.unregister();
  registration.unregister();
  assert.deepEqual(await meter.collect(), []);
  assert.throws(() => registerSinkMetrics(sink, asMeter(meter), { prefix: "1bad name" }), InvalidOptionError);
  await sink.close({ timeoutMs: 100 });
});

test("a sink with shedding gets records.shed and bytes.shed by class; one without gets neither", async () => {
  const meter = new TestMeter();
  const transport = memoryTransport();
  transport.hang();
  const sink = createSink<{ c: number }>({ transport, capacityBytes: 2000, shedding: { classOf: (r) => r.c } });
  const registration = registerSinkMetrics(sink, asMeter(meter));
  for (let i = 0; i < 200; i++) sink.emit({ c: i % 4 });
  const stats = sink.stats();
  const points = await meter.collect();
  assert.ok(stats.dropped.shed.records > 0);
  for (let c = 0; c < 4; c++) {
    assert.equal(value(points, "shedsink.records.shed", { class: c }), stats.shed[c]!.records, `class ${c}`);
    assert.equal(value(points, "shedsink.bytes.shed", { class: c }), stats.shed[c]!.bytes, `class ${c}`);
  }
  const plain = registerSinkMetrics(createSink({ transport: memoryTransport() }), asMeter(new TestMeter()));
  assert.ok(registration.instruments.includes("shedsink.records.shed"));
  assert.ok(!plain.instruments.includes("shedsink.records.shed"));
  transport.release();
  await sink.close({ timeoutMs: 1000 });
});

test("a sink in worker mode gets worker.restarts and worker.heap; one in thread mode does not", async () => {
  const sink = createSink({ transport: memoryTransport() });
  const thread = registerSinkMetrics(sink, asMeter(new TestMeter()));
  assert.ok(!thread.instruments.includes("shedsink.worker.restarts"));
  assert.ok(!thread.instruments.includes("shedsink.worker.heap"));
  // The stats of a sink in worker mode whose worker was replaced three times.
  const meter = new TestMeter();
  const worker = registerSinkMetrics({ stats: () => ({ ...sink.stats(), flusher: "worker", workerRestarts: 3, workerHeapBytes: 9_000_000 }) }, asMeter(meter), { attributes: { sink: "s" } });
  assert.ok(worker.instruments.includes("shedsink.worker.restarts"));
  assert.equal(meter.instruments.find((i) => i.name === "shedsink.worker.restarts")?.kind, "counter");
  assert.equal(meter.instruments.find((i) => i.name === "shedsink.worker.heap")?.kind, "gauge");
  const points = await meter.collect();
  assert.equal(value(points, "shedsink.worker.restarts", { sink: "s" }), 3);
  assert.equal(value(points, "shedsink.worker.heap", { sink: "s" }), 9_000_000);
  await sink.close({ timeoutMs: 100 });
});

test("sdk: { signal: 'log' } adds the SDK's self-observability instruments, mapped from the sink's counters", async () => {
  const meter = new TestMeter();
  const transport = memoryTransport();
  const sink = createSink<{ c: number }>({ transport, capacityBytes: 4000, batch: { lingerMs: 1 }, shedding: { classOf: (r) => r.c } });
  const registration = registerSinkMetrics(sink, asMeter(meter), { attributes: { sink: "logs" }, sdk: { signal: "log", componentName: "shedsink/logs" } });
  const sdkNames = [
    "otel.sdk.processor.log.queue.size",
    "otel.sdk.processor.log.queue.capacity",
    "otel.sdk.processor.log.processed",
    "otel.sdk.exporter.log.inflight",
  ];
  for (const name of sdkNames) assert.ok(registration.instruments.includes(name), name);
  assert.ok(registration.instruments.includes("shedsink.records.dropped"), "beside the shedsink.* names");
  const kinds = Object.fromEntries(meter.instruments.map((i) => [i.name, [i.kind, i.options?.unit]]));
  assert.deepEqual(kinds["otel.sdk.processor.log.queue.size"], ["updown", "{log_record}"]);
  assert.deepEqual(kinds["otel.sdk.processor.log.queue.capacity"], ["updown", "{log_record}"]);
  assert.deepEqual(kinds["otel.sdk.processor.log.processed"], ["counter", "{log_record}"]);
  assert.deepEqual(kinds["otel.sdk.exporter.log.inflight"], ["updown", "{log_record}"]);

  assert.equal((await meter.collect()).filter((p) => p.name === "otel.sdk.processor.log.queue.capacity").length, 0, "no capacity before a record is accepted");
  for (let i = 0; i < 4; i++) sink.emit({ c: i });
  await sink.flush();
  transport.hang();
  for (let i = 0; i < 400; i++) sink.emit({ c: i % 4 });
  const stats = sink.stats();
  const points = await meter.collect();
  const component = { "otel.component.type": "shedsink", "otel.component.name": "shedsink/logs", sink: "logs" };
  for (const p of points.filter((p) => p.name.startsWith("otel.sdk."))) {
    for (const [k, v] of Object.entries(component)) assert.equal(p.attributes[k], v, `${p.name} carries ${k}`);
  }
  assert.equal(value(points, "otel.sdk.processor.log.queue.size"), stats.pending.records);
  assert.equal(value(points, "otel.sdk.exporter.log.inflight"), stats.inFlight.records);
  assert.equal(value(points, "otel.sdk.processor.log.queue.capacity"), Math.floor((4000 * stats.accepted.records) / stats.accepted.bytes));
  const processed = points.filter((p) => p.name === "otel.sdk.processor.log.processed");
  assert.equal(processed.find((p) => p.attributes["error.type"] === undefined)?.value, stats.delivered.records);
  assert.equal(value(points, "otel.sdk.processor.log.processed", { "error.type": "queue_full" }), stats.dropped.buffer_full.records + stats.dropped.shed.records);
  assert.ok(stats.dropped.shed.records > 0 && stats.dropped.buffer_full.records > 0);
  assert.equal(value(points, "otel.sdk.processor.log.processed", { "error.type": "already_shutdown" }), 0);
  assert.equal(value(points, "otel.sdk.processor.log.processed", { "error.type": "invalid" }), 0);
  const finished = processed.reduce((n, p) => n + p.value, 0);
  assert.equal(finished + stats.pending.records + stats.inFlight.records, stats.offered.records, "processed, queued and in flight add up to the records offered");

  transport.release();
  await sink.close({ timeoutMs: 1000 });
  sink.emit({ c: 0 });
  const after = await meter.collect();
  assert.equal(value(after, "otel.sdk.processor.log.processed", { "error.type": "already_shutdown" }), 1, "closed: already_shutdown");
  registration.unregister();
});

test("sdk: { signal: 'span' } uses the span names and {span}; components are numbered; a bad sdk option throws naming it", async () => {
  const sink = createSink({ transport: memoryTransport() });
  const meter = new TestMeter();
  const a = registerSinkMetrics(sink, asMeter(meter), { sdk: { signal: "span" } });
  const b = registerSinkMetrics(sink, asMeter(meter), { sdk: { signal: "span" } });
  assert.ok(a.instruments.includes("otel.sdk.processor.span.processed"));
  assert.ok(a.instruments.includes("otel.sdk.exporter.span.inflight"));
  assert.ok(!a.instruments.some((n) => n.includes(".log.")));
  assert.equal(meter.instruments.find((i) => i.name === "otel.sdk.processor.span.queue.size")?.options?.unit, "{span}");
  const names = new Set((await meter.collect()).filter((p) => p.name === "otel.sdk.processor.span.queue.size").map((p) => p.attributes["otel.component.name"]));
  assert.equal(names.size, 2, "each registration its own otel.component.name");
  assert.ok([...names].every((n) => /^shedsink\/\d+$/.test(String(n))));
  a.unregister();
  b.unregister();
  assert.throws(() => registerSinkMetrics(sink, asMeter(meter), { sdk: { signal: "metric" as never } }), (e: unknown) => e instanceof InvalidOptionError && e.option === "sdk.signal");
  assert.throws(() => registerSinkMetrics(sink, asMeter(meter), { sdk: { signal: "span", componentName: "" } }), (e: unknown) => e instanceof InvalidOptionError && e.option === "sdk.componentName");
  await sink.close({ timeoutMs: 100 });
});

test("with the SDK's MeterProvider: a collection reports the otel.sdk.* metrics of an exporter's sink", async () => {
  const { MeterProvider, MetricReader } = await import("@opentelemetry/sdk-metrics");
  const { ShedsinkSpanExporter } = await import("../../src/otel/exporters.ts");
  const { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } = await import("@opentelemetry/sdk-trace");
  class Reader extends MetricReader {
    protected override onForceFlush(): Promise<void> {
      return Promise.resolve();
    }
    protected override onShutdown(): Promise<void> {
      return Promise.resolve();
    }
  }
  const reader = new Reader();
  const provider = new MeterProvider({ readers: [reader] });
  const exporter = new ShedsinkSpanExporter({ transport: memoryTransport() });
  const registration = registerSinkMetrics(exporter.sink, provider.getMeter("app") as unknown as Meter, { sdk: { signal: "span" } });
  const memory = new InMemorySpanExporter();
  const tracing = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
  tracing.getTracer("app").startSpan("work").end();
  exporter.export([], () => {}); // nothing to write
  exporter.export(memory.getFinishedSpans().slice(), () => {});
  await exporter.forceFlush();
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepEqual(errors, []);
  const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  const processed = metrics.find((m) => m.descriptor.name === "otel.sdk.processor.span.processed");
  assert.ok(processed, "otel.sdk.processor.span.processed collected");
  assert.equal(processed.descriptor.unit, "{span}");
  const ok = processed.dataPoints.find((p) => p.attributes["error.type"] === undefined);
  assert.equal(ok?.value, 1, "the one message delivered");
  registration.unregister();
  await exporter.shutdown();
  await tracing.shutdown();
  await provider.shutdown();
});

test("shedsink/otel imports nothing of OpenTelemetry, so it loads without the SDK; the exporters are a module of their own", async () => {
  const { readFileSync } = await import("node:fs");
  const source = readFileSync(new URL("../../src/otel.ts", import.meta.url), "utf8");
  const imports = [...source.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms)].map((m) => ({ type: m[1] !== undefined, from: m[2]! }));
  assert.ok(imports.length > 0);
  assert.deepEqual(imports.filter((i) => !i.type && !i.from.startsWith(".") && i.from !== "valibot"), [], "no runtime import of a package other than valibot");
  const exporters = readFileSync(new URL("../../src/otel/exporters.ts", import.meta.url), "utf8");
  assert.match(exporters, /from "@opentelemetry\/otlp-transformer"/);
});

// The OpenTelemetry exporters' behaviour tests, one body for both flusher modes:
// tests/unit/otel-exporters.test.ts runs them in thread mode, tests/worker/otel-exporters.test.ts
// in worker mode (the memory transport in a real worker). Each test file registers them
// with flat top-level test() calls.
import assert from "node:assert/strict";
import { context, type HrTime, SeverityNumber, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { InMemoryLogRecordExporter, LoggerProvider, type ReadableLogRecord, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { conservationErrors, type FlusherMode, type MemoryTransport, memoryTransport } from "../../mod.ts";
import { type ExportOutcome, ExportDroppedError, ShedsinkLogRecordExporter, ShedsinkSpanExporter } from "../../src/otel/exporters.ts";
import { decodeLogs, decodeLogsJson, decodeTraces, decodeTracesJson, type DecodedLogRecord, type DecodedSpan } from "./otlp.ts";

const RESOURCE = { "service.name": "checkout", "deployment.environment.name": "test" };

const nanos = (t: HrTime): string => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

/** Spans made by the SDK: a SERVER root, a CLIENT child that failed, an INTERNAL grandchild. */
function makeSpans(provider: TracerProvider): void {
  const tracer = provider.getTracer("shop", "1.2.3");
  const root = tracer.startSpan("GET /cart", {
    kind: SpanKind.SERVER,
    attributes: { "http.route": "/cart", "http.response.status_code": 200, ok: true, ratio: 0.5, tags: ["a", "b"] },
  });
  const inRoot = trace.setSpan(context.active(), root);
  const client = tracer.startSpan("SELECT carts", { kind: SpanKind.CLIENT, attributes: { "db.system.name": "postgresql" } }, inRoot);
  client.addEvent("retry", { attempt: 2 });
  client.setStatus({ code: SpanStatusCode.ERROR, message: "timeout" });
  const internal = tracer.startSpan("render", {}, trace.setSpan(inRoot, client));
  internal.end();
  client.end();
  root.end();
}

/** The spans `exported` as the SDK had them, checked against what was decoded. */
function sameSpans(decoded: DecodedSpan[], exported: ReadonlyArray<ReadableSpan>): void {
  assert.equal(decoded.length, exported.length);
  exported.forEach((s, i) => {
    const d = decoded[i]!;
    assert.equal(d.traceId, s.spanContext().traceId);
    assert.equal(d.spanId, s.spanContext().spanId);
    assert.equal(d.parentSpanId, s.parentSpanContext?.spanId ?? "");
    assert.equal(d.name, s.name);
    assert.equal(d.kind, s.kind + 1); // OTLP's SpanKind counts from UNSPECIFIED = 0
    assert.equal(d.startTimeUnixNano, nanos(s.startTime));
    assert.equal(d.endTimeUnixNano, nanos(s.endTime));
    assert.deepEqual(d.attributes, { ...s.attributes });
    assert.deepEqual(d.events.map((e) => e.name), s.events.map((e) => e.name));
    assert.equal(d.status.code, s.status.code);
    assert.equal(d.status.message, s.status.message ?? "");
    assert.deepEqual(d.resource, { ...s.resource.attributes });
    assert.deepEqual(d.scope, { name: s.instrumentationScope.name, version: s.instrumentationScope.version ?? "" });
  });
}

function sameLogRecords(decoded: DecodedLogRecord[], exported: ReadonlyArray<ReadableLogRecord>): void {
  assert.equal(decoded.length, exported.length);
  exported.forEach((r, i) => {
    const d = decoded[i]!;
    assert.equal(d.timeUnixNano, nanos(r.hrTime));
    assert.equal(d.severityNumber, r.severityNumber ?? 0);
    assert.equal(d.severityText, r.severityText ?? "");
    assert.deepEqual(d.body, r.body);
    assert.deepEqual(d.attributes, { ...r.attributes });
    assert.equal(d.traceId, r.spanContext?.traceId ?? "");
    assert.equal(d.spanId, r.spanContext?.spanId ?? "");
    assert.deepEqual(d.resource, { ...r.resource.attributes });
    assert.deepEqual(d.scope, { name: r.instrumentationScope.name, version: r.instrumentationScope.version ?? "" });
  });
}

/** Log records of every severity, as the SDK makes them, inside a span's context. */
function makeLogRecords(provider: LoggerProvider, count: number, pad = ""): void {
  const logger = provider.getLogger("payments", "0.9.0");
  const spanContext = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1 };
  const inSpan = trace.setSpanContext(context.active(), spanContext);
  const severities = [SeverityNumber.ERROR, SeverityNumber.WARN, SeverityNumber.INFO, SeverityNumber.DEBUG];
  const texts = ["ERROR", "WARN", "INFO", "DEBUG"];
  for (let i = 0; i < count; i++) {
    const s = i % 4;
    logger.emit({
      severityNumber: severities[s],
      severityText: texts[s],
      body: `payment ${i} ${pad}`,
      attributes: { "payment.id": i, "payment.method": "card" },
      context: i % 2 === 0 ? inSpan : undefined,
    });
  }
}

async function flushed(exporter: { forceFlush(): Promise<void>; sink: { stats(): { pending: { records: number }; inFlight: { records: number } } } }): Promise<void> {
  await exporter.forceFlush();
  const s = exporter.sink.stats();
  assert.equal(s.pending.records + s.inFlight.records, 0, "forceFlush() settled every record");
}

/**
 * What the memory transport received, once it has all that the sink counts as delivered.
 * In worker mode the transport's twin in the worker reports its deliveries by message, which
 * can reach this thread after a flush() that found nothing unsettled has resolved.
 */
async function received(transport: MemoryTransport, exporter: { sink: { stats(): { delivered: { records: number } } } }): Promise<MemoryTransport["received"]> {
  const deadline = Date.now() + 10_000;
  while (transport.received.length < exporter.sink.stats().delivered.records) {
    if (Date.now() > deadline) assert.fail(`the transport reported ${transport.received.length} records, the sink delivered ${exporter.sink.stats().delivered.records}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return transport.received;
}

/** The behaviour tests, named, for one flusher mode. */
export function exporterTests(flusher: FlusherMode): Array<[string, () => Promise<void>]> {
  const mode = `(${flusher} mode)`;
  return [
    [`ShedsinkSpanExporter behind SimpleSpanProcessor: one ExportTraceServiceRequest per span, decoding to its ids, kind, attributes, events, status, resource and scope ${mode}`, async () => {
      const transport = memoryTransport();
      const exporter = new ShedsinkSpanExporter({ transport, flusher });
      assert.equal(exporter.sink.stats().flusher, flusher);
      const memory = new InMemorySpanExporter();
      const provider = new TracerProvider({
        resource: resourceFromAttributes(RESOURCE),
        spanProcessors: [new SimpleSpanProcessor({ exporter }), new SimpleSpanProcessor({ exporter: memory })],
      });
      makeSpans(provider);
      await provider.forceFlush(); // SimpleSpanProcessor.forceFlush → exporter.forceFlush → sink.flush
      const exported = memory.getFinishedSpans();
      assert.equal(exported.length, 3);
      assert.equal(exporter.sink.stats().delivered.records, 3, "one message per span, delivered when forceFlush() resolves");
      const decoded = (await received(transport, exporter)).flatMap((r) => decodeTraces(r.value));
      sameSpans(decoded, exported);
      assert.equal(decoded[0]!.resource["service.name"], "checkout");
      assert.equal(decoded[1]!.status.code, 2);
      await provider.shutdown(); // → exporter.shutdown → sink.close
      assert.equal(exporter.sink.stats().state, "closed");
      assert.deepEqual(conservationErrors(exporter.sink.stats()), []);
    }],

    [`ShedsinkLogRecordExporter behind SimpleLogRecordProcessor: one ExportLogsServiceRequest per record, decoding to its severity, body, attributes, trace context and resource ${mode}`, async () => {
      const transport = memoryTransport();
      const exporter = new ShedsinkLogRecordExporter({ transport, flusher });
      const memory = new InMemoryLogRecordExporter();
      const provider = new LoggerProvider({
        resource: resourceFromAttributes(RESOURCE),
        processors: [new SimpleLogRecordProcessor({ exporter }), new SimpleLogRecordProcessor({ exporter: memory })],
      });
      makeLogRecords(provider, 8);
      await flushed(exporter);
      const exported = memory.getFinishedLogRecords();
      assert.equal(exported.length, 8);
      assert.equal(exporter.sink.stats().delivered.records, 8);
      const decoded = (await received(transport, exporter)).flatMap((r) => decodeLogs(r.value));
      sameLogRecords(decoded, exported);
      assert.equal(decoded[0]!.traceId, "0af7651916cd43dd8448eb211c80319c");
      assert.deepEqual(decoded.map((d) => d.severityNumber).slice(0, 4), [17, 13, 9, 5]);
      await provider.shutdown();
      assert.equal(exporter.sink.stats().state, "closed");
    }],

    [`format "json": messages are OTLP/JSON requests that decode to the same spans and log records ${mode}`, async () => {
      const spans = memoryTransport();
      const spanExporter = new ShedsinkSpanExporter({ transport: spans, flusher, format: "json" });
      const memorySpans = new InMemorySpanExporter();
      const tracing = new TracerProvider({
        resource: resourceFromAttributes(RESOURCE),
        spanProcessors: [new SimpleSpanProcessor({ exporter: spanExporter }), new SimpleSpanProcessor({ exporter: memorySpans })],
      });
      makeSpans(tracing);
      await tracing.forceFlush();
      const spanMessages = await received(spans, spanExporter);
      const first = JSON.parse(new TextDecoder().decode(spanMessages[0]!.value));
      assert.ok(Array.isArray(first.resourceSpans), "an ExportTraceServiceRequest in OTLP/JSON");
      sameSpans(spanMessages.flatMap((r) => decodeTracesJson(r.value)), memorySpans.getFinishedSpans());
      await tracing.shutdown();

      const logs = memoryTransport();
      const logExporter = new ShedsinkLogRecordExporter({ transport: logs, flusher, format: "json" });
      const memoryLogs = new InMemoryLogRecordExporter();
      const logging = new LoggerProvider({
        resource: resourceFromAttributes(RESOURCE),
        processors: [new SimpleLogRecordProcessor({ exporter: logExporter }), new SimpleLogRecordProcessor({ exporter: memoryLogs })],
      });
      makeLogRecords(logging, 4);
      await flushed(logExporter);
      sameLogRecords((await received(logs, logExporter)).flatMap((r) => decodeLogsJson(r.value)), memoryLogs.getFinishedLogRecords());
      await logging.shutdown();
    }],

    [`messagePer "export" writes one message per export() call, "record" one per item; a partition key from the items ${mode}`, async () => {
      const memory = new InMemorySpanExporter();
      const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
      makeSpans(provider);
      const spans = memory.getFinishedSpans().slice();
      const perExport = memoryTransport();
      const a = new ShedsinkSpanExporter({ transport: perExport, flusher, key: (items) => items[0]?.spanContext().traceId });
      const perRecord = memoryTransport();
      const b = new ShedsinkSpanExporter({ transport: perRecord, flusher, messagePer: "record" });
      const results: ExportOutcome[] = [];
      a.export(spans, (r) => results.push(r));
      b.export(spans, (r) => results.push(r));
      assert.deepEqual(results.map((r) => r.code), [0, 0], "SUCCESS, called at once");
      await flushed(a);
      await flushed(b);
      await received(perExport, a);
      await received(perRecord, b);
      assert.equal(perExport.received.length, 1);
      sameSpans(decodeTraces(perExport.received[0]!.value), spans);
      assert.equal(new TextDecoder().decode(perExport.received[0]!.key!), spans[0]!.spanContext().traceId);
      assert.equal(perRecord.received.length, 3);
      sameSpans(perRecord.received.flatMap((r) => decodeTraces(r.value)), spans);
      assert.equal(perRecord.received[0]!.key, null, "no key by default");
      await a.shutdown();
      await b.shutdown();
      await provider.shutdown();
    }],

    [`graded shedding by severity: with the transport hung, DEBUG gives way first and ERROR is kept longest; FAILED results match the drops, counted by class ${mode}`, async () => {
      const memory = new InMemoryLogRecordExporter();
      const provider = new LoggerProvider({ resource: resourceFromAttributes(RESOURCE), processors: [new SimpleLogRecordProcessor({ exporter: memory })] });
      makeLogRecords(provider, 800, "x".repeat(120));
      const records = memory.getFinishedLogRecords().slice();
      const transport = memoryTransport();
      const exporter = new ShedsinkLogRecordExporter({ transport, flusher, capacityBytes: 48 * 1024, batch: { lingerMs: 1 } });
      transport.hang();
      const kept = [0, 0, 0, 0];
      const failed = [0, 0, 0, 0];
      for (let i = 0; i < records.length; i++) {
        exporter.export([records[i]!], (result) => {
          if (result.code === 0) kept[i % 4]!++;
          else {
            assert.ok(result.error instanceof ExportDroppedError);
            failed[i % 4]!++;
          }
        });
      }
      const s = exporter.sink.stats();
      const [errors, warnings, infos, debugs] = kept as [number, number, number, number];
      assert.ok(errors > warnings && warnings > infos && infos > debugs, `kept by severity ERROR ${errors} > WARN ${warnings} > INFO ${infos} > DEBUG ${debugs}`);
      assert.equal(s.shed.length, 4);
      assert.equal(s.shed[0]!.records, 0, "class 0 (ERROR) is never shed, only dropped when the buffer is full");
      assert.ok(s.shed[3]!.records > s.shed[1]!.records, "DEBUG shed more than WARN");
      assert.equal(failed.reduce((x, y) => x + y), s.refused.records, "one FAILED result per message refused");
      assert.equal(s.dropped.shed.records + s.dropped.buffer_full.records, s.refused.records);
      assert.ok(s.pending.bytes + s.inFlight.bytes <= 48 * 1024);
      transport.release();
      await flushed(exporter);
      const decoded = (await received(transport, exporter)).flatMap((r) => decodeLogs(r.value));
      assert.equal(decoded.length, kept.reduce((x, y) => x + y), "every kept record delivered and decoded");
      const bySeverity = [17, 13, 9, 5].map((n) => decoded.filter((d) => d.severityNumber === n).length);
      assert.deepEqual(bySeverity, kept);
      await exporter.shutdown();
      assert.deepEqual(conservationErrors(exporter.sink.stats()), []);
      await provider.shutdown();
    }],

    [`forceFlush() waits for delivery, shutdown() closes the sink, and export() after shutdown is FAILED and counted as closed ${mode}`, async () => {
      const memory = new InMemorySpanExporter();
      const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
      makeSpans(provider);
      const spans = memory.getFinishedSpans().slice();
      const transport = memoryTransport({ latencyMs: 20 });
      const exporter = new ShedsinkSpanExporter({ transport, flusher, messagePer: "record" });
      exporter.export(spans, () => {});
      await exporter.forceFlush();
      assert.equal(exporter.sink.stats().delivered.records, 3, "delivered when forceFlush() resolves");
      assert.equal((await received(transport, exporter)).length, 3);
      await exporter.shutdown();
      assert.equal(exporter.sink.stats().state, "closed");
      let result: ExportOutcome | null = null;
      exporter.export(spans.slice(0, 1), (r) => (result = r));
      assert.equal(result!.code, 1);
      assert.equal(exporter.sink.stats().dropped.closed.records, 1);
      await exporter.shutdown(); // idempotent
      await provider.shutdown();
    }],

    [`a classOf that throws or gives no class drops the message as invalid; a classOf of its own decides the class ${mode}`, async () => {
      const memory = new InMemorySpanExporter();
      const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] });
      makeSpans(provider);
      const spans = memory.getFinishedSpans().slice();
      const transport = memoryTransport();
      const exporter = new ShedsinkSpanExporter({
        transport,
        flusher,
        messagePer: "record",
        classOf: (span) => {
          if (span.name === "render") throw new Error("no class");
          return span.name === "SELECT carts" ? 7 : Number(span.attributes["http.response.status_code"] === 200);
        },
      });
      const codes: number[] = [];
      exporter.export(spans, (r) => codes.push(r.code));
      assert.deepEqual(codes, [1], "FAILED: not every message was kept");
      await flushed(exporter);
      assert.equal(exporter.sink.stats().dropped.invalid.records, 2, "class 7 (no such class) and the throw");
      assert.deepEqual((await received(transport, exporter)).flatMap((r) => decodeTraces(r.value)).map((s) => s.name), ["GET /cart"]);
      await exporter.shutdown();
      await provider.shutdown();
    }],
  ];
}

// The OpenTelemetry exporters against the real broker: spans and log records made by the
// SDK go through ShedsinkSpanExporter / ShedsinkLogRecordExporter behind the SDK's simple
// processors, are read back from the topic (kcat) and decoded as OTLP with protobufjs.
// Then graded shedding by severity while the broker is paused (scripts/kafka.sh pause and
// resume): errors kept, debug shed first, the topic matching the counts by class.
// Prints `e2e otel: …` lines with the decode counts for the CI log.

import { test } from "node:test";
import assert from "node:assert/strict";
import { context, SeverityNumber, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { conservationErrors } from "../../mod.ts";
import { ShedsinkLogRecordExporter, ShedsinkSpanExporter } from "../../src/otel/exporters.ts";
import { FLUSHER } from "../support/sinks.ts";
import { BOOTSTRAP, brokerReachable, consumeAll, createTopic, kafka, requireBroker, uniqueTopic } from "../support/kafka.ts";
import { kafkaTransportForTests } from "../support/transports.ts";
import { decodeLogs, decodeTraces } from "../support/otlp.ts";
import { sleep } from "../support/wait.ts";

const RESOURCE = resourceFromAttributes({ "service.name": "checkout", "service.version": "2.1.0" });

test("spans and log records exported through shedsink reach the topic, one OTLP request per message, and decode to what the SDK exported", async () => {
  await requireBroker();
  const spanTopic = uniqueTopic("e2e-otlp-spans");
  const logTopic = uniqueTopic("e2e-otlp-logs");
  await createTopic(spanTopic, 1);
  await createTopic(logTopic, 1);
  const spanExporter = new ShedsinkSpanExporter({ transport: await kafkaTransportForTests({ brokers: BOOTSTRAP, topic: spanTopic }), flusher: FLUSHER, batch: { lingerMs: 5 } });
  const logExporter = new ShedsinkLogRecordExporter({ transport: await kafkaTransportForTests({ brokers: BOOTSTRAP, topic: logTopic }), flusher: FLUSHER, batch: { lingerMs: 5 } });
  const spansSeen = new InMemorySpanExporter();
  const logsSeen = new InMemoryLogRecordExporter();
  const tracing = new TracerProvider({ resource: RESOURCE, spanProcessors: [new SimpleSpanProcessor({ exporter: spanExporter }), new SimpleSpanProcessor({ exporter: spansSeen })] });
  const logging = new LoggerProvider({ resource: RESOURCE, processors: [new SimpleLogRecordProcessor({ exporter: logExporter }), new SimpleLogRecordProcessor({ exporter: logsSeen })] });
  const tracer = tracing.getTracer("shop", "1.0.0");
  const logger = logging.getLogger("shop", "1.0.0");
  const requests = 40;
  for (let i = 0; i < requests; i++) {
    const root = tracer.startSpan(`GET /cart/${i}`, { kind: SpanKind.SERVER, attributes: { seq: i, "http.route": "/cart/:id" } });
    const inRoot = trace.setSpan(context.active(), root);
    const db = tracer.startSpan("SELECT carts", { kind: SpanKind.CLIENT, attributes: { seq: i } }, inRoot);
    if (i % 5 === 0) db.setStatus({ code: SpanStatusCode.ERROR, message: "deadlock" });
    db.end();
    logger.emit({ severityNumber: i % 5 === 0 ? SeverityNumber.ERROR : SeverityNumber.INFO, body: `cart ${i}`, attributes: { seq: i }, context: inRoot });
    root.end();
  }
  await tracing.forceFlush();
  await logExporter.forceFlush();
  const spanStats = spanExporter.sink.stats();
  const logStats = logExporter.sink.stats();
  // (the in-memory exporters forget what they hold when they shut down)
  const exportedSpans = spansSeen.getFinishedSpans().slice();
  const exportedLogs = logsSeen.getFinishedLogRecords().slice();
  await tracing.shutdown();
  await logging.shutdown();
  assert.equal(spanStats.delivered.records, requests * 2);
  assert.equal(logStats.delivered.records, requests);
  assert.deepEqual(conservationErrors(spanExporter.sink.stats()), []);

  const spanMessages = await consumeAll(spanTopic, { expected: requests * 2, timeoutMs: 30_000 });
  const logMessages = await consumeAll(logTopic, { expected: requests, timeoutMs: 30_000 });
  const decodedSpans = spanMessages.flatMap((m) => decodeTraces(m));
  const decodedLogs = logMessages.flatMap((m) => decodeLogs(m));
  console.log(
    `e2e otel: ${spanMessages.length} span messages read of ${spanStats.delivered.records} exported, ${decodedSpans.length} decoded; ` +
      `${logMessages.length} log messages read of ${logStats.delivered.records} exported, ${decodedLogs.length} decoded`,
  );
  assert.equal(spanMessages.length, requests * 2, "one message per span");
  assert.equal(logMessages.length, requests, "one message per log record");

  assert.equal(decodedSpans.length, exportedSpans.length);
  const byId = new Map(decodedSpans.map((s) => [s.spanId, s]));
  for (const s of exportedSpans) {
    const d = byId.get(s.spanContext().spanId);
    assert.ok(d, `span ${s.name} in the topic`);
    assert.equal(d.traceId, s.spanContext().traceId);
    assert.equal(d.parentSpanId, s.parentSpanContext?.spanId ?? "");
    assert.equal(d.name, s.name);
    assert.equal(d.kind, s.kind + 1);
    assert.deepEqual(d.attributes, { ...s.attributes });
    assert.equal(d.status.code, s.status.code);
    assert.deepEqual(d.resource, { ...s.resource.attributes });
    assert.equal(d.scope.name, "shop");
  }
  assert.equal(decodedLogs.length, exportedLogs.length);
  const bySeq = new Map(decodedLogs.map((d) => [d.attributes.seq, d]));
  for (const r of exportedLogs) {
    const d = bySeq.get(r.attributes.seq);
    assert.ok(d, `log record ${r.attributes.seq} in the topic`);
    assert.equal(d.severityNumber, r.severityNumber);
    assert.equal(d.body, r.body);
    assert.equal(d.traceId, r.spanContext?.traceId);
    assert.equal(d.spanId, r.spanContext?.spanId);
    assert.deepEqual(d.resource, { ...r.resource.attributes });
  }
});

const SEVERITIES = [SeverityNumber.ERROR, SeverityNumber.WARN, SeverityNumber.INFO, SeverityNumber.DEBUG] as const;
/** Of every 20 records: 1 ERROR, 3 WARN, 8 INFO, 8 DEBUG (class 0 to 3). */
const classOf = (seq: number): number => (seq % 20 === 0 ? 0 : seq % 20 < 4 ? 1 : seq % 2 === 0 ? 2 : 3);

test("shedding by severity while the broker is paused: every ERROR reaches the topic, DEBUG is shed first, and the topic matches the counts by class", async () => {
  await requireBroker();
  const topic = uniqueTopic("e2e-otlp-shed");
  await createTopic(topic, 1);
  const capacityBytes = 96 * 1024;
  const exporter = new ShedsinkLogRecordExporter({
    transport: await kafkaTransportForTests({ brokers: BOOTSTRAP, topic }),
    flusher: FLUSHER,
    capacityBytes,
    whenFull: "drop-oldest",
    batch: { lingerMs: 10, maxRecords: 50, maxInFlight: 1 },
  });
  const logging = new LoggerProvider({ resource: RESOURCE, processors: [new SimpleLogRecordProcessor({ exporter })] });
  const logger = logging.getLogger("payments");
  const offered = [0, 0, 0, 0];
  let seq = 0;
  let maxHeld = 0;
  const writer = setInterval(() => {
    for (let k = 0; k < 10; k++) {
      const c = classOf(seq);
      offered[c]!++;
      logger.emit({ severityNumber: SEVERITIES[c], body: `payment ${seq} ${"detail ".repeat(12)}`, attributes: { seq } });
      seq++;
    }
    const s = exporter.sink.stats();
    maxHeld = Math.max(maxHeld, s.pending.bytes + s.inFlight.bytes);
  }, 10);
  try {
    await sleep(500);
    await kafka("pause");
    await sleep(4000);
    await kafka("resume");
    await sleep(500);
    clearInterval(writer);
    await exporter.forceFlush();
    await logging.shutdown();
    const report = await exporter.sink.close();
    assert.deepEqual(conservationErrors(report), []);
    assert.equal(report.pending.records + report.inFlight.records, 0);
    assert.ok(maxHeld <= capacityBytes, `memory bound: ${maxHeld} <= ${capacityBytes}`);
    assert.equal(report.offered.records, seq);

    const messages = await consumeAll(topic, { expected: report.delivered.records, timeoutMs: 30_000 });
    const decoded = messages.flatMap((m) => decodeLogs(m));
    const inTopic = [0, 0, 0, 0];
    for (const d of decoded) inTopic[SEVERITIES.indexOf(d.severityNumber as (typeof SEVERITIES)[number])]!++;
    console.log(
      `e2e otel shedding: ${messages.length} messages read of ${report.delivered.records} delivered, ${decoded.length} decoded; ` +
        `offered by class ${JSON.stringify(offered)}, in the topic ${JSON.stringify(inTopic)}, shed ${JSON.stringify(report.shed.map((c) => c.records))}, ` +
        `buffer_full ${report.dropped.buffer_full.records}, max held ${maxHeld} of ${capacityBytes} bytes`,
    );
    assert.equal(decoded.length, messages.length, "every message decodes to one log record");
    assert.equal(new Set(decoded.map((d) => d.attributes.seq)).size, decoded.length, "no record twice");
    assert.equal(decoded.length, report.delivered.records, "the topic holds exactly the delivered records");
    assert.equal(report.shed[0]!.records, 0, "no ERROR shed");
    assert.equal(inTopic[0], offered[0], `every ERROR delivered: ${inTopic[0]} of ${offered[0]}`);
    assert.ok(report.shed[3]!.records > 0, "DEBUG records were shed");
    assert.ok(report.shed[3]!.records / offered[3]! > report.shed[1]!.records / offered[1]!, "DEBUG gave way before WARN");
    let missing = 0;
    for (let c = 0; c < 4; c++) missing += offered[c]! - inTopic[c]!;
    assert.equal(missing, report.refused.records + report.lost.records, "every record not in the topic was counted as dropped");
  } finally {
    clearInterval(writer);
    await exporter.sink.close({ timeoutMs: 1000 });
    await kafka("resume").catch(() => {});
    if (!(await brokerReachable())) await kafka("restart");
  }
});

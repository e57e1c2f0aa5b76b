// The OpenTelemetry exporters (shedsink/otel/exporters) in thread mode with the memory
// transport: the behaviour tests shared with worker mode (tests/worker/otel-exporters.test.ts),
// then the options and the default classes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeverityNumber } from "@opentelemetry/api";
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { InvalidOptionError, memoryTransport } from "../../mod.ts";
import { logRecordClass, ShedsinkLogRecordExporter, ShedsinkSpanExporter, spanClass } from "../../src/otel/exporters.ts";
import { exporterTests } from "../support/otel-exporters.ts";

for (const [name, body] of exporterTests("thread")) test(name, body);

function throwsOption(make: () => unknown, option: string): void {
  assert.throws(make, (e: unknown) => e instanceof InvalidOptionError && e.option === option, `InvalidOptionError naming ${option}`);
}

test("the exporters reject a bad option of their own or of the sink, naming it", () => {
  const transport = memoryTransport();
  throwsOption(() => new ShedsinkSpanExporter({ transport, format: "avro" as never }), "format");
  throwsOption(() => new ShedsinkSpanExporter({ transport, messagePer: "batch" as never }), "messagePer");
  throwsOption(() => new ShedsinkLogRecordExporter({ transport, classOf: 3 as never }), "classOf");
  throwsOption(() => new ShedsinkLogRecordExporter({ transport, levels: [{ start: 2, full: 1 }] }), "levels.0.start");
  throwsOption(() => new ShedsinkLogRecordExporter({ transport, levels: [{ start: 0.9, full: 0.5 }] }), "shedding.levels.0");
  throwsOption(() => new ShedsinkSpanExporter({ transport, forceFlushTimeoutMs: -1 }), "forceFlushTimeoutMs");
  throwsOption(() => new ShedsinkSpanExporter({ transport, encode: "json" } as never), "encode");
  throwsOption(() => new ShedsinkSpanExporter({ transport, shedding: { field: "x" } } as never), "shedding");
  throwsOption(() => new ShedsinkSpanExporter({ transport, capacityBytes: 10 }), "capacityBytes");
  throwsOption(() => new ShedsinkSpanExporter({ transport, lingerMs: 5 } as never), "lingerMs");
});

test("spanClass: ERROR status 0, entry points and roots 1, calls out 2, internal spans 3", () => {
  const parent = { spanId: "b7ad6b7169203331" };
  const span = (code: number, kind: number, root = false) => ({ status: { code }, kind, parentSpanContext: root ? undefined : parent }) as never;
  assert.equal(spanClass(span(2, 0)), 0);
  assert.equal(spanClass(span(2, 1, true)), 0);
  assert.equal(spanClass(span(0, 1)), 1); // SERVER
  assert.equal(spanClass(span(1, 4)), 1); // CONSUMER
  assert.equal(spanClass(span(0, 0, true)), 1); // a root
  assert.equal(spanClass(span(0, 2)), 2); // CLIENT
  assert.equal(spanClass(span(0, 3)), 2); // PRODUCER
  assert.equal(spanClass(span(1, 0)), 3); // INTERNAL
});

test("logRecordClass: by severity number (ERROR and FATAL 0, WARN 1, INFO 2, DEBUG and TRACE 3), else by text, else INFO", () => {
  const cases: Array<[number | undefined, string | undefined, number]> = [
    [24, undefined, 0], [21, undefined, 0], [17, "info", 0], [16, undefined, 1], [13, undefined, 1],
    [12, undefined, 2], [9, undefined, 2], [8, undefined, 3], [1, undefined, 3],
    [undefined, "FATAL", 0], [0, "error", 0], [undefined, "Warning", 1], [undefined, "info", 2],
    [undefined, "debug", 3], [undefined, "TRACE", 3], [undefined, "notice", 2], [undefined, undefined, 2],
  ];
  for (const [severityNumber, severityText, expected] of cases) {
    assert.equal(logRecordClass({ severityNumber, severityText } as never), expected, `${severityNumber} ${severityText}`);
  }
});

test("with fewer levels than the default classes, the last level takes the rest", async () => {
  const transport = memoryTransport();
  const exporter = new ShedsinkLogRecordExporter({ transport, levels: [{ start: 1, full: 1 }, { start: 0.5, full: 0.9 }] });
  const memory = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: memory })] });
  provider.getLogger("app").emit({ severityNumber: SeverityNumber.DEBUG, body: "cache miss" });
  let code = -1;
  exporter.export(memory.getFinishedLogRecords().slice(), (r) => (code = r.code)); // DEBUG: class 3, here 1
  assert.equal(code, 0, "kept, as class 1");
  assert.equal(exporter.sink.stats().dropped.invalid.records, 0);
  assert.equal(exporter.sink.stats().shed.length, 2);
  await exporter.shutdown();
  await provider.shutdown();
});

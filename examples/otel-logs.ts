/**
 * OpenTelemetry logs to Kafka through shedsink: the SDK's `LoggerProvider` with a
 * `SimpleLogRecordProcessor` in front of `ShedsinkLogRecordExporter`, which encodes each
 * log record as an OTLP `ExportLogsServiceRequest` (protobuf) into a bounded sink that
 * publishes to the `otlp_logs` topic (the OpenTelemetry Collector's Kafka receiver,
 * `encoding: otlp_proto`). Emitting a record never waits for Kafka; when Kafka is away
 * longer than the buffer holds, DEBUG and TRACE records give way first, then INFO, then
 * WARN, and ERROR and FATAL stay longest. The sink's counters are registered on a meter
 * under the SDK's own self-observability names (`otel.sdk.processor.log.*`) beside
 * `shedsink.*`.
 *
 *   node examples/otel-logs.ts          # Node 22, 24, 26 (npm i shedsink @platformatic/kafka @opentelemetry/api
 *                                       #   @opentelemetry/sdk-logs @opentelemetry/otlp-transformer)
 *   deno run -A examples/otel-logs.ts   # Deno
 *   bun run examples/otel-logs.ts       # Bun
 *
 * Environment:
 *   SHEDSINK_BROKERS     bootstrap brokers, default 127.0.0.1:39092 (`bash scripts/kafka.sh start`)
 *   SHEDSINK_LOGS_TOPIC  topic, default otlp_logs (the Collector's default for logs)
 *   EXAMPLE_SELFTEST=1   log 100 records, check what the sink counted, shut down, exit 0
 *                        (or 1, saying what was wrong)
 */

// These imports point into this repository so that the file runs here as it is. In your
// own project, import the package instead:
//   import { ShedsinkLogRecordExporter } from "shedsink/otel/exporters";
//   import { registerSinkMetrics } from "shedsink/otel";
//   import { kafkaTransport } from "shedsink/kafka";
import { metrics, SeverityNumber } from "@opentelemetry/api";
import { LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { conservationErrors } from "../mod.ts";
import { registerSinkMetrics } from "../src/otel.ts";
import { ShedsinkLogRecordExporter } from "../src/otel/exporters.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { outcome } from "./selftest.ts";
import process from "node:process";

const brokers = process.env.SHEDSINK_BROKERS ?? "127.0.0.1:39092";
const topic = process.env.SHEDSINK_LOGS_TOPIC ?? "otlp_logs";

const exporter = new ShedsinkLogRecordExporter({ transport: kafkaTransport({ brokers, topic }) });
const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
const logger = provider.getLogger("payments", "1.0.0");

// The global meter (whatever MeterProvider the application set up; a no-op without one).
const registration = registerSinkMetrics(exporter.sink, metrics.getMeter("payments"), { sdk: { signal: "log" } });

const LEVELS = [
  [SeverityNumber.DEBUG, "DEBUG"],
  [SeverityNumber.INFO, "INFO"],
  [SeverityNumber.WARN, "WARN"],
  [SeverityNumber.ERROR, "ERROR"],
] as const;

function pay(id: number): void {
  const [severityNumber, severityText] = LEVELS[id % 4]!;
  logger.emit({ severityNumber, severityText, body: `payment ${id} processed`, attributes: { "payment.id": id, "payment.method": "card" } });
}

if (process.env.EXAMPLE_SELFTEST === "1") {
  const records = 100;
  for (let i = 0; i < records; i++) pay(i);
  // SimpleLogRecordProcessor.forceFlush() does not reach the exporter: flush it directly.
  await exporter.forceFlush();
  const s = exporter.sink.stats();
  const problems = [...conservationErrors(s)];
  if (s.delivered.records !== records) problems.push(`delivered ${s.delivered.records} log records, expected ${records} (last transport error: ${s.lastError})`);
  if (!registration.instruments.includes("otel.sdk.processor.log.processed")) problems.push("otel.sdk.processor.log.processed not registered");
  registration.unregister();
  await provider.shutdown(); // → exporter.shutdown() → sink.close()
  if (exporter.sink.stats().state !== "closed") problems.push("the sink is not closed after provider.shutdown()");
  const { line, code } = outcome("otel-logs", problems, `brokers ${brokers}, topic ${topic}`, `${records} log records delivered to ${topic} as OTLP (${s.transport.name} transport, ${s.flusher} flusher), conservation holds`);
  (code === 0 ? console.log : console.error)(line);
  process.exit(code);
} else {
  let id = 0;
  const work = setInterval(() => pay(id++), 10);
  const report = setInterval(() => {
    const s = exporter.sink.stats();
    console.log(`log records delivered ${s.delivered.records}, pending ${s.pending.records}, shed by class ${JSON.stringify(s.shed.map((c) => c.records))}, transport ${s.transport.state}`);
  }, 1000);
  process.once("SIGINT", async () => {
    clearInterval(work);
    clearInterval(report);
    registration.unregister();
    await provider.shutdown();
    process.exit(0);
  });
}

/**
 * OpenTelemetry traces to Kafka through shedsink: the SDK's `TracerProvider` with a
 * `SimpleSpanProcessor` in front of `ShedsinkSpanExporter`, which encodes each span as an
 * OTLP `ExportTraceServiceRequest` (protobuf) and writes it into a bounded sink that
 * publishes to the `otlp_spans` topic, where the OpenTelemetry Collector's Kafka receiver
 * reads it (`encoding: otlp_proto`). Ending a span never waits for Kafka: when Kafka is
 * away longer than the buffer holds, INTERNAL spans give way first, then CLIENT and
 * PRODUCER spans, then entry points, and spans with an ERROR status stay longest; every
 * drop is counted.
 *
 *   node examples/otel-traces.ts        # Node 22, 24, 26 (npm i shedsink @platformatic/kafka @opentelemetry/api
 *                                       #   @opentelemetry/sdk-trace @opentelemetry/resources @opentelemetry/otlp-transformer)
 *   deno run -A examples/otel-traces.ts # Deno
 *   bun run examples/otel-traces.ts     # Bun
 *
 * Environment:
 *   SHEDSINK_BROKERS      bootstrap brokers, default 127.0.0.1:39092 (`bash scripts/kafka.sh start`)
 *   SHEDSINK_SPANS_TOPIC  topic, default otlp_spans (the Collector's default for traces)
 *   EXAMPLE_SELFTEST=1    trace 50 requests, check what the sink counted, shut down, exit 0
 *                         (or 1, saying what was wrong)
 */

// These imports point into this repository so that the file runs here as it is. In your
// own project, import the package instead:
//   import { ShedsinkSpanExporter } from "shedsink/otel/exporters";   (Deno: "jsr:@shedsink/shedsink/otel/exporters")
//   import { kafkaTransport } from "shedsink/kafka";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { conservationErrors } from "../mod.ts";
import { ShedsinkSpanExporter } from "../src/otel/exporters.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { outcome } from "./selftest.ts";
import process from "node:process";

const brokers = process.env.SHEDSINK_BROKERS ?? "127.0.0.1:39092";
const topic = process.env.SHEDSINK_SPANS_TOPIC ?? "otlp_spans";

const exporter = new ShedsinkSpanExporter({
  transport: kafkaTransport({ brokers, topic }),
  capacityBytes: 8 * 1024 * 1024, // what Kafka being away may cost in memory, at most
  key: (spans) => spans[0]?.spanContext().traceId, // a trace's spans on one partition
});
const provider = new TracerProvider({
  resource: resourceFromAttributes({ "service.name": "checkout" }),
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
});
const tracer = provider.getTracer("checkout", "1.0.0");

/** One request's spans: the SERVER span, a CLIENT span to the database, an INTERNAL one. */
function handle(id: number): void {
  const server = tracer.startSpan("GET /cart", { kind: SpanKind.SERVER, attributes: { "http.route": "/cart", "cart.id": id } });
  const inServer = trace.setSpan(context.active(), server);
  const db = tracer.startSpan("SELECT carts", { kind: SpanKind.CLIENT, attributes: { "db.system.name": "postgresql" } }, inServer);
  if (id % 10 === 0) db.setStatus({ code: SpanStatusCode.ERROR, message: "deadlock detected" });
  db.end();
  tracer.startSpan("render cart", {}, inServer).end();
  server.end();
}

if (process.env.EXAMPLE_SELFTEST === "1") {
  const requests = 50;
  for (let i = 0; i < requests; i++) handle(i);
  await provider.forceFlush(); // → exporter.forceFlush() → sink.flush(): waits for Kafka
  const s = exporter.sink.stats();
  const problems = [...conservationErrors(s)];
  if (s.delivered.records !== requests * 3) problems.push(`delivered ${s.delivered.records} spans, expected ${requests * 3} (last transport error: ${s.lastError})`);
  await provider.shutdown(); // → exporter.shutdown() → sink.close()
  if (exporter.sink.stats().state !== "closed") problems.push("the sink is not closed after provider.shutdown()");
  const { line, code } = outcome("otel-traces", problems, `brokers ${brokers}, topic ${topic}`, `${requests * 3} spans delivered to ${topic} as OTLP (${s.transport.name} transport, ${s.flusher} flusher), conservation holds`);
  (code === 0 ? console.log : console.error)(line);
  process.exit(code);
} else {
  // Trace a request every 10 ms and say what the sink counted every second, until Ctrl-C.
  let id = 0;
  const work = setInterval(() => handle(id++), 10);
  const report = setInterval(() => {
    const s = exporter.sink.stats();
    console.log(`spans delivered ${s.delivered.records}, pending ${s.pending.records}, shed by class ${JSON.stringify(s.shed.map((c) => c.records))}, transport ${s.transport.state}`);
  }, 1000);
  process.once("SIGINT", async () => {
    clearInterval(work);
    clearInterval(report);
    await provider.shutdown();
    process.exit(0);
  });
}

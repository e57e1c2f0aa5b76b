/**
 * A `Deno.serve` server that publishes one telemetry record per request to Kafka through a
 * shedsink sink, and serves the sink's counters at `GET /metrics` (Prometheus text).
 *
 *   deno add jsr:@shedsink/shedsink npm:@platformatic/kafka
 *   deno run -A examples/deno-serve.ts
 *
 * Environment:
 *   SHEDSINK_BROKERS    bootstrap brokers, default 127.0.0.1:39092 (`bash scripts/kafka.sh start`)
 *   SHEDSINK_TOPIC      topic, default shedsink-examples
 *   PORT                port to listen on, default 8080
 *   EXAMPLE_SELFTEST=1  listen on a free port, send a few requests to itself, check what
 *                       the sink counted and /metrics, close the sink, exit 0 (or 1, saying
 *                       what was wrong)
 */

// These imports point into this repository so that the file runs here as it is. In your
// own project, import the package instead:
//   import { createSink } from "jsr:@shedsink/shedsink";
//   import { kafkaTransport } from "jsr:@shedsink/shedsink/kafka";
import { createSink } from "../mod.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { getOrders, outcome, verify } from "./selftest.ts";

/** The telemetry of one request. */
interface RequestRecord {
  ts: number;
  method: string;
  path: string;
  status: number;
  latencyMs: number;
}

const brokers = Deno.env.get("SHEDSINK_BROKERS") ?? "127.0.0.1:39092";
const topic = Deno.env.get("SHEDSINK_TOPIC") ?? "shedsink-examples";
const selfTest = Deno.env.get("EXAMPLE_SELFTEST") === "1";

// On Deno, kafkaTransport() uses @platformatic/kafka (pure JavaScript), in a worker
// thread by default: this thread only encodes and appends each record.
const sink = createSink<RequestRecord>({
  transport: kafkaTransport({ brokers, topic }),
  key: (r) => r.path, // records of one path land on one partition
});

function handler(req: Request): Response {
  const started = performance.now();
  const path = new URL(req.url).pathname;
  if (path === "/metrics") {
    return new Response(sink.metrics(), { headers: { "content-type": "text/plain; version=0.0.4" } });
  }
  const status = path.startsWith("/orders/") ? 200 : 404;
  const body = JSON.stringify(status === 200 ? { order: path.slice("/orders/".length) } : { error: "not found" });
  // Synchronous: never waits for Kafka, never throws. False means the record was dropped
  // (and counted by reason in stats() and /metrics).
  sink.emit({ ts: Date.now(), method: req.method, path, status, latencyMs: performance.now() - started });
  return new Response(body, { status, headers: { "content-type": "application/json" } });
}

const server = Deno.serve({ hostname: "127.0.0.1", port: selfTest ? 0 : Number(Deno.env.get("PORT") ?? 8080), onListen() {} }, handler);
const { port } = server.addr;

if (selfTest) {
  const base = `http://127.0.0.1:${port}`;
  const requests = 20;
  const problems = [
    ...(await getOrders(base, requests)),
    ...(await verify(sink, base, brokers, { delivered: requests, metrics: [`shedsink_records_delivered_total ${requests}`] }, () => server.shutdown())),
  ];
  const { line, code } = outcome("deno-serve", problems, `brokers ${brokers}, topic ${topic}`, `every request's record delivered to ${topic} at ${brokers} (${sink.stats().transport.name} transport), conservation holds`);
  (code === 0 ? console.log : console.error)(line);
  Deno.exit(code);
}

console.log(`listening on http://127.0.0.1:${port} (try /orders/42 and /metrics); records go to ${topic} at ${brokers}`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await server.shutdown();
    // Flush for up to 5 s; what is left is dropped as "shutdown" and counted in the report.
    const report = await sink.close({ timeoutMs: 5000 });
    console.log(`closed: ${report.delivered.records} records delivered, ${report.refused.records + report.lost.records} dropped`);
    Deno.exit(0);
  });
}


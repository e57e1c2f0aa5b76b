/**
 * A `node:http` server that publishes one telemetry record per request to Kafka through a
 * shedsink sink, and serves the sink's counters at `GET /metrics` (Prometheus text).
 *
 *   npm i shedsink @platformatic/kafka                # (librdkafka: @confluentinc/kafka-javascript)
 *   node examples/node-http.ts                        # Node 22, 24, 26 strip the types themselves
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
//   import { createSink } from "shedsink";
//   import { kafkaTransport } from "shedsink/kafka";
import { createSink } from "../mod.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { getOrders, outcome, verify } from "./selftest.ts";
import http from "node:http";
import process from "node:process";

/** The telemetry of one request. */
interface RequestRecord {
  ts: number;
  method: string;
  path: string;
  status: number;
  latencyMs: number;
}

const brokers = process.env.SHEDSINK_BROKERS ?? "127.0.0.1:39092";
const topic = process.env.SHEDSINK_TOPIC ?? "shedsink-examples";
const selfTest = process.env.EXAMPLE_SELFTEST === "1";

// kafkaTransport() runs in a worker thread with @platformatic/kafka, the sink's default
// where that package is installed: this thread only encodes and appends each record.
// With flusher: "thread" it runs here, on librdkafka (@confluentinc/kafka-javascript)
// when that is installed.
const sink = createSink<RequestRecord>({
  transport: kafkaTransport({ brokers, topic }),
  key: (r) => r.path, // records of one path land on one partition
});

const server = http.createServer((req, res) => {
  const started = performance.now();
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (path === "/metrics") {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.end(sink.metrics());
    return;
  }
  const status = path.startsWith("/orders/") ? 200 : 404;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(status === 200 ? { order: path.slice("/orders/".length) } : { error: "not found" }));
  // Synchronous: never waits for Kafka, never throws. False means the record was dropped
  // (and counted by reason in stats() and /metrics).
  sink.emit({ ts: Date.now(), method: req.method ?? "GET", path, status, latencyMs: performance.now() - started });
});

const port = await new Promise<number>((resolve) => {
  server.listen(selfTest ? 0 : Number(process.env.PORT ?? 8080), "127.0.0.1", () => {
    resolve((server.address() as { port: number }).port);
  });
});

if (selfTest) {
  const base = `http://127.0.0.1:${port}`;
  const requests = 20;
  const problems = [
    ...(await getOrders(base, requests)),
    ...(await verify(sink, base, brokers, { delivered: requests, metrics: [`shedsink_records_delivered_total ${requests}`] }, () => { server.closeAllConnections(); server.close(); })),
  ];
  const { line, code } = outcome("node-http", problems, `brokers ${brokers}, topic ${topic}`, `every request's record delivered to ${topic} at ${brokers} (${sink.stats().transport.name} transport), conservation holds`);
  (code === 0 ? console.log : console.error)(line);
  process.exit(code);
}

console.log(`listening on http://127.0.0.1:${port} (try /orders/42 and /metrics); records go to ${topic} at ${brokers}`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    server.close();
    // Flush for up to 5 s; what is left is dropped as "shutdown" and counted in the report.
    const report = await sink.close({ timeoutMs: 5000 });
    console.log(`closed: ${report.delivered.records} records delivered, ${report.refused.records + report.lost.records} dropped`);
    process.exit(0);
  });
}


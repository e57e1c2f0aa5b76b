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
//   import { conservationErrors, createSink } from "jsr:@shedsink/shedsink";
//   import { kafkaTransport } from "jsr:@shedsink/shedsink/kafka";
import { conservationErrors, createSink } from "../mod.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";

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

// On Deno, kafkaTransport() uses @platformatic/kafka (pure JavaScript).
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
  const problems = await check(`http://127.0.0.1:${port}`);
  if (problems.length > 0) {
    console.error(`deno-serve: self-test FAILED (brokers ${brokers}, topic ${topic}):\n  ${problems.join("\n  ")}`);
    Deno.exit(1);
  }
  console.log(`deno-serve: self-test passed: every request's record delivered to ${topic} at ${brokers} (${sink.stats().transport.name} transport), conservation holds`);
  Deno.exit(0);
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

/** Sends requests to the server, then checks what the sink and /metrics say. Returns what was wrong. */
async function check(base: string): Promise<string[]> {
  const problems: string[] = [];
  const requests = 20;
  for (let i = 0; i < requests; i++) {
    const res = await fetch(`${base}/orders/${i}`);
    await res.text();
    if (res.status !== 200) problems.push(`GET /orders/${i}: status ${res.status}`);
  }
  if (!(await sink.flush({ timeoutMs: 30_000 }))) {
    problems.push(`flush() did not settle the records within 30 s (is a Kafka broker at ${brokers}? last transport error: ${sink.stats().lastError})`);
  }
  const metrics = await (await fetch(`${base}/metrics`)).text();
  if (!metrics.includes(`\nshedsink_records_delivered_total ${requests}\n`)) {
    problems.push(`/metrics does not say shedsink_records_delivered_total ${requests}`);
  }
  const stats = sink.stats();
  if (stats.delivered.records !== requests) {
    problems.push(`delivered ${stats.delivered.records} records, expected ${requests} (last transport error: ${stats.lastError})`);
  }
  problems.push(...conservationErrors(stats));
  await server.shutdown();
  const report = await sink.close({ timeoutMs: 5000 });
  if (report.delivered.records !== requests || report.pending.records !== 0 || report.inFlight.records !== 0) {
    problems.push(`close(): delivered ${report.delivered.records}, pending ${report.pending.records}, in flight ${report.inFlight.records}`);
  }
  problems.push(...conservationErrors(report).map((e) => `after close(): ${e}`));
  return problems;
}

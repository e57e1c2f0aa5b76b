/**
 * Piping an NDJSON upload into a sink: `POST /ingest` reads the request body, splits it
 * into one record per line with `ndjson()` and pipes the records into the sink, which
 * publishes them to Kafka. The sink never applies backpressure, so the upload is read as
 * fast as it arrives whatever Kafka does; a bad line is counted as dropped for the reason
 * `invalid`, and the stream goes on. `GET /metrics` serves the sink's counters.
 *
 * Written with `node:http`, so it runs on Node, Deno and Bun alike:
 *   node --import tsx examples/ndjson-upload.ts     # Node 20 (npm i shedsink @confluentinc/kafka-javascript)
 *   node examples/ndjson-upload.ts                  # Node >= 22.18
 *   deno run -A examples/ndjson-upload.ts           # Deno
 *   bun run examples/ndjson-upload.ts               # Bun
 *   curl -X POST --data-binary @records.ndjson http://127.0.0.1:8080/ingest
 *
 * In a fetch-style handler (`Deno.serve`, `Bun.serve`) the body is a web stream already:
 *   await req.body.pipeThrough(ndjson()).pipeTo(sink.writableStream());
 *
 * Environment:
 *   SHEDSINK_BROKERS    bootstrap brokers, default 127.0.0.1:39092 (`bash scripts/kafka.sh start`)
 *   SHEDSINK_TOPIC      topic, default shedsink-examples
 *   PORT                port to listen on, default 8080
 *   EXAMPLE_SELFTEST=1  listen on a free port, upload to itself, check what the sink
 *                       counted and /metrics, close the sink, exit 0 (or 1, saying what was
 *                       wrong)
 */

// These imports point into this repository so that the file runs here as it is. In your
// own project, import the package instead:
//   import { conservationErrors, createSink, ndjson } from "shedsink";   (Deno: "jsr:@shedsink/shedsink")
//   import { kafkaTransport } from "shedsink/kafka";                     (Deno: "jsr:@shedsink/shedsink/kafka")
import { conservationErrors, createSink, ndjson } from "../mod.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import http from "node:http";
import process from "node:process";
import { Readable } from "node:stream";

const brokers = process.env.SHEDSINK_BROKERS ?? "127.0.0.1:39092";
const topic = process.env.SHEDSINK_TOPIC ?? "shedsink-examples";
const selfTest = process.env.EXAMPLE_SELFTEST === "1";

const sink = createSink<unknown>({ transport: kafkaTransport({ brokers, topic }) });

/** Pipes one upload into the sink; resolves to what it read. */
async function ingest(req: http.IncomingMessage): Promise<{ lines: number; invalid: number }> {
  let lines = 0;
  let invalid = 0;
  const counted = new TransformStream<unknown, unknown>({
    transform(record, controller) {
      lines++;
      controller.enqueue(record);
    },
  });
  // Node's streams become a web stream with Readable.toWeb(). Each upload gets a writable
  // of its own (sink.writableStream()): a pipe locks the stream it writes to, and closes
  // it at the end, but closing it does not close the sink. (A single pipe may use
  // `sink.writable` with `{ preventClose: true }` instead.)
  await (Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>)
    .pipeThrough(ndjson({
      onInvalid: (bad) => {
        invalid++;
        console.warn(`upload line ${bad.line} dropped as invalid (${bad.reason}): ${bad.preview}`);
      },
    }))
    .pipeThrough(counted)
    .pipeTo(sink.writableStream());
  return { lines, invalid };
}

const server = http.createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (path === "/metrics") {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.end(sink.metrics());
    return;
  }
  if (path === "/ingest" && req.method === "POST") {
    ingest(req).then(
      (read) => {
        res.writeHead(202, { "content-type": "application/json" });
        res.end(JSON.stringify(read));
      },
      (error: unknown) => {
        res.writeHead(400, { "content-type": "text/plain" });
        res.end(`upload failed: ${error}\n`);
      },
    );
    return;
  }
  res.writeHead(404);
  res.end("not found\n");
});

const port = await new Promise<number>((resolve) => {
  server.listen(selfTest ? 0 : Number(process.env.PORT ?? 8080), "127.0.0.1", () => {
    resolve((server.address() as { port: number }).port);
  });
});

if (selfTest) {
  const problems = await check(`http://127.0.0.1:${port}`);
  if (problems.length > 0) {
    console.error(`ndjson-upload: self-test FAILED (brokers ${brokers}, topic ${topic}):\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`ndjson-upload: self-test passed: every valid line delivered to ${topic} at ${brokers} (${sink.stats().transport.name} transport), the bad one counted as invalid, conservation holds`);
  process.exit(0);
}

console.log(`listening on http://127.0.0.1:${port} (POST NDJSON to /ingest, GET /metrics); records go to ${topic} at ${brokers}`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    server.close();
    // Flush for up to 5 s; what is left is dropped as "shutdown" and counted in the report.
    const report = await sink.close({ timeoutMs: 5000 });
    console.log(`closed: ${report.delivered.records} records delivered, ${report.refused.records + report.lost.records} dropped`);
    process.exit(0);
  });
}

/** Uploads records to the server, then checks what the sink and /metrics say. Returns what was wrong. */
async function check(base: string): Promise<string[]> {
  const problems: string[] = [];
  const good = 200;
  const lines: string[] = [];
  for (let i = 0; i < good; i++) lines.push(JSON.stringify({ id: i, table: "orders", rows: i % 7, latencyMs: i / 10 }));
  lines.splice(good / 2, 0, "{ this line is not JSON"); // counted as dropped: invalid
  const body = lines.join("\n") + "\n";
  const res = await fetch(`${base}/ingest`, { method: "POST", body, headers: { "content-type": "application/x-ndjson" } });
  const answer = await res.text();
  if (res.status !== 202) problems.push(`POST /ingest: status ${res.status}: ${answer}`);
  else if (answer !== JSON.stringify({ lines: good + 1, invalid: 1 })) problems.push(`POST /ingest answered ${answer}, expected ${good + 1} lines, 1 invalid`);
  if (!(await sink.flush({ timeoutMs: 30_000 }))) {
    problems.push(`flush() did not settle the records within 30 s (is a Kafka broker at ${brokers}? last transport error: ${sink.stats().lastError})`);
  }
  const metrics = await (await fetch(`${base}/metrics`)).text();
  for (const sample of [`shedsink_records_delivered_total ${good}`, `shedsink_records_dropped_total{reason="invalid"} 1`]) {
    if (!metrics.includes(`\n${sample}\n`)) problems.push(`/metrics does not say ${sample}`);
  }
  const stats = sink.stats();
  if (stats.offered.records !== good + 1) problems.push(`offered ${stats.offered.records} records, expected ${good + 1}`);
  if (stats.delivered.records !== good) {
    problems.push(`delivered ${stats.delivered.records} records, expected ${good} (last transport error: ${stats.lastError})`);
  }
  if (stats.dropped.invalid.records !== 1) problems.push(`dropped ${stats.dropped.invalid.records} records as invalid, expected 1`);
  problems.push(...conservationErrors(stats));
  server.closeAllConnections();
  server.close();
  const report = await sink.close({ timeoutMs: 5000 });
  if (report.delivered.records !== good || report.pending.records !== 0 || report.inFlight.records !== 0) {
    problems.push(`close(): delivered ${report.delivered.records}, pending ${report.pending.records}, in flight ${report.inFlight.records}`);
  }
  problems.push(...conservationErrors(report).map((e) => `after close(): ${e}`));
  return problems;
}

/**
 * Piping an NDJSON upload into a sink: `POST /ingest` reads the request body, splits it
 * into one record per line with `ndjson()` and pipes the records into the sink, which
 * publishes them to Kafka. The sink never applies backpressure, so the upload is read as
 * fast as it arrives whatever Kafka does; a bad line is counted as dropped for the reason
 * `invalid`, and the stream goes on. `GET /metrics` serves the sink's counters.
 *
 * Written with `node:http`, so it runs on Node, Deno and Bun alike:
 *   node examples/ndjson-upload.ts                  # Node 22, 24, 26 (npm i shedsink @platformatic/kafka)
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
//   import { createSink, ndjson } from "shedsink";   (Deno: "jsr:@shedsink/shedsink")
//   import { kafkaTransport } from "shedsink/kafka";                     (Deno: "jsr:@shedsink/shedsink/kafka")
import { createSink, ndjson } from "../mod.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { outcome, verify } from "./selftest.ts";
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
  const base = `http://127.0.0.1:${port}`;
  const good = 200;
  const problems = [
    ...(await upload(base, good)),
    ...(await verify(sink, base, brokers, {
      delivered: good,
      metrics: [`shedsink_records_delivered_total ${good}`, `shedsink_records_dropped_total{reason="invalid"} 1`],
      stats: (s) => [
        ...(s.offered.records === good + 1 ? [] : [`offered ${s.offered.records} records, expected ${good + 1}`]),
        ...(s.dropped.invalid.records === 1 ? [] : [`dropped ${s.dropped.invalid.records} records as invalid, expected 1`]),
      ],
    }, () => {
      server.closeAllConnections();
      server.close();
    })),
  ];
  const { line, code } = outcome("ndjson-upload", problems, `brokers ${brokers}, topic ${topic}`, `every valid line delivered to ${topic} at ${brokers} (${sink.stats().transport.name} transport), the bad one counted as invalid, conservation holds`);
  (code === 0 ? console.log : console.error)(line);
  process.exit(code);
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

/** Uploads `good` records and one bad line; returns the problems with the answer. */
async function upload(base: string, good: number): Promise<string[]> {
  const lines: string[] = [];
  for (let i = 0; i < good; i++) lines.push(JSON.stringify({ id: i, table: "orders", rows: i % 7, latencyMs: i / 10 }));
  lines.splice(good / 2, 0, "{ this line is not JSON"); // counted as dropped: invalid
  const res = await fetch(`${base}/ingest`, { method: "POST", body: lines.join("\n") + "\n", headers: { "content-type": "application/x-ndjson" } });
  const answer = await res.text();
  if (res.status !== 202) return [`POST /ingest: status ${res.status}: ${answer}`];
  if (answer !== JSON.stringify({ lines: good + 1, invalid: 1 })) return [`POST /ingest answered ${answer}, expected ${good + 1} lines, 1 invalid`];
  return [];
}

/**
 * pino logs to Kafka through a sink: `shedsinkDestination` takes pino's place of
 * `process.stdout`, on the application's thread. Each log line becomes one Kafka message
 * as pino wrote it; a logger call never waits for Kafka, and when the buffer fills, debug
 * lines give way first, then info, then warnings, and errors last (graded shedding by
 * level), every drop counted. `GET /metrics` serves the sink's counters.
 *
 * Written with `node:http`, so it runs on Node, Deno and Bun alike:
 *   node examples/pino.ts              # Node 22, 24, 26 (npm i shedsink pino @platformatic/kafka)
 *   deno run -A examples/pino.ts       # Deno
 *   bun run examples/pino.ts           # Bun
 *   curl http://127.0.0.1:8080/orders/42
 *
 * Environment:
 *   SHEDSINK_BROKERS    bootstrap brokers, default 127.0.0.1:39092 (`bash scripts/kafka.sh start`)
 *   SHEDSINK_TOPIC      topic, default shedsink-examples
 *   PORT                port to listen on, default 8080
 *   EXAMPLE_SELFTEST=1  listen on a free port, send requests to itself, check what the sink
 *                       counted and /metrics, close the sink, exit 0 (or 1, saying what was
 *                       wrong)
 */

// These imports point into this repository so that the file runs here as it is. In your
// own project, import the package instead:
//   import { shedsinkDestination } from "shedsink/pino";      (Deno: "jsr:@shedsink/shedsink/pino")
//   import { kafkaTransport } from "shedsink/kafka";           (Deno: "jsr:@shedsink/shedsink/kafka")
import { shedsinkDestination } from "../src/pino.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { getOrders, outcome, verify } from "./selftest.ts";
import pino from "pino";
import http from "node:http";
import process from "node:process";

const brokers = process.env.SHEDSINK_BROKERS ?? "127.0.0.1:39092";
const topic = process.env.SHEDSINK_TOPIC ?? "shedsink-examples";
const selfTest = process.env.EXAMPLE_SELFTEST === "1";

// The destination creates its sink: shedding by level, no key (add `key: "tenant"` to
// keep a tenant's lines on one partition). Every option of createSink applies.
const destination = shedsinkDestination({ transport: kafkaTransport({ brokers, topic }), capacityBytes: 8 * 1024 * 1024 });
const logger = pino({ base: { service: "orders" }, redact: ["req.headers.authorization"] }, destination);

const server = http.createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (path === "/metrics") {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.end(destination.sink.metrics());
    return;
  }
  const started = performance.now();
  const log = logger.child({ requestId: crypto.randomUUID() });
  const order = /^\/orders\/(\d+)$/.exec(path);
  if (order === null) {
    res.writeHead(404);
    res.end("not found\n");
    log.warn({ req: { method: req.method, url: req.url, headers: req.headers }, status: 404 }, "no such route");
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ id: Number(order[1]), status: "shipped" }));
  log.info({ req: { method: req.method, url: req.url, headers: req.headers }, status: 200, ms: performance.now() - started }, "request");
});

const port = await new Promise<number>((resolve) => {
  server.listen(selfTest ? 0 : Number(process.env.PORT ?? 8080), "127.0.0.1", () => {
    resolve((server.address() as { port: number }).port);
  });
});
logger.info({ port }, "listening");

if (selfTest) {
  const base = `http://127.0.0.1:${port}`;
  const requests = 20;
  const problems = [...(await getOrders(base, requests))];
  // The lines so far: "listening" and one per request. logger.flush(cb) waits for them.
  const flushed = await new Promise((resolve) => logger.flush(resolve));
  if (flushed !== null) problems.push(`logger.flush() called back with ${flushed}`);
  const delivered = requests + 1;
  problems.push(
    ...(await verify(destination.sink as never, base, brokers, {
      delivered,
      metrics: [`shedsink_records_delivered_total ${delivered}`],
      stats: (s) => (s.shed.length === 4 ? [] : [`shed by ${s.shed.length} classes, expected 4 (by level)`]),
    }, () => {
      server.closeAllConnections();
      server.close();
    })),
  );
  const { line, code } = outcome("pino", problems, `brokers ${brokers}, topic ${topic}`, `every log line delivered to ${topic} at ${brokers} (${destination.sink.stats().transport.name} transport), conservation holds`);
  (code === 0 ? console.log : console.error)(line);
  process.exit(code);
}

console.log(`listening on http://127.0.0.1:${port} (GET /orders/<id>, GET /metrics); log lines go to ${topic} at ${brokers}`);

// A crash: log it as fatal (class 0, the last to give way), give the sink 2 s, exit.
process.once("uncaughtException", async (err) => {
  logger.fatal(err, "uncaught exception");
  await destination.close({ timeoutMs: 2000 });
  process.exit(1);
});

// Shutdown (what pino.final did for pino's own destinations): log the last line, then
// close the sink, which flushes for up to 5 s and counts what is left as "shutdown". A
// process.on("exit") handler is too late: delivery is asynchronous, and exit runs no
// more event loop.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    logger.info({ signal }, "shutting down");
    server.close();
    const report = await destination.close({ timeoutMs: 5000 });
    console.log(`closed: ${report.delivered.records} lines delivered, ${report.refused.records + report.lost.records} dropped`);
    process.exit(0);
  });
}

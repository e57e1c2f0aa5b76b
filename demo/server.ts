// The demo's HTTP server: a toy query service whose handler emits one telemetry record
// per request into a shedsink sink. Runs on Node (node:http), Deno (Deno.serve) and Bun
// (Bun.serve); the orchestrator (demo/main.ts) starts it and steers it with JSON lines on
// stdin, and it answers with JSON lines on stdout.
//
// Routes:
//   GET  /query?q=N&id=K   run query template N for id K, emit its telemetry (when on)
//   POST /ingest           NDJSON body piped into the sink: body.pipeThrough(ndjson()).pipeTo(sink)
//   GET  /metrics          Prometheus text from sink.metrics()
//
// Configuration: the DEMO_SERVER environment variable, JSON:
//   { transport: "confluent" | "kafka" | "memory", brokers, topic, capacityBytes, backendMs, shedding, flusher }
// flusher: "thread" or "worker" is passed to createSink(); absent, the sink's default.
// With shedding: every record has a \`level\`, the sink sheds by it (demo/classes.ts), and
// each request also emits two debug samples and, one in 50, an error record.
//
// Commands (stdin):  {cmd:"phase",name,telemetry}  {cmd:"sample",seq}  {cmd:"outage",on}
//                    {cmd:"measured"} (the measured run is over)  {cmd:"finish",flushTimeoutMs}
// Replies (stdout):  {type:"listening",port}  {type:"sample",seq,...}  {type:"final",...}

import process from "node:process";
import { createSink, ndjson, type Sink, type Transport } from "../mod.ts";
import { memoryTransport } from "../src/transports/memory.ts";
import { CLASSES, debugRecords, errorRecord, SHEDDING_OPTIONS, tallyLevels } from "./classes.ts";
import { PhaseLatencies, readCommands, reply } from "./common.ts";
import { PhaseCpu, readCpu } from "./cpu.ts";
import { type QueryTemplate, TEMPLATES } from "./queries.ts";

interface ServerConfig {
  transport: "confluent" | "kafka" | "memory";
  brokers: string;
  topic: string;
  capacityBytes: number;
  /** Milliseconds each query waits for its simulated storage round trip (0: none). */
  backendMs: number;
  /** The sink's batch.lingerMs (default: the sink's default). */
  lingerMs?: number;
  port?: number;
  /** Graded shedding on the records' \`level\` field, with debug and error records too. */
  shedding?: boolean;
  /** The sink's flusher mode; absent: the sink's default. */
  flusher?: "thread" | "worker";
}

const config = JSON.parse(process.env.DEMO_SERVER ?? "{}") as ServerConfig;

// ------------------------------------------------------------------ the "database"

interface Row {
  k: number;
  amount: number;
}
const ROWS = 2000;
const TABLES = new Map<string, Row[]>();
for (const t of TEMPLATES) {
  if (TABLES.has(t.table)) continue;
  const rows: Row[] = [];
  for (let i = 0; i < ROWS; i++) rows.push({ k: (i * 7919) % 100_003, amount: (i * 31) % 1000 });
  TABLES.set(t.table, rows);
}

/** The telemetry record of one query, shaped like query-insights telemetry. */
interface QueryTelemetry {
  ts: number;
  requestId: number;
  fingerprint: string;
  sql: string;
  keyspace: string;
  table: string;
  tabletType: string;
  rows: number;
  latencyMs: number;
  status: "ok";
  /** With shedding only. */
  level?: "info";
}

// ------------------------------------------------------------------ the sink

async function makeTransport(): Promise<{ transport: Transport; setOutage: (on: boolean) => void; received?: () => string[] }> {
  if (config.transport === "memory") {
    const t = memoryTransport({ latencyMs: 2 });
    return { transport: t, setOutage: (on) => (on ? t.hang() : t.release()), received: () => t.texts() };
  }
  const noOutage = () => {};
  // Imported by a computed path: each transport exists only where its runtime is supported.
  const name = config.transport === "confluent" ? "confluentTransport" : "kafkaTransport";
  const path = `../src/transports/${config.transport}.ts`;
  const mod = (await import(path)) as Record<string, (o: { brokers: string; topic: string }) => Transport>;
  return { transport: mod[name]!({ brokers: config.brokers, topic: config.topic }), setOutage: noOutage };
}

const { transport, setOutage, received } = await makeTransport();
const shedding = config.shedding === true;
const sink: Sink<unknown> = createSink<unknown>({
  transport,
  capacityBytes: config.capacityBytes,
  ...(config.lingerMs === undefined ? {} : { batch: { lingerMs: config.lingerMs } }),
  key: (r) => (typeof r === "object" && r !== null && typeof (r as { table?: unknown }).table === "string" ? (r as { table: string }).table : null),
  ...(shedding ? SHEDDING_OPTIONS : {}),
  ...(config.flusher === undefined ? {} : { flusher: config.flusher }),
});

// ------------------------------------------------------------------ handlers

let telemetry = false;
let phase = "warmup";
let requestId = 0;
let intervalRequests = 0;
let queries = 0;
let emitted = 0;
let kept = 0;
/** Records emitted by class (with shedding; request records and NDJSON lines). */
const emittedByClass = new Array<number>(CLASSES).fill(0);
let ingestLines = 0;
let ingestInvalid = 0;
let ingestRecords = 0;
const latencies = new PhaseLatencies(phase);
/** Time spent inside sink.emit(), per call (the calls that do not follow the baseline). */
const emitTimes = new PhaseLatencies(phase);
/**
 * The baseline: time spent in JSON.stringify of the same record at the same spot. Timed
 * on every other emit() call, just before it; that call's emit() is not timed (the record
 * and the JSON code are warm after the baseline), and the other calls time emit() alone.
 * Each figure is thus taken cold, on half the calls.
 */
const stringifyTimes = new PhaseLatencies(phase);
let baselineTurn = false;
let baselineBytes = 0;
const queriesByPhase: Record<string, number> = {};
/** Records emitted by requests, by phase (NDJSON lines not included). */
const emittedByPhase: Record<string, number> = {};
/** The main thread's CPU time (and the process's) by phase. */
const cpu = new PhaseCpu(phase);

/** Runs query template `q` for `id` on the in-memory tables: counts matching rows, sums an amount. */
function scan(t: QueryTemplate, id: number): { rows: number; sum: number } {
  const rows = TABLES.get(t.table)!;
  const want = id % t.mod;
  let matched = 0;
  let sum = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (r.k % t.mod === want) {
      matched++;
      sum += r.amount;
    }
  }
  return { rows: matched, sum };
}

/** The simulated storage round trip: a timer of `backendMs`. */
const backend = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, config.backendMs));

/**
 * The query route: the scan, the storage round trip, then one telemetry record (emitted
 * before the response is written, so that its cost is inside the measured latency);
 * with shedding also its debug samples and, for one request in 50, an error record.
 * emit() never waits for Kafka.
 */
async function query(params: URLSearchParams): Promise<string> {
  const started = performance.now();
  const q = Number(params.get("q") ?? 0);
  const t = TEMPLATES[((q % TEMPLATES.length) + TEMPLATES.length) % TEMPLATES.length]!;
  const { rows, sum } = scan(t, Number(params.get("id") ?? 0));
  const scanned = performance.now();
  if (config.backendMs > 0) await backend();
  requestId++;
  if (telemetry) {
    const record: QueryTelemetry = {
      ts: Date.now(),
      requestId,
      fingerprint: t.fingerprint,
      sql: t.sql,
      keyspace: t.keyspace,
      table: t.table,
      tabletType: t.tabletType,
      rows,
      latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
      status: "ok",
    };
    if (!shedding) {
      emit(record);
    } else {
      record.level = "info";
      const facts = { ...record, scanMs: Math.round((scanned - started) * 1000) / 1000, backendMs: config.backendMs };
      const error = errorRecord(facts);
      if (error !== null) emit(error, 0);
      emit(record, 1);
      for (const d of debugRecords(facts)) emit(d, 3);
    }
  }
  return JSON.stringify({ keyspace: t.keyspace, table: t.table, rows, sum });
}

/** Emits one record, timing the call; `cls`: its class, counted with shedding. */
function emit(record: object, cls?: number): void {
  let ok: boolean;
  baselineTurn = !baselineTurn;
  if (baselineTurn) {
    const s0 = performance.now();
    const json = JSON.stringify(record);
    stringifyTimes.record(performance.now() - s0);
    baselineBytes += json.length; // keeps the result alive
    ok = sink.emit(record);
  } else {
    const e0 = performance.now();
    ok = sink.emit(record);
    emitTimes.record(performance.now() - e0);
  }
  emitted++;
  emittedByPhase[phase] = (emittedByPhase[phase] ?? 0) + 1;
  if (ok) kept++;
  if (cls !== undefined) emittedByClass[cls]!++;
}

/** Pipes an NDJSON body into the sink. The sink never applies backpressure, so the upload is read as fast as it arrives. */
async function ingest(body: ReadableStream<Uint8Array>): Promise<string> {
  const started = performance.now();
  let lines = 0;
  let invalid = 0;
  const count = new TransformStream<unknown, unknown>({
    transform(value, controller) {
      lines++;
      controller.enqueue(value);
    },
  });
  await body
    .pipeThrough(ndjson({ onInvalid: () => invalid++ }))
    .pipeThrough(count)
    .pipeTo(sink.writableStream());
  ingestLines += lines;
  ingestInvalid += invalid;
  ingestRecords += lines - invalid;
  if (shedding) emittedByClass[1]! += lines - invalid; // the valid lines are "info" records
  return JSON.stringify({ lines, records: lines - invalid, invalid, ms: Math.round((performance.now() - started) * 10) / 10 });
}

function finishRequest(started: number): void {
  latencies.record(performance.now() - started);
  intervalRequests++;
  queries++;
  queriesByPhase[phase] = (queriesByPhase[phase] ?? 0) + 1;
}

// ------------------------------------------------------------------ serving

type FetchHandler = (req: Request) => Response | Promise<Response>;

/** Deno and Bun: one Web-standard fetch handler. */
const fetchHandler: FetchHandler = async (req) => {
  const url = new URL(req.url);
  if (url.pathname === "/query") {
    const started = performance.now();
    const res = new Response(await query(url.searchParams), { headers: { "content-type": "application/json" } });
    finishRequest(started);
    return res;
  }
  if (url.pathname === "/metrics") return new Response(sink.metrics(), { headers: { "content-type": "text/plain; version=0.0.4" } });
  if (url.pathname === "/ingest" && req.method === "POST" && req.body !== null) {
    return new Response(await ingest(req.body), { status: 202, headers: { "content-type": "application/json" } });
  }
  return new Response("not found\n", { status: 404 });
};

interface DenoServe {
  serve(options: { hostname: string; port: number; onListen: (addr: { port: number }) => void }, handler: FetchHandler): unknown;
}
interface BunServe {
  serve(options: { hostname: string; port: number; fetch: FetchHandler }): { port: number };
}
const g = globalThis as { Deno?: DenoServe; Bun?: BunServe };

async function listen(): Promise<number> {
  const port = config.port ?? 0;
  if (g.Deno !== undefined) {
    return await new Promise<number>((resolve) => {
      g.Deno!.serve({ hostname: "127.0.0.1", port, onListen: (addr) => resolve(addr.port) }, fetchHandler);
    });
  }
  if (g.Bun !== undefined) return g.Bun.serve({ hostname: "127.0.0.1", port, fetch: fetchHandler }).port;
  // Node: node:http, with the query route served without building Request/Response objects.
  const http = await import("node:http");
  const { Readable } = await import("node:stream");
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/query") {
      const started = performance.now();
      void query(url.searchParams).then((body) => {
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
        finishRequest(started);
      });
      return;
    }
    if (url.pathname === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(sink.metrics());
      return;
    }
    if (url.pathname === "/ingest" && req.method === "POST") {
      ingest(Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>).then(
        (body) => {
          res.writeHead(202, { "content-type": "application/json" });
          res.end(body);
        },
        (error: unknown) => {
          res.writeHead(400, { "content-type": "text/plain" });
          res.end(`${error}\n`);
        },
      );
      return;
    }
    res.writeHead(404);
    res.end("not found\n");
  });
  server.keepAliveTimeout = 60_000;
  return await new Promise<number>((resolve) => {
    server.listen(port, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
}

// ------------------------------------------------------------------ control

readCommands((c) => {
  switch (c.cmd) {
    case "phase":
      phase = String(c.name);
      telemetry = c.telemetry === true;
      latencies.setPhase(phase);
      emitTimes.setPhase(phase);
      stringifyTimes.setPhase(phase);
      cpu.setPhase(phase);
      break;
    case "measured":
      cpu.stop();
      break;
    case "outage":
      setOutage(c.on === true);
      break;
    case "sample": {
      const lat = latencies.take();
      const emit = emitTimes.take();
      const stringify = stringifyTimes.take();
      reply({ type: "sample", seq: c.seq, t: Date.now(), phase, requests: intervalRequests, lat, emit, stringify, stats: sink.stats(), cpu: readCpu(), emitted });
      intervalRequests = 0;
      break;
    }
    case "finish":
      void finish(Number(c.flushTimeoutMs ?? 30_000));
      break;
  }
});

async function finish(flushTimeoutMs: number): Promise<void> {
  cpu.stop();
  const flushStarted = Date.now();
  const flushed = await sink.flush({ timeoutMs: flushTimeoutMs });
  const flushMs = Date.now() - flushStarted;
  const metricsText = sink.metrics();
  // The mode and the transport the sink ran with, as it says (in worker mode the
  // transport's name is the one in the worker: kafkaTransport there is platformatic).
  const { flusher, transport: { name: transportName } } = sink.stats();
  const report = await sink.close({ timeoutMs: 5000 });
  reply({
    type: "final",
    flushed,
    flushMs,
    report,
    lastError: sink.stats().lastError,
    queries,
    queriesByPhase,
    emitted,
    emittedByPhase,
    kept,
    ...(shedding ? { emittedByClass, received: received === undefined ? null : tallyLevels(received().map((text) => JSON.parse(text) as unknown)) } : {}),
    ingest: { lines: ingestLines, records: ingestRecords, invalid: ingestInvalid },
    latency: latencies.phases({ on: ["before", "outage", "after"], baseline: ["baseline-before", "baseline-after"] }),
    emit: emitTimes.phases({ on: ["before", "outage", "upload", "after"] }),
    stringify: stringifyTimes.phases({ on: ["before", "outage", "upload", "after"] }),
    metricsText,
    runtime: g.Deno !== undefined ? "deno" : g.Bun !== undefined ? "bun" : "node",
    transport: transportName,
    flusher,
    pid: process.pid,
    cpu: { thread: cpu.thread, process: cpu.process },
  });
  setTimeout(() => process.exit(0), 100);
}

const port = await listen();
reply({ type: "listening", port, transport: sink.stats().transport.name, flusher: sink.stats().flusher, pid: process.pid });

// OpenTelemetry traces to a backend: the SDK with shedsink's exporter behind a
// SimpleSpanProcessor, against the SDK's BatchSpanProcessor with its OTLP exporter
// (http/protobuf), side by side in one run.
//
//   npm run bench:otel   (bash scripts/lib/node.sh --expose-gc benchmarks/otel.ts) -> benchmarks/results/otel.json (Node 24)
//   (BENCH_KAFKA_PORT / BENCH_KAFKA_DIR: the broker, as for the other benchmarks)
//
// Every span is one request's SERVER span with four attributes, started and ended; one
// in ten has an ERROR status.
//
// 1. What ending a span costs the application's thread, synchronously (mitata, ns per
//    span: start + 4 attributes + end): the SDK with no processor (the floor), a
//    SimpleSpanProcessor with an exporter that does nothing, the BatchSpanProcessor
//    with the OTLP exporter (to a receiver in another process), and the SimpleSpanProcessor
//    with ShedsinkSpanExporter (kafkaTransport to the broker, flusher in a worker, and
//    in thread mode). Work a processor leaves to timers (the batch processor's export:
//    serializing and the HTTP request; shedsink's thread-mode flusher and Kafka client)
//    is not in these figures: see 2.
// 2. Everything on the application's thread, at a steady 10,000 spans/s for --seconds
//    (default 5) after 1 s of warm-up: the thread's CPU from /proc/self/task/<pid>/stat
//    (user + system), per span; the same loop with the SDK alone is the floor, and
//    "over the SDK" subtracts it.
// 3. The backend away for longer than the buffer holds: a TCP listener that accepts and
//    never answers stands in for the OTLP receiver and for Kafka. 10,000 spans/s for
//    --outage-seconds (default 8): how many spans each keeps (held for when the backend
//    returns), how many it drops (the batch processor's own otel.sdk.processor.span.processed
//    with error.type=queue_full; the sink's stats()), how many ERROR spans of those offered
//    each still holds, and the memory each holds (heap growth, and the sink's bytes).
//    Both with their defaults: the batch processor's queue of 2048 spans, the sink's
//    5 MiB.
//
// Needs the benchmarks' broker for 1 and 2 (started if not running: see lib/broker.ts).

import { spawn } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import process from "node:process";
import { bench, do_not_optimize, run } from "mitata";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, type ReadableSpan, SimpleSpanProcessor, type SpanExporter, type SpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { ShedsinkSpanExporter } from "../src/otel/exporters.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { ensureBroker } from "./lib/broker.ts";
import { driveAtRate, hostInfo, round, runtimeInfo, sleep, writeResult } from "./lib/common.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SECONDS = opt("--seconds", 5);
const OUTAGE_SECONDS = opt("--outage-seconds", 8);
const RATE = 10_000;
const RUN = Date.now().toString(36);
const RESOURCE = resourceFromAttributes({ "service.name": "checkout", "service.version": "2.1.0" });


/** A span exporter that keeps nothing: SimpleSpanProcessor's own cost. */
const nothing: SpanExporter = {
  export(_spans: ReadableSpan[], done: (result: { code: 0 }) => void) {
    done({ code: 0 });
  },
  shutdown: () => Promise.resolve(),
  forceFlush: () => Promise.resolve(),
} as SpanExporter;

/** One request's span. */
function spanOf(provider: TracerProvider): (id: number) => void {
  const tracer = provider.getTracer("checkout", "1.0.0");
  return (id) => {
    const span = tracer.startSpan("GET /cart", { kind: SpanKind.SERVER });
    span.setAttribute("http.request.method", "GET");
    span.setAttribute("http.route", "/cart");
    span.setAttribute("http.response.status_code", id % 10 === 0 ? 500 : 200);
    span.setAttribute("cart.id", id);
    if (id % 10 === 0) span.setStatus({ code: SpanStatusCode.ERROR, message: "upstream timeout" });
    span.end();
  };
}

/** An OTLP/HTTP receiver in a child process (so its work is not on this thread) that answers 200. */
async function otlpReceiver(): Promise<{ url: string; stop(): void }> {
  const code = `const s=require("node:http").createServer((q,r)=>{q.on("data",()=>{});q.on("end",()=>{r.writeHead(200,{"content-type":"application/x-protobuf"});r.end()})});s.listen(0,"127.0.0.1",()=>console.log(s.address().port))`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, NODE_OPTIONS: "" } });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
    child.once("exit", (c) => reject(new Error(`receiver exited ${c}`)));
  });
  return { url: `http://127.0.0.1:${port}/v1/traces`, stop: () => child.kill() };
}

/** A backend that is away: accepts TCP connections and never answers. */
async function blackhole(): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on("data", () => {});
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
  return { port, server, sockets };
}

interface Setup {
  readonly name: string;
  readonly provider: TracerProvider;
  readonly shedsink?: ShedsinkSpanExporter;
}

function setup(name: string, processor: SpanProcessor | null, shedsink?: ShedsinkSpanExporter): Setup {
  const provider = new TracerProvider({ resource: RESOURCE, spanProcessors: processor === null ? [] : [processor] });
  return { name, provider, shedsink };
}

/**
 * Waits for what a setup holds to be exported. (SimpleSpanProcessor.forceFlush() rejects
 * with the export error when a span ended in the same tick was dropped: the drop is
 * counted by the sink, so that is not a failure here.)
 */
async function settle(s: Setup): Promise<void> {
  await s.provider.forceFlush().catch(() => {});
  await s.shedsink?.forceFlush();
}

const brokers = ensureBroker();
const receiver = await otlpReceiver();

function healthySetups(): Setup[] {
  const worker = new ShedsinkSpanExporter({ transport: kafkaTransport({ brokers, topic: `bench-otel-worker-${RUN}` }), flusher: "worker" });
  const thread = new ShedsinkSpanExporter({ transport: kafkaTransport({ brokers, topic: `bench-otel-thread-${RUN}` }), flusher: "thread" });
  return [
    setup("SDK alone (no processor)", null),
    setup("SimpleSpanProcessor + exporter doing nothing", new SimpleSpanProcessor({ exporter: nothing })),
    setup("BatchSpanProcessor + OTLPTraceExporter (http/protobuf)", new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: receiver.url }) })),
    setup("SimpleSpanProcessor + ShedsinkSpanExporter (worker)", new SimpleSpanProcessor({ exporter: worker }), worker),
    setup("SimpleSpanProcessor + ShedsinkSpanExporter (thread)", new SimpleSpanProcessor({ exporter: thread }), thread),
  ];
}

// ---------------------------------------------------------------- 1. synchronous cost
const sync: Record<string, { p50_ns: number; avg_ns: number; p99_ns: number }> = {};
{
  const setups = healthySetups();
  for (const s of setups) {
    const one = spanOf(s.provider);
    for (let i = 0; i < 5000; i++) one(i); // warm up, and let the sinks connect
    await settle(s);
    let id = 0;
    bench(s.name, () => {
      do_not_optimize(one(id++));
    });
  }
  const result = await run({ format: "mitata" });
  for (const trial of result.benchmarks) {
    for (const r of trial.runs) {
      if (r.stats === undefined) throw new Error(`${r.name}: ${String(r.error)}`);
      sync[r.name] = { p50_ns: round(r.stats.p50, 4), avg_ns: round(r.stats.avg, 4), p99_ns: round(r.stats.p99, 4) };
    }
  }
  for (const s of setups) {
    if (s.shedsink) {
      const st = s.shedsink.sink.stats();
      console.log(`${s.name}: offered ${st.offered.records}, delivered ${st.delivered.records}, dropped ${st.offered.records - st.accepted.records} on arrival`);
    }
    await s.provider.shutdown();
  }
}

// ---------------------------------------------------------------- 2. steady rate
async function drive(offer: (id: number) => void, seconds: number, warmSeconds = 1): Promise<{ cpuMs: number; spans: number; seconds: number }> {
  const r = await driveAtRate(offer, RATE, seconds, warmSeconds);
  return { cpuMs: r.cpuMs, spans: r.calls, seconds: r.seconds };
}

const steady: Record<string, { us_per_span: number; us_per_span_over_sdk: number; core_share: number; spans: number; delivered_whole_run?: number; dropped_whole_run?: number }> = {};
{
  const setups = healthySetups();
  let floor = 0;
  for (const s of setups) {
    const r = await drive(spanOf(s.provider), SECONDS);
    await settle(s);
    const us = (r.cpuMs * 1000) / r.spans;
    if (s.name.startsWith("SDK alone")) floor = us;
    const st = s.shedsink?.sink.stats();
    steady[s.name] = {
      us_per_span: round(us, 3),
      us_per_span_over_sdk: round(us - floor, 3),
      core_share: round(r.cpuMs / 1000 / r.seconds, 3),
      spans: r.spans,
      ...(st ? { delivered_whole_run: st.delivered.records, dropped_whole_run: st.offered.records - st.delivered.records } : {}),
    };
    console.log(`steady ${s.name}: ${steady[s.name]!.us_per_span} µs/span on the thread (${steady[s.name]!.us_per_span_over_sdk} over the SDK alone), ${r.spans} spans in ${round(r.seconds, 2)} s`);
    await s.provider.shutdown();
  }
}
receiver.stop();

// ---------------------------------------------------------------- 3. backend away
class Reader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

async function heapAfterGc(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(50);
  }
  return process.memoryUsage().heapUsed;
}

interface OutageResult {
  offered: number;
  offered_errors: number;
  kept: number;
  kept_errors: number | string;
  dropped: number;
  heap_growth_bytes: number;
  notes: string;
}
const outage: Record<string, OutageResult> = {};
{
  const away = await blackhole();
  // The batch processor with the OTLP exporter to a receiver that never answers.
  {
    const reader = new Reader();
    const meters = new MeterProvider({ readers: [reader] });
    const heap0 = await heapAfterGc();
    const bsp = new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: `http://127.0.0.1:${away.port}/v1/traces` }), selfObsMeterProvider: meters });
    const provider = new TracerProvider({ resource: RESOURCE, spanProcessors: [bsp] });
    const one = spanOf(provider);
    const r = await drive(one, OUTAGE_SECONDS, 0);
    const heap1 = await heapAfterGc();
    const { resourceMetrics } = await reader.collect();
    const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const processed = metrics.find((m) => m.descriptor.name === "otel.sdk.processor.span.processed");
    const dropped = processed?.dataPoints.filter((p) => p.attributes["error.type"] === "queue_full").reduce((n, p) => n + Number(p.value), 0) ?? 0;
    const passedOn = processed?.dataPoints.filter((p) => p.attributes["error.type"] === undefined).reduce((n, p) => n + Number(p.value), 0) ?? 0;
    // What the processor still holds: its queue (it exposes no count; read its buffer).
    const queued = (bsp as unknown as { _finishedSpans?: ReadableSpan[] })._finishedSpans ?? [];
    const queuedErrors = queued.filter((s) => s.status.code === SpanStatusCode.ERROR).length;
    outage["BatchSpanProcessor + OTLPTraceExporter (defaults: queue 2048 spans)"] = {
      offered: r.spans,
      offered_errors: Math.ceil(r.spans / 10),
      kept: queued.length,
      kept_errors: queuedErrors,
      dropped,
      heap_growth_bytes: heap1 - heap0,
      notes: `${passedOn} spans handed to the exporter (export attempts to the silent receiver, pending or timed out); the queue holds the oldest spans, the newest are dropped whatever their status`,
    };
    void provider.shutdown().catch(() => {});
    await sleep(100);
  }
  // shedsink behind SimpleSpanProcessor, Kafka at the silent address: its defaults
  // (drop-newest), and with whenFull: "drop-oldest".
  for (const whenFull of ["drop-newest", "drop-oldest"] as const) {
    const heap0 = await heapAfterGc();
    const exporter = new ShedsinkSpanExporter({ transport: kafkaTransport({ brokers: `127.0.0.1:${away.port}`, topic: `bench-otel-away-${RUN}` }), flusher: "worker", whenFull });
    // Counts the results by status, to tell how many ERROR spans were refused on arrival.
    let refusedErrors = 0;
    const counting: SpanExporter = {
      export(spans, done) {
        exporter.export(spans, (result) => {
          if (result.code !== 0 && spans[0]!.status.code === SpanStatusCode.ERROR) refusedErrors++;
          done(result as never);
        });
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush(),
    };
    const provider = new TracerProvider({ resource: RESOURCE, spanProcessors: [new SimpleSpanProcessor({ exporter: counting })] });
    const r = await drive(spanOf(provider), OUTAGE_SECONDS, 0);
    const heap1 = await heapAfterGc();
    const s = exporter.sink.stats();
    const offeredErrors = Math.ceil(r.spans / 10);
    // Under drop-oldest a kept ERROR span can still be evicted later, but only by a newer
    // ERROR span (class 0 evicts only its own class when nothing less important is left).
    outage[`SimpleSpanProcessor + ShedsinkSpanExporter (5 MiB, worker, ${whenFull}${whenFull === "drop-newest" ? ": the defaults" : ""})`] = {
      offered: r.spans,
      offered_errors: offeredErrors,
      kept: s.pending.records + s.inFlight.records,
      kept_errors: `${offeredErrors - refusedErrors - (whenFull === "drop-oldest" ? s.dropped.buffer_full.records : 0)} at least (${refusedErrors} refused on arrival${whenFull === "drop-oldest" ? `, at most ${s.dropped.buffer_full.records} evicted as buffer_full` : ""})`,
      dropped: s.refused.records + s.lost.records,
      heap_growth_bytes: heap1 - heap0,
      notes: `held ${s.pending.bytes + s.inFlight.bytes} of ${s.capacityBytes} bytes (in a SharedArrayBuffer, outside the heap); shed by class ${JSON.stringify(s.shed.map((c) => c.records))}, buffer_full ${s.dropped.buffer_full.records}`,
    };
    await exporter.sink.close({ timeoutMs: 0 });
    await provider.shutdown().catch(() => {});
  }
  for (const sock of away.sockets) sock.destroy();
  away.server.close();
}

for (const [name, o] of Object.entries(outage)) {
  console.log(`outage ${name}: offered ${o.offered} (${o.offered_errors} ERROR), kept ${o.kept} (ERROR: ${o.kept_errors}), dropped ${o.dropped}, heap +${Math.round(o.heap_growth_bytes / 1024)} KiB; ${o.notes}`);
}

const file = writeResult("otel", {
  benchmark: "otel",
  date: new Date().toISOString(),
  runtime: runtimeInfo(),
  host: hostInfo(),
  command: "npm run bench:otel (bash scripts/lib/node.sh --expose-gc benchmarks/otel.ts)",
  span: "one SERVER span, 4 attributes, 1 in 10 with ERROR status",
  synchronous_ns_per_span: sync,
  synchronous_units: "nanoseconds per span started and ended (mitata p50, avg, p99); work left to timers not included",
  steady_rate: { spans_per_second: RATE, seconds: SECONDS, cases: steady },
  steady_rate_units: "microseconds of the application thread's CPU per span, everything on the thread included; over_sdk subtracts the SDK-alone case",
  backend_away: { spans_per_second: RATE, seconds: OUTAGE_SECONDS, cases: outage },
});
console.log(`wrote ${file}`);
process.exit(0);

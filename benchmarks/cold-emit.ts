// Cold emit(): what one emit(object) costs inside a request handler whose other work has
// evicted the caches, against JSON.stringify of the same record at the same spot. Runs on
// Node, Deno and Bun:
//
//   bash scripts/lib/node.sh benchmarks/cold-emit.ts  -> benchmarks/results/cold-emit.json
//   deno run -A benchmarks/cold-emit.ts               -> benchmarks/results/cold-emit.deno.json
//   bun run benchmarks/cold-emit.ts                   -> benchmarks/results/cold-emit.bun.json
//
// benchmarks/hot-path.ts times emit() in a tight loop: the record, the ring's write position,
// the encoder's code and its inline caches are all in L1, and a call costs about 1 µs or
// less. A server does other work between two records, and the demo (scripts/demo.sh) times
// its emit() at several times that. This benchmark puts each timed call where a handler
// makes it, after work that evicts the caches, and times the same spot with nothing but
// JSON.stringify, so that the cold cost of the encoding and the cold cost of the sink can be
// told apart.
//
// The handler (each "request", not timed): parses a request URL (new URL, searchParams),
// scans 2,000 in-memory rows as the demo's query route does, walks a --evict-kib window
// (default 2048 KiB, the size of this machine's L2) of a 64 MiB buffer (twice its L3) at a
// 64-byte stride, reading and writing each line, the next request the next window (so the
// whole buffer is swept every 32 requests), writes its response with JSON.stringify, and
// builds the record the demo emits for a query (demo/server.ts: ts, requestId, fingerprint,
// sql, keyspace, table, tabletType, rows, latencyMs, status; ~275 bytes of JSON), fresh for
// each request. Then it makes the one timed call, and yields to the event loop
// (setImmediate), as a server does between requests: the thread mode's flusher runs there.
// The handler's own time is measured and reported (handlerUs): tens of µs per request.
//
// Cases, interleaved request by request (request i runs case i mod K, so that every case
// sees the same handler, the same heap and the same background work):
//
//   timer floor                 an empty timed region (two clock reads)
//   JSON.stringify              JSON.stringify(record): the baseline of the ratio
//   encodeInto                  TextEncoder.encodeInto of the record's JSON string (made
//                               right before, untimed, as emit() makes it) into a 16 MiB
//                               buffer at a moving offset: the UTF-8 encoding alone
//   JSON.stringify + encodeInto the two in one timed region: the least a sink holding the
//                               record's bytes pays
//   emit(object), thread        sink.emit(record), flusher: "thread", a transport that
//                               delivers at once and keeps nothing (nullTransport): the
//                               application's thread alone, no client
//   emit(object), worker        the same with flusher: "worker" (the ring in shared memory,
//                               the flusher and the null transport in a worker thread)
//   emit(object), thread/worker, no key
//                               the same two without the key option: the sink's fast path
//                               for records without key or headers
//   emit(object), thread, kafka sink.emit(record) into kafkaTransport() against the
//                               benchmarks' broker (librdkafka on Node, @platformatic/kafka on
//                               Deno and Bun), flusher: "thread"
//   emit(object), worker, kafka the same with flusher: "worker" (@platformatic/kafka in the
//                               worker)
//
// Every sink but the "no key" ones has the demo's options: 16 MiB of capacity, key: the
// record's table (the no-key ones: 16 MiB).
//
// How a call is timed. mitata times a batch of iterations; here one iteration would be the
// handler's work (tens of µs) plus the call (a few µs), and a figure for the call got by
// subtracting a handler-only baseline would carry the handler's noise, several times the
// call's own cost. So each call is timed by itself, with performance.now() read just before
// and just after it (the demo times its emit() the same way), and the distribution of those
// times is reported (p50, p90, p99). The two clock reads cost something (on this machine
// about 0.1 µs on Node and Deno, 0.04 µs on Bun): the "timer floor" case measures that
// cost at the same spot, and the ratios are of net medians (case p50 − timer floor p50);
// the raw percentiles are in the JSON too. mitata still measures the same calls hot (a
// tight loop, as benchmarks/hot-path.ts does: the sink flushed between samples) in the same
// process, for contrast.
//
// Targets (per runtime and mode): cold emit(object) / cold JSON.stringify, net medians,
// null transport, with the demo's key option and without: <= 1.3x. The kafka cases are
// reported beside them (no target: the client runs on the same thread in thread mode, and
// its work between requests is part of what evicts the caches).
//
// Paced: after the interleaved pass, each round runs --paced-requests (default 300) more
// requests per case with the loop sleeping 1 ms (a timer) after each request instead of
// yielding: the thread idles between requests, as a server at a moderate rate does (the
// demo's 800 requests/s leave 1.25 ms between two), and other processes run on its core
// meanwhile. Reported beside the flat figures (paced.*), with the same timer floor taken
// paced; no target.
//
// Tight: then the same timed calls (same cases, same clock, same interleaving) in a tight
// loop: a fresh record of the same shape each call, no handler work, a yield every 64
// calls. Its p50s are the hot figures by the same estimator as the cold ones (mitata's
// figures are means of batches, which carry the batch's garbage collections).
//
// Per sink, one record every K requests reaches it (K cases): in the flat pass about
// 1,300 records/s, in the paced one about 90/s. Both are rates at which, in a server, most
// records find the flusher idle or lingering, not a batch being filled in a tight loop.
//
// After the run every sink must have accepted every record it was given and dropped none,
// and the kafka sinks must have delivered them all; the benchmark fails otherwise.
//
// Environment: BENCH_KAFKA_PORT / BENCH_KAFKA_DIR (benchmarks/lib/broker.ts: the benchmarks'
// broker, started if it is not running); BENCH_COLD_KAFKA=off leaves the kafka cases out.
// Options: --rounds N (default 3; the median of the rounds' figures is reported),
// --requests N (timed calls per case per round, default 3000), --paced-requests N (default
// 300), --evict-kib N (default 2048), --quick (1 round, 1000 and 100 requests per case),
// --cold-only (the flat and paced passes alone, no tight loop, no mitata, no result file:
// for a profile, e.g.
// node --cpu-prof --cpu-prof-interval 20 benchmarks/cold-emit.ts --cold-only).

import { bench, do_not_optimize, run } from "mitata";
import process from "node:process";
import { setImmediate } from "node:timers";
import { createSink, type Sink, type Transport } from "../mod.ts";
import { TEMPLATES } from "../demo/queries.ts";
import { hostInfo, median, nullTransport, printTargets, quantile, round, runtimeInfo, sleep, target, writeResult } from "./lib/common.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROUNDS = quick ? 1 : opt("--rounds", 3);
const REQUESTS = quick ? 1000 : opt("--requests", 3000);
const EVICT_KIB = opt("--evict-kib", 2048);
const PACED_REQUESTS = quick ? 100 : opt("--paced-requests", 300);
const PACED_GAP_MS = 1;
/** For profiling (node --cpu-prof): the flat and paced passes alone, no tight loop, no mitata, no result file. */
const COLD_ONLY = args.includes("--cold-only");
const WARM_REQUESTS = 300; // per case, before the first round, untimed
const rt = runtimeInfo();
const RUN = Date.now().toString(36);

// ---------------------------------------------------------------- the demo's records

/** The record demo/server.ts emits for one query. */
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
}

// ---------------------------------------------------------------- the handler's work

interface Row {
  k: number;
  amount: number;
}
const ROWS: Row[] = [];
for (let i = 0; i < 2000; i++) ROWS.push({ k: (i * 7919) % 100_003, amount: (i * 31) % 1000 });

const EVICT_BYTES = 64 * 1024 * 1024;
const EVICT = new Uint8Array(EVICT_BYTES);
for (let i = 0; i < EVICT_BYTES; i += 4096) EVICT[i] = 1; // the pages exist before the run
const WINDOW = Math.min(EVICT_BYTES, Math.max(64, EVICT_KIB * 1024));
let evictAt = 0;
let handlerSink = 0;
let requestId = 0;

/**
 * One request's work before its telemetry call: the URL, the scan, a cache-sized walk of
 * memory, the response. Returns the record to emit, built fresh as the demo builds it.
 */
function handle(i: number): QueryTelemetry {
  const started = performance.now();
  const url = new URL(`http://127.0.0.1:8080/query?q=${i % TEMPLATES.length}&id=${(i * 7919) % 100_003}`);
  const t = TEMPLATES[Number(url.searchParams.get("q"))]!;
  const want = Number(url.searchParams.get("id")) % t.mod;
  let rows = 0;
  let sum = 0;
  for (let r = 0; r < ROWS.length; r++) {
    const row = ROWS[r]!;
    if (row.k % t.mod === want) {
      rows++;
      sum += row.amount;
    }
  }
  if (evictAt + WINDOW > EVICT_BYTES) evictAt = 0;
  let x = 0;
  for (let p = evictAt, end = evictAt + WINDOW; p < end; p += 64) {
    x = (x + EVICT[p]!) | 0;
    EVICT[p] = x & 0xff;
  }
  evictAt += WINDOW;
  handlerSink = (handlerSink + x + JSON.stringify({ keyspace: t.keyspace, table: t.table, rows, sum }).length) | 0;
  return {
    ts: Date.now(),
    requestId: ++requestId,
    fingerprint: t.fingerprint,
    sql: t.sql,
    keyspace: t.keyspace,
    table: t.table,
    tabletType: t.tabletType,
    rows,
    latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
    status: "ok",
  };
}

/** The record of request `i` without the handler's work (the tight loop's). */
function record(i: number): QueryTelemetry {
  const t = TEMPLATES[i % TEMPLATES.length]!;
  return { ts: Date.now(), requestId: ++requestId, fingerprint: t.fingerprint, sql: t.sql, keyspace: t.keyspace, table: t.table, tabletType: t.tabletType, rows: i % 97, latencyMs: 1.234, status: "ok" };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------- the sinks

const CAPACITY = 16 * 1024 * 1024;
const keyOf = (r: QueryTelemetry): string => r.table;

interface Measured {
  readonly sink: Sink<QueryTelemetry>;
  readonly kafka: boolean;
  calls: number;
}
const sinks = new Map<string, Measured>();
function sink(name: string, transport: Transport, flusher: "thread" | "worker", kafka: boolean, keyed = true): Measured {
  const m: Measured = { sink: createSink<QueryTelemetry>({ transport, capacityBytes: CAPACITY, ...(keyed ? { key: keyOf } : {}), flusher }), kafka, calls: 0 };
  sinks.set(name, m);
  return m;
}

const nullThread = sink("null, thread", nullTransport(), "thread", false);
const nullWorker = sink("null, worker", nullTransport(), "worker", false);
const plainThread = sink("null, thread, no key", nullTransport(), "thread", false, false);
const plainWorker = sink("null, worker, no key", nullTransport(), "worker", false, false);

let kafkaNote = "";
let kafkaThread: Measured | null = null;
let kafkaWorker: Measured | null = null;
let brokers: string | null = null;
if (process.env.BENCH_COLD_KAFKA === "off") {
  kafkaNote = "not run: BENCH_COLD_KAFKA=off";
} else {
  const { ensureBroker } = await import("./lib/broker.ts");
  const { createTopicsPlt } = await import("./lib/platformatic.ts");
  const { kafkaTransport } = await import("../src/transports/kafka.ts");
  brokers = ensureBroker();
  const topics = { thread: `bench-cold-emit-${RUN}-thread`, worker: `bench-cold-emit-${RUN}-worker` };
  await createTopicsPlt(brokers, [topics.thread, topics.worker], 3);
  kafkaThread = sink("kafka, thread", kafkaTransport({ brokers, topic: topics.thread }), "thread", true);
  kafkaWorker = sink("kafka, worker", kafkaTransport({ brokers, topic: topics.worker }), "worker", true);
  kafkaNote = `kafkaTransport() against the benchmarks' broker at ${brokers}, a topic of 3 partitions per mode`;
}

// ---------------------------------------------------------------- the cold cases

const utf8 = new TextEncoder();
const utf8Buffer = new Uint8Array(CAPACITY);
let utf8At = 0;
let keep: unknown = null;

interface ColdCase {
  readonly name: string;
  readonly baseline: boolean;
  readonly note: string;
  /** Runs the case's call on `r` and returns the time of the timed region, in ms. */
  readonly call: (r: QueryTelemetry) => number;
  readonly perRound: Dist[];
  /** The same, paced: PACED_GAP_MS idle between requests. */
  readonly perRoundPaced: Dist[];
  /** The same calls in a tight loop, each timed alone: the hot figures by the same clock. */
  readonly perRoundTight: Dist[];
  samples: Float64Array;
  n: number;
}
const cold: ColdCase[] = [];
function coldCase(name: string, baseline: boolean, note: string, call: (r: QueryTelemetry) => number): void {
  cold.push({ name, baseline, note, call, perRound: [], perRoundPaced: [], perRoundTight: [], samples: new Float64Array(Math.max(REQUESTS, PACED_REQUESTS)), n: 0 });
}

// Each case writes its own function literal with its own clock reads, so that the timed
// region holds the call alone.
coldCase("timer floor", true, "an empty timed region: two performance.now() reads", () => {
  const t0 = performance.now();
  return performance.now() - t0;
});
coldCase("JSON.stringify", true, "JSON.stringify(record): the baseline", (r) => {
  const t0 = performance.now();
  const s = JSON.stringify(r);
  const t1 = performance.now();
  keep = s;
  return t1 - t0;
});
coldCase("encodeInto", true, "TextEncoder.encodeInto of the record's JSON (made right before, untimed) into a 16 MiB buffer at a moving offset", (r) => {
  const s = JSON.stringify(r);
  if (utf8At + s.length * 3 > CAPACITY) utf8At = 0;
  const t0 = performance.now();
  const w = utf8.encodeInto(s, utf8Buffer.subarray(utf8At, utf8At + s.length * 3)).written;
  const t1 = performance.now();
  utf8At += w;
  return t1 - t0;
});
coldCase("JSON.stringify + encodeInto", true, "both in one timed region: the least a sink holding the record's bytes pays", (r) => {
  const t0 = performance.now();
  const s = JSON.stringify(r);
  if (utf8At + s.length * 3 > CAPACITY) utf8At = 0;
  utf8At += utf8.encodeInto(s, utf8Buffer.subarray(utf8At, utf8At + s.length * 3)).written;
  const t1 = performance.now();
  return t1 - t0;
});
coldCase("emit(object), thread", false, 'flusher: "thread", nullTransport', (r) => {
  const t0 = performance.now();
  nullThread.sink.emit(r);
  const t1 = performance.now();
  nullThread.calls++;
  return t1 - t0;
});
coldCase("emit(object), worker", false, 'flusher: "worker", nullTransport made in the worker', (r) => {
  const t0 = performance.now();
  nullWorker.sink.emit(r);
  const t1 = performance.now();
  nullWorker.calls++;
  return t1 - t0;
});
coldCase("emit(object), thread, no key", false, 'flusher: "thread", nullTransport, no key option: the sink\'s fast path for a record without key or headers', (r) => {
  const t0 = performance.now();
  plainThread.sink.emit(r);
  const t1 = performance.now();
  plainThread.calls++;
  return t1 - t0;
});
coldCase("emit(object), worker, no key", false, 'flusher: "worker", nullTransport, no key option', (r) => {
  const t0 = performance.now();
  plainWorker.sink.emit(r);
  const t1 = performance.now();
  plainWorker.calls++;
  return t1 - t0;
});
if (kafkaThread !== null && kafkaWorker !== null) {
  const kt = kafkaThread;
  const kw = kafkaWorker;
  coldCase("emit(object), thread, kafka", false, 'flusher: "thread", kafkaTransport() (librdkafka on Node, @platformatic/kafka on Deno and Bun)', (r) => {
    const t0 = performance.now();
    kt.sink.emit(r);
    const t1 = performance.now();
    kt.calls++;
    return t1 - t0;
  });
  coldCase("emit(object), worker, kafka", false, 'flusher: "worker", kafkaTransport() (@platformatic/kafka in the worker)', (r) => {
    const t0 = performance.now();
    kw.sink.emit(r);
    const t1 = performance.now();
    kw.calls++;
    return t1 - t0;
  });
}

const K = cold.length;
const handlerTimes = new Float64Array(Math.max(REQUESTS, PACED_REQUESTS) * K);
let handlerN = 0;

type Dist = { p50: number; p90: number; p99: number; mean: number; n: number };

/**
 * One pass: `requests` requests per case, interleaved; after each one the loop yields to
 * the event loop (setImmediate), or, `paced`, sleeps PACED_GAP_MS (a timer) as a server at
 * a moderate rate idles between requests. `into` false: the warm-up, nothing recorded.
 */
async function coldRound(requests: number, into: "flat" | "paced" | "tight" | false): Promise<void> {
  for (const c of cold) c.n = 0;
  if (into === "flat") handlerN = 0;
  if (into === "tight") {
    // The same timed calls in a tight loop: no handler work, a yield every 64 requests.
    for (let i = 0; i < requests * K; i++) {
      const c = cold[i % K]!;
      c.samples[c.n++] = c.call(record(i));
      if (i % 64 === 63) await nextTurn();
    }
  }
  for (let i = 0; into !== "tight" && i < requests * K; i++) {
    const h0 = performance.now();
    const r = handle(i);
    const h1 = performance.now();
    const c = cold[i % K]!;
    const ms = c.call(r);
    if (into !== false) c.samples[c.n++] = ms;
    if (into === "flat") handlerTimes[handlerN++] = h1 - h0;
    if (into === "paced") await sleep(PACED_GAP_MS);
    else await nextTurn();
  }
  if (into === false) return;
  for (const c of cold) {
    const sorted = c.samples.slice(0, c.n).sort();
    let sum = 0;
    for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
    (into === "flat" ? c.perRound : into === "paced" ? c.perRoundPaced : c.perRoundTight).push({ p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99), mean: sum / sorted.length, n: sorted.length });
  }
}

// ---------------------------------------------------------------- the hot loop (mitata)

const HOT_RECORD: QueryTelemetry = handle(0);
const SAMPLE = 4096;
const hotNames: string[] = [];
function hot(name: string, reset: () => unknown, fn: (r: QueryTelemetry) => unknown, counted?: Measured): void {
  hotNames.push(name);
  let calls = 0;
  const next = (): QueryTelemetry | Promise<QueryTelemetry> => {
    calls++;
    if (counted !== undefined) counted.calls++;
    if (calls % SAMPLE === 0) {
      const x = reset();
      if (x instanceof Promise) return x.then(() => HOT_RECORD);
    }
    return HOT_RECORD;
  };
  bench(name, async function* () {
    for (let i = 0; i < 20_000; i++) fn(await next());
    await reset();
    yield { [0]: next, bench: fn };
  });
}
function registerHot(): void {
  hotNames.length = 0;
  hot("hot JSON.stringify", () => {}, (r) => {
    do_not_optimize(JSON.stringify(r));
  });
  hot("hot JSON.stringify + encodeInto", () => (utf8At = 0), (r) => {
    const s = JSON.stringify(r);
    if (utf8At + s.length * 3 > CAPACITY) utf8At = 0;
    utf8At += utf8.encodeInto(s, utf8Buffer.subarray(utf8At, utf8At + s.length * 3)).written;
  });
  hot("hot emit(object), thread", () => nullThread.sink.flush(), (r) => {
    nullThread.sink.emit(r);
  }, nullThread);
  hot("hot emit(object), worker", () => nullWorker.sink.flush(), (r) => {
    nullWorker.sink.emit(r);
  }, nullWorker);
  hot("hot emit(object), thread, no key", () => plainThread.sink.flush(), (r) => {
    plainThread.sink.emit(r);
  }, plainThread);
  hot("hot emit(object), worker, no key", () => plainWorker.sink.flush(), (r) => {
    plainWorker.sink.emit(r);
  }, plainWorker);
}

// ---------------------------------------------------------------- run

console.log(`cold emit() on ${rt.runtime} ${rt.version} (${rt.engine}); record JSON ~${utf8.encode(JSON.stringify(HOT_RECORD)).length} B; ${ROUNDS} round(s) of ${REQUESTS} requests per case, ${K} cases interleaved`);
console.log(`handler: URL + 2,000-row scan + ${WINDOW / 1024} KiB walked of a ${EVICT_BYTES / 1024 / 1024} MiB buffer + response JSON; kafka: ${kafkaNote}`);
const started = performance.now();

await coldRound(WARM_REQUESTS, false); // compiles everything, connects the clients
const hotRounds: Array<Map<string, { p50: number; p99: number; avg: number }>> = [];
for (let round_ = 0; round_ < ROUNDS; round_++) {
  await coldRound(REQUESTS, "flat");
  await coldRound(PACED_REQUESTS, "paced");
  if (COLD_ONLY) {
    console.log(`round ${round_ + 1}: cold p50 µs: ${cold.map((c) => `${c.name} ${(c.perRound[round_]!.p50 * 1000).toFixed(2)}`).join(", ")}`);
    continue;
  }
  await coldRound(REQUESTS, "tight");
  registerHot();
  const result = await run({ format: "quiet" });
  const m = new Map<string, { p50: number; p99: number; avg: number }>();
  for (const trial of result.benchmarks) {
    for (const one of trial.runs) {
      if (one.stats === undefined) throw new Error(`${one.name}: ${String((one.error as Error)?.message ?? one.error)}`);
      m.set(one.name, { p50: one.stats.p50, p99: one.stats.p99, avg: one.stats.avg });
    }
  }
  hotRounds.push(m);
  const last = cold.map((c) => `${c.name} ${(c.perRound[round_]!.p50 * 1000).toFixed(2)}`).join(", ");
  console.log(`round ${round_ + 1}: cold p50 µs: ${last}`);
}
const seconds = (performance.now() - started) / 1000;
if (COLD_ONLY) {
  for (const m of sinks.values()) await m.sink.close({ timeoutMs: 10_000 });
  process.exit(0);
}

// ---------------------------------------------------------------- verify

const verified: Record<string, string> = {};
for (const [name, m] of sinks) {
  if (m.kafka) {
    const ok = await m.sink.flush({ timeoutMs: 30_000 });
    if (!ok) throw new Error(`${name}: flush() did not settle in 30 s`);
  }
  const s = m.sink.stats();
  const dropped = Object.values(s.dropped).reduce((a, d) => a + d.records, 0);
  if (s.accepted.records !== m.calls || dropped !== 0 || s.refused.records !== 0) {
    throw new Error(`${name}: calls=${m.calls} accepted=${s.accepted.records} dropped=${dropped} refused=${s.refused.records}`);
  }
  if (m.kafka && s.delivered.records !== s.accepted.records) throw new Error(`${name}: accepted ${s.accepted.records}, delivered ${s.delivered.records}`);
  verified[name] = `${m.calls} calls, ${s.accepted.records} accepted, 0 dropped${m.kafka ? `, ${s.delivered.records} delivered` : ""} (flusher: ${s.flusher}, transport: ${s.transport.name})`;
}
for (const m of sinks.values()) await m.sink.close({ timeoutMs: 10_000 });

// ---------------------------------------------------------------- summary

const ns = (ms: number) => round(ms * 1e6);
const floorP50 = median(cold[0]!.perRound.map((x) => x.p50));
const pacedFloorP50 = median(cold[0]!.perRoundPaced.map((x) => x.p50));
type ColdSummary = {
  p50_ns: number;
  p90_ns: number;
  p99_ns: number;
  mean_ns: number;
  net_p50_ns: number;
  rounds_p50_ns: number[];
  samples_per_round: number;
  baseline: boolean;
  note: string;
  ratio_to_stringify?: number;
  paced: { p50_ns: number; p99_ns: number; net_p50_ns: number; samples_per_round: number; ratio_to_stringify?: number };
  tight: { p50_ns: number; p99_ns: number; net_p50_ns: number; samples_per_round: number; ratio_to_stringify?: number };
};
const tightFloorP50 = median(cold[0]!.perRoundTight.map((x) => x.p50));
const coldSummary: Record<string, ColdSummary> = {};
for (const c of cold) {
  const p50 = median(c.perRound.map((x) => x.p50));
  coldSummary[c.name] = {
    p50_ns: ns(p50),
    p90_ns: ns(median(c.perRound.map((x) => x.p90))),
    p99_ns: ns(median(c.perRound.map((x) => x.p99))),
    mean_ns: ns(median(c.perRound.map((x) => x.mean))),
    net_p50_ns: c.name === "timer floor" ? 0 : ns(p50 - floorP50),
    rounds_p50_ns: c.perRound.map((x) => ns(x.p50)),
    samples_per_round: c.perRound[0]?.n ?? 0,
    baseline: c.baseline,
    note: c.note,
    paced: {
      p50_ns: ns(median(c.perRoundPaced.map((x) => x.p50))),
      p99_ns: ns(median(c.perRoundPaced.map((x) => x.p99))),
      net_p50_ns: c.name === "timer floor" ? 0 : ns(median(c.perRoundPaced.map((x) => x.p50)) - pacedFloorP50),
      samples_per_round: c.perRoundPaced[0]?.n ?? 0,
    },
    tight: {
      p50_ns: ns(median(c.perRoundTight.map((x) => x.p50))),
      p99_ns: ns(median(c.perRoundTight.map((x) => x.p99))),
      net_p50_ns: c.name === "timer floor" ? 0 : ns(median(c.perRoundTight.map((x) => x.p50)) - tightFloorP50),
      samples_per_round: c.perRoundTight[0]?.n ?? 0,
    },
  };
}
const netStringify = coldSummary["JSON.stringify"]!.net_p50_ns;
const pacedNetStringify = coldSummary["JSON.stringify"]!.paced.net_p50_ns;
for (const c of cold) {
  if (c.name === "timer floor") continue;
  coldSummary[c.name]!.ratio_to_stringify = round(coldSummary[c.name]!.net_p50_ns / netStringify, 3);
  coldSummary[c.name]!.paced.ratio_to_stringify = round(coldSummary[c.name]!.paced.net_p50_ns / pacedNetStringify, 3);
  coldSummary[c.name]!.tight.ratio_to_stringify = round(coldSummary[c.name]!.tight.net_p50_ns / coldSummary["JSON.stringify"]!.tight.net_p50_ns, 3);
}

const hotSummary: Record<string, { median_ns: number; p99_ns: number; rounds_median_ns: number[] }> = {};
for (const name of hotNames) {
  const rs = hotRounds.map((m) => m.get(name)!);
  hotSummary[name] = { median_ns: round(median(rs.map((x) => x.p50))), p99_ns: round(median(rs.map((x) => x.p99))), rounds_median_ns: rs.map((x) => round(x.p50)) };
}
const handler = handlerTimes.slice(0, handlerN).sort();

const r = (name: string) => coldSummary[name]?.ratio_to_stringify ?? NaN;
const ratios: Record<string, number> = {
  coldEmitThreadVsStringify: r("emit(object), thread"),
  coldEmitWorkerVsStringify: r("emit(object), worker"),
  coldEmitThreadNoKeyVsStringify: r("emit(object), thread, no key"),
  coldEmitWorkerNoKeyVsStringify: r("emit(object), worker, no key"),
  pacedEmitThreadVsStringify: coldSummary["emit(object), thread"]!.paced.ratio_to_stringify!,
  pacedEmitWorkerVsStringify: coldSummary["emit(object), worker"]!.paced.ratio_to_stringify!,
  coldEncodeIntoVsStringify: r("encodeInto"),
  coldJsonBytesVsStringify: r("JSON.stringify + encodeInto"),
  hotEmitThreadVsStringify: round(hotSummary["hot emit(object), thread"]!.median_ns / hotSummary["hot JSON.stringify"]!.median_ns, 3),
  hotEmitWorkerVsStringify: round(hotSummary["hot emit(object), worker"]!.median_ns / hotSummary["hot JSON.stringify"]!.median_ns, 3),
  hotEmitThreadNoKeyVsStringify: round(hotSummary["hot emit(object), thread, no key"]!.median_ns / hotSummary["hot JSON.stringify"]!.median_ns, 3),
  hotEmitWorkerNoKeyVsStringify: round(hotSummary["hot emit(object), worker, no key"]!.median_ns / hotSummary["hot JSON.stringify"]!.median_ns, 3),
  tightEmitThreadVsStringify: coldSummary["emit(object), thread"]!.tight.ratio_to_stringify!,
  tightEmitWorkerVsStringify: coldSummary["emit(object), worker"]!.tight.ratio_to_stringify!,
  coldVsHotStringify: round(netStringify / hotSummary["hot JSON.stringify"]!.median_ns, 3),
  coldVsHotEmitThread: round(coldSummary["emit(object), thread"]!.net_p50_ns / hotSummary["hot emit(object), thread"]!.median_ns, 3),
  coldVsHotEmitWorker: round(coldSummary["emit(object), worker"]!.net_p50_ns / hotSummary["hot emit(object), worker"]!.median_ns, 3),
};
if (kafkaThread !== null) {
  ratios.coldEmitThreadKafkaVsStringify = r("emit(object), thread, kafka");
  ratios.coldEmitWorkerKafkaVsStringify = r("emit(object), worker, kafka");
}
const targets = [
  target("coldEmitThreadVsStringify", ratios.coldEmitThreadVsStringify!, "<=", 1.3, 'cold emit(object), flusher: "thread" / cold JSON.stringify, net p50'),
  target("coldEmitWorkerVsStringify", ratios.coldEmitWorkerVsStringify!, "<=", 1.3, 'cold emit(object), flusher: "worker" / cold JSON.stringify, net p50'),
  target("coldEmitThreadNoKeyVsStringify", ratios.coldEmitThreadNoKeyVsStringify!, "<=", 1.3, 'cold emit(object), flusher: "thread", no key option / cold JSON.stringify, net p50'),
  target("coldEmitWorkerNoKeyVsStringify", ratios.coldEmitWorkerNoKeyVsStringify!, "<=", 1.3, 'cold emit(object), flusher: "worker", no key option / cold JSON.stringify, net p50'),
];

const file = writeResult("cold-emit", {
  benchmark: "cold-emit",
  ...rt,
  host: hostInfo(),
  date: new Date().toISOString(),
  command: rt.runtime === "node" ? "bash scripts/lib/node.sh benchmarks/cold-emit.ts" : rt.runtime === "deno" ? "deno run -A benchmarks/cold-emit.ts" : "bun run benchmarks/cold-emit.ts",
  durationSeconds: round(seconds, 3),
  rounds: ROUNDS,
  requestsPerCasePerRound: REQUESTS,
  handler: {
    what: `new URL + searchParams, a 2,000-row scan, ${WINDOW / 1024} KiB walked (64-byte stride, read and write) of a ${EVICT_BYTES / 1024 / 1024} MiB buffer, the next window each request, the response's JSON.stringify, the record built; then setImmediate`,
    evictKiB: WINDOW / 1024,
    p50Us: round(quantile(handler, 0.5) * 1000),
    p99Us: round(quantile(handler, 0.99) * 1000),
  },
  record: { jsonBytes: utf8.encode(JSON.stringify(HOT_RECORD)).length, shape: Object.keys(HOT_RECORD) },
  kafka: kafkaNote,
  units: "nanoseconds per call. cold: each call timed alone with performance.now(); p50/p90/p99 over a round's calls, median over rounds; net_p50_ns = p50 − the timer floor's p50; ratio_to_stringify = net p50 / JSON.stringify's net p50; paced: the paced pass; tight: the same timed calls in a tight loop (no handler work). hot: mitata, median over rounds of its p50 (each sample the mean of a batch of calls)",
  cold: coldSummary,
  hot: hotSummary,
  ratios,
  targets,
  verified,
});

console.log("\ncold (each call timed alone; µs: p50 / p90 / p99, net p50, ratio to JSON.stringify; paced: p50 / p99, ratio; tight loop: p50, ratio):");
for (const c of cold) {
  const s = coldSummary[c.name]!;
  const x = (v: number | undefined) => (v === undefined ? "" : `${v.toFixed(2)}x`);
  console.log(
    `  ${c.name.padEnd(30)} ${(s.p50_ns / 1000).toFixed(2).padStart(7)} / ${(s.p90_ns / 1000).toFixed(2).padStart(7)} / ${(s.p99_ns / 1000).toFixed(2).padStart(7)}   net ${(s.net_p50_ns / 1000).toFixed(2).padStart(6)} ${x(s.ratio_to_stringify).padStart(6)}` +
      `   paced ${(s.paced.p50_ns / 1000).toFixed(2).padStart(6)} / ${(s.paced.p99_ns / 1000).toFixed(2).padStart(7)} ${x(s.paced.ratio_to_stringify).padStart(6)}` +
      `   tight ${(s.tight.p50_ns / 1000).toFixed(2).padStart(5)} ${x(s.tight.ratio_to_stringify).padStart(6)}`,
  );
}
console.log(`hot (mitata, ns median): ${hotNames.map((n) => `${n.slice(4)} ${hotSummary[n]!.median_ns}`).join(", ")}`);
console.log(`handler work per request: p50 ${round(quantile(handler, 0.5) * 1000)} µs, p99 ${round(quantile(handler, 0.99) * 1000)} µs`);
console.log(`\nratios (${round(seconds, 3)} s):`);
printTargets(targets);
for (const [k, v] of Object.entries(ratios)) console.log(`  ${k} = ${v}`);
for (const [k, v] of Object.entries(verified)) console.log(`  verified ${k}: ${v}`);
console.log(`wrote ${file}`);
if (handlerSink === 42 && keep === null) console.log(""); // keeps the handler's results alive
process.exit(0);

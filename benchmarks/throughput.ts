// Throughput: records per second delivered end to end to the local broker, confirmed by
// a consumer reading the topic back, for the ways of publishing the same ~250 B JSON
// records that this runtime has, each with the producer settings of the transport it is
// compared with (idempotent, acks all, lz4):
//
//   shedsink (thread)     sink.emit(record), flusher: "thread", kafkaTransport() with
//                         default options: the confluent transport (librdkafka) on Node,
//                         the platformatic transport on Deno and Bun. Default capacity
//                         (5 MiB) and batching (1000 records, 20 ms, 4 batches in flight).
//                         The loop yields to the event loop every 1000 records and, when
//                         emit() returns false (buffer full), waits 1 ms and offers the
//                         same record again, so every record is eventually accepted (the
//                         refusals are reported). JSON key "shedsink".
//   shedsink (worker)     the same loop with flusher: "worker" and kafkaTransport(), which
//                         runs @platformatic/kafka in the worker on every runtime.
//   bare librdkafka loop  (Node only) producer.produce(JSON bytes) with the confluent
//                         transport's librdkafka settings, as fast as librdkafka takes
//                         them (QUEUE_FULL: wait 1 ms and try again), delivery reports
//                         counted.
//   bare @platformatic/kafka loop
//                         a producer with the platformatic transport's options, fed
//                         batches of 1000 JSON records (each batch to one partition, the
//                         next batch to the next partition, as the transport does), at
//                         most 4 send() calls in flight (the sink's default maxInFlight);
//                         a new batch is built as soon as one settles, no rate limit.
//   await per record      produce one record, await its delivery, next one (the
//                         synchronous pattern), for --sync-seconds (default 3): librdkafka
//                         on Node, @platformatic/kafka on Deno and Bun.
//
// Each case writes to a fresh topic (3 partitions, created with @platformatic/kafka's
// Admin before anything is timed). Each run's client connects before its clock starts:
// shedsink's transport reports "up" (sink.stats()), librdkafka's connect() has called
// back, the bare @platformatic/kafka producer has the topic's metadata and a producer
// id. Time runs from the first record offered until the last delivery (shedsink:
// sink.flush() resolved). Afterwards kcat reads each topic from the beginning; the rate is the consumer's count of distinct
// record ids divided by that time, and a measured run whose topic holds other than the
// records offered fails the benchmark. After one unmeasured warm-up run of each case
// with a fifth of the records, the cases run interleaved for --rounds rounds (default 5),
// each shedsink case next to the bare loop it is compared with (Node: thread, bare
// librdkafka, worker, bare @platformatic/kafka; Deno and Bun: thread, bare
// @platformatic/kafka, worker), the order reversed every other round so that none always
// runs first. The machine is shared (broker and client on the same cores), so rates
// drift between rounds: every ratio between two cases is the median of the per-round
// ratios (each run against the other case's run in the same round), and the rates are
// medians too.
//
// Targets: on every runtime workerVsBare ≥ 0.9 (shedsink (worker) / the bare
// @platformatic/kafka loop, the client the worker runs); on Node also
// throughputVsBareLibrdkafka ≥ 0.9 (shedsink (thread) / the bare librdkafka loop).
// Informational: threadVsBare (thread mode / the bare loop of its client), workerVsThread,
// on Node workerVsBareLibrdkafka and barePlatformaticVsBareLibrdkafka.
//
// CPU: cpuMicrosPerRecord is the whole process's CPU time (every thread: JS, worker,
// librdkafka's threads) per record; appThreadCpuMicrosPerRecord is that of the main
// thread only (from /proc/self/task/<pid>/stat, 10 ms ticks).
//
//   node --import tsx benchmarks/throughput.ts   -> benchmarks/results/throughput.json
//   deno run -A benchmarks/throughput.ts         -> benchmarks/results/throughput.deno.json
//   bun run benchmarks/throughput.ts             -> benchmarks/results/throughput.bun.json
//   options: [--records N] [--rounds R] [--sync-seconds S] [--only CASE] [--batch JSON]
//   [--extra JSON]. --records defaults to 500,000 (1,000,000 when only two cases ran, on
//   Node): about 2 s per run at the ~250,000 records/s the bare librdkafka loop reached on
//   a quiet machine, longer for slower cases, so that a full run with its five cases
//   (four on Deno and Bun) stays within about 4 minutes.
//
// Needs the benchmarks' broker (started if not running: see lib/broker.ts) and kcat.

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import process from "node:process";
import { setImmediate as turn } from "node:timers/promises";
import { createSink, type Sink } from "../mod.ts";
import { confluentTransport } from "../src/transports/confluent.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { ensureBroker } from "./lib/broker.ts";
import { hostInfo, median, printTargets, round, runtimeInfo, sleep, target, type Target, telemetryRecord as record, writeResult } from "./lib/common.ts";
import { connectProducer, consumeCount, disconnect, ERR_QUEUE_FULL, transportProducerConfig } from "./lib/kafka.ts";
import { connectPltProducer, createTopicsPlt, deleteTopicsPlt, type PltMessage, transportPltOptions } from "./lib/platformatic.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = opt("--records", 500_000);
const ROUNDS = opt("--rounds", 5);
const SYNC_SECONDS = opt("--sync-seconds", 3);
const CAPACITY = 5 * 1024 * 1024; // the sink's default
const CHUNK = 1000;
/** The bare @platformatic/kafka loop's batch size and sends in flight: the sink's defaults. */
const BARE_BATCH = 1000;
const BARE_IN_FLIGHT = 4;
const PARTITIONS = 3;
/** --batch '{"maxInFlight":16}': sink batch options other than the defaults (for experiments). */
const BATCH = args.includes("--batch") ? JSON.parse(args[args.indexOf("--batch") + 1]!) as Record<string, number> : null;
/** --extra '{"maxInFlight":16}': also run shedsink (thread) with these batch options in every round (informational). */
const EXTRA = args.includes("--extra") ? JSON.parse(args[args.indexOf("--extra") + 1]!) as Record<string, number> : null;
/** --only thread|worker|bare|bare-plt: run just that case once (for profiling); writes no results. */
const ONLY = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;

const rt = runtimeInfo();
const onNode = rt.runtime === "node";
const RUN = Date.now().toString(36);
let topicSeq = 0;
const topicName = (what: string) => `bench-throughput-${RUN}-${what}-${topicSeq++}`;

/** The main thread's CPU time in µs (user + system, 10 ms ticks), or NaN without /proc. */
function threadCpuMicros(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
}

interface Clock {
  t0: number;
  cpu0: { user: number; system: number };
  thread0: number;
}
const startClock = (): Clock => ({ thread0: threadCpuMicros(), cpu0: process.cpuUsage(), t0: performance.now() });

interface CaseResult {
  topic: string;
  /** CPU time of this process (every thread) per record, in µs. */
  cpuMicrosPerRecord: number;
  /** CPU time of the main thread per record, in µs. */
  appThreadCpuMicrosPerRecord: number;
  offered: number;
  seconds: number;
  consumed: number;
  distinctIds: number;
  recordsPerSecond: number;
  notes: Record<string, number | string>;
}

async function finish(brokers: string, topic: string, offered: number, clock: Clock, notes: Record<string, number | string>): Promise<CaseResult> {
  const seconds = (performance.now() - clock.t0) / 1000;
  const cpu = process.cpuUsage(clock.cpu0);
  const thread = threadCpuMicros() - clock.thread0;
  const c = await consumeCount(brokers, topic);
  return {
    topic,
    offered,
    seconds: round(seconds),
    consumed: c.records,
    distinctIds: c.distinctIds,
    recordsPerSecond: round(c.distinctIds / seconds),
    cpuMicrosPerRecord: round((cpu.user + cpu.system) / offered),
    appThreadCpuMicrosPerRecord: round(thread / offered),
    notes,
  };
}

/** Offers records 0..n-1 to the sink as fast as it accepts them (see the module docs). */
async function emitAll(sink: Sink<ReturnType<typeof record>>, n: number): Promise<number> {
  let refusals = 0;
  let i = 0;
  while (i < n) {
    const end = Math.min(n, i + CHUNK);
    while (i < end) {
      if (sink.emit(record(i))) i++;
      else {
        refusals++;
        break;
      }
    }
    if (i < end) await sleep(1);
    else await turn();
  }
  return refusals;
}

async function shedsinkCase(brokers: string, topic: string, mode: "thread" | "worker", batch: Record<string, number> | null = BATCH, n = N): Promise<CaseResult> {
  // Node's thread mode as before this benchmark ran elsewhere: the confluent transport itself.
  const transport = mode === "thread" && onNode ? confluentTransport({ brokers, topic }) : kafkaTransport({ brokers, topic });
  const sink = createSink<ReturnType<typeof record>>({ transport, flusher: mode, capacityBytes: CAPACITY, ...(batch === null ? {} : { batch }) });
  for (let i = 0; i < 400 && sink.stats().transport.state !== "up"; i++) await sleep(25);
  const clock = startClock();
  const refusals = await emitAll(sink, n);
  const settled = await sink.flush({ timeoutMs: 120_000 });
  const s = sink.stats();
  const result = await finish(brokers, topic, n, clock, {
    transport: s.transport.name,
    delivered: s.delivered.records,
    refusedBufferFullRetried: refusals,
    sends: s.sends,
    inFlightAfterFlush: s.inFlight.records,
    pendingAfterFlush: s.pending.records,
    retries: s.retries,
  });
  await sink.close({ timeoutMs: 10_000 });
  if (!settled) throw new Error(`shedsink (${mode}): flush timed out`);
  return result;
}

async function bareLibrdkafkaCase(brokers: string, topic: string, n = N): Promise<CaseResult> {
  const p = await connectProducer(transportProducerConfig(brokers, CAPACITY));
  let delivered = 0;
  let failed = 0;
  p.on("delivery-report", ((error: Error | null) => {
    if (error) failed++;
    else delivered++;
  }) as (...a: never[]) => void);
  let queueFull = 0;
  const clock = startClock();
  let i = 0;
  while (i < n) {
    const end = Math.min(n, i + CHUNK);
    while (i < end) {
      try {
        p.produce(topic, null, Buffer.from(JSON.stringify(record(i))), null, Date.now());
        i++;
      } catch (error) {
        if ((error as { code?: number }).code !== ERR_QUEUE_FULL) throw error;
        queueFull++;
        break;
      }
    }
    if (i < end) await sleep(1);
    else await turn();
  }
  while (delivered + failed < n) await sleep(1);
  const result = await finish(brokers, topic, n, clock, { delivered, failed, queueFullRetried: queueFull });
  await disconnect(p);
  return result;
}

async function barePlatformaticCase(brokers: string, topic: string, n = N): Promise<CaseResult> {
  const producer = await connectPltProducer(brokers, topic);
  let inFlight = 0;
  let delivered = 0;
  let failed = 0;
  let firstError: unknown = null;
  let wake: (() => void) | null = null;
  const settled = () => {
    inFlight--;
    const w = wake;
    wake = null;
    w?.();
  };
  const clock = startClock();
  let partition = 0;
  let sends = 0;
  let i = 0;
  while (i < n) {
    while (inFlight >= BARE_IN_FLIGHT) await new Promise<void>((resolve) => (wake = resolve));
    const end = Math.min(n, i + BARE_BATCH);
    const messages: PltMessage[] = new Array(end - i);
    for (let k = 0; i < end; k++, i++) {
      messages[k] = { topic, partition, value: Buffer.from(JSON.stringify(record(i))), timestamp: BigInt(Date.now()) };
    }
    partition = (partition + 1) % PARTITIONS;
    inFlight++;
    sends++;
    producer.send({ messages }).then(
      () => {
        delivered += messages.length;
        settled();
      },
      (error: unknown) => {
        failed += messages.length;
        firstError ??= error;
        settled();
      },
    );
  }
  while (inFlight > 0) await new Promise<void>((resolve) => (wake = resolve));
  const result = await finish(brokers, topic, n, clock, { delivered, failed, sends, ...(firstError === null ? {} : { firstError: String(firstError) }) });
  await producer.close();
  return result;
}

async function syncCase(brokers: string, topic: string): Promise<CaseResult> {
  if (onNode) {
    const p = await connectProducer(transportProducerConfig(brokers, CAPACITY));
    let wake: ((e: Error | null) => void) | null = null;
    p.on("delivery-report", ((error: Error | null) => wake?.(error)) as (...a: never[]) => void);
    const clock = startClock();
    const until = clock.t0 + SYNC_SECONDS * 1000;
    let n = 0;
    while (performance.now() < until) {
      const done = new Promise<Error | null>((resolve) => (wake = resolve));
      p.produce(topic, null, Buffer.from(JSON.stringify(record(n))), null, Date.now());
      const error = await done;
      if (error) throw error;
      n++;
    }
    const result = await finish(brokers, topic, n, clock, { client: "librdkafka", delivered: n, lingerMs: 5 });
    await disconnect(p);
    return result;
  }
  const producer = await connectPltProducer(brokers, topic);
  const clock = startClock();
  const until = clock.t0 + SYNC_SECONDS * 1000;
  let n = 0;
  while (performance.now() < until) {
    await producer.send({ messages: [{ topic, value: Buffer.from(JSON.stringify(record(n))), timestamp: BigInt(Date.now()) }] });
    n++;
  }
  const result = await finish(brokers, topic, n, clock, { client: "@platformatic/kafka", delivered: n });
  await producer.close();
  return result;
}

// ---------------------------------------------------------------- run

type Which = "thread" | "worker" | "bare" | "bare-plt" | "extra";
const run = (which: Which, topic: string, n = N): Promise<CaseResult> => {
  switch (which) {
    case "thread":
      return shedsinkCase(brokers, topic, "thread", BATCH, n);
    case "worker":
      return shedsinkCase(brokers, topic, "worker", BATCH, n);
    case "extra":
      return shedsinkCase(brokers, topic, "thread", EXTRA, n);
    case "bare":
      return bareLibrdkafkaCase(brokers, topic, n);
    case "bare-plt":
      return barePlatformaticCase(brokers, topic, n);
  }
};
const LABEL: Record<Which, string> = {
  thread: "shedsink (thread)",
  worker: "shedsink (worker)",
  bare: "bare librdkafka loop",
  "bare-plt": "bare @platformatic/kafka loop",
  extra: `shedsink (thread) batch ${JSON.stringify(EXTRA)}`,
};

const brokers = ensureBroker();
const started = performance.now();
// Each shedsink case next to the bare loop it is compared with, in every round.
const kinds: Which[] = [...(onNode ? ["thread", "bare", "worker", "bare-plt"] as const : ["thread", "bare-plt", "worker"] as const), ...(EXTRA === null ? [] : ["extra" as const])];
console.log(
  `throughput on ${rt.runtime} ${rt.version}: ${N} records of ~250 B per run, ${ROUNDS} round(s) of ${kinds.map((k) => LABEL[k]).join(", ")}; ` +
    `broker ${brokers}, broker and client sharing ${hostInfo().cpus} cpus`,
);

const plan: Array<[Which, string]> = [];
for (let r = 0; r < ROUNDS; r++) {
  // Alternate the order, so that no case always runs first or last in its round.
  const order = r % 2 === 0 ? kinds : [...kinds].reverse();
  for (const which of order) plan.push([which, topicName(which)]);
}
if (ONLY !== null) {
  const which = ONLY as Which;
  if (!kinds.includes(which)) throw new Error(`--only: one of ${kinds.join(", ")}`);
  const topic = topicName(which);
  await createTopicsPlt(brokers, [topic], PARTITIONS);
  const r = await run(which, topic);
  console.log(`  ${LABEL[which]} ${r.recordsPerSecond} records/s, ${r.cpuMicrosPerRecord} µs CPU/record (main thread ${r.appThreadCpuMicrosPerRecord}) ${JSON.stringify(r.notes)}`);
  await deleteTopicsPlt(brokers, [topic]);
  process.exit(0);
}
const syncTopic = topicName("sync");
// A warm-up run of each (a fifth of the records, not measured), so that no measured run
// pays for compiling its code path.
const warmup: Array<[Which, string]> = kinds.filter((k) => k !== "extra").map((k) => [k, topicName(`warmup-${k}`)]);
const allTopics = [...warmup.map(([, t]) => t), ...plan.map(([, t]) => t), syncTopic];
await createTopicsPlt(brokers, allTopics, PARTITIONS);
for (const [which, topic] of warmup) {
  const r = await run(which, topic, Math.ceil(N / 5));
  console.log(`  warm-up ${LABEL[which].padEnd(30)} ${String(r.recordsPerSecond).padStart(9)} records/s (not counted)`);
}

const results: Record<Which, CaseResult[]> = { thread: [], worker: [], bare: [], "bare-plt": [], extra: [] };
for (const [which, topic] of plan) {
  const r = await run(which, topic);
  console.log(
    `  ${LABEL[which].padEnd(30)} ${String(r.recordsPerSecond).padStart(9)} records/s, ${r.cpuMicrosPerRecord} µs CPU/record, main thread ${r.appThreadCpuMicrosPerRecord} ` +
      `(${r.distinctIds}/${r.offered} consumed back, ${r.seconds} s) ${JSON.stringify(r.notes)}`,
  );
  if (r.distinctIds !== r.offered || r.consumed !== r.offered) throw new Error(`${LABEL[which]}: consumer read ${r.consumed} records (${r.distinctIds} distinct ids), expected ${r.offered}`);
  results[which].push(r);
}
const sync = await syncCase(brokers, syncTopic);
console.log(`  await per record (${sync.notes.client}) ${sync.recordsPerSecond} records/s (${sync.distinctIds}/${sync.offered} consumed back, ${sync.seconds} s)`);
// Millions of records: leave the broker's disk as it was.
await deleteTopicsPlt(brokers, allTopics);

const rate = (w: Which) => median(results[w].map((r) => r.recordsPerSecond));
const cpu = (w: Which) => median(results[w].map((r) => r.cpuMicrosPerRecord));
/** Per round, a's records/s / b's. */
const paired = (a: Which, b: Which) => results[a].map((r, i) => r.recordsPerSecond / results[b][i]!.recordsPerSecond);
const pairedMedian = (a: Which, b: Which) => round(median(paired(a, b)), 3);
const bareOfThread: Which = onNode ? "bare" : "bare-plt";

const ratios: Record<string, number> = {
  ...(onNode
    ? {
      throughputVsBareLibrdkafka: pairedMedian("thread", "bare"),
      cpuPerRecordVsBareLibrdkafka: round(cpu("thread") / cpu("bare"), 3),
    }
    : {}),
  throughputVsAwaitPerRecord: round(rate("thread") / sync.recordsPerSecond, 3),
  threadVsBare: pairedMedian("thread", bareOfThread),
  workerVsBare: pairedMedian("worker", "bare-plt"),
  workerVsThread: pairedMedian("worker", "thread"),
  threadVsBarePlatformatic: pairedMedian("thread", "bare-plt"),
  cpuPerRecordWorkerVsBarePlatformatic: round(cpu("worker") / cpu("bare-plt"), 3),
  ...(onNode
    ? {
      workerVsBareLibrdkafka: pairedMedian("worker", "bare"),
      barePlatformaticVsBareLibrdkafka: pairedMedian("bare-plt", "bare"),
    }
    : {}),
};
const targets: Target[] = [
  ...(onNode ? [target("throughputVsBareLibrdkafka", ratios.throughputVsBareLibrdkafka!, ">=", 0.9, "median over rounds of shedsink (thread) records/s / bare librdkafka loop records/s")] : []),
  target("workerVsBare", ratios.workerVsBare!, ">=", 0.9, "median over rounds of shedsink (worker) records/s / bare @platformatic/kafka loop records/s"),
];
const seconds = (performance.now() - started) / 1000;

const summary = (w: Which, extra: Record<string, unknown> = {}) => ({
  label: LABEL[w],
  median: rate(w),
  p99: round(Math.min(...results[w].map((r) => r.recordsPerSecond))),
  ...extra,
  rounds: results[w],
});
const pairs = (a: Which, b: Which) => paired(a, b).map((x) => round(x, 3));
const threadClient = onNode ? "confluent" : "platformatic";
const file = writeResult("throughput", {
  benchmark: "throughput",
  ...rt,
  host: hostInfo(),
  date: new Date().toISOString(),
  command: onNode ? "node --import tsx benchmarks/throughput.ts" : rt.runtime === "deno" ? "deno run -A benchmarks/throughput.ts" : "bun run benchmarks/throughput.ts",
  durationSeconds: round(seconds),
  records: N,
  rounds: ROUNDS,
  ...(onNode ? { producerSettings: transportProducerConfig(brokers, CAPACITY) } : {}),
  platformaticProducerSettings: { ...transportPltOptions(brokers), retryDelay: "the transport's (50 ms doubling to 1 s)" },
  bareBatch: { records: BARE_BATCH, inFlight: BARE_IN_FLIGHT, partitions: PARTITIONS },
  units: "records per second delivered and read back by a consumer; median over rounds",
  cases: {
    // "shedsink" is thread mode (its key from when it was the only shedsink case).
    shedsink: summary("thread", {
      mode: "thread",
      transport: threadClient,
      pairedRatios: pairs("thread", bareOfThread),
      ratio_to: {
        ...(onNode ? { "bare librdkafka loop": ratios.throughputVsBareLibrdkafka } : {}),
        "bare @platformatic/kafka loop": ratios.threadVsBarePlatformatic,
        "await per record": ratios.throughputVsAwaitPerRecord,
      },
    }),
    "shedsink (worker)": summary("worker", {
      mode: "worker",
      transport: "platformatic",
      pairedRatios: pairs("worker", "bare-plt"),
      ratio_to: {
        "bare @platformatic/kafka loop": ratios.workerVsBare,
        "shedsink (thread)": ratios.workerVsThread,
        ...(onNode ? { "bare librdkafka loop": ratios.workerVsBareLibrdkafka } : {}),
      },
    }),
    ...(onNode ? { "bare librdkafka loop": summary("bare", { baseline: true }) } : {}),
    "bare @platformatic/kafka loop": summary("bare-plt", { baseline: true }),
    "await per record": { label: `await per record (${sync.notes.client})`, median: sync.recordsPerSecond, p99: sync.recordsPerSecond, rounds: [sync], baseline: true },
    ...(EXTRA === null ? {} : { [`${LABEL.extra} (informational)`]: summary("extra", { pairedRatios: pairs("extra", bareOfThread) }) }),
  },
  note: "p99 of a throughput case is its slowest round (records/s); cpuMicrosPerRecord is this process's CPU time (every thread) per record, " +
    "appThreadCpuMicrosPerRecord the main thread's (10 ms ticks)",
  ratios,
  targets,
});
console.log(
  `\nmedian records/s: ${kinds.map((k) => `${LABEL[k]} ${rate(k)}`).join(", ")}, await per record ${sync.recordsPerSecond} (${round(seconds)} s)`,
);
console.log(`ratios (median of per-round ratios): ${JSON.stringify(ratios)}`);
console.log(`per-round worker / bare @platformatic/kafka: ${pairs("worker", "bare-plt").join(", ")}; thread / ${LABEL[bareOfThread]}: ${pairs("thread", bareOfThread).join(", ")}`);
printTargets(targets);
console.log(`wrote ${file}`);
// The platformatic clients' sockets may take a moment to go; the results are written.
process.exit(0);

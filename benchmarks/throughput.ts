// Throughput: records per second delivered end to end to the local broker, confirmed by
// a consumer reading the topic back, for three ways of publishing the same records with
// the same librdkafka settings (those of src/transports/confluent.ts):
//
//   shedsink               sink.emit(record) with the confluent transport (default
//                          capacity and batching); the loop yields to the event loop every
//                          1000 records and, when emit() returns false (buffer full),
//                          waits 1 ms and offers the same record again, so every record
//                          is eventually accepted (the refusals are reported)
//   bare librdkafka loop   producer.produce(JSON bytes) as fast as librdkafka takes them
//                          (QUEUE_FULL: wait 1 ms and try again), delivery reports counted
//   await per record       produce one record, await its delivery report, next one (the
//                          synchronous pattern), for a fixed time
//
// Each case writes to a fresh topic (3 partitions, created before timing). Time runs
// from the first record offered until the last delivery report (shedsink: sink.flush()).
// Afterwards kcat reads each topic from the beginning; the rate is the consumer's count
// of distinct record ids divided by that time. The shedsink and bare cases run
// interleaved for --rounds rounds (default 5), in alternating order, after one unmeasured
// warm-up run of each with a fifth of the records. The machine is
// shared (broker and client on the same cores), so rates drift between rounds: the
// ratio reported is the median of the per-round ratios (each shedsink run against the
// bare run next to it), and the rates are medians too.
//
//   node --import tsx benchmarks/throughput.ts [--records N] [--rounds R]
//
// Needs the benchmarks' broker (started if not running: see lib/broker.ts).

import process from "node:process";
import { setImmediate as turn } from "node:timers/promises";
import { createSink } from "../mod.ts";
import { confluentTransport } from "../src/transports/confluent.ts";
import { ensureBroker } from "./lib/broker.ts";
import { hostInfo, median, printTargets, round, runtimeInfo, sleep, target, writeResult, telemetryRecord as record } from "./lib/common.ts";
import { connectProducer, consumeCount, createTopics, deleteTopics, disconnect, ERR_QUEUE_FULL, transportProducerConfig } from "./lib/kafka.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = opt("--records", 1_000_000); // about 4 s per run: shorter runs swing more with the shared cores
const ROUNDS = opt("--rounds", 5);
const SYNC_SECONDS = opt("--sync-seconds", 3);
const CAPACITY = 5 * 1024 * 1024; // the sink's default
const CHUNK = 1000;
/** --only shedsink|bare: run just that case (for profiling: node --cpu-prof …); writes no results. */
/** --batch '{"maxInFlight":16}': sink batch options other than the defaults (for experiments). */
const BATCH = args.includes("--batch") ? JSON.parse(args[args.indexOf("--batch") + 1]!) : null;
/** --extra '{"maxInFlight":16}': also run shedsink with these batch options in every round (informational). */
const EXTRA = args.includes("--extra") ? JSON.parse(args[args.indexOf("--extra") + 1]!) as Record<string, number> : null;
const ONLY = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;

const RUN = Date.now().toString(36);
let topicSeq = 0;
const topicName = (what: string) => `bench-throughput-${RUN}-${what}-${topicSeq++}`;


interface CaseResult {
  topic: string;
  /** CPU time of this process (JS thread and librdkafka's threads) per record, in µs. */
  cpuMicrosPerRecord: number;
  offered: number;
  seconds: number;
  consumed: number;
  distinctIds: number;
  recordsPerSecond: number;
  notes: Record<string, number | string>;
}

async function finish(brokers: string, topic: string, offered: number, seconds: number, cpu: NodeJS.CpuUsage, notes: Record<string, number | string>): Promise<CaseResult> {
  const c = await consumeCount(brokers, topic);
  return {
    topic,
    offered,
    seconds: round(seconds),
    consumed: c.records,
    distinctIds: c.distinctIds,
    recordsPerSecond: round(c.distinctIds / seconds),
    cpuMicrosPerRecord: round((cpu.user + cpu.system) / offered),
    notes,
  };
}

async function shedsinkCase(brokers: string, topic: string, batch: Record<string, number> | null = BATCH, n = N): Promise<CaseResult> {
  const transport = confluentTransport({ brokers, topic });
  const sink = createSink({ transport, capacityBytes: CAPACITY, ...(batch === null ? {} : { batch }) });
  for (let i = 0; i < 200 && transport.state() !== "up"; i++) await sleep(25);
  let refusals = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
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
  const settled = await sink.flush({ timeoutMs: 120_000 });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const s = sink.stats();
  await sink.close({ timeoutMs: 10_000 });
  if (!settled) throw new Error("shedsink: flush timed out");
  return finish(brokers, topic, n, seconds, cpu, {
    delivered: s.delivered.records,
    refusedBufferFullRetried: refusals,
    sends: s.sends,
    inFlightAfterFlush: s.inFlight.records,
    pendingAfterFlush: s.pending.records,
    retries: s.retries,
  });
}

async function bareCase(brokers: string, topic: string, n = N): Promise<CaseResult> {
  const p = await connectProducer(transportProducerConfig(brokers, CAPACITY));
  let delivered = 0;
  let failed = 0;
  p.on("delivery-report", ((error: Error | null) => {
    if (error) failed++;
    else delivered++;
  }) as (...a: never[]) => void);
  let queueFull = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
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
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await disconnect(p);
  return finish(brokers, topic, n, seconds, cpu, { delivered, failed, queueFullRetried: queueFull });
}

async function syncCase(brokers: string, topic: string): Promise<CaseResult> {
  const p = await connectProducer(transportProducerConfig(brokers, CAPACITY));
  let wake: ((e: Error | null) => void) | null = null;
  p.on("delivery-report", ((error: Error | null) => wake?.(error)) as (...a: never[]) => void);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const until = t0 + SYNC_SECONDS * 1000;
  let n = 0;
  while (performance.now() < until) {
    const done = new Promise<Error | null>((resolve) => (wake = resolve));
    p.produce(topic, null, Buffer.from(JSON.stringify(record(n))), null, Date.now());
    const error = await done;
    if (error) throw error;
    n++;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await disconnect(p);
  return finish(brokers, topic, n, seconds, cpu, { delivered: n, lingerMs: 5 });
}

// ---------------------------------------------------------------- run

const rt = runtimeInfo();
if (rt.runtime !== "node") throw new Error("throughput runs on Node only (librdkafka)");
const brokers = ensureBroker();
const started = performance.now();
console.log(`throughput: ${N} records of ~250 B per case, ${ROUNDS} round(s), broker ${brokers}, 2 cores shared by broker and client (${hostInfo().cpus} cpus)`);

type Which = "shedsink" | "bare" | "extra";
const plan: Array<[Which, string]> = [];
for (let r = 0; r < ROUNDS; r++) {
  // Alternate which goes first, so neither always runs on a colder broker.
  const round: Array<[Which, string]> = [["shedsink", topicName("shedsink")], ["bare", topicName("bare")]];
  if (EXTRA !== null) round.push(["extra", topicName("extra")]);
  if (r % 2 === 1) round.reverse();
  plan.push(...round);
}
if (ONLY !== null) {
  const [, topic] = plan.find(([w]) => w === ONLY)!;
  await createTopics(brokers, [topic]);
  const r = ONLY === "shedsink" ? await shedsinkCase(brokers, topic) : await bareCase(brokers, topic);
  console.log(`  ${ONLY} ${r.recordsPerSecond} records/s, ${r.cpuMicrosPerRecord} µs CPU/record ${JSON.stringify(r.notes)}`);
  process.exit(0);
}
const syncTopic = topicName("sync");
// A warm-up run of each (a fifth of the records, not measured), so that no measured run
// pays for compiling its code path.
const warmup: Array<[Which, string]> = [["shedsink", topicName("warmup-shedsink")], ["bare", topicName("warmup-bare")]];
await createTopics(brokers, [...warmup.map(([, t]) => t), ...plan.map(([, t]) => t), syncTopic]);
for (const [which, topic] of warmup) {
  const r = which === "shedsink" ? await shedsinkCase(brokers, topic, BATCH, Math.ceil(N / 5)) : await bareCase(brokers, topic, Math.ceil(N / 5));
  console.log(`  warm-up ${which.padEnd(8)} ${String(r.recordsPerSecond).padStart(9)} records/s (not counted)`);
}

const results: Record<Which, CaseResult[]> = { shedsink: [], bare: [], extra: [] };
for (const [which, topic] of plan) {
  const r = which === "shedsink" ? await shedsinkCase(brokers, topic) : which === "extra" ? await shedsinkCase(brokers, topic, EXTRA) : await bareCase(brokers, topic);
  console.log(`  ${which.padEnd(8)} ${String(r.recordsPerSecond).padStart(9)} records/s, ${r.cpuMicrosPerRecord} µs CPU/record (${r.distinctIds}/${r.offered} consumed back, ${r.seconds} s) ${JSON.stringify(r.notes)}`);
  if (r.distinctIds !== r.offered || r.consumed !== r.offered) throw new Error(`${which}: consumer read ${r.consumed} records (${r.distinctIds} distinct ids), expected ${r.offered}`);
  results[which].push(r);
}
const sync = await syncCase(brokers, syncTopic);
console.log(`  await/record ${sync.recordsPerSecond} records/s (${sync.distinctIds}/${sync.offered} consumed back, ${sync.seconds} s)`);
// Millions of records: leave the broker's disk as it was.
await deleteTopics(brokers, [...warmup.map(([, t]) => t), ...plan.map(([, t]) => t), syncTopic]);

const shed = median(results.shedsink.map((r) => r.recordsPerSecond));
const bare = median(results.bare.map((r) => r.recordsPerSecond));
const paired = results.shedsink.map((r, i) => r.recordsPerSecond / results.bare[i]!.recordsPerSecond);
const ratios = {
  throughputVsBareLibrdkafka: round(median(paired), 3),
  throughputVsAwaitPerRecord: round(shed / sync.recordsPerSecond, 3),
  cpuPerRecordVsBareLibrdkafka: round(median(results.shedsink.map((r) => r.cpuMicrosPerRecord)) / median(results.bare.map((r) => r.cpuMicrosPerRecord)), 3),
};
const targets = [target("throughputVsBareLibrdkafka", ratios.throughputVsBareLibrdkafka, ">=", 0.9, "median over rounds of shedsink records/s / bare librdkafka loop records/s")];
const seconds = (performance.now() - started) / 1000;

const file = writeResult("throughput", {
  benchmark: "throughput",
  ...rt,
  host: hostInfo(),
  date: new Date().toISOString(),
  command: "node --import tsx benchmarks/throughput.ts",
  durationSeconds: round(seconds),
  records: N,
  rounds: ROUNDS,
  producerSettings: transportProducerConfig(brokers, CAPACITY),
  units: "records per second delivered and read back by a consumer; median over rounds",
  cases: {
    shedsink: {
      median: shed,
      p99: round(Math.min(...results.shedsink.map((r) => r.recordsPerSecond))),
      pairedRatios: paired.map((x) => round(x, 3)),
      rounds: results.shedsink,
      ratio_to: { "bare librdkafka loop": ratios.throughputVsBareLibrdkafka, "await per record": ratios.throughputVsAwaitPerRecord },
    },
    "bare librdkafka loop": { median: bare, p99: round(Math.min(...results.bare.map((r) => r.recordsPerSecond))), rounds: results.bare, baseline: true },
    "await per record": { median: sync.recordsPerSecond, p99: sync.recordsPerSecond, rounds: [sync], baseline: true },
    ...(EXTRA === null ? {} : {
      [`shedsink batch ${JSON.stringify(EXTRA)} (informational)`]: {
        median: median(results.extra.map((r) => r.recordsPerSecond)),
        p99: round(Math.min(...results.extra.map((r) => r.recordsPerSecond))),
        pairedRatios: results.extra.map((r, i) => round(r.recordsPerSecond / results.bare[i]!.recordsPerSecond, 3)),
        rounds: results.extra,
      },
    }),
  },
  note: "p99 of a throughput case is its slowest round (records/s); cpuMicrosPerRecord is this process's CPU time (JS and librdkafka threads) per record",
  ratios,
  targets,
});
console.log(`\nmedian: shedsink ${shed} records/s, bare librdkafka ${bare} records/s, await per record ${sync.recordsPerSecond} records/s (${round(seconds)} s)`);
if (EXTRA !== null) console.log(`shedsink with batch ${JSON.stringify(EXTRA)}: median ${median(results.extra.map((r) => r.recordsPerSecond))} records/s, per-round ratios to bare: ${results.extra.map((r, i) => round(r.recordsPerSecond / results.bare[i]!.recordsPerSecond, 3)).join(", ")}`);
console.log(`per-round ratios shedsink/bare: ${paired.map((x) => round(x, 3)).join(", ")}; client CPU per record shedsink/bare: ${ratios.cpuPerRecordVsBareLibrdkafka}`);
printTargets(targets);
console.log(`wrote ${file}`);

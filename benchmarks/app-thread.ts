// Application-thread cost: what publishing telemetry costs the thread that serves the
// application, per record, at a steady offered rate with a healthy broker, and how many
// records that thread's load makes the sink drop. emit() alone is measured by
// hot-path.ts; this counts everything that runs on the thread: emit(), the flusher, and
// the Kafka client's own JavaScript (all of @platformatic/kafka; librdkafka's threads are
// not on it).
//
//   node --import tsx benchmarks/app-thread.ts   -> benchmarks/results/app-thread.json
//   deno run -A benchmarks/app-thread.ts         -> benchmarks/results/app-thread.deno.json
//   bun run benchmarks/app-thread.ts             -> benchmarks/results/app-thread.bun.json
//
// Cases, each at 20,000 and 50,000 records/s offered (a timer every millisecond offers
// the records due), measured for --seconds (default 10) after 2 s of warm-up:
//
//   idle loop     the load loop alone: it builds each ~250 B record and discards it
//   shedsink      the same loop, each record given to sink.emit(); kafkaTransport()
//                 (confluent on Node, platformatic on Deno and Bun), default options,
//                 flusher on the application's thread
//   shedsink, worker  the same with flusher: "worker": the flusher and kafkaTransport()
//                 (@platformatic/kafka there) in a worker thread; the application's
//                 thread encodes and appends to the shared ring. At 50,000/s this case
//                 is measured for --worker-seconds (default 30), and its buffer_full
//                 drops while measured are a target (zero)
//   bare client   the same loop, each record serialized and handed to the same client
//                 directly: librdkafka produce() on Node (the confluent transport's
//                 producer settings), and on Deno and Bun an @platformatic/kafka producer
//                 (idempotent, acks all, lz4, as the transport) sent a batch of what
//                 accumulated every 20 ms or 1000 records, at most 4 sends in flight
//
// The thread's CPU time is read from /proc/self/task/<pid>/stat (user + system; the
// main thread's task id is the process id). Per record: (case − idle loop) / records
// offered. The whole process's CPU (every thread: the worker's, librdkafka's, the
// runtime's) is read from /proc/self/stat alike and reported per record too, so that
// what worker mode moves off the thread is not mistaken for work saved. Each case writes to its own topic (created by the broker on first use).
// Needs the benchmarks' broker (started if not running: see lib/broker.ts).

import { readFileSync } from "node:fs";
import process from "node:process";
import { createSink } from "../mod.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { ensureBroker } from "./lib/broker.ts";
import { hostInfo, printTargets, round, runtimeInfo, sleep, target, type Target, telemetryRecord as record, writeResult } from "./lib/common.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SECONDS = opt("--seconds", 10);
const WORKER_SECONDS = opt("--worker-seconds", 30);
const WARM_SECONDS = opt("--warm-seconds", 2);
const RATES = [20_000, 50_000];
const rt = runtimeInfo();
const RUN = Date.now().toString(36);

/** The main thread's CPU time in milliseconds (user + system). */
function threadCpuMs(): number {
  return cpuMsOf(`/proc/self/task/${process.pid}/stat`);
}

/** The whole process's CPU time in milliseconds (user + system, every thread). */
function processCpuMs(): number {
  return cpuMsOf("/proc/self/stat");
}

function cpuMsOf(path: string): number {
  const stat = readFileSync(path, "utf8");
  // Fields after the command name (which is in parentheses and may hold spaces): utime is
  // the 12th, stime the 13th, in clock ticks (USER_HZ, 100 on Linux).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

type Offer = (id: number) => void;

/**
 * Offers `rate` records a second to `offer` for warm-up + measured seconds; returns the
 * thread's CPU and the records offered in the measured stretch.
 */
async function drive(rate: number, offer: Offer, seconds_ = SECONDS): Promise<{ cpuMs: number; processCpuMs: number; records: number; seconds: number }> {
  let id = 0;
  let sink = 0;
  const started = performance.now();
  const warmEnd = started + WARM_SECONDS * 1000;
  const end = warmEnd + seconds_ * 1000;
  let measuredFrom = -1;
  let cpu0 = 0;
  let all0 = 0;
  let t0 = 0;
  let cpu = 0;
  let all = 0;
  let seconds = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (measuredFrom < 0 && now >= warmEnd) {
        measuredFrom = id;
        cpu0 = threadCpuMs();
        all0 = processCpuMs();
        t0 = now;
      }
      if (now >= end) {
        cpu = threadCpuMs() - cpu0;
        all = processCpuMs() - all0;
        seconds = (now - t0) / 1000;
        clearInterval(timer);
        resolve();
        return;
      }
      const due = Math.floor(((now - started) / 1000) * rate);
      while (id < due) {
        offer(id);
        sink += id++;
      }
    }, 1);
  });
  if (sink < 0) console.log(sink); // keeps the loop's work observable
  return { cpuMs: cpu, processCpuMs: all, records: id - measuredFrom, seconds };
}

interface CaseResult {
  cpuMs: number;
  /** CPU of the whole process, every thread. */
  processCpuMs: number;
  records: number;
  seconds: number;
  /** Share of one core the thread used. */
  coreShare: number;
  notes: Record<string, number | string>;
}

const asResult = (r: { cpuMs: number; processCpuMs: number; records: number; seconds: number }, notes: Record<string, number | string> = {}): CaseResult => ({
  ...r,
  cpuMs: round(r.cpuMs),
  processCpuMs: round(r.processCpuMs),
  seconds: round(r.seconds),
  coreShare: round(r.cpuMs / 1000 / r.seconds, 4),
  notes,
});

async function idleCase(rate: number): Promise<CaseResult> {
  let keep = 0;
  return asResult(await drive(rate, (id) => {
    keep += record(id).rows;
  }), { checksum: keep % 1000 });
}

async function sinkCase(rate: number, brokers: string, flusher: "thread" | "worker", seconds: number): Promise<CaseResult> {
  const transport = kafkaTransport({ brokers, topic: `bench-app-thread-${RUN}-${flusher}-${rate}` });
  const sink = createSink<ReturnType<typeof record>>({ transport, flusher });
  // Connected before timing: in thread mode the transport says so; in worker mode the
  // worker's transport does, through stats().transport.
  for (let i = 0; i < 400 && sink.stats().transport.state !== "up"; i++) await sleep(25);
  const before = sink.stats();
  const r = await drive(rate, (id) => {
    sink.emit(record(id));
  }, seconds);
  const after = sink.stats();
  const settled = await sink.flush({ timeoutMs: 60_000 });
  const final = await sink.close({ timeoutMs: 10_000 });
  return asResult(r, {
    flusher: after.flusher,
    transport: after.transport.name,
    bufferFullWhileMeasured: after.dropped.buffer_full.records - before.dropped.buffer_full.records,
    bufferFull: final.dropped.buffer_full.records,
    delivered: final.delivered.records,
    offered: final.offered.records,
    flushed: String(settled),
  });
}

async function bareNode(rate: number, brokers: string): Promise<CaseResult> {
  const { connectProducer, disconnect, ERR_QUEUE_FULL, transportProducerConfig } = await import("./lib/kafka.ts");
  const { Buffer } = await import("node:buffer");
  const p = await connectProducer(transportProducerConfig(brokers, 5 * 1024 * 1024));
  const topic = `bench-app-thread-${RUN}-bare-${rate}`;
  let queueFull = 0;
  let delivered = 0;
  p.on("delivery-report", ((error: Error | null) => {
    if (!error) delivered++;
  }) as (...a: never[]) => void);
  const r = await drive(rate, (id) => {
    try {
      p.produce(topic, null, Buffer.from(JSON.stringify(record(id))), null, Date.now());
    } catch (error) {
      if ((error as { code?: number }).code !== ERR_QUEUE_FULL) throw error;
      queueFull++;
    }
  });
  await new Promise<void>((resolve) => p.flush(60_000, () => resolve()));
  await disconnect(p);
  return asResult(r, { client: "librdkafka produce()", queueFull, delivered });
}

async function barePlatformatic(rate: number, brokers: string): Promise<CaseResult> {
  const { Producer } = (await import("@platformatic/kafka")) as unknown as { Producer: new (o: Record<string, unknown>) => { send(o: { messages: unknown[] }): Promise<unknown>; close(): Promise<void> } };
  const { Buffer } = await import("node:buffer");
  const producer = new Producer({ clientId: "shedsink-bench", bootstrapBrokers: [brokers], idempotent: true, acks: -1, compression: "lz4", autocreateTopics: true });
  const topic = `bench-app-thread-${RUN}-bare-${rate}`;
  let batch: unknown[] = [];
  let batchBytes = 0;
  let since = performance.now();
  let inFlight = 0;
  let delivered = 0;
  let failed = 0;
  let dropped = 0;
  let heldBytes = 0;
  const CAPACITY = 5 * 1024 * 1024;
  const ship = () => {
    if (batch.length === 0 || inFlight >= 4) return;
    const messages = batch;
    const bytes = batchBytes;
    batch = [];
    batchBytes = 0;
    since = performance.now();
    inFlight++;
    producer.send({ messages }).then(
      () => (delivered += messages.length),
      () => (failed += messages.length),
    ).finally(() => {
      inFlight--;
      heldBytes -= bytes;
    });
  };
  await producer.send({ messages: [{ topic, value: Buffer.from("{}") }] }); // connect, create the topic
  const r = await drive(rate, (id) => {
    const value = Buffer.from(JSON.stringify(record(id)));
    if (heldBytes + value.length > CAPACITY) {
      dropped++;
      return;
    }
    batch.push({ topic, value, timestamp: BigInt(Date.now()) });
    batchBytes += value.length;
    heldBytes += value.length;
    if (batch.length >= 1000 || performance.now() - since >= 20) ship();
  });
  while (batch.length > 0 || inFlight > 0) {
    ship();
    await sleep(5);
  }
  await producer.close();
  return asResult(r, { client: "@platformatic/kafka send() of batches", delivered, failed, dropped });
}

// ---------------------------------------------------------------- run

const brokers = ensureBroker();
console.log(`app-thread cost on ${rt.runtime} ${rt.version}: ${RATES.join(" and ")} records/s, ${SECONDS} s each after ${WARM_SECONDS} s warm-up, broker ${brokers}`);
const started = performance.now();
const byRate: Record<string, unknown> = {};
const ratios: Record<string, number> = {};
const targets: Target[] = [];
for (const rate of RATES) {
  const idle = await idleCase(rate);
  const sink = await sinkCase(rate, brokers, "thread", SECONDS);
  const worker = await sinkCase(rate, brokers, "worker", rate === 50_000 ? Math.max(SECONDS, WORKER_SECONDS) : SECONDS);
  const bare = rt.runtime === "node" ? await bareNode(rate, brokers) : await barePlatformatic(rate, brokers);
  const per = (c: CaseResult) => round(((c.cpuMs - (idle.cpuMs * c.records) / idle.records) * 1000) / c.records, 3);
  const perProcess = (c: CaseResult) => round(((c.processCpuMs - (idle.processCpuMs * c.records) / idle.records) * 1000) / c.records, 3);
  const sinkMicros = per(sink);
  const workerMicros = per(worker);
  const bareMicros = per(bare);
  byRate[rate] = {
    idleLoop: idle,
    shedsink: { ...sink, appThreadMicrosPerRecord: sinkMicros, processMicrosPerRecord: perProcess(sink) },
    shedsinkWorker: { ...worker, appThreadMicrosPerRecord: workerMicros, processMicrosPerRecord: perProcess(worker) },
    bareClient: { ...bare, appThreadMicrosPerRecord: bareMicros, processMicrosPerRecord: perProcess(bare) },
  };
  ratios[`appThreadSinkVsBare@${rate}`] = round(sinkMicros / bareMicros, 3);
  ratios[`appThreadWorkerVsInThread@${rate}`] = round(workerMicros / sinkMicros, 3);
  ratios[`processWorkerVsInThread@${rate}`] = round(perProcess(worker) / perProcess(sink), 3);
  if (rate === 50_000) {
    targets.push(
      target("appThreadWorkerVsInThread@50000", ratios[`appThreadWorkerVsInThread@${rate}`]!, "<=", 0.2, "application thread's CPU per record, worker mode / thread mode, 50,000 records/s"),
      target("workerBufferFull@50000", Number(worker.notes.bufferFullWhileMeasured), "<=", 0, `records dropped buffer_full in worker mode at 50,000 records/s over ${worker.seconds} s, broker healthy`),
    );
  }
  const line = (name: string, c: CaseResult, micros: number) => `${name} ${micros} µs/record (${(c.coreShare * 100).toFixed(1)}% of a core; whole process ${perProcess(c)} µs/record)`;
  console.log(`  ${rate}/s: ${line("thread", sink, sinkMicros)}, buffer_full ${sink.notes.bufferFullWhileMeasured}`);
  console.log(`  ${rate}/s: ${line("worker", worker, workerMicros)}, buffer_full ${worker.notes.bufferFullWhileMeasured} in ${worker.seconds} s`);
  console.log(`  ${rate}/s: ${line("bare client", bare, bareMicros)}; idle loop ${(idle.coreShare * 100).toFixed(1)}%`);
}
const file = writeResult("app-thread", {
  benchmark: "app-thread",
  ...rt,
  host: hostInfo(),
  date: new Date().toISOString(),
  command: rt.runtime === "node" ? "node --import tsx benchmarks/app-thread.ts" : rt.runtime === "deno" ? "deno run -A benchmarks/app-thread.ts" : "bun run benchmarks/app-thread.ts",
  durationSeconds: round((performance.now() - started) / 1000, 1),
  seconds: SECONDS,
  warmSeconds: WARM_SECONDS,
  workerSeconds: Math.max(SECONDS, WORKER_SECONDS),
  units: "appThreadMicrosPerRecord: CPU of the main thread per record offered, the idle load loop's share taken off, in µs; processMicrosPerRecord: the same for the whole process (every thread)",
  rates: byRate,
  ratios,
  targets,
});
printTargets(targets);
console.log(`wrote ${file}`);
process.exit(0);

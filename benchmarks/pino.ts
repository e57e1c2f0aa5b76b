// pino to Kafka, side by side: pino + shedsinkDestination against pino + a thread-stream
// transport (pino.transport), on what each costs the application's thread per log line
// and what each does when Kafka is away for longer than the buffer holds.
//
//   node --expose-gc benchmarks/pino.ts   -> benchmarks/results/pino.json   (npm run bench:pino)
//   options: --seconds N (part 2, default 5), --outage-seconds N (part 3, default 15),
//            --only calls,cpu,outage,shutdown,exit (the parts to run; the others are
//            kept from the last run in the results file)
//   (Linux: the thread's CPU is read from /proc; the benchmarks' broker, lib/broker.ts)
//
// The ways to Kafka compared, one logger each, all writing the same line (a request log
// of a child logger, ~300 bytes):
//
//   no-op              pino into a destination whose write() does nothing: pino's own
//                      cost, the floor of every case
//   shedsink, worker   pino(opts, shedsinkDestination({ transport: kafkaTransport(…) })):
//                      the flusher and @platformatic/kafka in shedsink's worker thread
//   shedsink, thread   the same with flusher: "thread": the flusher and librdkafka
//                      (confluent) on the application's thread
//   thread-stream glue pino(pino.transport({ target: lib/pino-kafka-glue.mjs })): pino's
//                      thread-stream to a worker running the glue a user writes without
//                      shedsink (pino-abstract-transport, @platformatic/kafka, a batch of
//                      what arrived per send)
//   thread-stream shedsink  pino.transport({ target: "shedsink/pino" }): thread-stream to
//                      shedsink's transport in pino's worker
//
// Part 1, mitata: one logger call, the synchronous part (what the handler waits for).
//   Between mitata samples (4096 calls) the logger is flushed outside the timed region,
//   so every timed call takes the accepting path (counted: no line may be dropped).
// Part 2, the application thread's CPU per line at a steady 20,000 lines/s for
//   --seconds (default 5) after 1 s of warm-up: everything that runs on the thread,
//   including what thread-stream does after the call (copying into its shared buffer)
//   and, in thread mode, the flusher and the client. Per line: (case − no-op) / lines.
// Part 3, an outage longer than the buffer: 20,000 lines/s, the broker paused
//   (SIGSTOP) for --outage-seconds (default 15: about 90 MB of lines, 17x shedsink's
//   default 5 MiB), then resumed, 3 s more, then the logger closed. Measured: the
//   slowest logger call and timer lateness while it is down, the process's RSS growth,
//   how long closing blocked the thread, and the lines the topic holds afterwards
//   against those logged (kept / dropped), by level for shedsink. Also for the
//   thread-stream shedsink/pino transport.
// Part 4, shutdown while Kafka is away: the logger closed during an outage.
// Part 5, exit while Kafka is away: a child process (lib/pino-exit-child.ts) told to exit
//   during an outage; how long its exit takes, and what the topic holds.

import { bench, do_not_optimize, run } from "mitata";
import { readFileSync } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import process from "node:process";
import pino from "pino";
import { conservationErrors } from "../mod.ts";
import { type PinoDestination, shedsinkDestination } from "../src/pino.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { ensureBroker, kafkaAsync } from "./lib/broker.ts";
import { createTopicsPortable } from "./lib/admin.ts";
import { distribution, driveAtRate, hostInfo, round, runtimeInfo, sleep, writeResult } from "./lib/common.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SECONDS = opt("--seconds", 5);
const OUTAGE_SECONDS = opt("--outage-seconds", 15);
const RATE = 20_000;
const only = args.includes("--only") ? args[args.indexOf("--only") + 1]!.split(",") : ["calls", "cpu", "outage", "shutdown", "exit"];
const rt = runtimeInfo();
const RUN = Date.now().toString(36);
const BROKERS = ensureBroker();
const GLUE = fileURLToPath(new URL("./lib/pino-kafka-glue.mjs", import.meta.url));
const SHEDSINK_TARGET = fileURLToPath(new URL("../src/pino.ts", import.meta.url));

type Logger = pino.Logger;
interface Way {
  readonly logger: Logger;
  /** Waits until everything logged so far has left the application's thread's hands (delivered, or in the transport's worker). */
  readonly settle: () => Promise<void>;
  /** Closes it; resolves to how long the thread was blocked in the closing call, and whether it closed (within 15 s). */
  readonly close: () => Promise<{ blockedMs: number; closed: boolean }>;
  readonly destination?: PinoDestination;
}

const ROUTES = ["/orders", "/orders/:id", "/users/:id", "/cart", "/checkout"];
function logLine(logger: Logger, id: number): void {
  const level = id % 50 === 0 ? "error" : id % 10 === 1 ? "warn" : id % 3 === 0 ? "debug" : "info";
  logger[level]({ req: { method: "GET", url: `${ROUTES[id % 5]}?page=${id % 7}`, remoteAddress: "10.0.3.17" }, status: 200, ms: 3.25, rows: id % 100, id }, "request completed");
}
const base = (logger: Logger) => logger.child({ service: "checkout-api", region: "eu-west-1", requestId: "4bf92f3577b34da6a3ce929d0e0e4736" });
const OPTIONS = { level: "debug" as const };

function topicFor(name: string): string {
  return `bench-pino-${name}-${RUN}`;
}

function noop(): Way {
  const logger = base(pino(OPTIONS, { write(_line: string) {} }));
  return { logger, settle: async () => {}, close: async () => ({ blockedMs: 0, closed: true }) };
}

function shedsink(flusher: "worker" | "thread", topic: string, extra: Record<string, unknown> = {}): Way {
  const destination = shedsinkDestination({ transport: kafkaTransport({ brokers: BROKERS, topic }), flusher, ...extra });
  const logger = base(pino(OPTIONS, destination));
  return {
    logger,
    destination,
    settle: async () => {
      await destination.sink.flush({ timeoutMs: 60_000 });
    },
    close: async () => {
      const t0 = performance.now();
      const closing = destination.close({ timeoutMs: 5000 });
      const blockedMs = performance.now() - t0;
      await closing;
      return { blockedMs, closed: true };
    },
  };
}

function threadStream(target: string, options: Record<string, unknown>): Way {
  const transport = pino.transport({ target, options });
  transport.on("error", () => {});
  const logger = base(pino(OPTIONS, transport));
  return {
    logger,
    settle: () => new Promise<void>((resolve) => logger.flush(() => resolve())),
    close: async () => {
      const keepAlive = setInterval(() => {}, 100);
      const closed = new Promise((resolve) => transport.once("close", resolve));
      const t0 = performance.now();
      transport.end(); // flushes synchronously (Atomics.wait) until the worker has read everything
      const blockedMs = performance.now() - t0;
      const done = await Promise.race([closed.then(() => true), sleep(15_000).then(() => false)]);
      clearInterval(keepAlive);
      return { blockedMs, closed: done };
    },
  };
}

const glue = (topic: string) => threadStream(GLUE, { brokers: BROKERS, topic });
const shedsinkTransport = (topic: string) => threadStream(SHEDSINK_TARGET, { kafka: { brokers: BROKERS, topic, use: "platformatic" } });

/** Lines the topic holds: all of them, and distinct ones (by their id). */
function topicCount(topic: string): { messages: number; distinct: number } {
  const r = spawnSync("kcat", ["-C", "-b", BROKERS, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n"], { encoding: "utf8", timeout: 120_000, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`kcat -C ${topic}: ${r.stderr}`);
  const ids = new Set<string>();
  let messages = 0;
  for (const m of r.stdout.matchAll(/"id":(\d+)/g)) {
    messages++;
    ids.add(m[1]!);
  }
  return { messages, distinct: ids.size };
}


const results: Record<string, unknown> = {};
const lineBytes = (() => {
  let line = "";
  logLine(base(pino(OPTIONS, { write: (s: string) => (line = s) })), 2);
  return new TextEncoder().encode(line).length;
})();
console.log(`pino benchmark on ${rt.runtime} ${rt.version}: a line is ${lineBytes} bytes; broker ${BROKERS}`);

// ------------------------------------------------------------------ part 1: mitata

/** Lines per mitata iteration in part 1. */
const BATCH = 100;

if (only.includes("calls")) {
  const topics = ["calls-worker", "calls-thread", "calls-glue"].map(topicFor);
  await createTopicsPortable(BROKERS, topics, 1);
  const ways: Array<[string, Way]> = [
    ["no-op destination (pino alone: the floor)", noop()],
    ["shedsinkDestination, worker flusher", shedsink("worker", topics[0]!)],
    ["shedsinkDestination, thread flusher", shedsink("thread", topics[1]!)],
    ["pino.transport (thread-stream) to the Kafka glue", glue(topics[2]!)],
  ];
  const calls = new Map<string, number>();
  for (const [name, way] of ways) {
    let id = 0;
    // Warm-up and connection, outside mitata.
    for (let k = 0; k < 5; k++) {
      for (let i = 0; i < 4096; i++) logLine(way.logger, id++);
      await way.settle();
    }
    // One iteration logs BATCH lines; every 40 iterations (outside the timed region:
    // mitata computes a sample's parameters before timing it) the logger is settled.
    let n = 0;
    bench(name, async function* () {
      yield {
        [0]: async () => {
          if (++n % 40 === 0) await way.settle();
          return way.logger;
        },
        bench: (logger: Logger) => {
          for (let i = 0; i < BATCH; i++) logLine(logger, id++);
          calls.set(name, id);
        },
      };
    });
  }
  const out = await run({ format: "mitata" });
  const perCall: Record<string, unknown> = {};
  for (const trial of out.benchmarks) {
    for (const one of trial.runs) {
      if (one.stats === undefined) throw new Error(`${one.name}: ${String((one.error as Error)?.message ?? one.error)}`);
      perCall[one.name] = { avgNsPerLine: round(one.stats.avg / BATCH), p50NsPerLine: round(one.stats.p50 / BATCH), p99NsPerLine: round(one.stats.p99 / BATCH), samples: one.stats.samples.length };
    }
  }
  for (const [name, way] of ways) {
    await way.settle();
    if (way.destination !== undefined) {
      const s = way.destination.sink.stats();
      const dropped = s.refused.records + s.lost.records;
      if (dropped !== 0) throw new Error(`${name}: ${dropped} lines dropped: not the accepting path`);
    }
    await way.close();
  }
  results.perCall = perCall;
}

// ------------------------------------------------------------------ part 2: thread CPU

async function drive(way: Way, seconds: number, warm = 1): Promise<{ cpuMs: number; lines: number; seconds: number }> {
  const r = await driveAtRate((id) => logLine(way.logger, id), RATE, seconds, warm);
  return { cpuMs: r.cpuMs, lines: r.calls, seconds: r.seconds };
}

if (only.includes("cpu")) {
  const names: Array<[string, (topic: string) => Way]> = [
    ["no-op destination (pino alone: the floor)", () => noop()],
    ["shedsinkDestination, worker flusher", (t) => shedsink("worker", t)],
    ["shedsinkDestination, thread flusher", (t) => shedsink("thread", t)],
    ["pino.transport (thread-stream) to the Kafka glue", glue],
    ["pino.transport (thread-stream) to shedsink/pino", shedsinkTransport],
  ];
  const topics = names.map((_, i) => topicFor(`cpu-${i}`));
  await createTopicsPortable(BROKERS, topics, 1);
  const cpu: Record<string, unknown> = {};
  let floor = 0;
  for (const [i, [name, make]] of names.entries()) {
    const way = make(topics[i]!);
    const r = await drive(way, SECONDS);
    await way.settle();
    const s = way.destination?.sink.stats();
    await way.close();
    const perLineUs = (r.cpuMs * 1000) / r.lines;
    if (i === 0) floor = perLineUs;
    cpu[name] = {
      threadCpuMs: r.cpuMs,
      lines: r.lines,
      seconds: round(r.seconds),
      perLineUs: round(perLineUs),
      aboveFloorUs: round(perLineUs - floor),
      coreShare: round(r.cpuMs / 1000 / r.seconds),
      ...(s === undefined ? {} : { dropped: s.refused.records + s.lost.records, droppedByReason: Object.fromEntries(Object.entries(s.dropped).filter(([, c]) => c.records > 0).map(([k, c]) => [k, c.records])) }),
    };
    console.log(`  ${name}: ${round(perLineUs)} µs of the thread's CPU per line (${round(perLineUs - floor)} above pino alone), ${round((r.cpuMs / 10) / r.seconds)}% of a core`);
  }
  results.threadCpuAt20k = cpu;
}

// ------------------------------------------------------------------ part 3: outage

function dist(xs: number[]): Record<string, number> {
  const d = distribution(Float64Array.from(xs).sort());
  return { p50: round(d.p50), p99: round(d.p99), p999: round(d.p999), max: round(d.max) };
}

async function outage(name: string, way: Way, topic: string): Promise<Record<string, unknown>> {
  let id = 0;
  let slowestCallMs = 0;
  let latestTimerMs = 0;
  let down = false;
  let downCalls = 0;
  const callMs: number[] = [];
  let rss0 = 0;
  let rssMax = 0;
  let held0 = 0;
  let heldMax = 0;
  const held = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.external;
  };
  const started = performance.now();
  let last = started;
  const timer = setInterval(() => {
    const now = performance.now();
    if (down) latestTimerMs = Math.max(latestTimerMs, now - last - 1);
    last = now;
    const due = Math.floor(((now - started) / 1000) * RATE);
    while (id < due) {
      const t0 = performance.now();
      logLine(way.logger, id++);
      if (down) {
        const ms = performance.now() - t0;
        slowestCallMs = Math.max(slowestCallMs, ms);
        callMs.push(ms);
        downCalls++;
      }
    }
    if (down && id % 2000 < 20) {
      rssMax = Math.max(rssMax, process.memoryUsage.rss());
      heldMax = Math.max(heldMax, held());
    }
  }, 1);
  await sleep(2000);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  rss0 = process.memoryUsage.rss();
  held0 = held();
  await kafkaAsync("pause");
  down = true;
  await sleep(OUTAGE_SECONDS * 1000);
  down = false;
  // What the application's thread holds live at the end of the outage (after a full GC,
  // with node --expose-gc), against the start.
  gc?.();
  const retainedMB = gc === undefined ? null : round((held() - held0) / 1048576);
  await kafkaAsync("resume");
  await sleep(3000);
  clearInterval(timer);
  const logged = id;
  const t0 = performance.now();
  const settled = await Promise.race([way.settle().then(() => true), sleep(60_000).then(() => false)]);
  const drainMs = performance.now() - t0;
  const stats = way.destination?.sink.stats();
  const { blockedMs: closeBlockedMs } = await way.close();
  await sleep(500);
  const read = topicCount(topic);
  const kept = read.distinct;
  const r: Record<string, unknown> = {
    linesLogged: logged,
    linesKept: kept,
    linesDropped: logged - kept,
    duplicates: read.messages - read.distinct,
    keptShare: round(kept / logged, 4),
    duringOutage: { calls: downCalls, slowestCallMs: round(slowestCallMs), callMs: dist(callMs), callsOver10Ms: callMs.filter((x) => x > 10).length, latestTimerMs: round(latestTimerMs) },
    rssGrowthMB: round((rssMax - rss0) / 1048576),
    heapAndExternalGrowthMB: round((heldMax - held0) / 1048576),
    retainedGrowthMB: retainedMB,
    settledAfterResume: settled,
    settleMs: round(drainMs),
    closeBlockedMs: round(closeBlockedMs),
  };
  if (stats !== undefined) {
    const conserved = conservationErrors(stats);
    r.shedsink = {
      capacityBytes: 5 * 1024 * 1024,
      delivered: stats.delivered.records,
      shedByClass: stats.shed.map((c) => c.records),
      droppedByReason: Object.fromEntries(Object.entries(stats.dropped).filter(([, c]) => c.records > 0).map(([k, c]) => [k, c.records])),
      conservation: conserved.length === 0 ? "holds" : conserved,
    };
  }
  console.log(`  ${name}: ${JSON.stringify(r)}`);
  return r;
}

if (only.includes("outage")) {
  const topics = ["outage-shedsink", "outage-glue", "outage-transport"].map(topicFor);
  await createTopicsPortable(BROKERS, topics, 1);
  results.outage = {
    "pino.transport (thread-stream) to shedsink/pino": await outage("thread-stream shedsink/pino", shedsinkTransport(topics[2]!), topics[2]!),
    seconds: OUTAGE_SECONDS,
    rate: RATE,
    "shedsinkDestination, worker flusher (whenFull drop-oldest)": await outage("shedsinkDestination", shedsink("worker", topics[0]!, { whenFull: "drop-oldest" }), topics[0]!),
    "pino.transport (thread-stream) to the Kafka glue": await outage("thread-stream glue", glue(topics[1]!), topics[1]!),
  };
}

/**
 * Shutdown while Kafka is away: 2 s healthy, the broker paused, 3 s more, then the
 * logger closed (shedsink: close({ timeoutMs: 5000 }); thread-stream: end()), then the
 * broker resumed. How long the closing call blocked the thread, how late a 1 ms timer
 * ran while closing, and what the topic holds.
 */
async function shutdownDuringOutage(name: string, way: Way, topic: string): Promise<Record<string, unknown>> {
  let id = 0;
  const started = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * RATE);
    while (id < due) logLine(way.logger, id++);
  }, 1);
  await sleep(2000);
  await kafkaAsync("pause");
  await sleep(3000);
  clearInterval(timer);
  let latest = 0;
  let last = performance.now();
  const lateness = setInterval(() => {
    const now = performance.now();
    latest = Math.max(latest, now - last - 1);
    last = now;
  }, 1);
  const t0 = performance.now();
  let closeBlockedMs = 0;
  let closedInTime = false;
  let closeError = "";
  try {
    ({ blockedMs: closeBlockedMs, closed: closedInTime } = await way.close());
  } catch (err) {
    closeError = String(err);
  }
  const closeMs = performance.now() - t0;
  clearInterval(lateness);
  await kafkaAsync("resume");
  await sleep(3000);
  const read = topicCount(topic);
  const kept = read.distinct;
  const r = {
    linesLogged: id,
    linesKept: kept,
    linesDropped: id - kept,
    duplicates: read.messages - read.distinct,
    closeBlockedMs: round(closeBlockedMs),
    closeMs: round(closeMs),
    closedWithin15s: closedInTime,
    latestTimerMsWhileClosing: round(latest),
    ...(closeError === "" ? {} : { closeError }),
    ...(way.destination === undefined ? {} : { droppedByReason: Object.fromEntries(Object.entries(way.destination.sink.stats().dropped).filter(([, c]) => c.records > 0).map(([k, c]) => [k, c.records])) }),
  };
  console.log(`  shutdown while down, ${name}: ${JSON.stringify(r)}`);
  return r;
}

if (only.includes("shutdown")) {
  const topics = ["shutdown-shedsink", "shutdown-glue"].map(topicFor);
  await createTopicsPortable(BROKERS, topics, 1);
  results.shutdownDuringOutage = {
    "shedsinkDestination, worker flusher": await shutdownDuringOutage("shedsinkDestination", shedsink("worker", topics[0]!), topics[0]!),
    "pino.transport (thread-stream) to the Kafka glue": await shutdownDuringOutage("thread-stream glue", glue(topics[1]!), topics[1]!),
  };
}

/**
 * Exit while Kafka is away: a child process logs 20,000 lines/s (2 s healthy, then the
 * broker paused, 3 s more), then is told to exit: shedsink closes its destination with a
 * 5 s deadline and exits; the thread-stream process exits at once and pino's exit
 * handler flushes the transport synchronously. Measured: from the exit request to the
 * process's end, and what the topic holds once the broker is back.
 */
async function exitDuringOutage(mode: "shedsink" | "glue" | "transport", topic: string): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(new URL("./lib/pino-exit-child.ts", import.meta.url)), mode, BROKERS, topic], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise<number>((resolve) => child.once("exit", () => resolve(Date.now())));
  while (!out.includes("ready")) await sleep(10);
  await sleep(2000);
  await kafkaAsync("pause");
  await sleep(3000);
  child.stdin.write("exit\n");
  const exitAt = await exited;
  await kafkaAsync("resume");
  await sleep(3000);
  const m = /exiting (\d+) (\d+)/.exec(out);
  if (m === null) throw new Error(`${mode} child: ${out} ${err}`);
  const logged = Number(m[1]);
  const read = topicCount(topic);
  const r = {
    linesLogged: logged,
    linesKept: read.distinct,
    linesDropped: logged - read.distinct,
    duplicates: read.messages - read.distinct,
    exitMs: exitAt - Number(m[2]),
    childSaid: (out.split("\n").find((l) => l.startsWith("closed")) ?? "") + (err.trim() === "" ? "" : ` stderr: ${err.trim().split("\n")[0]}`),
  };
  console.log(`  exit while down, ${mode}: ${JSON.stringify(r)}`);
  return r;
}

if (only.includes("exit")) {
  const topics = ["exit-shedsink", "exit-glue", "exit-transport"].map(topicFor);
  await createTopicsPortable(BROKERS, topics, 1);
  results.exitDuringOutage = {
    "pino.transport (thread-stream) to shedsink/pino": await exitDuringOutage("transport", topics[2]!),
    "shedsinkDestination, worker flusher": await exitDuringOutage("shedsink", topics[0]!),
    "pino.transport (thread-stream) to the Kafka glue": await exitDuringOutage("glue", topics[1]!),
  };
}

// A run of some parts (--only) keeps the other parts of the last full run.
let previous: Record<string, unknown> = {};
try {
  previous = JSON.parse(readFileSync(fileURLToPath(new URL(`./results/pino${rt.runtime === "node" ? "" : `.${rt.runtime}`}.json`, import.meta.url)), "utf8"));
} catch {
  // no earlier run
}
const file = writeResult("pino", { ...previous, runtime: rt, host: hostInfo(), lineBytes, date: new Date().toISOString(), ...results });
console.log(`wrote ${file}`);
process.exit(0);

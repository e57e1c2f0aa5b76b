// Memory: the bytes a sink holds never exceed capacityBytes, and the process's RSS grows
// by little more than capacityBytes, through a 60 s outage during which producers offer
// ten times the capacity, in both flusher modes, on Node, Deno and Bun.
//
//   node benchmarks/memory.ts           -> benchmarks/results/memory.json
//   deno run -A benchmarks/memory.ts    -> benchmarks/results/memory.deno.json
//   bun run benchmarks/memory.ts        -> benchmarks/results/memory.bun.json
//
// The parent starts one child process per case, on its own runtime (Node with
// --expose-gc, Deno with --v8-flags=--expose-gc, Bun as it is). The cases, per mode:
//
//   memory-hung 5MiB / 64MiB   memoryTransport(), hang()ed at the start of the outage:
//                              sends never settle
//   kafka-paused 5MiB / 64MiB  Kafka on the benchmarks' broker, which the parent pauses
//                              (SIGSTOP) at the start of the outage
//
// and the modes, one after the other (the four children of a mode run at once: eight
// children on the two cores of the machine the figures are taken on would starve one
// another's timers, and the broker is paused for one mode's outage at a time):
//
//   thread  createSink({ transport }): the Kafka case with confluentTransport on Node,
//           kafkaTransport() (@platformatic/kafka) on Deno and Bun
//   worker  createSink({ flusher: "worker", transport }): kafkaTransport(), which is
//           @platformatic/kafka in the worker on every runtime, and memoryTransport(),
//           whose hang() reaches the worker's twin
//
// Each child offers a ~250-byte query-telemetry object at the rate that adds up to 10x
// its capacity over the outage (a timer every millisecond emits what is due). Its run has
// three phases, the children of a mode in step (the parent says when each phase starts):
//
//   warm-up    8 s, transport delivering (the memory transport's copies are discarded)
//   connected  --connected-seconds (default 30), transport delivering: the baseline
//   outage     --seconds (default 60), the broker paused, or the memory transport hung
//
// The connected phase and the outage are measured alike: each starts after a full GC,
// process.memoryUsage() is read every 250 ms, and each ends with a full GC and one more
// reading. RSS growth is the highest RSS of the outage minus the highest RSS of the
// connected phase, under the same load: the young generation's swings, which are larger
// than a 5 MiB capacity, land in both. The connected phase may be shorter than the
// outage: its highest RSS over a shorter span can only be lower (RSS over the first 30 s
// of a phase peaks no higher than over its 60 s), so a shorter baseline can only make the
// growth larger, never hide any. The growth that remains after a full GC at the end of
// each phase is reported as well. Held bytes (pending + in flight, from stats()) are read
// after every millisecond's emits, in every phase, so that all make the same garbage.
// Reported: peak held bytes / capacity, RSS growth / capacity, heap and
// external/arrayBuffers of the application's thread at the peak, and a 1 s time series of
// the outage.
//
// Worker mode: RSS is the process's, so it covers the worker thread (its heap, the
// Kafka client's buffers, its thread stack) as well as the shared ring; heapUsed,
// heapTotal and arrayBuffers are the application's thread's only. The worker has a heap
// of its own, which a GC on the application's thread does not touch; the sink keeps its
// worker to itself, so the transport is wrapped (lib/worker-gc.ts: the same transport,
// made in the worker from the same spec, every call passed on) to run a full GC in the
// worker whenever the application's thread runs one, and to report the worker's heap
// after it (workerHeap). --worker-gc off leaves the worker's heap alone, to see what that
// GC changes.
//
// Targets: peakHeldVsCapacity <= 1 and rssGrowthVsCapacity <= 1.25 over the thread-mode
// cases (keys as before); workerPeakHeldVsCapacity <= 1 over the worker-mode cases and
// workerRssGrowthVsCapacity <= 1.25 over the worker-mode Kafka cases (the memory
// transport hung in the worker: ratios.workerMemoryRssGrowthVsCapacity, no target).
//
// Options: --seconds S (default 60), --connected-seconds C (default 30),
// --capacities 5242880,67108864, --variants memory,kafka, --modes thread,worker,
// --worker-gc on|off.

import { spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createSink, memoryTransport, type Transport } from "../mod.ts";
import { hostInfo, printTargets, round, runtimeInfo, sleep, target, writeResult, telemetryRecord as record } from "./lib/common.ts";
import { fullGc, type WorkerHeap, withWorkerGc } from "./lib/worker-gc.ts";

const args = process.argv.slice(2);
const optString = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const SECONDS = Number(optString("--seconds", "60"));
const CONNECTED_SECONDS = Number(optString("--connected-seconds", "30"));
const WORKER_GC = optString("--worker-gc", "on") !== "off";
const WARMUP_MS = 8000;
const MiB = 1024 * 1024;
const RUNTIME = runtimeInfo().runtime;

const FRAME_BYTES = 20 + new TextEncoder().encode(JSON.stringify(record(50_000))).length;

type Variant = "memory" | "kafka";
type Mode = "thread" | "worker";

interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}
const mem = (): Mem => {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers ?? 0 };
};

// ================================================================ child

async function child(variant: Variant, mode: Mode, capacity: number): Promise<void> {
  const rate = Math.ceil((10 * capacity) / (SECONDS * FRAME_BYTES));
  let transport: Transport;
  let hang = () => {};
  let discard = () => {};
  let collectWorker: () => Promise<WorkerHeap | null> = () => Promise.resolve(null);
  if (variant === "memory") {
    const t = memoryTransport();
    transport = t;
    hang = () => t.hang();
    // In worker mode the worker's twin posts its copies here: dropped alike.
    discard = () => void (t.received.length = 0);
  } else {
    const { BOOTSTRAP } = await import("./lib/broker.ts");
    const topic = `bench-memory-${Date.now().toString(36)}-${mode}-${capacity}`;
    if (RUNTIME === "node") {
      const { createTopics } = await import("./lib/kafka.ts");
      await createTopics(BOOTSTRAP, [topic]);
    } // Deno and Bun: @platformatic/kafka creates the topic on its first metadata request.
    if (mode === "thread" && RUNTIME === "node") {
      const { confluentTransport } = await import("../src/transports/confluent.ts");
      transport = confluentTransport({ brokers: BOOTSTRAP, topic });
    } else {
      const { kafkaTransport } = await import("../src/transports/kafka.ts");
      transport = kafkaTransport({ brokers: BOOTSTRAP, topic });
    }
  }
  if (mode === "worker" && WORKER_GC) {
    const wrapped = withWorkerGc(transport);
    collectWorker = () => wrapped.collectWorker();
    transport = wrapped;
  }
  const beforeSink = mem();
  const sink = createSink({ transport, capacityBytes: capacity, flusher: mode });
  for (let i = 0; i < 400 && sink.stats().transport.state !== "up"; i++) await sleep(25);

  let id = 0;
  let emitted = 0;
  let offeredBytes = 0;
  let peakHeld = 0;
  let measuring = false;
  const start = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    const due = Math.floor(((now - start) * rate) / 1000);
    // At most 2 ms of emits per tick, so that a starved child (a short --seconds makes the
    // rate of the 64 MiB case several times higher; a busy machine) still samples and
    // answers: it then offers less, which offeredVsCapacity shows.
    const until = now + 2;
    while (emitted < due && ((emitted & 63) !== 0 || performance.now() < until)) {
      sink.emit(record(id++));
      emitted++;
      if (measuring) offeredBytes += FRAME_BYTES;
    }
    // stats() runs in the warm-up too, so that the baseline has the same allocations.
    const s = sink.stats();
    const held = s.pending.bytes + s.inFlight.bytes;
    if (measuring && held > peakHeld) peakHeld = held;
  }, 1);

  if (!fullGc().collected) throw new Error(`memory: the child needs ${RUNTIME === "deno" ? "--v8-flags=--expose-gc" : "--expose-gc"}`);
  /** A full GC of the application's thread, and of the worker's heap (worker mode). */
  const collect = async (): Promise<WorkerHeap | null> => {
    const worker = await collectWorker();
    fullGc();
    return worker;
  };
  const go = createInterface({ input: process.stdin });
  const nextGo = () => new Promise<void>((resolve) => go.once("line", () => resolve()));
  const phase = async (seconds: number, onSample?: (m: Mem, t: number) => void) => {
    const workerAtStart = await collect();
    let peak = mem();
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await sleep(250);
      discard();
      const m = mem();
      if (m.rss > peak.rss) peak = m;
      onSample?.(m, (performance.now() - t0) / 1000);
    }
    const took = (performance.now() - t0) / 1000;
    const workerAfterGc = await collect();
    return { peak, afterGc: mem(), seconds: took, workerAtStart, workerAfterGc };
  };

  const warmStart = performance.now();
  while (performance.now() - warmStart < WARMUP_MS) {
    await sleep(250);
    discard();
  }
  console.log("WARM");
  await nextGo();
  const connected = await phase(CONNECTED_SECONDS);
  const baseline = connected.peak;
  const before = sink.stats();

  // ready; wait for the parent's go (it pauses the broker first)
  console.log("READY");
  await nextGo();
  go.close();
  hang();
  measuring = true;
  const series: Array<{ t: number; rss: number; heapUsed: number; workerHeapBytes: number; arrayBuffers: number; held: number }> = [];
  let workerHeapPeak = 0;
  let nextSeries = 0;
  const outage = await phase(SECONDS, (m, t) => {
    if (t < nextSeries) return;
    const s = sink.stats();
    workerHeapPeak = Math.max(workerHeapPeak, s.workerHeapBytes);
    series.push({ t: round(t, 3), rss: m.rss, heapUsed: m.heapUsed, workerHeapBytes: s.workerHeapBytes, arrayBuffers: m.arrayBuffers, held: s.pending.bytes + s.inFlight.bytes });
    nextSeries += 1;
  });
  const peak = outage.peak;
  measuring = false;
  clearInterval(ticker);
  const end = mem();
  const after = sink.stats();
  const result = {
    variant,
    mode,
    transport: after.transport.name,
    capacityBytes: capacity,
    ratePerSecond: rate,
    connectedSeconds: round(connected.seconds),
    outageSeconds: round(outage.seconds),
    offeredBytes,
    offeredVsCapacity: round(offeredBytes / capacity, 3),
    acceptedDuringOutage: after.accepted.records - before.accepted.records,
    refusedDuringOutage: after.refused.records - before.refused.records,
    deliveredDuringOutage: after.delivered.records - before.delivered.records,
    peakHeldBytes: peakHeld,
    peakHeldVsCapacity: round(peakHeld / capacity, 4),
    beforeSink,
    baseline,
    peak,
    end,
    rssGrowthBytes: peak.rss - baseline.rss,
    rssGrowthVsCapacity: round((peak.rss - baseline.rss) / capacity, 4),
    heapTotalGrowthBytes: peak.heapTotal - baseline.heapTotal,
    heapUsedGrowthBytes: peak.heapUsed - baseline.heapUsed,
    // worker mode: the worker's own heap (stats().workerHeapBytes, its beat's report):
    // before the outage, at its peak during it, and at the end
    workerHeapBefore: before.workerHeapBytes,
    workerHeapPeak,
    workerHeapEnd: after.workerHeapBytes,
    arrayBuffersGrowthBytes: peak.arrayBuffers - baseline.arrayBuffers,
    connectedAfterGc: connected.afterGc,
    outageAfterGc: outage.afterGc,
    rssGrowthAfterGcBytes: outage.afterGc.rss - connected.afterGc.rss,
    rssGrowthAfterGcVsCapacity: round((outage.afterGc.rss - connected.afterGc.rss) / capacity, 4),
    rssSinceBeforeSinkBytes: peak.rss - beforeSink.rss,
    rssSinceBeforeSinkVsCapacity: round((peak.rss - beforeSink.rss) / capacity, 4),
    // worker mode with --worker-gc on: the worker's heap after its full GC at the start
    // and the end of each phase (null otherwise)
    workerHeap: mode === "worker" && WORKER_GC
      ? { connectedStart: connected.workerAtStart, connectedEnd: connected.workerAfterGc, outageStart: outage.workerAtStart, outageEnd: outage.workerAfterGc }
      : null,
    series,
  };
  console.log("RESULT " + JSON.stringify(result));
  void sink.abort();
  await sleep(100);
  process.exit(0);
}

// ================================================================ parent

/** How this runtime runs this file as a child with its GC exposed. */
function childCommand(self: string): string[] {
  switch (RUNTIME) {
    case "deno":
      return ["run", "-A", "--v8-flags=--expose-gc", self];
    case "bun":
      return ["run", self];
    default:
      return [...process.execArgv, "--expose-gc", self];
  }
}

const caseName = (variant: Variant, mode: Mode, capacity: number) =>
  `${mode === "worker" ? "worker: " : ""}${variant === "memory" ? "memory transport hung" : "kafka broker paused"}, capacity ${capacity / MiB} MiB`;

async function parent(): Promise<void> {
  const rt = runtimeInfo();
  const capacities = optString("--capacities", `${5 * MiB},${64 * MiB}`).split(",").map(Number);
  const variants = optString("--variants", "memory,kafka").split(",") as Variant[];
  const modes = optString("--modes", "thread,worker").split(",") as Mode[];
  const started = performance.now();
  const { ensureBroker, kafkaAsync } = await import("./lib/broker.ts");
  const brokers = variants.includes("kafka") ? ensureBroker() : null;
  console.log(
    `memory on ${rt.runtime} ${rt.version}: ${SECONDS} s outage after ${CONNECTED_SECONDS} s connected, 10x capacity offered, capacities ${capacities.join(", ")} B, ` +
      `variants ${variants.join(", ")}, modes ${modes.join(", ")} (in turn)${modes.includes("worker") ? `, worker GC ${WORKER_GC ? "on" : "off"}` : ""}${brokers ? `, broker ${brokers}` : ""}`,
  );

  const self = fileURLToPath(import.meta.url);
  const command = childCommand(self);
  const results: Array<Record<string, unknown>> = [];
  for (const mode of modes) {
    const t0 = performance.now();
    const kids = variants.flatMap((variant) =>
      capacities.map((capacity) => {
        const p = spawn(process.execPath, [...command, "--child", variant, mode, String(capacity), "--seconds", String(SECONDS), "--connected-seconds", String(CONNECTED_SECONDS), "--worker-gc", WORKER_GC ? "on" : "off"], {
          stdio: ["pipe", "pipe", "inherit"],
        });
        const lines = createInterface({ input: p.stdout! });
        let onWarm: () => void = () => {};
        const warm = new Promise<void>((resolve) => (onWarm = resolve));
        let onReady: () => void = () => {};
        const ready = new Promise<void>((resolve) => (onReady = resolve));
        const result = new Promise<Record<string, unknown>>((resolve, reject) => {
          lines.on("line", (line) => {
            if (line === "WARM") onWarm();
            else if (line === "READY") onReady();
            else if (line.startsWith("RESULT ")) resolve(JSON.parse(line.slice(7)));
          });
          p.on("close", (code) => reject(new Error(`child ${mode} ${variant} ${capacity} exited ${code} without a result`)));
        });
        // a child that fails early must not leave the others waiting for it
        const failed = result.then(() => new Promise<never>(() => {}));
        return { variant, capacity, p, warm: Promise.race([warm, failed]), ready: Promise.race([ready, failed]), result };
      })
    );
    let paused = false;
    try {
      // The children of a mode run each phase together: the connected phase, then the outage.
      await Promise.all(kids.map((k) => k.warm));
      for (const k of kids) k.p.stdin!.write("go\n");
      await Promise.all(kids.map((k) => k.ready));
      if (brokers) {
        await kafkaAsync("pause");
        paused = true;
      }
      for (const k of kids) k.p.stdin!.write("go\n");
      results.push(...(await Promise.all(kids.map((k) => k.result))));
    } catch (error) {
      for (const k of kids) k.p.kill("SIGKILL");
      throw error;
    } finally {
      if (paused) await kafkaAsync("resume");
    }
    console.log(`  ${mode} mode: ${round((performance.now() - t0) / 1000)} s`);
  }
  const seconds = (performance.now() - started) / 1000;

  const cases: Record<string, unknown> = {};
  for (const r of results) {
    const name = caseName(r.variant as Variant, r.mode as Mode, r.capacityBytes as number);
    cases[name] = {
      median_ns: null,
      p99_ns: null,
      ...r,
      ratio_to: { capacityBytes: { peakHeld: r.peakHeldVsCapacity, rssGrowth: r.rssGrowthVsCapacity } },
    };
    const peak = r.peak as Mem;
    const base = r.baseline as Mem;
    console.log(
      `  ${name.padEnd(48)} ${String(r.transport).padEnd(12)} peak held ${r.peakHeldBytes} B (${r.peakHeldVsCapacity}x capacity)  RSS +${round((peak.rss - base.rss) / MiB, 3)} MiB (${r.rssGrowthVsCapacity}x)  ` +
        `after GC +${round((r.rssGrowthAfterGcBytes as number) / MiB, 3)} MiB  heapTotal +${round((peak.heapTotal - base.heapTotal) / MiB, 3)} MiB  heapUsed +${round((peak.heapUsed - base.heapUsed) / MiB, 3)} MiB  ` +
        `arrayBuffers +${round((peak.arrayBuffers - base.arrayBuffers) / MiB, 3)} MiB  (RSS since before the sink: +${round((peak.rss - (r.beforeSink as Mem).rss) / MiB, 3)} MiB)  offered ${r.offeredVsCapacity}x`,
    );
  }
  const worst = (key: string, mode: Mode, variant?: Variant) => {
    const xs = results.filter((r) => r.mode === mode && (variant === undefined || r.variant === variant)).map((r) => r[key] as number);
    return xs.length === 0 ? NaN : round(Math.max(...xs), 4);
  };
  const ratios: Record<string, number> = {};
  const targets = [];
  if (modes.includes("thread")) {
    ratios.peakHeldVsCapacity = worst("peakHeldVsCapacity", "thread");
    ratios.rssGrowthVsCapacity = worst("rssGrowthVsCapacity", "thread");
    targets.push(
      target("peakHeldVsCapacity", ratios.peakHeldVsCapacity, "<=", 1, "peak (pending + in-flight) bytes / capacityBytes, worst thread-mode case"),
      target("rssGrowthVsCapacity", ratios.rssGrowthVsCapacity, "<=", 1.25, "(peak RSS - baseline RSS) / capacityBytes, worst thread-mode case"),
    );
  }
  if (modes.includes("worker")) {
    ratios.workerPeakHeldVsCapacity = worst("peakHeldVsCapacity", "worker");
    ratios.workerRssGrowthVsCapacity = worst("rssGrowthVsCapacity", "worker", "kafka");
    // informational: the memory transport hung in the worker (no target)
    ratios.workerMemoryRssGrowthVsCapacity = worst("rssGrowthVsCapacity", "worker", "memory");
    targets.push(
      target("workerPeakHeldVsCapacity", ratios.workerPeakHeldVsCapacity, "<=", 1, "peak (pending + in-flight) bytes / capacityBytes, worst worker-mode case"),
      target("workerRssGrowthVsCapacity", ratios.workerRssGrowthVsCapacity, "<=", 1.25, "(peak RSS - baseline RSS) / capacityBytes, the worker's thread included, worst worker-mode Kafka case"),
    );
  }
  const file = writeResult("memory", {
    benchmark: "memory",
    ...rt,
    host: hostInfo(),
    date: new Date().toISOString(),
    command: rt.runtime === "node" ? "node benchmarks/memory.ts" : rt.runtime === "deno" ? "deno run -A benchmarks/memory.ts" : "bun run benchmarks/memory.ts",
    durationSeconds: round(seconds),
    outageSeconds: SECONDS,
    connectedSeconds: CONNECTED_SECONDS,
    modes,
    workerGc: WORKER_GC,
    childrenAtOnce: variants.length * capacities.length,
    recordFrameBytes: FRAME_BYTES,
    units: "bytes; ratios to capacityBytes; median_ns/p99_ns do not apply; RSS is the process's (the worker's thread included), heap figures the application's thread's",
    cases,
    ratios,
    targets,
  });
  printTargets(targets);
  console.log(`wrote ${file} (${round(seconds)} s)`);
}

const c = args.indexOf("--child");
if (c >= 0) await child(args[c + 1] as Variant, args[c + 2] as Mode, Number(args[c + 3]));
else await parent();

// Memory: the bytes a sink holds never exceed capacityBytes, and the process's RSS grows
// by little more than capacityBytes, through a 60 s outage during which producers offer
// ten times the capacity.
//
//   node --import tsx benchmarks/memory.ts      -> benchmarks/results/memory.json
//
// The parent runs four child processes at once, one per case:
//
//   memory-hung 5MiB / 64MiB   memoryTransport(), hang()ed at the start of the outage:
//                              sends never settle
//   kafka-paused 5MiB / 64MiB  confluent transport on the benchmarks' broker, which the
//                              parent pauses (SIGSTOP) at the start of the outage
//
// Each child offers a ~250-byte query-telemetry object at the rate that adds up to 10x
// its capacity over the outage (a timer every millisecond emits what is due). Its run has
// three phases, the children in step (the parent says when each phase starts):
//
//   warm-up    8 s, transport delivering (the memory transport's copies are discarded)
//   connected  as long as the outage, transport delivering: the baseline
//   outage     the broker paused, or the memory transport hung
//
// The connected phase and the outage are measured alike: each starts after a full GC
// (children run with --expose-gc), process.memoryUsage() is read every 250 ms, and each
// ends with a full GC and one more reading. RSS growth is the highest RSS of the outage
// minus the highest RSS of the connected phase, over equal spans of the same load: the
// young generation's swings, which are larger than a 5 MiB capacity, land in both. The
// growth that remains after a full GC at the end of each phase is reported as well.
// Held bytes (pending + in flight, from stats()) are read after every millisecond's
// emits, in every phase, so that all make the same garbage. Reported: peak held bytes /
// capacity, RSS growth / capacity, heap and external/arrayBuffers at the peak, and a 1 s
// time series of the outage.
//
// Options: --seconds S (default 60), --capacities 5242880,67108864, --variants memory,kafka.

import { spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createSink, memoryTransport, type Transport } from "../mod.ts";
import { hostInfo, printTargets, round, runtimeInfo, sleep, target, writeResult, telemetryRecord as record } from "./lib/common.ts";

const args = process.argv.slice(2);
const optString = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const SECONDS = Number(optString("--seconds", "60"));
const WARMUP_MS = 8000;
const MiB = 1024 * 1024;

const FRAME_BYTES = 20 + new TextEncoder().encode(JSON.stringify(record(50_000))).length;

interface Mem {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}
const mem = (): Mem => {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
};

// ================================================================ child

async function child(variant: "memory" | "kafka", capacity: number): Promise<void> {
  const rate = Math.ceil((10 * capacity) / (SECONDS * FRAME_BYTES));
  let transport: Transport;
  let hang = () => {};
  let discard = () => {};
  if (variant === "memory") {
    const t = memoryTransport();
    transport = t;
    hang = () => t.hang();
    discard = () => void (t.received.length = 0);
  } else {
    const { BOOTSTRAP } = await import("./lib/broker.ts");
    const { createTopics } = await import("./lib/kafka.ts");
    const { confluentTransport } = await import("../src/transports/confluent.ts");
    const topic = `bench-memory-${Date.now().toString(36)}-${capacity}`;
    await createTopics(BOOTSTRAP, [topic]);
    transport = confluentTransport({ brokers: BOOTSTRAP, topic });
  }
  const beforeSink = mem();
  const sink = createSink({ transport, capacityBytes: capacity });
  for (let i = 0; i < 200 && transport.state() !== "up"; i++) await sleep(25);

  let id = 0;
  let emitted = 0;
  let offeredBytes = 0;
  let peakHeld = 0;
  let measuring = false;
  const start = performance.now();
  const ticker = setInterval(() => {
    const due = Math.floor(((performance.now() - start) * rate) / 1000);
    while (emitted < due) {
      sink.emit(record(id++));
      emitted++;
      if (measuring) offeredBytes += FRAME_BYTES;
    }
    // stats() runs in the warm-up too, so that the baseline has the same allocations.
    const s = sink.stats();
    const held = s.pending.bytes + s.inFlight.bytes;
    if (measuring && held > peakHeld) peakHeld = held;
  }, 1);

  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("memory: the child needs --expose-gc");
  const fullGc = () => {
    gc();
    gc();
  };
  const go = createInterface({ input: process.stdin });
  const nextGo = () => new Promise<void>((resolve) => go.once("line", () => resolve()));
  const phase = async (onSample?: (m: Mem, t: number) => void) => {
    fullGc();
    let peak = mem();
    const t0 = performance.now();
    while (performance.now() - t0 < SECONDS * 1000) {
      await sleep(250);
      discard();
      const m = mem();
      if (m.rss > peak.rss) peak = m;
      onSample?.(m, (performance.now() - t0) / 1000);
    }
    const seconds = (performance.now() - t0) / 1000;
    fullGc();
    return { peak, afterGc: mem(), seconds };
  };

  const warmStart = performance.now();
  while (performance.now() - warmStart < WARMUP_MS) {
    await sleep(250);
    discard();
  }
  console.log("WARM");
  await nextGo();
  const connected = await phase();
  const baseline = connected.peak;
  const before = sink.stats();

  // ready; wait for the parent's go (it pauses the broker first)
  console.log("READY");
  await nextGo();
  go.close();
  hang();
  measuring = true;
  const series: Array<{ t: number; rss: number; heapUsed: number; arrayBuffers: number; held: number }> = [];
  let nextSeries = 0;
  const outage = await phase((m, t) => {
    if (t < nextSeries) return;
    const s = sink.stats();
    series.push({ t: round(t, 3), rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, held: s.pending.bytes + s.inFlight.bytes });
    nextSeries += 1;
  });
  const peak = outage.peak;
  measuring = false;
  clearInterval(ticker);
  const end = mem();
  const after = sink.stats();
  const result = {
    variant,
    capacityBytes: capacity,
    ratePerSecond: rate,
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
    arrayBuffersGrowthBytes: peak.arrayBuffers - baseline.arrayBuffers,
    connectedAfterGc: connected.afterGc,
    outageAfterGc: outage.afterGc,
    rssGrowthAfterGcBytes: outage.afterGc.rss - connected.afterGc.rss,
    rssGrowthAfterGcVsCapacity: round((outage.afterGc.rss - connected.afterGc.rss) / capacity, 4),
    rssSinceBeforeSinkBytes: peak.rss - beforeSink.rss,
    rssSinceBeforeSinkVsCapacity: round((peak.rss - beforeSink.rss) / capacity, 4),
    series,
  };
  console.log("RESULT " + JSON.stringify(result));
  void sink.abort();
  await sleep(100);
  process.exit(0);
}

// ================================================================ parent

async function parent(): Promise<void> {
  const rt = runtimeInfo();
  if (rt.runtime !== "node") throw new Error("memory runs on Node only");
  const capacities = optString("--capacities", `${5 * MiB},${64 * MiB}`).split(",").map(Number);
  const variants = optString("--variants", "memory,kafka").split(",") as Array<"memory" | "kafka">;
  const started = performance.now();
  const { ensureBroker, kafkaAsync } = await import("./lib/broker.ts");
  const brokers = variants.includes("kafka") ? ensureBroker() : null;
  console.log(`memory: ${SECONDS} s outage, 10x capacity offered, capacities ${capacities.join(", ")} B, variants ${variants.join(", ")}${brokers ? `, broker ${brokers}` : ""}`);

  const self = fileURLToPath(import.meta.url);
  const kids = variants.flatMap((variant) =>
    capacities.map((capacity) => {
      const p = spawn(process.execPath, ["--expose-gc", "--import", "tsx", self, "--child", variant, String(capacity), "--seconds", String(SECONDS)], {
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
        p.on("exit", (code) => reject(new Error(`child ${variant} ${capacity} exited ${code} without a result`)));
      });
      return { variant, capacity, p, warm, ready, result };
    })
  );
  // The children run each phase together: the connected phase, then the outage.
  await Promise.all(kids.map((k) => k.warm));
  for (const k of kids) k.p.stdin!.write("go\n");
  await Promise.all(kids.map((k) => k.ready));
  if (brokers) await kafkaAsync("pause");
  for (const k of kids) k.p.stdin!.write("go\n");
  let results: Array<Record<string, unknown>>;
  try {
    results = await Promise.all(kids.map((k) => k.result));
  } finally {
    if (brokers) await kafkaAsync("resume");
  }
  const seconds = (performance.now() - started) / 1000;

  const cases: Record<string, unknown> = {};
  for (const r of results) {
    const name = `${r.variant === "memory" ? "memory transport hung" : "kafka broker paused"}, capacity ${(r.capacityBytes as number) / MiB} MiB`;
    cases[name] = {
      median_ns: null,
      p99_ns: null,
      ...r,
      ratio_to: { capacityBytes: { peakHeld: r.peakHeldVsCapacity, rssGrowth: r.rssGrowthVsCapacity } },
    };
    const peak = r.peak as Mem;
    const base = r.baseline as Mem;
    console.log(
      `  ${name.padEnd(40)} peak held ${r.peakHeldBytes} B (${r.peakHeldVsCapacity}x capacity)  RSS +${round(((peak.rss - base.rss) / MiB), 3)} MiB (${r.rssGrowthVsCapacity}x)  ` +
        `heapTotal +${round((peak.heapTotal - base.heapTotal) / MiB, 3)} MiB  heapUsed +${round((peak.heapUsed - base.heapUsed) / MiB, 3)} MiB  arrayBuffers +${round((peak.arrayBuffers - base.arrayBuffers) / MiB, 3)} MiB  ` +
        `(RSS since before the sink: +${round(((peak.rss - (r.beforeSink as Mem).rss) / MiB), 3)} MiB)  offered ${r.offeredVsCapacity}x`,
    );
  }
  const worst = (key: string) => Math.max(...results.map((r) => r[key] as number));
  const ratios = { peakHeldVsCapacity: round(worst("peakHeldVsCapacity"), 4), rssGrowthVsCapacity: round(worst("rssGrowthVsCapacity"), 4) };
  const targets = [
    target("peakHeldVsCapacity", ratios.peakHeldVsCapacity, "<=", 1, "peak (pending + in-flight) bytes / capacityBytes, worst case"),
    target("rssGrowthVsCapacity", ratios.rssGrowthVsCapacity, "<=", 1.25, "(peak RSS - baseline RSS) / capacityBytes, worst case"),
  ];
  const file = writeResult("memory", {
    benchmark: "memory",
    ...rt,
    host: hostInfo(),
    date: new Date().toISOString(),
    command: "node --import tsx benchmarks/memory.ts",
    durationSeconds: round(seconds),
    outageSeconds: SECONDS,
    recordFrameBytes: FRAME_BYTES,
    units: "bytes; ratios to capacityBytes; median_ns/p99_ns do not apply",
    cases,
    ratios,
    targets,
  });
  printTargets(targets);
  console.log(`wrote ${file} (${round(seconds)} s)`);
}

const c = args.indexOf("--child");
if (c >= 0) await child(args[c + 1] as "memory" | "kafka", Number(args[c + 2]));
else await parent();

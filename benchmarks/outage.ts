// Outage: what emit() costs the caller, and how late the event loop runs, while the
// broker is up, hung (SIGSTOP) and crashed (SIGKILL), in both flusher modes, on Node,
// Deno and Bun.
//
//   node benchmarks/outage.ts          -> benchmarks/results/outage.json
//   deno run -A benchmarks/outage.ts   -> benchmarks/results/outage.deno.json
//   bun run benchmarks/outage.ts       -> benchmarks/results/outage.bun.json
//
// One sink at a time (default capacity 5 MiB and batching) on the benchmarks' own broker
// (lib/broker.ts), fed a ~250-byte query-telemetry object at a steady 5000 records/s (a
// timer every millisecond emits what is due). Each emit() is timed alone with
// performance.now(). Flusher modes:
//
//   thread   createSink({ transport: kafkaTransport(...) }): the flusher and the
//            runtime's default client on the application's thread (Node: confluent,
//            librdkafka; Deno and Bun: @platformatic/kafka)
//   worker   createSink({ flusher: "worker", transport: kafkaTransport(...) }): the
//            flusher and @platformatic/kafka in a worker thread
//
// Event-loop delay: on Node, perf_hooks.monitorEventLoopDelay (1 ms resolution; it
// records the time between its timer's runs, so an idle loop shows about 1 ms). Deno and
// Bun export it too, but it measures something else there (at 1 ms resolution Deno's
// idle p50 is about 2 µs, and Bun's max for a 50 ms block about 120 ms), so there the
// delay is the 1 ms load timer's lateness: the time between its runs less 1 ms. That
// lateness is recorded on every runtime as `timerLatenessMs`, the like-for-like figure
// across runtimes; `eventLoopDelayMethod` says what `eventLoopDelayMs` is.
//
// Phases, in order, for one sink:
//
//   connected    broker up
//   paused       after `kafka.sh pause` (SIGSTOP: connections open, nothing answers)
//   resumed      after `kafka.sh resume`, while the backlog drains (informational)
//   killed       after `kafka.sh kill` (SIGKILL: connections refused)
//   restarting   while `kafka.sh restart` runs (informational)
//   reconnected  broker back (informational)
//
// At 5000 records/s (~1.4 MB/s of frames) the 5 MiB buffer fills about 4 s into an
// outage, so with the default 5 s phases the outage phases time mostly accepted and some
// refused (buffer_full) emits; their distributions are also given apart. Targets, per
// mode: emit p99 during `paused` and `killed` at most 1.2x its p99 while `connected`.
//
// The modes take turns: each cycle runs the phases once per mode, each mode with a new
// sink (its own topic; created, warmed up for 1.5 s, closed after `reconnected`), and the
// mode that goes first alternates from cycle to cycle. Two sinks side by side would share
// one event loop, so neither's loop delay (nor its emit times, next to the other's
// flusher) would be its own mode's; in turn, each mode's phases run alone, against a
// broker in the same states, and each cycle compares the two a few seconds apart.
//
// A p99 of a few microseconds moves with whatever else the machine does in those
// seconds, so each mode's ratios are the median over the cycles, each cycle against its
// own connected baseline, and the phases written out are those of the cycle whose outage
// ratio is nearest that median. Worker versus thread (informational): per phase, the
// median over the cycles of worker p99 / thread p99, for emit and the loop delay.
//
// Options: --flusher thread|worker|both (default both), --phase-seconds S (default 5;
// 8 before worker mode was added), --rate R (default 5000), --cycles N (default 3).
// A full run at the defaults takes about 3 minutes.

import process from "node:process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createSink, type FlusherMode, type Sink } from "../mod.ts";
import { kafkaTransport } from "../src/transports/kafka.ts";
import { createTopicsPortable } from "./lib/admin.ts";
import { ensureBroker, kafkaAsync, reachable } from "./lib/broker.ts";
import { distribution, hostInfo, median, printTargets, round, runtimeInfo, sleep, type Target, target, telemetryRecord as record, writeResult } from "./lib/common.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const flusherArg = (() => {
  const i = args.indexOf("--flusher");
  return i >= 0 ? args[i + 1] : "both";
})();
if (flusherArg !== "thread" && flusherArg !== "worker" && flusherArg !== "both") throw new Error(`--flusher: thread, worker or both, got ${flusherArg}`);
const MODES: FlusherMode[] = flusherArg === "both" ? ["thread", "worker"] : [flusherArg];
const PHASE_MS = opt("--phase-seconds", 5) * 1000;
const SHORT_MS = Math.max(2000, PHASE_MS / 2);
const WARMUP_MS = 1500;
const CLOSE_MS = 15_000;
const RATE = opt("--rate", 5000);
const CYCLES = opt("--cycles", 3);
if (!Number.isInteger(CYCLES) || CYCLES < 1) throw new Error(`--cycles: a whole number from 1, got ${CYCLES}`);
if (!(PHASE_MS > 0)) throw new Error(`--phase-seconds: a positive number, got ${PHASE_MS / 1000}`);
if (!(RATE > 0)) throw new Error(`--rate: a positive number, got ${RATE}`);
const CAPACITY = 5 * 1024 * 1024;

const rt = runtimeInfo();
const COMMAND = { node: "node benchmarks/outage.ts", deno: "deno run -A benchmarks/outage.ts", bun: "bun run benchmarks/outage.ts" }[rt.runtime];
const ELD_METHOD = rt.runtime === "node"
  ? "monitorEventLoopDelay (perf_hooks, 1 ms resolution: the time between its timer's runs, about 1 ms when idle)"
  : "timer lateness: the time between the runs of the 1 ms load timer, less 1 ms (the runtime's monitorEventLoopDelay does not measure the same thing)";

const brokers = ensureBroker();
const run = Date.now().toString(36);
const topics: Record<FlusherMode, string> = { thread: `bench-outage-${run}-thread`, worker: `bench-outage-${run}-worker` };
await createTopicsPortable(brokers, MODES.map((m) => topics[m]));

// ---------------------------------------------------------------- load and recording

// One recording at a time (phases do not overlap), in arrays allocated once so that no
// phase makes megabytes of garbage.
const CAP = RATE * 120;
const rec = { times: new Float64Array(CAP), accepted: new Uint8Array(CAP), n: 0, on: false };
const LATE_CAP = 120_000;
const late = { ms: new Float64Array(LATE_CAP), n: 0 };

type Rec = ReturnType<typeof record>;
let sink: Sink<Rec> | null = null;
let ticker: ReturnType<typeof setInterval> | null = null;
let id = 0;

function startLoad(s: Sink<Rec>): void {
  sink = s;
  const loadStart = performance.now();
  let emitted = 0;
  let lastTick = loadStart;
  ticker = setInterval(() => {
    const now = performance.now();
    if (rec.on && late.n < LATE_CAP) late.ms[late.n++] = Math.max(0, now - lastTick - 1);
    lastTick = now;
    const due = Math.floor(((now - loadStart) * RATE) / 1000);
    while (emitted < due) {
      const r = record(id++);
      const a = performance.now();
      const ok = s.emit(r);
      const d = performance.now() - a;
      emitted++;
      if (rec.on && rec.n < CAP) {
        rec.times[rec.n] = d * 1e6;
        rec.accepted[rec.n] = ok ? 1 : 0;
        rec.n++;
      }
    }
  }, 1);
}

function stopLoad(): void {
  if (ticker !== null) clearInterval(ticker);
  ticker = null;
  sink = null;
}

const eld = rt.runtime === "node" ? monitorEventLoopDelay({ resolution: 1 }) : null;

type Delay = { p50: number; p99: number; max: number; mean: number };
type Ns = { n: number; mean: number; p50: number; p99: number; p999: number; max: number };

interface PhaseResult {
  seconds: number;
  emits: number;
  acceptedEmits: number;
  refusedEmits: number;
  emitNs: Ns;
  acceptedEmitNs: Ns | null;
  refusedEmitNs: Ns | null;
  eventLoopDelayMs: Delay;
  timerLatenessMs: Delay;
  transportState: string;
  heldBytesAtEnd: number;
  note?: string;
}

const ns = (d: ReturnType<typeof distribution>): Ns => ({ n: d.n, mean: round(d.mean), p50: round(d.p50), p99: round(d.p99), p999: round(d.p999), max: round(d.max) });
const delayOf = (d: ReturnType<typeof distribution>): Delay => ({ p50: round(d.p50), p99: round(d.p99), max: round(d.max), mean: round(d.mean) });

async function phase(mode: FlusherMode, name: string, ms: number | Promise<unknown>, note?: string): Promise<PhaseResult> {
  rec.n = 0;
  late.n = 0;
  eld?.reset();
  eld?.enable();
  rec.on = true;
  const t0 = performance.now();
  if (typeof ms === "number") await sleep(ms);
  else await ms;
  rec.on = false;
  eld?.disable();
  const seconds = (performance.now() - t0) / 1000;
  const times = rec.times.subarray(0, rec.n);
  const acc: number[] = [];
  const ref: number[] = [];
  for (let i = 0; i < rec.n; i++) (rec.accepted[i] ? acc : ref).push(times[i]!);
  const lateness = delayOf(distribution(late.ms.subarray(0, late.n)));
  const s = sink!.stats();
  const result: PhaseResult = {
    seconds: round(seconds),
    emits: rec.n,
    acceptedEmits: acc.length,
    refusedEmits: ref.length,
    emitNs: ns(distribution(times)),
    acceptedEmitNs: acc.length ? ns(distribution(acc)) : null,
    refusedEmitNs: ref.length ? ns(distribution(ref)) : null,
    eventLoopDelayMs: eld === null ? lateness : {
      p50: round(eld.percentile(50) / 1e6),
      p99: round(eld.percentile(99) / 1e6),
      max: round(eld.max / 1e6),
      mean: round(eld.mean / 1e6),
    },
    timerLatenessMs: lateness,
    transportState: s.transport.state,
    heldBytesAtEnd: s.pending.bytes + s.inFlight.bytes,
    ...(note ? { note } : {}),
  };
  const e = result.emitNs;
  console.log(
    `  ${mode.padEnd(6)} ${name.padEnd(12)} ${String(rec.n).padStart(6)} emits (${acc.length} accepted, ${ref.length} refused)  emit ns p50 ${e.p50} p99 ${e.p99} p999 ${e.p999} max ${e.max}  ` +
      `loop delay ms p50 ${result.eventLoopDelayMs.p50} p99 ${result.eventLoopDelayMs.p99} max ${result.eventLoopDelayMs.max}` +
      (eld === null ? "" : ` (timer lateness p99 ${lateness.p99})`) + `  transport ${result.transportState}`,
  );
  return result;
}

// ---------------------------------------------------------------- run

type Phases = Record<string, PhaseResult>;
const commands: Record<string, number[]> = { pause: [], resume: [], kill: [], restart: [] };
const command = async (name: "pause" | "resume" | "kill" | "restart") => {
  const t0 = performance.now();
  try {
    commands[name]!.push(round(await kafkaAsync(name)));
  } catch (e) {
    // On a busy machine the restarted broker can take longer than kafka.sh waits for it
    // (60 s); it is still starting, so wait up to 60 s more for its port before giving up.
    if (name !== "restart") throw e;
    console.error(`  ${(e as Error).message.split("\n").filter((l) => l.startsWith("kafka.sh:")).join(" ")}; waiting for the broker`);
    for (let i = 0; !(await reachable(brokers)); i++) {
      if (i >= 60) throw e;
      await sleep(1000);
    }
    commands[name]!.push(round(performance.now() - t0));
  }
};

interface ModeTotals {
  transport: string;
  accepted: number;
  delivered: number;
  dropped: Record<string, number>;
  flushedEveryCycle: boolean;
  closeSeconds: number[];
}
const totals = {} as Record<FlusherMode, ModeTotals>;

async function runMode(mode: FlusherMode): Promise<Phases> {
  const s = createSink<Rec>({ transport: kafkaTransport({ brokers, topic: topics[mode] }), capacityBytes: CAPACITY, flusher: mode });
  for (let i = 0; i < 400 && s.stats().transport.state !== "up"; i++) await sleep(25);
  startLoad(s);
  await sleep(WARMUP_MS); // not recorded
  const phases: Phases = {};
  phases.connected = await phase(mode, "connected", PHASE_MS);
  await command("pause");
  phases.paused = await phase(mode, "paused", PHASE_MS);
  await command("resume");
  phases.resumed = await phase(mode, "resumed", SHORT_MS, "informational: backlog draining after resume");
  await command("kill");
  phases.killed = await phase(mode, "killed", PHASE_MS);
  const restart = command("restart");
  phases.restarting = await phase(mode, "restarting", restart, "informational: while kafka.sh restart runs");
  await restart;
  phases.reconnected = await phase(mode, "reconnected", SHORT_MS, "informational: broker back");
  stopLoad();
  const transport = s.stats().transport.name;
  const report = await s.close({ timeoutMs: CLOSE_MS });
  const t = (totals[mode] ??= { transport, accepted: 0, delivered: 0, dropped: {}, flushedEveryCycle: true, closeSeconds: [] });
  t.accepted += report.accepted.records;
  t.delivered += report.delivered.records;
  for (const [k, c] of Object.entries(report.dropped)) if (c.records > 0) t.dropped[k] = (t.dropped[k] ?? 0) + c.records;
  t.flushedEveryCycle &&= report.flushed;
  t.closeSeconds.push(round(report.durationMs / 1000));
  return phases;
}

const started = performance.now();
console.log(
  `outage on ${rt.runtime} ${rt.version}: ${RATE} records/s of ~250 B, capacity ${CAPACITY} B, phases of ${PHASE_MS / 1000} s, ` +
    `flusher ${MODES.join(" and ")}, ${CYCLES} cycles, broker ${brokers}`,
);
const cycles: Record<FlusherMode, Phases[]> = { thread: [], worker: [] };
const order: FlusherMode[][] = [];
for (let n = 0; n < CYCLES; n++) {
  const modes = n % 2 === 0 ? MODES : [...MODES].reverse();
  order.push(modes);
  console.log(`cycle ${n + 1} of ${CYCLES}: ${modes.join(", then ")}`);
  for (const mode of modes) cycles[mode].push(await runMode(mode));
}
const seconds = (performance.now() - started) / 1000;

const ratiosOf = (p: Phases) => {
  const connectedP99 = p.connected!.emitNs.p99;
  return {
    outageP99VsConnectedP99: round(Math.max(p.paused!.emitNs.p99, p.killed!.emitNs.p99) / connectedP99, 3),
    pausedP99VsConnectedP99: round(p.paused!.emitNs.p99 / connectedP99, 3),
    killedP99VsConnectedP99: round(p.killed!.emitNs.p99 / connectedP99, 3),
    outageEventLoopP99VsConnected: round(Math.max(p.paused!.eventLoopDelayMs.p99, p.killed!.eventLoopDelayMs.p99) / p.connected!.eventLoopDelayMs.p99, 3),
    outageTimerLatenessP99VsConnected: round(Math.max(p.paused!.timerLatenessMs.p99, p.killed!.timerLatenessMs.p99) / p.connected!.timerLatenessMs.p99, 3),
  };
};
type Ratios = ReturnType<typeof ratiosOf>;

function summarise(mode: FlusherMode) {
  const list = cycles[mode];
  const perCycle = list.map(ratiosOf);
  const ratios = Object.fromEntries(Object.keys(perCycle[0]!).map((k) => [k, round(median(perCycle.map((r) => r[k as keyof Ratios])), 3)])) as Ratios;
  // The phases shown: the cycle whose outage ratio is nearest the median.
  const shown = perCycle.reduce(
    (best, r, i) => (Math.abs(r.outageP99VsConnectedP99 - ratios.outageP99VsConnectedP99) < Math.abs(perCycle[best]!.outageP99VsConnectedP99 - ratios.outageP99VsConnectedP99) ? i : best),
    0,
  );
  const phases = list[shown]!;
  const connectedP99 = phases.connected!.emitNs.p99;
  const t = totals[mode];
  console.log(`${mode}: outage p99 / connected p99 per cycle: ${perCycle.map((r) => r.outageP99VsConnectedP99).join(", ")}; median ${ratios.outageP99VsConnectedP99}; phases shown: cycle ${shown + 1}`);
  return {
    transport: t.transport,
    shownCycle: shown + 1,
    ratiosPerCycle: perCycle,
    cases: Object.fromEntries(
      Object.entries(phases).map(([k, p]) => [k, { median_ns: p.emitNs.p50, p99_ns: p.emitNs.p99, ...p, ...(k === "connected" ? { baseline: true } : { ratio_to: { connected: round(p.emitNs.p99 / connectedP99, 3) } }) }]),
    ),
    final: { flushed: t.flushedEveryCycle, accepted: t.accepted, delivered: t.delivered, dropped: t.dropped, closeSeconds: t.closeSeconds },
    ratios,
  };
}

console.log("");
const thread = MODES.includes("thread") ? summarise("thread") : null;
const worker = MODES.includes("worker") ? summarise("worker") : null;

const targets: Target[] = [];
if (thread !== null) {
  targets.push(target("outageP99VsConnectedP99", thread.ratios.outageP99VsConnectedP99, "<=", 1.2, `thread mode (${thread.transport}): median over ${CYCLES} cycles of max(paused, killed) emit p99 / connected emit p99`));
}
if (worker !== null) {
  targets.push(target("workerOutageP99VsConnectedP99", worker.ratios.outageP99VsConnectedP99, "<=", 1.2, `worker mode (${worker.transport}): median over ${CYCLES} cycles of max(paused, killed) emit p99 / connected emit p99`));
}

// Worker versus thread, per phase: the median over the cycles of worker p99 / thread p99
// (the same cycle's phases, a few seconds apart).
const workerVsThread = thread !== null && worker !== null
  ? {
    note: "informational: per phase, median over the cycles of worker-mode p99 / thread-mode p99 in the same cycle",
    phases: Object.fromEntries(
      Object.keys(cycles.thread[0]!).map((name) => {
        const of = (f: (p: PhaseResult) => number) => round(median(cycles.thread.map((t, i) => f(cycles.worker[i]![name]!) / f(t[name]!))), 3);
        return [name, {
          emitP99: of((p) => p.emitNs.p99),
          eventLoopDelayP99: of((p) => p.eventLoopDelayMs.p99),
          timerLatenessP99: of((p) => p.timerLatenessMs.p99),
        }];
      }),
    ),
  }
  : null;

const file = writeResult("outage", {
  benchmark: "outage",
  ...rt,
  host: hostInfo(),
  date: new Date().toISOString(),
  command: `${COMMAND}${args.length ? ` ${args.join(" ")}` : ""}`,
  durationSeconds: round(seconds),
  ratePerSecond: RATE,
  capacityBytes: CAPACITY,
  phaseSeconds: PHASE_MS / 1000,
  shortPhaseSeconds: SHORT_MS / 1000,
  warmupSeconds: WARMUP_MS / 1000,
  units: `emit times in nanoseconds (performance.now() around each call); event-loop delay and timer lateness in milliseconds`,
  eventLoopDelayMethod: ELD_METHOD,
  timerLatenessMethod: "the time between the runs of the 1 ms load timer, less 1 ms",
  flusherModes: MODES,
  cycleOrder: order,
  brokerCommandsMs: commands,
  cycles: CYCLES,
  // Thread mode under the keys the Node results have always had; worker mode beside it.
  ...(thread !== null
    ? { transport: thread.transport, shownCycle: thread.shownCycle, ratiosPerCycle: thread.ratiosPerCycle, cases: thread.cases, final: thread.final, ratios: thread.ratios }
    : {}),
  ...(worker !== null ? { worker } : {}),
  ...(workerVsThread !== null ? { workerVsThread } : {}),
  targets,
});

console.log("");
for (const [mode, t] of Object.entries(totals)) {
  console.log(`after the run, ${mode} (${t.transport}): flushed at every close ${t.flushedEveryCycle}, accepted ${t.accepted}, delivered ${t.delivered}, dropped ${JSON.stringify(t.dropped)}, close s ${t.closeSeconds.join(", ")}`);
}
if (workerVsThread !== null) {
  console.log(`worker / thread p99 (emit, loop delay): ${Object.entries(workerVsThread.phases).map(([k, v]) => `${k} ${v.emitP99}x ${v.eventLoopDelayP99}x`).join("; ")}`);
}
console.log(`(${round(seconds)} s)`);
printTargets(targets);
console.log(`wrote ${file}`);

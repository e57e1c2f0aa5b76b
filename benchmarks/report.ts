// npm run bench:report: renders benchmarks/results/*.json as markdown tables, prints
// them, writes benchmarks/results/README.md and the targets table of docs/performance.md.
//
//   node --import tsx benchmarks/report.ts

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RESULTS_DIR } from "./lib/common.ts";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function load(file: string): Json | null {
  const path = join(RESULTS_DIR, file);
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : null;
}

const hot = { node: load("hot-path.json"), deno: load("hot-path.deno.json"), bun: load("hot-path.bun.json") };
const outageRuns = { node: load("outage.json"), deno: load("outage.deno.json"), bun: load("outage.bun.json") };
const throughput = { node: load("throughput.json"), deno: load("throughput.deno.json"), bun: load("throughput.bun.json") };
const memory = { node: load("memory.json"), deno: load("memory.deno.json"), bun: load("memory.bun.json") };
const appThread = { node: load("app-thread.json"), deno: load("app-thread.deno.json"), bun: load("app-thread.bun.json") };
const coldEmit = { node: load("cold-emit.json"), deno: load("cold-emit.deno.json"), bun: load("cold-emit.bun.json") };

const NPM: Record<string, string> = {
  "hot-path": "npm run bench:hot-path",
  "hot-path.deno": "npm run bench:hot-path:deno",
  "hot-path.bun": "npm run bench:hot-path:bun",
  outage: "npm run bench:outage",
  "outage.deno": "deno run -A benchmarks/outage.ts",
  "outage.bun": "bun run benchmarks/outage.ts",
  throughput: "npm run bench:throughput",
  "throughput.deno": "deno run -A benchmarks/throughput.ts",
  "throughput.bun": "bun run benchmarks/throughput.ts",
  memory: "npm run bench:memory",
  "memory.deno": "deno run -A benchmarks/memory.ts",
  "memory.bun": "bun run benchmarks/memory.ts",
  "app-thread": "npm run bench:app-thread",
  "app-thread.deno": "deno run -A benchmarks/app-thread.ts",
  "app-thread.bun": "bun run benchmarks/app-thread.ts",
  "cold-emit": "npm run bench:cold-emit",
  "cold-emit.deno": "npm run bench:cold-emit:deno",
  "cold-emit.bun": "npm run bench:cold-emit:bun",
};

const runtimeName = (r: Json) => `${r.runtime === "node" ? "Node" : r.runtime === "deno" ? "Deno" : "Bun"} ${r.version}`;
const fmt = (x: unknown, digits = 3): string => {
  if (typeof x !== "number" || !Number.isFinite(x)) return "–";
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en-US");
  return String(Number(x.toPrecision(digits)));
};
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

const TARGET_TEXT: Record<string, string> = {
  emitBytesVsCopyFloor: "emit(bytes) / copy floor",
  produceVsEmitBytes: "librdkafka produce() / emit(bytes)",
  emitObjectVsStringify: "emit(object) / JSON.stringify",
  sheddingCostBytesNs: "emit(bytes) with shedding − without, ns",
  sheddingCostObjectNs: "emit(object) with shedding − without, ns",
  outageP99VsConnectedP99: "emit p99 during outage / connected",
  workerOutageP99VsConnectedP99: "worker mode: emit p99 during outage / connected",
  throughputVsBareLibrdkafka: "throughput / bare librdkafka loop",
  workerVsBare: "worker-mode throughput / bare @platformatic/kafka loop",
  emitObjectVsJsonBytesFloor: "emit(object) / JSON bytes floor",
  emitWorkerVsThreadBytes: "emit(bytes), worker mode / thread mode",
  emitWorkerVsThreadObject: "emit(object), worker mode / thread mode",
  "appThreadWorkerVsInThread@50000": "app thread's CPU per record, worker / thread mode, 50k records/s",
  "workerBufferFull@50000": "buffer_full drops in worker mode, 50k records/s, healthy broker",
  peakHeldVsCapacity: "peak held bytes / capacityBytes",
  rssGrowthVsCapacity: "RSS growth in outage / capacityBytes",
  workerPeakHeldVsCapacity: "worker mode: peak held bytes / capacityBytes",
  workerRssGrowthVsCapacity: "worker mode, Kafka: RSS growth in outage / capacityBytes, worker included",
  coldEmitThreadVsStringify: "cold emit(object), thread mode / cold JSON.stringify",
  coldEmitWorkerVsStringify: "cold emit(object), worker mode / cold JSON.stringify",
  coldEmitThreadNoKeyVsStringify: "cold emit(object), thread mode, no key / cold JSON.stringify",
  coldEmitWorkerNoKeyVsStringify: "cold emit(object), worker mode, no key / cold JSON.stringify",
};

const out: string[] = [];
out.push("## Performance", "");
out.push(
  "Measured by `npm run bench` (every benchmark with its baselines in the same process and run; " +
    "a local single-node Kafka broker on loopback). Each row gives the command that reproduces it; " +
    "the raw figures are in `benchmarks/results/*.json`.",
  "",
);

// ---------------------------------------------------------------- targets
const targetRows: string[][] = [];
const addTargets = (file: string, r: Json | null) => {
  if (r === null) return;
  for (const t of r.targets ?? []) {
    const key = String(t.key);
    const unit = key.endsWith("Ns") ? " ns" : key.startsWith("workerBufferFull") ? " records" : "x";
    targetRows.push([
      `${TARGET_TEXT[t.key] ?? t.key} (\`${t.key}\`)`,
      `${fmt(t.value)}${unit}`,
      `${t.op === "<=" ? "≤" : "≥"} ${t.bound}${unit}`,
      t.met ? "met" : "**missed**",
      runtimeName(r),
      `\`${NPM[file]}\``,
    ]);
  }
};
addTargets("hot-path", hot.node);
addTargets("hot-path.deno", hot.deno);
addTargets("hot-path.bun", hot.bun);
addTargets("outage", outageRuns.node);
addTargets("outage.deno", outageRuns.deno);
addTargets("outage.bun", outageRuns.bun);
addTargets("throughput", throughput.node);
addTargets("throughput.deno", throughput.deno);
addTargets("throughput.bun", throughput.bun);
addTargets("memory", memory.node);
addTargets("memory.deno", memory.deno);
addTargets("memory.bun", memory.bun);
addTargets("app-thread", appThread.node);
addTargets("app-thread.deno", appThread.deno);
addTargets("app-thread.bun", appThread.bun);
addTargets("cold-emit", coldEmit.node);
addTargets("cold-emit.deno", coldEmit.deno);
addTargets("cold-emit.bun", coldEmit.bun);
const targetsTable = table(["Target", "Measured", "Bound", "Status", "Runtime", "Reproduce"], targetRows);
out.push("### Targets", "", targetsTable, "");

// ---------------------------------------------------------------- hot path
const runtimes = (["node", "deno", "bun"] as const).filter((k) => hot[k] !== null);
if (runtimes.length > 0) {
  const names = Object.keys(hot[runtimes[0]]!.cases);
  for (const k of runtimes) for (const n of Object.keys(hot[k]!.cases)) if (!names.includes(n)) names.push(n);
  const rows = names.map((n) => [
    (hot[runtimes[0]]!.cases[n]?.baseline ?? hot[runtimes[runtimes.length - 1]]!.cases[n]?.baseline) ? `${n} *(baseline)*` : n,
    ...runtimes.map((k) => {
      const c = hot[k]!.cases[n];
      return c ? `${fmt(c.median_ns)} / ${fmt(c.p99_ns)}` : "–";
    }),
  ]);
  out.push(
    "### Hot path: ns per call (median / p99)",
    "",
    `State measured: ${hot[runtimes[0]]!.state}. Reproduce: ${runtimes.map((k) => `\`${NPM[k === "node" ? "hot-path" : `hot-path.${k}`]}\``).join(", ")}.`,
    "",
    table(["Case", ...runtimes.map((k) => runtimeName(hot[k]!))], rows),
    "",
  );
  if (hot.node?.produceBaseline) out.push(`librdkafka produce(): ${hot.node.produceBaseline}.`, "");
  const withFloors = runtimes.filter((k) => hot[k]!.floors !== undefined);
  if (withFloors.length > 0) {
    out.push(
      "JSON bytes floor: `JSON.stringify`, then the string written as UTF-8 into a preallocated buffer the cheapest way the runtime has " +
        "(informational, no target). The floor / `JSON.stringify`, then `emit(object)` / the floor: " +
        withFloors.map((k) => `${runtimeName(hot[k]!)} ${fmt(hot[k]!.floors.jsonBytesFloorVsStringify)}x, ${fmt(hot[k]!.floors.emitObjectVsJsonBytesFloor)}x`).join("; ") +
        ".",
      "",
    );
  }
}

// ---------------------------------------------------------------- outage
// Three runtimes × two flusher modes: thread mode under the result's top-level keys (as
// Node's results have always had them), worker mode under `worker`.
const outageRuntimes = (["node", "deno", "bun"] as const).filter((k) => outageRuns[k] !== null);
if (outageRuntimes.length > 0) {
  type ModeResult = { mode: "thread" | "worker"; transport: string; cases: Json; ratios: Json; ratiosPerCycle: Json[]; shownCycle: number };
  const modesOf = (r: Json): ModeResult[] => {
    const list: ModeResult[] = [];
    if (r.cases !== undefined) {
      list.push({ mode: "thread", transport: r.transport ?? "confluent", cases: r.cases, ratios: r.ratios ?? {}, ratiosPerCycle: r.ratiosPerCycle ?? [], shownCycle: r.shownCycle });
    }
    if (r.worker !== undefined) list.push({ mode: "worker", ...r.worker });
    return list;
  };
  const reproduce = (k: string) => `\`${NPM[k === "node" ? "outage" : `outage.${k}`]}\``;
  const three = (m: ModeResult, f: (p: Json) => unknown) => ["connected", "paused", "killed"].map((ph) => (m.cases[ph] ? fmt(f(m.cases[ph])) : "–")).join(" / ");
  const summary: string[][] = [];
  const detail: string[][] = [];
  for (const k of outageRuntimes) {
    const r = outageRuns[k]!;
    for (const m of modesOf(r)) {
      summary.push([
        runtimeName(r),
        `${m.mode} (${m.transport})`,
        three(m, (p) => p.emitNs.p99),
        `${fmt(m.ratios.outageP99VsConnectedP99)}x (${m.ratiosPerCycle.map((c) => `${fmt(c.outageP99VsConnectedP99)}x`).join(", ")})`,
        three(m, (p) => p.eventLoopDelayMs.p99),
        three(m, (p) => p.timerLatenessMs?.p99),
        r.worker !== undefined && r.cases !== undefined && m.mode === "worker" && r.workerVsThread
          ? ["connected", "paused", "killed"].map((ph) => `${fmt(r.workerVsThread.phases[ph]?.emitP99)}x`).join(" / ")
          : "–",
        reproduce(k),
      ]);
      for (const [phase, p] of Object.entries(m.cases)) {
        detail.push([
          runtimeName(r),
          m.mode,
          p.note ? `${phase} *(informational)*` : phase,
          fmt(p.emits),
          `${fmt(p.acceptedEmits)} / ${fmt(p.refusedEmits)}`,
          fmt(p.emitNs.p50),
          fmt(p.emitNs.p99),
          fmt(p.emitNs.p999),
          fmt(p.emitNs.max),
          `${fmt(p.eventLoopDelayMs.p50)} / ${fmt(p.eventLoopDelayMs.p99)} / ${fmt(p.eventLoopDelayMs.max)}`,
        ]);
      }
    }
  }
  const first = outageRuns[outageRuntimes[0]]!;
  const byLateness = outageRuntimes.filter((k) => String(outageRuns[k]!.eventLoopDelayMethod ?? "").startsWith("timer lateness")).map((k) => runtimeName(outageRuns[k]!));
  const byMonitor = outageRuntimes.filter((k) => !String(outageRuns[k]!.eventLoopDelayMethod ?? "").startsWith("timer lateness")).map((k) => runtimeName(outageRuns[k]!));
  const methods = [
    ...(byMonitor.length ? [`${byMonitor.join(", ")}: perf_hooks.monitorEventLoopDelay at 1 ms resolution (the time between its timer's runs, about 1 ms when idle)`] : []),
    ...(byLateness.length ? [`${byLateness.join(", ")}: the timer lateness below (the runtime's monitorEventLoopDelay measures something else)`] : []),
  ];
  out.push(
    "### Outage: emit() p99 (ns) and event-loop delay p99 (ms) by runtime and flusher mode",
    "",
    `${fmt(first.ratePerSecond)} records/s, capacity ${fmt(first.capacityBytes / 1048576)} MiB` +
      (first.phaseSeconds !== undefined ? `, phases of ${first.phaseSeconds} s` : "") +
      `, ${first.cycles ?? 1} cycles. Each cycle runs the phases once per mode, each mode with a new sink, the mode that goes first alternating; ` +
      "outage / connected is the median over the cycles of max(paused, killed) emit p99 / connected emit p99 (per cycle in brackets); " +
      "worker / thread is, per phase, the median over the cycles of worker-mode emit p99 / thread-mode emit p99 (informational).",
    "",
    `Event-loop delay: ${methods.join("; ")}. Timer lateness, the same on every runtime: the time between the runs of the 1 ms load timer, less 1 ms.`,
    "",
    table(
      ["Runtime", "Flusher (client)", "emit p99 connected / paused / killed", "outage / connected", "loop delay p99 connected / paused / killed", "timer lateness p99 connected / paused / killed", "worker / thread emit p99", "Reproduce"],
      summary,
    ),
    "",
    "### Outage: emit() latency (ns) and event-loop delay (ms) by broker state, runtime and flusher mode",
    "",
    `The cycle shown for each mode is the one whose outage / connected is nearest the median (${outageRuntimes
      .flatMap((k) => modesOf(outageRuns[k]!).map((m) => `${runtimeName(outageRuns[k]!)} ${m.mode}: cycle ${m.shownCycle ?? 1}`))
      .join(", ")}).`,
    "",
    table(["Runtime", "Flusher", "Broker", "emits", "accepted / refused", "p50", "p99", "p999", "max", "loop delay p50 / p99 / max"], detail),
    "",
  );
}

// ---------------------------------------------------------------- throughput
const tpRuntimes = (["node", "deno", "bun"] as const).filter((k) => throughput[k] !== null);
if (tpRuntimes.length > 0) {
  // One table for every runtime (its header is the one docs/performance.md carries), the
  // runtime in the first column; the case "shedsink" is thread mode.
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const k of tpRuntimes) {
    const r = throughput[k]!;
    for (const [name, c] of Object.entries(r.cases as Json)) {
      const cpu = (c.rounds as Json[]).map((x) => x.cpuMicrosPerRecord).sort((a: number, b: number) => a - b);
      const label = c.mode ? `shedsink (${c.mode}, ${c.transport})` : (c.label ?? name);
      rows.push([`${runtimeName(r)}: ${c.baseline ? `${label} *(baseline)*` : label}`, fmt(c.median), fmt(c.p99), fmt(cpu[Math.floor((cpu.length - 1) / 2)])]);
    }
    const q = r.ratios as Json;
    const perRound = (c: Json | undefined) => (Array.isArray(c?.pairedRatios) ? ` (per round: ${(c!.pairedRatios as number[]).map((x) => `${fmt(x)}x`).join(", ")})` : "");
    const parts = [
      q.workerVsBare === undefined ? null : `worker / bare @platformatic/kafka ${fmt(q.workerVsBare)}x${perRound(r.cases["shedsink (worker)"])}`,
      q.throughputVsBareLibrdkafka === undefined ? null : `thread / bare librdkafka ${fmt(q.throughputVsBareLibrdkafka)}x${k === "node" ? perRound(r.cases.shedsink) : ""}`,
      k === "node" || q.threadVsBare === undefined ? null : `thread / bare @platformatic/kafka ${fmt(q.threadVsBare)}x${perRound(r.cases.shedsink)}`,
      q.workerVsThread === undefined ? null : `worker / thread ${fmt(q.workerVsThread)}x`,
      q.workerVsBareLibrdkafka === undefined ? null : `worker / bare librdkafka ${fmt(q.workerVsBareLibrdkafka)}x`,
      q.barePlatformaticVsBareLibrdkafka === undefined ? null : `bare @platformatic/kafka / bare librdkafka ${fmt(q.barePlatformaticVsBareLibrdkafka)}x`,
    ].filter((x) => x !== null);
    notes.push(
      `- ${runtimeName(r)}: ${fmt(r.records)} records of ~250 B per run, ${r.rounds} interleaved rounds` +
        (parts.length > 0 ? `; medians of per-round ratios: ${parts.join("; ")}` : "") +
        `. Reproduce: \`${NPM[k === "node" ? "throughput" : `throughput.${k}`]}\`.`,
    );
  }
  out.push(
    "### Throughput: records/s delivered and read back by a consumer",
    "",
    "Thread mode uses kafkaTransport()'s client of the runtime (confluent on Node, platformatic on Deno and Bun), worker mode " +
      "@platformatic/kafka in the worker; each bare loop has the settings of the transport on the same client. CPU: the whole process's, per record.",
    "",
    table(["Case", "median records/s", "slowest round", "CPU µs/record"], rows),
    "",
    ...notes,
    "",
  );
}

// ---------------------------------------------------------------- memory
// One table, three runtimes x two flusher modes: the header is the one docs/performance.md
// has carried since the Node-only table, so that the table there is found and replaced.
const memRuntimes = (["node", "deno", "bun"] as const).filter((k) => memory[k] !== null);
if (memRuntimes.length > 0) {
  const rows: string[][] = [];
  for (const k of memRuntimes) {
    const r = memory[k]!;
    const entries = Object.entries(r.cases as Json);
    for (const mode of ["thread", "worker"]) {
      for (const [name, c] of entries) {
        if ((c.mode ?? "thread") !== mode) continue;
        const what = name.replace(/^worker: /, "").replace(/, capacity /, c.transport && c.variant === "kafka" ? ` (${c.transport}), ` : ", ");
        rows.push([
          `${runtimeName(r)}, ${mode}: ${what}`,
          `${fmt(c.offeredVsCapacity)}x`,
          `${fmt(c.peakHeldVsCapacity, 4)}x`,
          `${fmt(c.rssGrowthBytes / 1048576)} MiB (${fmt(c.rssGrowthVsCapacity)}x)`,
          c.rssGrowthAfterGcBytes === undefined ? "n/a" : `${fmt(c.rssGrowthAfterGcBytes / 1048576)} MiB (${fmt(c.rssGrowthAfterGcVsCapacity)}x)`,
          `${fmt(c.heapTotalGrowthBytes / 1048576)} MiB`,
          `${fmt(c.rssSinceBeforeSinkBytes / 1048576)} MiB`,
        ]);
      }
    }
  }
  const first = memory[memRuntimes[0]]!;
  const spans = memRuntimes.map((k) => {
    const r = memory[k]!;
    return `${runtimeName(r)} \`${NPM[k === "node" ? "memory" : `memory.${k}`]}\`${r.connectedSeconds === undefined ? "" : ` (connected ${r.connectedSeconds} s${r.workerGc === false ? ", no GC in the worker" : ""})`}`;
  });
  out.push(
    `### Memory: ${first.outageSeconds} s outage`,
    "",
    `Reproduce: ${spans.join(", ")}. RSS growth: the outage's highest RSS minus that of a connected phase`,
    "under the same load (as long as the outage or shorter: a shorter baseline can only make the growth larger); after",
    "GC: the same after a full GC at the end of each phase (in worker mode, of the worker's heap too). RSS is the",
    "process's, so in worker mode it includes the worker's thread (its heap and the Kafka client's buffers); heap growth",
    "is the application's thread's (V8's on Node and Deno, JavaScriptCore's on Bun). The ring's pages are resident from",
    "the sink's construction: the last column, the outage's highest RSS minus the RSS before the sink was created,",
    "includes them.",
    "",
    table(["Case", "offered", "peak held / capacity", "RSS growth", "after GC", "V8 heap growth (peak)", "RSS since before the sink"], rows),
    "",
  );
}

// ---------------------------------------------------------------- application thread
const appRuntimes = (["node", "deno", "bun"] as const).filter((k) => appThread[k] !== null);
if (appRuntimes.length > 0) {
  const rows: string[][] = [];
  for (const k of appRuntimes) {
    const r = appThread[k]!;
    for (const [rate, c] of Object.entries(r.rates as Json)) {
      const cell = (x: Json | undefined) => x === undefined ? "–" : `${fmt(x.appThreadMicrosPerRecord)} µs (${fmt(x.coreShare * 100)}%); ${fmt(x.processMicrosPerRecord)} µs`;
      const w = c.shedsinkWorker as Json | undefined;
      rows.push([
        runtimeName(r),
        Number(rate).toLocaleString("en-US"),
        cell(c.shedsink),
        cell(w),
        cell(c.bareClient),
        `${fmt(c.shedsink.notes.bufferFullWhileMeasured)} / ${w === undefined ? "–" : `${fmt(w.notes.bufferFullWhileMeasured)} in ${fmt(w.seconds)} s`}`,
        `\`${NPM[k === "node" ? "app-thread" : `app-thread.${k}`]}\``,
      ]);
    }
  }
  out.push(
    "### Application thread: CPU per record at a steady rate, broker healthy",
    "",
    "The main thread's CPU (from /proc) while a timer offers records at the rate, less that of the same loop without",
    "Kafka, per record (and the share of a core), then the whole process's CPU per record (every thread) likewise;",
    "the bare client is the same client fed directly, on the application's thread.",
    "",
    table(["Runtime", "records/s", "shedsink, thread mode: app thread; process", "shedsink, worker mode: app thread; process", "bare client: app thread; process", "buffer_full drops: thread / worker", "Reproduce"], rows),
    "",
  );
}

const text = out.join("\n");
console.log(text);
writeFileSync(join(RESULTS_DIR, "README.md"), `<!-- generated by npm run bench:report from benchmarks/results/*.json -->\n\n${text}`);
console.error(`wrote ${join(RESULTS_DIR, "README.md")}`);

// docs/performance.md carries every table printed here, each found by its header row
// (the targets table also between its markers), with prose around them; its summary of
// the targets by runtime, docs/worker.md's table and the README's figures are kept by hand.
const docPath = join(RESULTS_DIR, "..", "..", "docs", "performance.md");
let doc = readFileSync(docPath, "utf8");
const tablesOf = (markdown: string): string[] => markdown.match(/^\|.*\|\n\| ---.*\n(?:\|.*\n?)*/gm) ?? [];
let replaced = 0;
for (const generated of tablesOf(`${text}\n`)) {
  const header = generated.slice(0, generated.indexOf("\n") + 1);
  const old = tablesOf(doc).find((t) => t.startsWith(header));
  if (old === undefined) {
    console.error(`${docPath}: no table with the header ${header.trim()}; add it there`);
    process.exitCode = 1;
    continue;
  }
  doc = doc.replace(old, generated.endsWith("\n") ? generated : `${generated}\n`);
  replaced++;
}
writeFileSync(docPath, doc);
console.error(`updated ${replaced} tables of ${docPath}; update its summary by runtime, docs/worker.md's table and README.md's figures to match`);

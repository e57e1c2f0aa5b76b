// The demo's report: its JSON shape (demo-out/report.json), the live progress line and
// the summary table.

import process from "node:process";
import { DROP_REASONS, type DropReason, type SinkStats } from "../mod.ts";
import { type ClassReport, classRows, shedText } from "./classes.ts";
import { bytes, int, type LatencySummary, ms } from "./common.ts";
import type { AppThreadReport } from "./cpu.ts";

/** One sample: what the server and the load generator saw over `dt` seconds up to `t`. */
export interface Sample {
  /** Seconds since telemetry was switched on (negative during the baseline). */
  t: number;
  dt: number;
  phase: string;
  broker: string;
  /** Requests the server handled in the interval. */
  requests: number;
  serverLat: LatencySummary;
  /** Time spent in sink.emit() calls. */
  emit: LatencySummary;
  client: { sent: number; ok: number; errors: number; skipped: number; lat: LatencySummary };
  /** The sink's counters at the end of the interval (cumulative). */
  stats: SinkStats;
  /** The server's CPU time in ms (cumulative): its main thread's, and the whole process's (NaN off Linux). */
  cpu: { thread: number; process: number };
  /** Records the server's requests emitted so far (cumulative; NDJSON lines not included). */
  emitted: number;
}

/** One check of the demo's accounting. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** demo-out/report.json. */
export interface DemoReport {
  version: 1;
  createdAt: string;
  config: {
    duration: number;
    outage: number;
    baseline: number;
    warmup: number;
    rate: number;
    capacityBytes: number;
    runtime: string;
    transport: string;
    brokers: string | null;
    topic: string | null;
    connections: number;
    backendMs: number;
    lingerMs: number | null;
    /** Present (true) in --shedding mode. */
    shedding?: boolean;
    /** The flusher mode the sink ran in (its stats().flusher). */
    flusher: string;
    /** What --flusher asked for; null: nothing, the sink's default. */
    flusherAsked: string | null;
  };
  /** The machine the demo ran on: CPUs, and the 1-minute load average before and after. */
  machine: { cpus: number; loadAverageAtStart: number; loadAverageAtEnd: number; node: string };
  /** Seconds since telemetry was switched on. */
  outage: { start: number; end: number; simulated: boolean };
  events: Array<{ t: number; what: string }>;
  requests: {
    sent: number;
    answered: number;
    errors: number;
    skipped: number;
    skippedByPhase: Record<string, number>;
    unanswered: number;
    handled: number;
    byPhase: Record<string, number>;
    withTelemetry: number;
  };
  records: {
    offered: number;
    accepted: number;
    delivered: number;
    refused: number;
    lost: number;
    pending: number;
    inFlight: number;
    acceptedBytes: number;
    deliveredBytes: number;
  };
  drops: { total: number; byReason: Record<DropReason, number> };
  /** The upload during the outage, and the totals over every upload (warm-up ones included). */
  ingest: {
    lines: number;
    records: number;
    invalid: number;
    ms: number;
    bytes: number;
    status: number;
    clientMs: number;
    /** Seconds since telemetry was switched on, when the upload started and when it was answered. */
    at: number;
    end: number;
    warmupUploads: number;
    total: { lines: number; records: number; invalid: number };
  };
  /** Time spent inside sink.emit(), by phase (the calls not preceded by the baseline: every other one). */
  emit: Record<string, LatencySummary>;
  /**
   * The baseline of `emit`: time spent in JSON.stringify of the same record at the same
   * spot, by phase, timed on every other emit() call just before it (that call's emit()
   * is then not timed).
   */
  stringify: Record<string, LatencySummary>;
  flush: { flushed: boolean; ms: number; lastError: string | null };
  buffer: { capacityBytes: number; peakBytes: number; peakFraction: number; telemetryBytesPerSecond: number; absorbSeconds: number };
  latency: {
    server: Record<string, LatencySummary>;
    client: Record<string, LatencySummary>;
    p99ChangePercent: { server: number; client: number };
    p50ChangePercent: { server: number; client: number };
  };
  topic:
    | {
      checked: true;
      records: number;
      distinct: number;
      duplicates: number;
      unparsable: number;
      /** With --shedding: the records by class of their level. */
      byLevel?: { byClass: number[]; unknown: number };
    }
    | { checked: false; why: string };
  /** With --shedding: records by class (offered, delivered, shed, other drops). */
  classes?: ClassReport;
  /** The server's main thread's CPU time per request and per record, telemetry on and off. */
  appThread: AppThreadReport;
  metrics: { scraped: boolean; deliveredTotal: number | null };
  conservation: { holds: boolean; checks: Check[] };
  samples: Sample[];
  /** The ids of the data series drawn in the SVG. */
  series: string[];
  /** Path of the SVG, relative to the repository root. */
  svg: string;
}

const PHASE_LABEL: Record<string, string> = {
  warmup: "warm-up",
  "baseline-before": "telemetry off",
  "baseline-after": "telemetry off",
  before: "broker up",
  outage: "OUTAGE",
  upload: "OUTAGE+upload",
  after: "recovered",
};

function drops(stats: SinkStats): string {
  const parts = DROP_REASONS.filter((r) => stats.dropped[r].records > 0).map((r) =>
    `${r} ${int(stats.dropped[r].records)}${r === "shed" ? ` (${shedText(stats)})` : ""}`
  );
  return parts.length === 0 ? "none" : parts.join(", ");
}

const OFF_PHASES = new Set(["baseline-before", "baseline-after"]);
const ON_PHASES = new Set(["before", "outage", "after"]);

/** CPU ms, requests and records between two samples (NaN CPU off Linux). */
function spent(from: Sample, to: Sample): { cpuMs: number; requests: number; records: number } {
  return { cpuMs: to.cpu.thread - from.cpu.thread, requests: 0, records: to.emitted - from.emitted };
}

/**
 * The live line's application-thread figure: the server's main thread's CPU per request
 * over the current phase's last 5 s, and with telemetry on, the sink's cost per record:
 * that minus the per-request CPU of the first telemetry-off stretch, per record.
 */
export function appThreadLive(samples: Sample[], phaseStart: number): string {
  const last = samples.length - 1;
  // The phase's first sample straddles the change: measure from it, not across it.
  const from = Math.max(phaseStart, last - 10);
  if (last - from < 1 || !Number.isFinite(samples[last]!.cpu.thread)) return "app thread n/a";
  const window = spent(samples[from]!, samples[last]!);
  for (let i = from + 1; i <= last; i++) window.requests += samples[i]!.requests;
  if (window.requests === 0) return "app thread n/a";
  const perRequest = (window.cpuMs * 1000) / window.requests;
  const phase = samples[last]!.phase;
  let text = `app thread ${perRequest.toFixed(0)} µs/req`;
  if (OFF_PHASES.has(phase)) return `${text} (telemetry off)`;
  // The baseline: the telemetry-off samples before the run, their first one left out.
  const off = samples.filter((s) => s.phase === "baseline-before");
  if (ON_PHASES.has(phase) && off.length >= 3 && window.records > 0) {
    let requests = 0;
    for (let i = 1; i < off.length; i++) requests += off[i]!.requests;
    const offPerRequest = ((off[off.length - 1]!.cpu.thread - off[0]!.cpu.thread) * 1000) / requests;
    const sink = ((perRequest - offPerRequest) * window.requests) / window.records;
    text += `, sink ${sink >= 0 ? "+" : ""}${sink.toFixed(1)} µs/rec`;
  }
  return text;
}

/** Prints the progress line: in place on a terminal, as a plain line otherwise. */
export function printLive(s: Sample, cpu: string, inPlace: boolean): void {
  const st = s.stats;
  const held = st.pending.bytes + st.inFlight.bytes;
  const fill = Math.round((held / st.capacityBytes) * 100);
  const rps = s.dt > 0 ? s.requests / s.dt : 0;
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  const parts = [
    `t=${s.t.toFixed(1).padStart(5)}s ${(PHASE_LABEL[s.phase] ?? s.phase).padEnd(13)}`,
    `${int(rps).padStart(5)} req/s`,
    cpu,
    `accepted ${int(st.accepted.records)}`,
    `delivered ${int(st.delivered.records)}`,
    `buffer ${String(fill).padStart(3)}% ${mib(held)}/${mib(st.capacityBytes)} MiB`,
    `drops ${drops(st)}`,
    `broker ${s.broker}${st.transport.state === "up" ? "" : ` (transport ${st.transport.state})`}`,
  ];
  let line = parts.join(" | ");
  if (inPlace) {
    const cols = process.stdout.columns ?? 200;
    if (line.length > cols - 1) line = line.slice(0, cols - 1);
    process.stdout.write(`\r\x1b[2K${line}`);
  } else {
    process.stdout.write(`${line}\n`);
  }
}

const us = (v: number) => (Number.isFinite(v) ? `${(v * 1000).toFixed(v < 0.01 ? 2 : 1)} µs` : "n/a");
const pct = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? "+" : ""}${v.toFixed(1)}%` : "n/a");

const usq = (v: number | null) => (v !== null && Number.isFinite(v) ? `${v.toFixed(1)} µs` : "n/a");

/** The summary's application-thread section. */
function appThreadRows(r: DemoReport): string[] {
  const a = r.appThread;
  const out = [`Application thread CPU (the server's main thread: requests, emit()${a.flusher === "thread" ? ", the flusher and the transport" : ""}; flusher: ${a.flusher})`];
  if (!a.available) return [...out, `  ${a.source}`];
  const row = (label: string, f: AppThreadReport["on"], extra: string) =>
    out.push(`  ${label.padEnd(28)}${int(f.requests).padStart(9)} requests${`${usq(f.perRequestUs)}/request`.padStart(18)}   ${extra}`.trimEnd());
  if (a.off.requests > 0) {
    row("telemetry off (baseline)", a.off, `before the run ${usq(a.offBeforeUs)}, after it ${usq(a.offAfterUs)}: their gap is noise`);
  }
  const perRequest = a.on.requests > 0 ? a.on.records / a.on.requests : NaN;
  row("telemetry on (the run)", a.on, `${Number.isFinite(perRequest) ? perRequest.toFixed(2) : "n/a"} records/request: ${usq(a.on.perRecordUs)}/record, all of the thread's work`);
  if (a.sinkPerRecordUs !== null) {
    const d = a.sinkPerRecordUs;
    out.push(
      `  ${"the sink's cost".padEnd(28)}${`${d >= 0 ? "+" : ""}${usq(d)}/record`.padStart(36)}   the thread's CPU on minus off, per request, times requests / records`,
    );
    const p = a.process;
    out.push(
      `  ${"the whole process".padEnd(28)}${`${usq(p.onPerRequestUs)}/request`.padStart(36)}   on; off: ${usq(p.offBeforeUs)} before the run, ${usq(p.offAfterUs)} after it; every thread: ${a.flusher === "worker" ? "the flusher's worker" : "the Kafka client's"}, V8's`,
    );
  } else {
    out.push("  (no telemetry-off baseline, --baseline 0: the sink's share cannot be told from the thread's other work)");
  }
  out.push(`  ${a.source}; ${a.tickMs} ms ticks. The NDJSON upload's stretch is left out.`);
  return out;
}

/** The summary table printed at the end. */
export function renderTable(r: DemoReport): string {
  const c = r.config;
  const out: string[] = [];
  const title = `shedsink demo: ${c.runtime} server, ${c.transport} transport, ${c.flusher} flusher, ${int(c.rate)} req/s for ${c.duration} s, ` +
    `broker ${r.outage.simulated ? "outage simulated" : "paused"} for ${(r.outage.end - r.outage.start).toFixed(1)} s ` +
    `(t=${r.outage.start.toFixed(1)}-${r.outage.end.toFixed(1)} s), buffer ${bytes(c.capacityBytes)}`;
  out.push(title, "=".repeat(Math.min(title.length, 100)));

  const row = (label: string, value: string, detail = "") => out.push(`  ${label.padEnd(24)}${value.padStart(12)}   ${detail}`.trimEnd());
  out.push("Records");
  const q = r.requests;
  const run = (q.byPhase.before ?? 0) + (q.byPhase.outage ?? 0) + (q.byPhase.upload ?? 0) + (q.byPhase.after ?? 0);
  const skipped = Object.entries(q.skippedByPhase ?? {}).map(([p, n]) => `${n} in ${PHASE_LABEL[p] ?? p}`).join(", ");
  row("requests answered", int(q.answered), `${int(run)} in the run, ${int(q.byPhase.baseline ?? 0)} in the baseline (telemetry off), ${int(q.byPhase.warmup ?? 0)} in the warm-up; ${q.errors} errors, ${q.skipped} skipped${skipped === "" ? "" : ` (${skipped})`}`);
  row("records offered", int(r.records.offered), `${int(q.withTelemetry)} from requests with telemetry on (warm-up included) + ${int(r.ingest.total.lines)} NDJSON lines (${r.ingest.warmupUploads + 1} uploads)`);
  row("accepted", int(r.records.accepted), `${bytes(r.records.acceptedBytes)}`);
  row(
    "delivered to Kafka",
    int(r.records.delivered),
    r.topic.checked
      ? `the topic holds ${int(r.topic.records)} (${r.topic.duplicates} duplicates), read back with kcat`
      : `(topic not read back: ${r.topic.why})`,
  );
  const reasons = DROP_REASONS.filter((x) => r.drops.byReason[x] > 0);
  row("dropped", int(r.drops.total), reasons.length === 0 ? "none" : reasons.map((x) => `${x} ${int(r.drops.byReason[x])}`).join(", "));
  if (r.drops.byReason.invalid > 0 && r.ingest.total.invalid > 0) {
    row("", "", `(invalid: the ${r.ingest.total.invalid} malformed lines of the NDJSON uploads, on purpose)`);
  }
  row("buffer peak", bytes(r.buffer.peakBytes),
    `${Math.round(r.buffer.peakFraction * 100)}% of ${bytes(c.capacityBytes)}` +
      (Number.isFinite(r.buffer.absorbSeconds) ? `; at ${bytes(r.buffer.telemetryBytesPerSecond)}/s of telemetry it absorbs ~${r.buffer.absorbSeconds.toFixed(0)} s of outage` : ""));
  row("NDJSON upload", int(r.ingest.lines), `lines POSTed to /ingest during the outage, read in ${r.ingest.ms} ms: ${int(r.ingest.records)} records, ${r.ingest.invalid} invalid`);
  const e = r.emit.on;
  if (e !== undefined && e.n > 0) {
    row("sink.emit() call", us(e.p50), `p50; p99 ${us(e.p99)}, p99.9 ${us(e.p999)}, max ${us(e.max)} over ${int(e.n)} calls (every other call, outage included)`);
  }
  const b = r.stringify?.on;
  if (e !== undefined && e.n > 0 && b !== undefined && b.n > 0) {
    const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : "n/a");
    row("JSON.stringify baseline", us(b.p50), `p50; p99 ${us(b.p99)} over ${int(b.n)} calls: the same record, timed at the same spot, on the other calls, just before their emit()`);
    row("emit() / JSON.stringify", x(e.p50 / b.p50), `p50; p99 ${x(e.p99 / b.p99)} (what the sink adds to the encoding a record needs anyway)`);
  }
  row("drain after the run", `${r.flush.ms} ms`, r.flush.flushed ? "flush() settled everything" : "flush() timed out");
  row("conservation", r.conservation.holds ? "holds" : "BROKEN", `${r.conservation.checks.filter((x) => x.ok).length} of ${r.conservation.checks.length} checks pass`);
  for (const ch of r.conservation.checks) out.push(`    ${ch.ok ? "ok  " : "FAIL"} ${ch.name}: ${ch.detail}`);
  if (r.classes !== undefined) out.push("", ...classRows(r.classes));
  out.push("", ...appThreadRows(r));

  out.push("", "Latency                           requests   server p50   server p99   client p50   client p99");
  const lat = (label: string, key: string) => {
    const s = r.latency.server[key];
    const cl = r.latency.client[key];
    if (s === undefined || s.n === 0) return;
    out.push(
      `  ${label.padEnd(30)}${int(s.n).padStart(9)}${ms(s.p50).padStart(13)}${ms(s.p99).padStart(13)}` +
        `${ms(cl?.p50 ?? NaN).padStart(13)}${ms(cl?.p99 ?? NaN).padStart(13)}`,
    );
  };
  lat("telemetry off (baseline)", "baseline");
  lat("telemetry on (the run)", "on");
  lat("  broker up", "before");
  lat(`  broker ${r.outage.simulated ? "away (simulated)" : "paused"}`, "outage");
  lat("  after it came back", "after");
  lat("during the NDJSON upload (*)", "upload");
  const off = { s: r.latency.server.baseline, c: r.latency.client.baseline };
  const on = { s: r.latency.server.on, c: r.latency.client.on };
  if (off.s?.n && on.s?.n && off.c && on.c) {
    const diff = (a: number, b: number) => `${a - b >= 0 ? "+" : "-"}${us(Math.abs(a - b))}`;
    out.push(
      `  ${"change, on vs off".padEnd(30)}${"".padStart(9)}${pct(r.latency.p50ChangePercent.server).padStart(13)}${pct(r.latency.p99ChangePercent.server).padStart(13)}` +
        `${pct(r.latency.p50ChangePercent.client).padStart(13)}${pct(r.latency.p99ChangePercent.client).padStart(13)}`,
      `  ${"".padEnd(39)}${diff(on.s.p50, off.s.p50).padStart(13)}${diff(on.s.p99, off.s.p99).padStart(13)}${diff(on.c.p50, off.c.p50).padStart(13)}${diff(on.c.p99, off.c.p99).padStart(13)}`,
    );
  }
  const sv = r.latency.server;
  const noise: string[] = [];
  if (sv["baseline-before"]?.n && sv["baseline-after"]?.n) {
    const a = sv["baseline-before"].p99;
    const b = sv["baseline-after"].p99;
    noise.push(`telemetry off before and after the run: server p99 ${ms(a)} and ${ms(b)} (${pct((Math.abs(b - a) / Math.min(a, b)) * 100).slice(1)} apart with nothing changed)`);
  }
  const parts = ["before", "outage", "after"].map((k) => sv[k]?.p99).filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (parts.length === 3) {
    const lo = Math.min(...parts);
    const hi = Math.max(...parts);
    noise.push(`telemetry on, the three phases: ${ms(lo)} to ${ms(hi)} (${pct(((hi - lo) / lo) * 100).slice(1)})`);
  }
  if (noise.length > 0) {
    out.push(
      `  noise: ${noise.join(";\n         ")}.`,
      `         Differences in p99 of that size are run-to-run noise on this machine (${r.machine.cpus} CPUs, load average ${r.machine.loadAverageAtStart.toFixed(1)} at the start).`,
    );
  }
  out.push(
    `  server: from the request's arrival in the handler to the response written, in the server process: a scan of`,
    `          2,000 in-memory rows, a simulated ${r.config.backendMs} ms storage round trip (a timer), the emit(), the response.`,
    "  client: from sending the request to the last byte of the response, seen by the load generator (a separate",
    "          process, loopback, keep-alive): adds the server's event-loop queueing and the HTTP stack.",
  );
  if (r.latency.server.upload?.n) {
    out.push(
      `  (*) requests served from t=${r.ingest.at.toFixed(2)} s to t=${r.ingest.end.toFixed(2)} s, while the server parsed the ${int(r.ingest.lines)}-line NDJSON upload`,
      "      on its event loop (in the outage): the upload's own cost, counted apart and not in \"the run\" above.",
    );
  }
  return out.join("\n");
}

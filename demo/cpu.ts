// The application thread's CPU time in the demo's server: what the thread that serves the
// requests and runs sink.emit() spends, read from Linux's /proc, split by phase, and
// summarised per request and per record for the report. With telemetry off (the
// baseline) the thread does the same work minus the telemetry, so the difference per
// record is the sink's cost on that thread: emit(), and in thread mode the flusher and
// the Kafka client's JavaScript too; in worker mode those run on another thread.
//
// Works on Node, Deno and Bun on Linux (each runs its JavaScript on the process's main
// thread, whose task id is the process id); elsewhere the figures are NaN.

import { readFileSync } from "node:fs";
import process from "node:process";

/** Linux's USER_HZ: /proc counts CPU time in ticks of 10 ms. */
export const TICK_MS = 10;

/** utime + stime of a /proc stat file, in milliseconds; NaN when it cannot be read. */
function statCpuMs(path: string): number {
  try {
    const stat = readFileSync(path, "utf8");
    // The command name (in parentheses) may hold spaces: count fields after it. utime is
    // the 12th field after it, stime the 13th, both in ticks.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * TICK_MS : NaN;
  } catch {
    return NaN;
  }
}

/** The calling process's main thread's CPU time (user + system), in ms; NaN off Linux. */
export function threadCpuMs(): number {
  return statCpuMs(`/proc/self/task/${process.pid}/stat`);
}

/** The whole process's CPU time, every thread (user + system), in ms; NaN off Linux. */
export function processCpuMs(): number {
  return statCpuMs("/proc/self/stat");
}

/** Cumulative CPU readings. */
export interface CpuReading {
  thread: number;
  process: number;
}

export function readCpu(): CpuReading {
  return { thread: threadCpuMs(), process: processCpuMs() };
}

/** CPU time split by phase: each phase gets what was spent from its start to the next. */
export class PhaseCpu {
  readonly thread: Record<string, number> = {};
  readonly process: Record<string, number> = {};
  #phase: string | null;
  #last: CpuReading;
  constructor(phase: string) {
    this.#phase = phase;
    this.#last = readCpu();
  }
  #close(): void {
    const now = readCpu();
    if (this.#phase !== null) {
      this.thread[this.#phase] = (this.thread[this.#phase] ?? 0) + now.thread - this.#last.thread;
      this.process[this.#phase] = (this.process[this.#phase] ?? 0) + now.process - this.#last.process;
    }
    this.#last = now;
  }
  setPhase(name: string): void {
    this.#close();
    this.#phase = name;
  }
  /** Ends the accounting: what follows (the drain, close()) belongs to no phase. */
  stop(): void {
    this.#close();
    this.#phase = null;
  }
}

// ------------------------------------------------------------------ the report's figures

/** CPU over a set of phases, per request and per record. */
export interface CpuFigures {
  cpuMs: number;
  requests: number;
  /** Records the requests emitted (0 with telemetry off). */
  records: number;
  perRequestUs: number;
  /** cpuMs / records: everything the thread did, per record (NaN without records). */
  perRecordUs: number;
}

/** The application thread's CPU in report.json. */
export interface AppThreadReport {
  /** Whether /proc could be read (Linux). */
  available: boolean;
  /** Where the figures come from. */
  source: string;
  /** The server's process id: its main thread's task id. */
  pid: number | null;
  /** The flusher mode the sink ran in (sink.stats().flusher). */
  flusher: string;
  /** Resolution of the readings. */
  tickMs: number;
  /** Telemetry off: the two baseline stretches together. */
  off: CpuFigures;
  /** Telemetry on: the run (broker up, paused, back), the NDJSON upload left out. */
  on: CpuFigures;
  byPhase: Record<string, CpuFigures>;
  /**
   * The sink's cost on the thread, per record: (on.perRequestUs − off.perRequestUs) ×
   * on.requests / on.records. Null without a baseline. Noisy: see offBeforeUs/offAfterUs.
   */
  sinkPerRecordUs: number | null;
  /** Telemetry off before and after the run, per request: their gap is the noise floor. */
  offBeforeUs: number;
  offAfterUs: number;
  /**
   * The whole process (every thread: the worker, librdkafka's, V8's), per request, and the
   * same difference per record. The first telemetry-off stretch also holds whatever the
   * sink's threads still do at start (a worker loading its modules and connecting).
   */
  process: { offPerRequestUs: number; offBeforeUs: number; offAfterUs: number; onPerRequestUs: number; sinkPerRecordUs: number | null };
}

const ON = ["before", "outage", "after"];
const OFF = ["baseline-before", "baseline-after"];

function figures(cpu: Record<string, number>, requests: Record<string, number>, records: Record<string, number>, phases: string[]): CpuFigures {
  const sum = (m: Record<string, number>) => phases.reduce((a, p) => a + (m[p] ?? 0), 0);
  const cpuMs = sum(cpu);
  const n = sum(requests);
  const r = sum(records);
  return { cpuMs, requests: n, records: r, perRequestUs: n > 0 ? (cpuMs * 1000) / n : NaN, perRecordUs: r > 0 ? (cpuMs * 1000) / r : NaN };
}

/** The report's figures from the server's CPU, requests and records by phase. */
export function appThreadReport(input: {
  cpu: { thread: Record<string, number>; process: Record<string, number> };
  requests: Record<string, number>;
  records: Record<string, number>;
  pid: number | null;
  flusher: string;
}): AppThreadReport {
  const { cpu, requests, records } = input;
  const available = Object.values(cpu.thread).some((v) => Number.isFinite(v));
  const on = figures(cpu.thread, requests, records, ON);
  const off = figures(cpu.thread, requests, records, OFF);
  const diff = (onPerRequest: number, offPerRequest: number) =>
    off.requests > 0 && on.records > 0 && Number.isFinite(onPerRequest) && Number.isFinite(offPerRequest)
      ? ((onPerRequest - offPerRequest) * on.requests) / on.records
      : null;
  const pOn = figures(cpu.process, requests, records, ON);
  const pOff = figures(cpu.process, requests, records, OFF);
  const byPhase: Record<string, CpuFigures> = {};
  for (const p of Object.keys(cpu.thread)) byPhase[p] = figures(cpu.thread, requests, records, [p]);
  return {
    available,
    source: available
      ? `/proc/self/task/${input.pid}/stat of the server process: its main thread, which serves the requests and calls sink.emit() (user + system time)`
      : "not available: /proc/self/task/<pid>/stat could not be read (Linux only)",
    pid: input.pid,
    flusher: input.flusher,
    tickMs: TICK_MS,
    off,
    on,
    byPhase,
    sinkPerRecordUs: diff(on.perRequestUs, off.perRequestUs),
    offBeforeUs: figures(cpu.thread, requests, records, ["baseline-before"]).perRequestUs,
    offAfterUs: figures(cpu.thread, requests, records, ["baseline-after"]).perRequestUs,
    process: {
      offPerRequestUs: pOff.perRequestUs,
      offBeforeUs: figures(cpu.process, requests, records, ["baseline-before"]).perRequestUs,
      offAfterUs: figures(cpu.process, requests, records, ["baseline-after"]).perRequestUs,
      onPerRequestUs: pOn.perRequestUs,
      sinkPerRecordUs: diff(pOn.perRequestUs, pOff.perRequestUs),
    },
  };
}

// Helpers shared by the demo's processes (server, load generator, orchestrator).
// Web standards plus node:process only, so that the server can run on Node, Deno and Bun.

import process from "node:process";

/** Percentiles of a set of latencies, in milliseconds. */
export interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of `values` (which it sorts in place). */
export function summarize(values: Float64Array | number[]): LatencySummary {
  const n = values.length;
  if (n === 0) return { n: 0, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  const sorted = values instanceof Float64Array ? values.sort() : Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return { n, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: sorted[n - 1]!, mean: sum / n };
}

/** A growable list of doubles (latencies), cheap to append to on a hot path. */
export class Samples {
  #data = new Float64Array(1024);
  #n = 0;
  push(v: number): void {
    if (this.#n === this.#data.length) {
      const next = new Float64Array(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#n++] = v;
  }
  get length(): number {
    return this.#n;
  }
  /** A copy of the values. */
  values(): Float64Array {
    return this.#data.slice(0, this.#n);
  }
  clear(): void {
    this.#n = 0;
  }
}

/** Latencies split by phase, plus the ones since the last `take()`. */
export class PhaseLatencies {
  readonly #byPhase = new Map<string, Samples>();
  #interval = new Samples();
  #current: Samples;
  constructor(phase: string) {
    this.#current = this.#phase(phase);
  }
  #phase(name: string): Samples {
    let s = this.#byPhase.get(name);
    if (s === undefined) this.#byPhase.set(name, (s = new Samples()));
    return s;
  }
  setPhase(name: string): void {
    this.#current = this.#phase(name);
  }
  record(ms: number): void {
    this.#current.push(ms);
    this.#interval.push(ms);
  }
  /** Summary of the latencies since the previous call. */
  take(): LatencySummary {
    const s = summarize(this.#interval.values());
    this.#interval.clear();
    return s;
  }
  /** Summary of every phase, and of `groups`: named unions of phases. */
  phases(groups: Record<string, ReadonlyArray<string>> = {}): Record<string, LatencySummary> {
    const out: Record<string, LatencySummary> = {};
    for (const [name, s] of this.#byPhase) out[name] = summarize(s.values());
    for (const [name, members] of Object.entries(groups)) {
      const all: number[] = [];
      for (const m of members) for (const v of this.#byPhase.get(m)?.values() ?? []) all.push(v);
      out[name] = summarize(all);
    }
    return out;
  }
}

/** Calls `onLine` with every JSON line arriving on stdin. */
export function readCommands(onLine: (command: Record<string, unknown>) => void): void {
  let buffer = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line !== "") onLine(JSON.parse(line) as Record<string, unknown>);
    }
  });
}

/** Writes one JSON line to stdout (the process's reply channel). */
export function reply(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** 1234567 → "1,234,567". */
export function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Bytes as "512 B", "1.2 KiB", "5.0 MiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(n >= 100 * 1024 * 1024 ? 0 : 1)} MiB`;
}

/** Milliseconds with sensible precision: "0.042 ms", "1.23 ms", "12.3 ms". */
export function ms(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  if (v < 1) return `${v.toFixed(3)} ms`;
  if (v < 10) return `${v.toFixed(2)} ms`;
  return `${v.toFixed(1)} ms`;
}

/** Parses "5MiB", "512KiB", "5242880", "2M". */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(text);
  if (m === null) throw new Error(`not a size: ${JSON.stringify(text)} (examples: 5MiB, 512KiB, 1048576)`);
  const unit = (m[2] ?? "b").toLowerCase();
  const mult = unit.startsWith("k") ? 1024 : unit.startsWith("m") ? 1024 ** 2 : unit.startsWith("g") ? 1024 ** 3 : 1;
  return Math.round(Number(m[1]) * mult);
}

// Shared helpers for the benchmarks: runtime detection, a no-op transport, percentiles,
// and writing results to benchmarks/results/<name>[.<runtime>].json.
//
// Web standards plus node:fs / node:path / node:url / node:os, which Node, Deno and Bun
// all provide.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { Batch, SendReport, Transport, TransportSpec } from "../../mod.ts";

export const BENCH_DIR: string = join(dirname(fileURLToPath(import.meta.url)), "..");
export const RESULTS_DIR: string = join(BENCH_DIR, "results");

export type RuntimeName = "node" | "deno" | "bun";

interface RuntimeGlobals {
  Deno?: { version: { deno: string; v8: string } };
  Bun?: { version: string };
  process?: { versions: { node: string; v8: string } };
}

/** Which runtime this is, and its version. */
export function runtimeInfo(): { runtime: RuntimeName; version: string; engine: string } {
  const g = globalThis as unknown as RuntimeGlobals;
  if (g.Deno !== undefined) return { runtime: "deno", version: g.Deno.version.deno, engine: `V8 ${g.Deno.version.v8}` };
  if (g.Bun !== undefined) return { runtime: "bun", version: g.Bun.version, engine: "JavaScriptCore" };
  return { runtime: "node", version: g.process!.versions.node, engine: `V8 ${g.process!.versions.v8}` };
}

/** The machine, for the record. */
export function hostInfo(): { cpus: number; cpuModel: string; memoryBytes: number } {
  const list = cpus();
  return { cpus: list.length, cpuModel: list[0]?.model ?? "unknown", memoryBytes: totalmem() };
}

const RESOLVED: Promise<SendReport | undefined> = Promise.resolve(undefined);

/**
 * A transport that delivers every batch at once and keeps nothing: the sink's state stays
 * "buffer mostly empty, transport up" without growing memory the way `memoryTransport()`
 * (which keeps copies) would. It runs in worker mode too (`toWorker()`: the worker makes
 * its own from this module), where its counts are the worker's, not this object's.
 */
export function nullTransport(): Transport & { readonly batches: number; readonly records: number } {
  let batches = 0;
  let records = 0;
  return {
    name: "null",
    send(batch: Batch): Promise<SendReport | undefined> {
      batches++;
      records += batch.records.length;
      return RESOLVED;
    },
    state: () => "up",
    close: () => Promise.resolve(),
    toWorker: (): TransportSpec => ({ module: import.meta.url, factory: "nullTransport", options: {} }),
    get batches() {
      return batches;
    },
    get records() {
      return records;
    },
  };
}

/** The value at quantile `q` (0..1) of an ascending-sorted array (nearest rank). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** p50/p99/p999/max/mean of unsorted samples. */
export function distribution(samples: ArrayLike<number>): { n: number; mean: number; p50: number; p99: number; p999: number; max: number } {
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    n: sorted.length,
    mean: sorted.length === 0 ? NaN : sum / sorted.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    p999: quantile(sorted, 0.999),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
  };
}

/** Rounds to `digits` significant digits, for readable JSON. */
/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: ReadonlyArray<number>): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export function round(x: number, digits = 4): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}

/** One target: a named ratio, the bound it must respect, and whether it does. */
export interface Target {
  readonly key: string;
  readonly value: number;
  readonly op: "<=" | ">=";
  readonly bound: number;
  readonly met: boolean;
  readonly what: string;
}

export function target(key: string, value: number, op: "<=" | ">=", bound: number, what: string): Target {
  const met = Number.isFinite(value) && (op === "<=" ? value <= bound : value >= bound);
  return { key, value: round(value), op, bound, met, what };
}

/**
 * Writes `benchmarks/results/<name>.json` on Node and `<name>.<runtime>.json` elsewhere,
 * and returns its path.
 */
export function writeResult(name: string, body: Record<string, unknown>): string {
  const { runtime } = runtimeInfo();
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, runtime === "node" ? `${name}.json` : `${name}.${runtime}.json`);
  writeFileSync(file, JSON.stringify(body, null, 2) + "\n");
  return file;
}

/** Prints a target line: `  [met] emitBytesVsCopyFloor = 1.42 (target <= 2)`. */
export function printTargets(targets: ReadonlyArray<Target>): void {
  for (const t of targets) {
    console.log(`  [${t.met ? "met" : "MISSED"}] ${t.key} = ${t.value} (target ${t.op} ${t.bound}): ${t.what}`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The benchmarks' record: ~250 bytes of query telemetry (as JSON), with a unique id. */
export function telemetryRecord(id: number): {
  id: number;
  ts: number;
  keyspace: string;
  shard: string;
  table: string;
  fingerprint: string;
  rows: number;
  latencyMs: number;
  tags: string[];
} {
  return {
    id,
    ts: 1767225600123 + id,
    keyspace: "commerce",
    shard: "-80",
    table: "order_line_items",
    fingerprint: "select id, sku, qty, price from order_line_items where order_id = ? and status in (?)",
    rows: id % 97,
    latencyMs: 3.217,
    tags: ["app:checkout-api", "az:us-east-1a"],
  };
}

/** The main thread's CPU time in milliseconds (user + system), from /proc (Linux). */
export function threadCpuMs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Calls `offer(id)` at `rate` calls per second (a 1 ms interval catching up on what is
 * due) for `warmSeconds`, then for `seconds` measured: the main thread's CPU time, the
 * calls made and the seconds it took.
 */
export function driveAtRate(offer: (id: number) => void, rate: number, seconds: number, warmSeconds = 1): Promise<{ cpuMs: number; calls: number; seconds: number }> {
  let id = 0;
  const started = performance.now();
  const warmEnd = started + warmSeconds * 1000;
  const end = warmEnd + seconds * 1000;
  let from = -1;
  let cpu0 = 0;
  let t0 = 0;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (from < 0 && now >= warmEnd) {
        from = id;
        cpu0 = threadCpuMs();
        t0 = now;
      }
      if (now >= end) {
        clearInterval(timer);
        resolve({ cpuMs: threadCpuMs() - cpu0, calls: id - from, seconds: (now - t0) / 1000 });
        return;
      }
      const due = Math.floor(((now - started) / 1000) * rate);
      while (id < due) offer(id++);
    }, 1);
  });
}

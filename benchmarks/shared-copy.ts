// Shared-memory copies: what writing a record's bytes costs into the ring of each flusher
// mode, with nothing else around it. In thread mode the ring is an ArrayBuffer; in worker
// mode a SharedArrayBuffer, and engines may copy into shared memory another way (V8 copies
// with relaxed atomic stores, word by word when source and target are 8-byte aligned
// alike, else byte by byte). Explains the emit(bytes) rows of the hot path in worker mode.
//
//   node --import tsx benchmarks/shared-copy.ts   -> benchmarks/results/shared-copy.json
//   deno run -A benchmarks/shared-copy.ts         -> benchmarks/results/shared-copy.deno.json
//   bun run benchmarks/shared-copy.ts             -> benchmarks/results/shared-copy.bun.json
//
// Each case copies 256 bytes (a Uint8Array at offset 0 of its own buffer) with
// Uint8Array.prototype.set into a 16 MiB buffer, at successive offsets 8 bytes apart plus
// a fixed misalignment (0: aligned alike; 4: the offset of a value after a 20-byte frame
// header in an 8-aligned frame; 1), as the ring's frames come one after the other.
// Informational: no target.

import { bench, run } from "mitata";
import { hostInfo, median, round, runtimeInfo, writeResult } from "./lib/common.ts";

const rt = runtimeInfo();
const SIZE = 256;
const CAPACITY = 16 * 1024 * 1024;
const STRIDE = SIZE + 16; // a multiple of 8: every copy keeps its case's misalignment
const source = new Uint8Array(SIZE);
for (let i = 0; i < SIZE; i++) source[i] = (i * 31 + 7) & 0xff;

const cases: Array<{ name: string; buffer: ArrayBufferLike; misalign: number }> = [];
for (const misalign of [0, 4, 1]) {
  cases.push({ name: `ArrayBuffer, offset +${misalign} mod 8`, buffer: new ArrayBuffer(CAPACITY), misalign });
  cases.push({ name: `SharedArrayBuffer, offset +${misalign} mod 8`, buffer: new SharedArrayBuffer(CAPACITY), misalign });
}

const ROUNDS = 3;
const perRound: Array<Map<string, number>> = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const c of cases) {
    const target = new Uint8Array(c.buffer);
    target.fill(1); // pages resident before timing
    let at = 0;
    bench(c.name, () => {
      if (at + STRIDE > CAPACITY) at = 0;
      target.set(source, at + c.misalign);
      at += STRIDE;
    });
  }
  const result = await run({ format: r === ROUNDS - 1 ? "mitata" : "quiet" });
  const m = new Map<string, number>();
  for (const trial of result.benchmarks) for (const one of trial.runs) if (one.stats) m.set(one.name, one.stats.p50);
  perRound.push(m);
}

const summary: Record<string, { median_ns: number; rounds_median_ns: number[] }> = {};
for (const c of cases) {
  const xs = perRound.map((m) => m.get(c.name)!);
  summary[c.name] = { median_ns: round(median(xs)), rounds_median_ns: xs.map((x) => round(x)) };
}
const ns = (name: string) => summary[name]!.median_ns;
const ratios = {
  sharedVsPlainAligned: round(ns("SharedArrayBuffer, offset +0 mod 8") / ns("ArrayBuffer, offset +0 mod 8"), 3),
  sharedVsPlainOffset4: round(ns("SharedArrayBuffer, offset +4 mod 8") / ns("ArrayBuffer, offset +4 mod 8"), 3),
  sharedOffset4VsAligned: round(ns("SharedArrayBuffer, offset +4 mod 8") / ns("SharedArrayBuffer, offset +0 mod 8"), 3),
};
const file = writeResult("shared-copy", {
  benchmark: "shared-copy",
  ...rt,
  host: hostInfo(),
  date: new Date().toISOString(),
  command: rt.runtime === "node" ? "node --import tsx benchmarks/shared-copy.ts" : rt.runtime === "deno" ? "deno run -A benchmarks/shared-copy.ts" : "bun run benchmarks/shared-copy.ts",
  bytes: SIZE,
  rounds: ROUNDS,
  units: "nanoseconds per 256-byte Uint8Array.prototype.set; median over rounds of mitata's p50",
  cases: summary,
  ratios,
});
console.log(`\n${rt.runtime} ${rt.version}: ${JSON.stringify(ratios)}`);
console.log(`wrote ${file}`);

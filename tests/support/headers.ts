// Reads a topic back with its record headers and timestamps (kcat's JSON output), which
// the byte-exact readers of ./kafka.ts do not show. Text keys, values and headers only.
// Runs on Node, Deno and Bun (node:child_process).

import { spawn } from "node:child_process";
import { BOOTSTRAP } from "./kafka.ts";

/** One record as kcat -J prints it. */
export interface RecordWithHeaders {
  partition: number;
  offset: number;
  /** Milliseconds since the epoch (the record's CreateTime). */
  timestamp: number;
  key: string | null;
  value: string | null;
  /** Header pairs in record order. */
  headers: Array<[string, string]>;
}

interface KcatJson {
  partition: number;
  offset: number;
  ts: number;
  key: string | null;
  payload: string | null;
  headers?: string[];
}

function readOnce(topic: string, bootstrap: string, timeoutMs: number): Promise<RecordWithHeaders[]> {
  return new Promise((resolve, reject) => {
    const child = spawn("kcat", ["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-J"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Uint8Array[] = [];
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout!.on("data", (c: Uint8Array) => out.push(c));
    child.stderr!.on("data", (c: Uint8Array) => (err += new TextDecoder().decode(c)));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run kcat: ${e.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`kcat -C -J -t ${topic} failed (exit ${code}): ${err}`));
        return;
      }
      let size = 0;
      for (const c of out) size += c.byteLength;
      const all = new Uint8Array(size);
      let at = 0;
      for (const c of out) {
        all.set(c, at);
        at += c.byteLength;
      }
      const text = new TextDecoder().decode(all);
      const records = text.split("\n").filter((l) => l.trim() !== "").map((line) => {
        const m = JSON.parse(line) as KcatJson;
        const h = m.headers ?? [];
        const headers: Array<[string, string]> = [];
        for (let i = 0; i + 1 < h.length; i += 2) headers.push([h[i]!, h[i + 1]!]);
        return { partition: m.partition, offset: m.offset, timestamp: m.ts, key: m.key, value: m.payload, headers };
      });
      resolve(records);
    });
  });
}

/** Every record of `topic`, re-reading until `expected` are there or `timeoutMs` passes. */
export async function consumeWithHeaders(
  topic: string,
  opts: { expected?: number; timeoutMs?: number; bootstrap?: string } = {},
): Promise<RecordWithHeaders[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    const records = await readOnce(topic, opts.bootstrap ?? BOOTSTRAP, 20_000);
    if (opts.expected === undefined || records.length >= opts.expected || Date.now() >= deadline) return records;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The one place that knows which runtime it runs on: its name, timers that do not keep
 * the process alive (the default {@linkcode Scheduler}), and the cheapest way to encode
 * JSON and strings into the buffer on each engine. The core uses Web standards only and
 * gets all of this injected.
 *
 * @module
 */

import type { Scheduler, Timer, TimerOptions } from "./core/scheduler.ts";
import type { Utf8Target } from "./core/settings.ts";

type TimerHandle = ReturnType<typeof setTimeout>;

interface DenoTimers {
  unrefTimer?: (id: number) => void;
}

/** Lets a timer not keep the process alive: `unref()` on Node and Bun, `Deno.unrefTimer` on Deno. */
function unref(handle: TimerHandle): void {
  const timer = handle as unknown as { unref?: () => void } | number;
  if (typeof timer === "object" && timer !== null && typeof timer.unref === "function") {
    timer.unref();
  } else if (typeof timer === "number") {
    (globalThis as { Deno?: DenoTimers }).Deno?.unrefTimer?.(timer);
  }
}

/**
 * The runtime's own clock and timers, as a {@linkcode Scheduler}: timers that do not keep
 * the process alive unless `keepAlive` is set (browsers have nothing to keep alive). The
 * sink's default `scheduler`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { systemScheduler } from "./runtime.ts";
 *
 * const fired = await new Promise<number>((resolve) => {
 *   systemScheduler.later(5, () => resolve(systemScheduler.now()), { keepAlive: true });
 * });
 * assert.ok(Math.abs(fired - Date.now()) < 1000);
 * ```
 */
export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  later(ms: number, fn: () => void, options?: TimerOptions): Timer {
    const handle = setTimeout(fn, ms > 0 ? ms : 0);
    if (options?.keepAlive !== true) unref(handle);
    return { cancel: () => clearTimeout(handle) };
  },
  every(ms: number, fn: () => void, options?: TimerOptions): Timer {
    const handle = setInterval(fn, ms);
    if (options?.keepAlive !== true) unref(handle);
    return { cancel: () => clearInterval(handle) };
  },
};

interface RuntimeGlobals {
  Deno?: unknown;
  Bun?: unknown;
  process?: { versions?: { node?: unknown } };
}

/** The runtime this code runs on. */
export function runtimeName(): "node" | "deno" | "bun" | "other" {
  const g = globalThis as RuntimeGlobals;
  if (g.Deno !== undefined) return "deno";
  if (g.Bun !== undefined) return "bun";
  if (typeof g.process?.versions?.node === "string") return "node";
  return "other";
}

interface EngineGlobals {
  Bun?: unknown;
  Deno?: { version?: { v8?: string } };
  process?: { versions?: { v8?: string } };
}

/**
 * Whether JSON records should be written straight into the buffer as UTF-8
 * (`src/core/json.ts`) rather than by `JSON.stringify` then `TextEncoder`, on this
 * engine. See {@linkcode directJsonFor}.
 */
export function preferDirectJson(): boolean {
  const g = globalThis as EngineGlobals;
  return directJsonFor(g.Bun !== undefined ? "jsc" : "v8", g.Deno?.version?.v8 ?? g.process?.versions?.v8);
}

/**
 * Whether the direct JSON writer is the cheaper way on an engine: only on V8 before 12
 * (Node 20), whose `JSON.stringify` is slow and returns a rope that encoding must flatten
 * first. Per ~250-byte record, writer against `JSON.stringify` then `encodeInto`: V8 11.3
 * (Node 20) 612 ns against 738 ns; V8 12.4 (Node 22) 630 against 430; V8 13.6 (Node 24)
 * 615 against 440; Deno's V8 570 against 330; JavaScriptCore (Bun) 510 against 170.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directJsonFor } from "./runtime.ts";
 * assert.equal(directJsonFor("v8", "11.3.244.8-node.38"), true);
 * assert.equal(directJsonFor("v8", "12.4.254.21"), false);
 * ```
 */
export function directJsonFor(engine: "v8" | "jsc", v8Version: string | undefined): boolean {
  if (engine !== "v8" || typeof v8Version !== "string") return false;
  const major = Number(v8Version.split(".")[0]);
  return Number.isFinite(major) && major > 0 && major < 12;
}

interface BufferGlobals {
  Buffer?: {
    from(buffer: ArrayBuffer | SharedArrayBuffer, byteOffset: number, length: number): Utf8Target;
    prototype?: { utf8Write?: unknown };
  };
}

/**
 * A `Buffer` over `bytes` to encode strings into it in place, where that is cheaper than
 * `TextEncoder.encodeInto` (which needs a `subarray` view per string): Node and Bun.
 * Null elsewhere, Deno included, whose `Buffer` is written in JavaScript, and wherever
 * `Buffer.prototype.utf8Write` (what `buf.write(s, offset, length, "utf8")` calls on
 * Node, without its argument checks; Bun has it too) is missing. Per ~250-byte JSON
 * string (stringify then encode, less stringify alone), in place against `encodeInto`:
 * Node 20 128 ns against 185, Node 24 29 against 86, Bun 23 against 50; Deno 135
 * against 90.
 */
export function utf8TargetFor(bytes: Uint8Array): Utf8Target | null {
  const g = globalThis as unknown as EngineGlobals & BufferGlobals;
  if (g.Deno !== undefined || g.Buffer === undefined || typeof g.Buffer.prototype?.utf8Write !== "function") return null;
  return g.Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

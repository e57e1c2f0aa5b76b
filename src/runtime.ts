/**
 * The one place that knows which runtime it runs on: timers that do not keep the process
 * alive. Everything else in the core uses Web standards only.
 *
 * @module
 */

/** What `setTimeout` returns on any runtime. */
export type TimerHandle = ReturnType<typeof setTimeout>;

interface DenoTimers {
  unrefTimer?: (id: number) => void;
}

/**
 * Starts a timer that does not keep the process alive: `unref()` on Node and Bun,
 * `Deno.unrefTimer` on Deno, a plain timer elsewhere (browsers have nothing to keep
 * alive).
 */
export function unrefTimeout(callback: () => void, ms: number): TimerHandle {
  return unref(setTimeout(callback, ms));
}

/** Like {@linkcode unrefTimeout}, for an interval timer (clear it with `clearInterval`). */
export function unrefInterval(callback: () => void, ms: number): TimerHandle {
  return unref(setInterval(callback, ms));
}

function unref(handle: TimerHandle): TimerHandle {
  const timer = handle as unknown as { unref?: () => void } | number;
  if (typeof timer === "object" && timer !== null && typeof timer.unref === "function") {
    timer.unref();
  } else if (typeof timer === "number") {
    const deno = (globalThis as { Deno?: DenoTimers }).Deno;
    deno?.unrefTimer?.(timer);
  }
  return handle;
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
 * import { directJsonFor } from "./runtime.ts";
 * console.assert(directJsonFor("v8", "11.3.244.8-node.38") && !directJsonFor("v8", "12.4.254.21"));
 * ```
 */
export function directJsonFor(engine: "v8" | "jsc", v8Version: string | undefined): boolean {
  if (engine !== "v8" || typeof v8Version !== "string") return false;
  const major = Number(v8Version.split(".")[0]);
  return Number.isFinite(major) && major > 0 && major < 12;
}

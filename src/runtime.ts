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
 * (`src/core/json.ts`) rather than by `JSON.stringify` then `TextEncoder`. On V8 before
 * 13.8, `JSON.stringify` is slow and returns a rope that encoding must flatten first, and
 * writing the bytes directly costs less than either alone. JavaScriptCore (Bun) and
 * newer V8 (Deno) have a `JSON.stringify` that the direct writer does not beat.
 */
export function preferDirectJson(): boolean {
  const g = globalThis as EngineGlobals;
  if (g.Bun !== undefined) return false;
  const v8 = g.Deno?.version?.v8 ?? g.process?.versions?.v8;
  if (typeof v8 !== "string") return false;
  const [major = 0, minor = 0] = v8.split(".").map(Number);
  return major < 13 || (major === 13 && minor < 8);
}

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

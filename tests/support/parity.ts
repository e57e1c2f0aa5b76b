// The parity harness: one test body, run once per flusher mode. `parity(name, body)`
// declares two flat top-level tests, "[thread] name" and "[worker] name" (Bun runs
// node:test only that way); the body gets the mode and makes its sinks with
// `makeSink(mode, options)`: the memory transport, `flusher: mode`, and a watcher that
// reads stats() every few milliseconds until the sink is closed and fails the test if any
// snapshot breaks the conservation law or the capacity bound.
//
// Real time in both modes (the worker runs on the runtime's clock, so the fake scheduler
// cannot drive it): bodies synchronise with flush(), close(), the transport's controls and
// `until()` (bounded polling), never with a fixed sleep as an assertion of timing. A body
// that does not finish within its limit fails with a message saying so, and the sinks it
// made are aborted (boundedly) so that no worker outlives its test.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  conservationErrors,
  type Counts,
  createSink,
  DROP_REASONS,
  type DropReason,
  type MemoryTransport,
  memoryTransport,
  type Sink,
  type SinkOptions,
  type SinkStats,
} from "../../mod.ts";

/** The flusher modes every parity test runs in. */
export const MODES = ["thread", "worker"] as const;
export type Mode = (typeof MODES)[number];

/** Bytes of framing per record (see `capacityBytes`). */
export const FRAME = 20;

/**
 * How long one body may run, unless its test says otherwise: under Bun's default limit
 * for a test (5 s), so that a body that hangs fails here, with its name and its sinks
 * aborted, rather than running on into the next test.
 */
const DEFAULT_LIMIT_MS = 4500;

interface Watched {
  readonly sink: Sink<never>;
  readonly capacityBytes: number;
  readonly violations: string[];
  timer: ReturnType<typeof setInterval> | null;
  snapshots: number;
}

/** The sinks made by the body that runs now (tests in a file run one at a time). */
let made: Watched[] = [];

/** Options of `makeSink`: the sink's options, with the memory transport made unless given. */
export type ParityOptions<T> = Omit<SinkOptions<T>, "transport" | "flusher" | "scheduler"> & { transport?: MemoryTransport };

/** A sink in `mode` on a memory transport, watched for conservation until it is closed. */
export function makeSink<T = unknown>(mode: Mode, options: ParityOptions<T> = {}): { sink: Sink<T>; transport: MemoryTransport } {
  const transport = options.transport ?? memoryTransport();
  const sink = createSink<T>({ ...options, transport, flusher: mode });
  assert.equal(sink.stats().flusher, mode, "the sink runs in the mode asked for");
  const watched: Watched = { sink: sink as Sink<never>, capacityBytes: sink.stats().capacityBytes, violations: [], timer: null, snapshots: 0 };
  watched.timer = setInterval(() => look(watched), 2);
  made.push(watched);
  return { sink, transport };
}

/** One snapshot: conservation, gauges and the capacity bound, recorded if broken. */
function look(w: Watched): void {
  let s: SinkStats;
  try {
    s = w.sink.stats();
  } catch (error) {
    w.violations.push(`stats() threw: ${String(error)}`);
    stopWatching(w);
    return;
  }
  w.snapshots++;
  const problems = snapshotErrors(s, w.capacityBytes);
  if (problems.length > 0 && w.violations.length < 5) w.violations.push(`${problems.join("; ")} in ${JSON.stringify(s)}`);
  if (s.state === "closed") stopWatching(w);
}

function stopWatching(w: Watched): void {
  if (w.timer !== null) clearInterval(w.timer);
  w.timer = null;
}

/** A stats() snapshot or a close report. */
type Snapshot = Counts & { readonly state?: SinkStats["state"]; readonly capacityBytes?: number };

/**
 * What is wrong with one snapshot: the conservation law, negative gauges, the capacity
 * bound; for a close report (it has `flushed`) or a closed sink, anything still held.
 */
export function snapshotErrors(s: Snapshot, capacityBytes = s.capacityBytes ?? Infinity): string[] {
  const errors = conservationErrors(s);
  for (const [name, gauge] of [["pending", s.pending], ["inFlight", s.inFlight]] as const) {
    if (gauge.records < 0 || gauge.bytes < 0) errors.push(`${name} is negative`);
  }
  if (s.pending.bytes + s.inFlight.bytes > capacityBytes) errors.push(`held ${s.pending.bytes + s.inFlight.bytes} bytes > capacity ${capacityBytes}`);
  if ((s.state === "closed" || "flushed" in s) && s.pending.records + s.inFlight.records + s.pending.bytes + s.inFlight.bytes !== 0) {
    errors.push("pending or in flight after close");
  }
  return errors;
}

/** stats(), asserted to keep the law. */
// deno-lint-ignore no-explicit-any
export function stats(sink: Sink<any>): SinkStats {
  const s = sink.stats();
  assert.deepEqual(snapshotErrors(s), [], "the snapshot keeps the conservation law");
  return s;
}

/** Asserts that the drops are exactly `expected` (records, by reason; 0 for the others) and the law holds. */
export function onlyDrops(s: Snapshot, expected: Partial<Record<DropReason, number>>): void {
  for (const reason of DROP_REASONS) assert.equal(s.dropped[reason].records, expected[reason] ?? 0, `dropped.${reason}`);
  assert.deepEqual(snapshotErrors(s), []);
}

/**
 * Declares "[thread] name" and "[worker] name". The body must finish within `limitMs`
 * (default 4.5 s); the sinks it made are aborted afterwards if it left them open, and every
 * stats() snapshot the watcher read must have kept the law.
 */
export function parity(name: string, body: (mode: Mode) => Promise<void> | void, limitMs = DEFAULT_LIMIT_MS): void {
  for (const mode of MODES) {
    test(`[${mode}] ${name}`, async () => {
      made = [];
      const mine = made;
      try {
        await within(Promise.resolve().then(() => body(mode)), limitMs, `the test body (${mode} mode)`);
      } finally {
        for (const w of mine) look(w);
        for (const w of mine) stopWatching(w);
        // Whatever the body left open is closed at once; a close that does not settle is
        // reported, but does not hold the run up.
        const open = mine.filter((w) => w.sink.stats().state !== "closed");
        if (open.length > 0) await within(Promise.all(open.map((w) => w.sink.abort())), 2000, "aborting the sinks the test left open").catch(() => {});
      }
      for (const w of mine) assert.deepEqual(w.violations, [], `every stats() snapshot (${w.snapshots} read) keeps the law`);
    });
  }
}

/** `promise`'s value, or a failure naming `what` if it does not settle within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until the memory transport's controls given so far apply. In worker mode they reach
 * the worker's twin by message, so a record emitted right after `hang()` could be sent
 * before it applies; a flush() goes to the worker by the same channel, behind them. Call it
 * only with nothing pending (or it waits for that too). Controls given before the worker
 * started (right after `makeSink`) are part of its start and need no wait.
 */
// deno-lint-ignore no-explicit-any
export async function applied(sink: Sink<any>): Promise<void> {
  assert.equal(await within(sink.flush({ timeoutMs: 2000 }), 2500, "flush() behind the transport's controls"), true, "nothing was pending");
}

/** Polls `predicate` every 2 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Whether a promise has settled, looked at after the current microtasks ran. */
export async function settledYet(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 0));
  return settled;
}

/** A record of `framed` bytes with the framing (bytes records are written as they are). */
export function bytesRecord(framed: number, first = 0, second = 0): Uint8Array {
  const r = new Uint8Array(framed - FRAME);
  r[0] = first;
  if (r.length > 1) r[1] = second;
  return r;
}

/** A small deterministic generator of numbers in [0, 1): the same sequence in both modes. */
export function seeded(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

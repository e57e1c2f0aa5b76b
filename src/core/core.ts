/**
 * The one factory of the core: builds the ring, the ledger, the backlog, the writer, the
 * flusher and the clock from the settings, a transport and a scheduler, and wires them.
 * `createSink` builds its core here, and so do the tests.
 *
 * The objects depend on each other in one direction only:
 *
 * ```
 * writer ──> backlog ──> ring <── ledger (accounting)
 *    │          └──────────────────> ledger
 *    └──> flusher (told of accepted records) ──> backlog, ledger, transport, scheduler
 * ```
 *
 * The ring counts the accepted records (the hot path touches nothing else) and is told
 * the bytes in flight by the ledger, since they count against the same capacity.
 *
 * @module
 */

import { Accounting } from "./accounting.ts";
import { Backlog } from "./backlog.ts";
import { CoarseClock } from "./clock.ts";
import type { Transport } from "./contract.ts";
import { RecordWriter } from "./encode.ts";
import { Drain } from "./drain.ts";
import { Flusher } from "./flusher.ts";
import { type Header, headerPairs } from "./frame.ts";
import { ByteRing } from "./ring.ts";
import type { Scheduler } from "./scheduler.ts";
import type { CoreSettings, EngineHints } from "./settings.ts";
import { SharedRing } from "./shared-ring.ts";
import { WorkerWaker } from "./wake.ts";

/** What {@linkcode createCore} is given. */
export interface CoreParts<T> {
  readonly settings: CoreSettings<T>;
  readonly transport: Transport;
  readonly scheduler: Scheduler;
  /** The ring's memory: `capacityBytes` bytes (an `ArrayBuffer` is made when null). */
  readonly buffer?: ArrayBuffer | SharedArrayBuffer | null;
  /** How this engine writes text fastest; `encodeInto` by default. */
  readonly engine?: EngineHints;
  /** Random numbers for the retry backoff's jitter. */
  readonly random?: () => number;
}

/** The core's objects, wired. */
export interface Core<T> {
  readonly ring: ByteRing;
  readonly ledger: Accounting;
  readonly backlog: Backlog;
  readonly writer: RecordWriter<T>;
  readonly flusher: Flusher;
  readonly clock: CoarseClock;
  readonly drain: Drain;
}

const PLAIN_ENGINE: EngineHints = { utf8For: () => null };

/** Builds and wires the core (see the module docs). Starts nothing: no timer runs until a record arrives. */
export function createCore<T>(parts: CoreParts<T>): Core<T> {
  const { settings, transport, scheduler } = parts;
  const engine = parts.engine ?? PLAIN_ENGINE;
  const ring = new ByteRing(parts.buffer ?? new ArrayBuffer(settings.capacityBytes));
  const classes = shedClasses(settings);
  const ledger = new Accounting(ring, classes);
  const backlog = new Backlog(ring, ledger, settings.maxAgeMs, settings.maxRecords, staticHeaders(settings.headers), classes);
  const flusher = new Flusher(backlog, ledger, transport, settings, scheduler, parts.random);
  // When the clock's ticker stops, the writer's fast path (which stamps records with the
  // last tick) must come back and read the time again.
  const clock = new CoarseClock(scheduler, () => ledger.offeredRecords, 1, () => ring.attendNow());
  const writer = new RecordWriter<T>(backlog, ledger, settings, clock, flusher, engine.utf8For(ring.bytes));
  const drain = new Drain(flusher, backlog, transport, scheduler, () => ledger.inFlightRecords);
  return { ring, ledger, backlog, writer, flusher, clock, drain };
}

/** The application's thread's side of worker mode: what {@linkcode createProducerCore} wires. */
export interface ProducerCore<T> {
  readonly ring: SharedRing;
  readonly ledger: Accounting;
  readonly backlog: Backlog;
  readonly writer: RecordWriter<T>;
  readonly waker: WorkerWaker;
  readonly clock: CoarseClock;
}

/**
 * Worker mode, on the application's thread: the same writer, ledger and backlog as
 * {@linkcode createCore}, over a ring shared with the worker (`data`, `control`), with a
 * waker in the flusher's place (the flusher runs in the worker). The clock's ticks
 * publish the frames the fast path wrote.
 */
export function createProducerCore<T>(
  parts: Omit<CoreParts<T>, "transport" | "buffer"> & { readonly data: SharedArrayBuffer; readonly control: SharedArrayBuffer },
): ProducerCore<T> {
  const { settings, scheduler } = parts;
  const engine = parts.engine ?? PLAIN_ENGINE;
  const ring = new SharedRing(parts.data, parts.control);
  const classes = shedClasses(settings);
  const ledger = new Accounting(ring, classes);
  const backlog = new Backlog(ring, ledger, settings.maxAgeMs, settings.maxRecords, null, classes);
  const waker = new WorkerWaker(ring);
  const poll = () => waker.poll();
  const clock = new CoarseClock(scheduler, () => ledger.offeredRecords, 1, () => {
    ring.attendNow();
    poll();
  }, poll);
  const writer = new RecordWriter<T>(backlog, ledger, settings, clock, waker, engine.utf8For(ring.bytes));
  return { ring, ledger, backlog, writer, waker, clock };
}

/** The shedding classes of `settings` (0 without graded shedding). */
export function shedClasses<T>(settings: Pick<CoreSettings<T>, "shedding">): number {
  return settings.shedding === null ? 0 : settings.shedding.levels.length;
}

/** The headers every record carries (an object given as `headers`), or null. */
export function staticHeaders<T>(headers: CoreSettings<T>["headers"]): ReadonlyArray<Header> | null {
  if (headers === null || typeof headers !== "object") return null;
  const pairs = headerPairs(headers, new TextEncoder());
  return pairs.length > 0 ? pairs : null;
}

/**
 * Worker mode, on the application's thread: starts the worker (`entry.ts`) with the
 * shared ring, asks it to flush and close, keeps its status, and watches it. The
 * worker is `node:worker_threads`' `Worker` on every runtime: Node has no Web `Worker`,
 * and Deno and Bun implement `node:worker_threads` (with `unref()`, `terminate()` and
 * `exit` events, which the Web `Worker` lacks or names otherwise).
 *
 * An idle worker does not keep the process alive (it is unref'd); a pending `flush()`
 * or `close()` does (ref'd while one waits). A worker that dies (an uncaught error, a
 * `terminate()`, out of memory) or stops beating for five seconds is replaced, after a
 * backoff: what it held in flight is counted lost as `worker_lost`, and so are the
 * frames it had claimed and not yet counted (those behind its hazard); what it had not
 * claimed stays in the ring for the next worker.
 *
 * @module
 */

import { type Accounting, SHUTDOWN, WORKER_LOST } from "../core/accounting.ts";
import type { Backlog } from "../core/backlog.ts";
import type { Transport, TransportState } from "../core/contract.ts";
import { frameClass } from "../core/frame.ts";
import { CURSOR, cursorOffset, cursorSeq, frameAt, HAZARD, HEARTBEAT, HEED_BYTES, HEED_RECORDS, NONE, unwrapBefore } from "../core/ring-control.ts";
import { WorkerLedger } from "../core/shared-counts.ts";
import type { SharedRing } from "../core/shared-ring.ts";
import { workerEntry } from "./locate.ts";
import { errorText, type HostMessage, type WorkerMessage, type WorkerStart } from "./protocol.ts";

/** How often the heartbeat is checked. */
const WATCH_MS = 500;
/**
 * Checks without a beat before the worker is taken for hung and replaced: five seconds.
 * A worker that is only slow (a long garbage collection, a starved core, a large batch
 * compressed) must not be replaced: what it holds in flight would be counted lost while
 * the broker may still write it. A worker that died is noticed at once, by its exit.
 */
const SILENT_CHECKS = 10;
/** Backoff between restarts: from the first delay, doubling, up to the last. */
const RESTART_FIRST_MS = 100;
const RESTART_MOST_MS = 5000;
/** A worker that lived this long resets the backoff. */
const HEALTHY_MS = 30_000;

interface NodeWorker {
  postMessage(message: unknown): void;
  on(event: "message" | "error" | "exit", listener: (value: never) => void): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
}

interface PendingFlush {
  readonly resolve: (settled: boolean) => void;
  readonly until: number;
}

/** What the host needs from the application's side of the sink. */
export interface HostParts {
  readonly ring: SharedRing;
  readonly ledger: Accounting;
  readonly backlog: Backlog;
  readonly start: Omit<WorkerStart, "appended" | "early">;
  readonly transport: Transport;
}

/** The application's side of worker mode. */
export class WorkerHost {
  readonly #parts: HostParts;
  readonly #words: BigUint64Array;
  readonly #ints: Int32Array;
  #worker: NodeWorker | null = null;
  #ready = false;
  #startedAt = 0;
  #backoff = RESTART_FIRST_MS;
  #ids = 0;
  readonly #flushes = new Map<number, PendingFlush>();
  #closing: ((result: { flushed: boolean; inDoubt: { records: number; bytes: number } } | null) => void) | null = null;
  #closeUntil = 0;
  #stopped = false;
  #watch: ReturnType<typeof setInterval> | null = null;
  #lastBeat = -1;
  #silentChecks = 0;
  #restartTimer: ReturnType<typeof setTimeout> | null = null;
  #fromWorker: ((message: unknown) => void) | null = null;
  /** Messages for the transport's twin before the first worker started: it gets them with its start. */
  #early: unknown[] | null = [];
  /** The worker's last error, or why the last worker died. */
  lastError: string | null = null;
  /** The transport's state as the worker last told it. */
  state: TransportState = "connecting";
  /** The transport's name as the worker last told it (the application's object's until then). */
  transportName: string;
  /** Workers started to replace one that died. */
  restarts = 0;
  /** Records and bytes held in flight by workers when they died. */
  readonly lost = { records: 0, bytes: 0 };

  constructor(parts: HostParts) {
    this.#parts = parts;
    this.transportName = parts.transport.name;
    this.#words = new BigUint64Array(parts.start.control, 0, 2);
    this.#ints = new Int32Array(parts.start.control, 0, 16);
    this.#fromWorker = parts.transport.remote?.((message) => this.#post({ type: "transport", message }), "host") ?? null;
    void this.#spawn();
    this.#watch = setInterval(() => this.#check(), WATCH_MS);
    unref(this.#watch);
  }

  /** Resolves once every record accepted so far is settled (true), or after `timeoutMs` (false). */
  flush(timeoutMs: number): Promise<boolean> {
    this.#parts.ring.publish();
    const id = ++this.#ids;
    return new Promise<boolean>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      const done = (settled: boolean) => {
        if (timer !== null) clearTimeout(timer);
        this.#flushes.delete(id);
        this.#refresh();
        resolve(settled);
      };
      this.#flushes.set(id, { resolve: done, until: Date.now() + timeoutMs });
      if (Number.isFinite(timeoutMs)) timer = setTimeout(() => done(false), timeoutMs);
      this.#refresh();
      this.#post({ type: "flush", id, timeoutMs });
    });
  }

  /**
   * Closes the worker: it flushes until the deadline, drops the rest as `shutdown` and
   * closes the transport. If it cannot (it died, or does not answer in time), the
   * application's thread drops what is left itself. Resolves to the flush outcome and
   * the records in doubt.
   */
  async close(timeoutMs: number): Promise<{ flushed: boolean; inDoubt: { records: number; bytes: number } }> {
    this.#parts.ring.publish();
    this.#closeUntil = Date.now() + timeoutMs;
    const answer = await new Promise<{ flushed: boolean; inDoubt: { records: number; bytes: number } } | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs + 1000);
      this.#closing = (result) => {
        clearTimeout(timer);
        resolve(result);
      };
      this.#refresh();
      this.#post({ type: "close", timeoutMs });
    });
    this.#closing = null;
    this.#stopped = true;
    if (this.#watch !== null) clearInterval(this.#watch);
    if (this.#restartTimer !== null) clearTimeout(this.#restartTimer);
    const worker = this.#worker;
    this.#worker = null;
    if (worker !== null) await worker.terminate().catch(() => 0);
    for (const flush of this.#flushes.values()) flush.resolve(false);
    if (answer !== null) return answer;
    // No answer: what the worker held is dropped here, as the close's deadline says.
    const lost = this.#takeOver(SHUTDOWN);
    this.#parts.backlog.dropAll(SHUTDOWN);
    return { flushed: false, inDoubt: lost };
  }

  async #spawn(): Promise<void> {
    const { Worker } = await import("node:worker_threads");
    if (this.#stopped) return;
    const entry = workerEntry(import.meta.url);
    const start: WorkerStart = { ...this.#parts.start, appended: this.#parts.ring.appended, early: this.#early ?? [] };
    this.#early = null;
    // A heap limit of its own: a worker that runs out of memory then ends alone (Node and
    // Deno end it with ERR_WORKER_OUT_OF_MEMORY) and is replaced, instead of taking the
    // process with it. Bun does not apply the limit.
    const resourceLimits = { maxOldGenerationSizeMb: workerHeapMb(start.settings.capacityBytes) };
    const worker = new Worker(entry, { workerData: start, resourceLimits }) as unknown as NodeWorker;
    this.#worker = worker;
    this.#ready = false;
    this.#startedAt = Date.now();
    this.#lastBeat = -1;
    this.#silentChecks = 0;
    worker.on("message", (message: WorkerMessage) => this.#receive(worker, message));
    worker.on("error", (error: unknown) => {
      if (this.#worker === worker) this.lastError = `worker failed: ${errorText(error)}`;
    });
    worker.on("exit", () => this.#exited(worker));
    this.#refresh();
  }

  #receive(worker: NodeWorker, message: WorkerMessage): void {
    if (this.#worker !== worker) return;
    switch (message.type) {
      case "ready":
        this.#ready = true;
        // Requests made before it started, or left by a worker that died.
        for (const [id, flush] of this.#flushes) this.#post({ type: "flush", id, timeoutMs: Math.max(0, flush.until - Date.now()) });
        if (this.#closing !== null) this.#post({ type: "close", timeoutMs: Math.max(0, this.#closeUntil - Date.now()) });
        break;
      case "flushed":
        this.#flushes.get(message.id)?.resolve(message.settled);
        break;
      case "closed":
        this.#closing?.({ flushed: message.flushed, inDoubt: message.inDoubt });
        break;
      case "status":
        this.lastError = message.lastError ?? (this.lastError?.startsWith("worker failed") ? this.lastError : null);
        this.state = message.state;
        this.transportName = message.name;
        break;
      case "transport":
        this.#fromWorker?.(message.message);
        break;
    }
  }

  #post(message: HostMessage): void {
    if (message.type === "transport" && this.#early !== null) this.#early.push(message.message);
    else if (this.#ready || message.type === "transport") this.#worker?.postMessage(message);
  }

  /** Ref'd while someone waits for a flush or close, unref'd otherwise. */
  #refresh(): void {
    const worker = this.#worker;
    if (worker === null) return;
    if (this.#flushes.size > 0 || this.#closing !== null) worker.ref();
    else worker.unref();
  }

  /** The heartbeat: a worker that did not beat for SILENT_CHECKS checks is stopped (and replaced). */
  #check(): void {
    const worker = this.#worker;
    if (worker === null || !this.#ready) return;
    const beat = Atomics.load(this.#ints, HEARTBEAT);
    if (beat !== this.#lastBeat) {
      this.#lastBeat = beat;
      this.#silentChecks = 0;
      return;
    }
    if (++this.#silentChecks >= SILENT_CHECKS) {
      this.lastError = `worker failed: no heartbeat for ${(SILENT_CHECKS * WATCH_MS) / 1000} seconds`;
      void worker.terminate();
    }
  }

  #exited(worker: NodeWorker): void {
    if (this.#worker !== worker || this.#stopped) return;
    this.#worker = null;
    this.#ready = false;
    if (this.lastError === null || !this.lastError.startsWith("worker failed")) this.lastError = "worker failed: it exited";
    const lost = this.#takeOver(WORKER_LOST);
    this.lost.records += lost.records;
    this.lost.bytes += lost.bytes;
    this.restarts++;
    if (Date.now() - this.#startedAt >= HEALTHY_MS) this.#backoff = RESTART_FIRST_MS;
    // While closing, at once: the close has a deadline.
    const delay = this.#closing !== null ? 0 : this.#backoff;
    this.#backoff = Math.min(RESTART_MOST_MS, this.#backoff * 2);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      void this.#spawn();
    }, delay);
    if (this.#flushes.size === 0 && this.#closing === null) unref(this.#restartTimer);
  }

  /**
   * With no worker running, the application's thread writes the worker's counters: what
   * it held in flight, and what it had claimed from the ring and not yet counted, are
   * lost under `reason`. Returns what was in flight.
   */
  #takeOver(reason: number): { records: number; bytes: number } {
    const { ring, ledger } = this.#parts;
    const writer = new WorkerLedger(this.#parts.start.control);
    const cursor = Atomics.load(this.#words, CURSOR);
    const hazard = Atomics.load(this.#words, HAZARD);
    const removed = unwrapBefore(cursorSeq(cursor), ring.appended);
    const unrecorded = removed - ledger.snapshot().lost.records - writer.counts.left.records;
    if (unrecorded > 0 && hazard !== NONE) {
      // Claimed (the cursor moved past them) and not counted: they are behind the hazard.
      const byClass = new Float64Array(Math.max(1, this.#parts.start.settings.classes));
      let at = cursorOffset(hazard);
      let bytes = 0;
      for (let i = 0; i < unrecorded; i++) {
        at = frameAt(ring.view, ring.capacity, at);
        const size = ring.view.getUint32(at, true);
        bytes += size;
        byClass[frameClass(ring.view, at)]!++;
        at = at + size === ring.capacity ? 0 : at + size;
      }
      writer.losePending(reason, unrecorded, bytes, byClass);
    }
    const inFlight = writer.counts.inFlight;
    if (inFlight.records > 0 || inFlight.bytes > 0) writer.loseInFlight(reason, inFlight.records, inFlight.bytes);
    writer.write();
    Atomics.store(this.#words, HAZARD, NONE);
    // The next worker wants to hear of the next record.
    Atomics.store(this.#ints, HEED_RECORDS, 0);
    Atomics.store(this.#ints, HEED_BYTES, 0);
    ring.refresh();
    return inFlight;
  }
}

/** Lets a timer not keep the process alive. */
function unref(timer: unknown): void {
  const t = timer as { unref?: () => void } | number;
  if (typeof t === "object" && t !== null && typeof t.unref === "function") t.unref();
  else if (typeof t === "number") (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno?.unrefTimer?.(t);
}

/**
 * The worker's old-generation heap limit, in MiB: room for the batches it copies out and
 * the client's buffers (a few times the buffer's capacity), and never under 512 MiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workerHeapMb } from "./host.ts";
 *
 * assert.equal(workerHeapMb(5 * 1024 * 1024), 512);
 * assert.equal(workerHeapMb(256 * 1024 * 1024), 2304);
 * ```
 */
export function workerHeapMb(capacityBytes: number): number {
  return Math.max(512, 256 + 8 * Math.ceil(capacityBytes / (1024 * 1024)));
}

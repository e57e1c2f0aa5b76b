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
import { backoffDelay, NO_JITTER } from "../core/policy.ts";
import type { Scheduler, Timer } from "../core/scheduler.ts";
import { frameClass } from "../core/frame.ts";
import { CURSOR, cursorOffset, cursorSeq, frameAt, HAZARD, HEARTBEAT, HEED_BYTES, HEED_RECORDS, NONE, unwrapBefore } from "../core/ring-control.ts";
import { WorkerLedger } from "../core/shared-counts.ts";
import type { SharedRing } from "../core/shared-ring.ts";
import { workerEntry } from "./locate.ts";
import type { Hook } from "./spec.ts";
import { type CloseOutcome, errorText } from "../core/drain.ts";
import type { HostMessage, WorkerMessage, WorkerStart } from "./protocol.ts";

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
/** How long past the close's deadline the host waits for the worker's answer before dropping what is left itself. */
const CLOSE_GRACE_MS = 1000;

/** A worker thread, as the host uses it (`node:worker_threads`' `Worker`, or a stand-in). */
export interface WorkerLike {
  postMessage(message: unknown): void;
  on(event: "message" | "error" | "exit", listener: (value: never) => void): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
}

/** Starts a worker with `start` as its `workerData`. */
export type SpawnWorker = (start: WorkerStart) => WorkerLike;

/**
 * Where the host's worker is: `starting` (spawned, not ready yet), `running`,
 * `restarting` (one failed; the next waits for its backoff), `stopped` (closed).
 */
export type WorkerPhase = "starting" | "running" | "restarting" | "stopped";

interface PendingFlush {
  readonly resolve: (settled: boolean) => void;
  readonly until: number;
}

/** `node:worker_threads`' `Worker` on the worker's entry, with a heap limit of its own. */
async function threadSpawner(): Promise<SpawnWorker> {
  const { Worker } = await import("node:worker_threads");
  return (start) => {
    // A worker that runs out of memory then ends alone (Node and Deno end it with
  // ERR_WORKER_OUT_OF_MEMORY) and is replaced, instead of taking the process with it.
  // Bun does not apply the limit.
    const resourceLimits = { maxOldGenerationSizeMb: workerHeapMb(start.settings.capacityBytes) };
    return new Worker(workerEntry(import.meta.url), { workerData: start, resourceLimits }) as unknown as WorkerLike;
  };
}

/** What the host needs from the application's side of the sink. */
export interface HostParts {
  readonly ring: SharedRing;
  readonly ledger: Accounting;
  readonly backlog: Backlog;
  readonly start: Omit<WorkerStart, "appended" | "early">;
  readonly transport: Transport;
  /** The transport's function options the worker calls here (see `spec.ts`). */
  readonly hooks: ReadonlyMap<string, Hook>;
  /** The host's clock: heartbeat checks, restart backoff, flush and close deadlines. */
  readonly scheduler: Scheduler;
  /** Starts a worker (`node:worker_threads` by default). */
  readonly spawn?: SpawnWorker | undefined;
  /** Whether every record accepted so far is settled, as the shared counters say. */
  readonly settled: () => boolean;
}

/** The application's side of worker mode. */
export class WorkerHost {
  readonly #parts: HostParts;
  readonly #scheduler: Scheduler;
  #spawnWorker: SpawnWorker | null;
  readonly #words: BigUint64Array;
  readonly #ints: Int32Array;
  #worker: WorkerLike | null = null;
  #startedAt = 0;
  #attempt = 0;
  #ids = 0;
  readonly #flushes = new Map<number, PendingFlush>();
  #closing: ((result: CloseOutcome | null) => void) | null = null;
  #closeUntil = 0;
  #watch: Timer | null;
  #lastBeat = -1;
  #silentChecks = 0;
  #restartTimer: Timer | null = null;
  #fromWorker: ((message: unknown) => void) | null = null;
  /** Messages for the transport's twin before the first worker started: it gets them with its start. */
  #early: unknown[] | null = [];
  /** The last error the worker reported (its transport's or flusher's). */
  #reported: string | null = null;
  /** Why the last worker failed, or null (until the next worker reports an error of its own). */
  failure: string | null = null;
  /** Why the running worker is failing, once known (its error event, or its silence). */
  #why: string | null = null;
  /** Where the worker is. */
  phase: WorkerPhase = "starting";
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
    this.#scheduler = parts.scheduler;
    this.#spawnWorker = parts.spawn ?? null;
    this.transportName = parts.transport.name;
    // Until the worker tells: what the application's object says (a Kafka transport's
    // twin says "connecting").
    try {
      this.state = parts.transport.state();
    } catch {
      this.state = "connecting";
    }
    this.#words = new BigUint64Array(parts.start.control, 0, 2);
    this.#ints = new Int32Array(parts.start.control, 0, 16);
    this.#fromWorker = parts.transport.remote?.((message) => this.#post({ type: "transport", message }), "host") ?? null;
    void this.#spawn();
    this.#watch = this.#scheduler.every(WATCH_MS, () => this.#check());
  }

  /** The worker's last error, or why the last worker failed. */
  get lastError(): string | null {
    return this.#reported ?? this.failure;
  }

  /**
   * Resolves once every record accepted so far is settled (true), or after `timeoutMs`
   * (false). The worker answers, so that what it told before (a transport's reports)
   * arrives first; at the deadline the shared counters answer instead: true if
   * everything is settled by then (a 0 ms flush with nothing pending, as in thread mode).
   */
  flush(timeoutMs: number): Promise<boolean> {
    // Closed: everything was settled (delivered or dropped) by the close.
    if (this.phase === "stopped") return Promise.resolve(true);
    this.#parts.ring.publish();
    const id = ++this.#ids;
    return new Promise<boolean>((resolve) => {
      let timer: Timer | null = null;
      const done = (settled: boolean) => {
        timer?.cancel();
        this.#flushes.delete(id);
        this.#refresh();
        resolve(settled);
      };
      this.#flushes.set(id, { resolve: done, until: this.#scheduler.now() + timeoutMs });
      if (Number.isFinite(timeoutMs)) timer = this.#scheduler.later(timeoutMs, () => done(this.#parts.settled()), { keepAlive: true });
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
  async close(timeoutMs: number): Promise<CloseOutcome> {
    this.#parts.ring.publish();
    this.#closeUntil = this.#scheduler.now() + timeoutMs;
    const answer = await new Promise<CloseOutcome | null>((resolve) => {
      const timer = this.#scheduler.later(timeoutMs + CLOSE_GRACE_MS, () => resolve(null), { keepAlive: true });
      this.#closing = (result) => {
        timer.cancel();
        resolve(result);
      };
      this.#refresh();
      this.#post({ type: "close", timeoutMs });
    });
    this.#closing = null;
    this.phase = "stopped";
    this.#watch?.cancel();
    this.#watch = null;
    this.#restartTimer?.cancel();
    const worker = this.#worker;
    this.#worker = null;
    if (worker !== null) await worker.terminate().catch(() => 0);
    for (const flush of this.#flushes.values()) flush.resolve(true);
    if (answer !== null) return answer;
    // No answer: what the worker held is dropped here, as the close's deadline says.
    const lost = this.#takeOver(SHUTDOWN);
    this.#parts.backlog.dropAll(SHUTDOWN);
    return { flushed: false, inDoubt: lost };
  }

  async #spawn(): Promise<void> {
    this.phase = "starting";
    this.#spawnWorker ??= await threadSpawner();
    // (Closed while the module loaded.)
    if ((this.phase as WorkerPhase) === "stopped") return;
    const start: WorkerStart = { ...this.#parts.start, appended: this.#parts.ring.appended, early: this.#early ?? [] };
    this.#early = null;
    const worker = this.#spawnWorker(start);
    this.#worker = worker;
    this.#startedAt = this.#scheduler.now();
    this.#lastBeat = -1;
    this.#silentChecks = 0;
    worker.on("message", (message: WorkerMessage) => this.#receive(worker, message));
    worker.on("error", (error: unknown) => {
      if (this.#worker === worker) this.#why = `worker failed: ${errorText(error)}`;
    });
    worker.on("exit", () => this.#exited(worker));
    this.#refresh();
  }

  #receive(worker: WorkerLike, message: WorkerMessage): void {
    if (this.#worker !== worker) return;
    switch (message.type) {
      case "ready":
        this.phase = "running";
        // Requests made before it started, or left by a worker that died.
        for (const [id, flush] of this.#flushes) this.#post({ type: "flush", id, timeoutMs: Math.max(0, flush.until - this.#scheduler.now()) });
        if (this.#closing !== null) this.#post({ type: "close", timeoutMs: Math.max(0, this.#closeUntil - this.#scheduler.now()) });
        break;
      case "flushed":
        this.#flushes.get(message.id)?.resolve(message.settled);
        break;
      case "closed":
        this.#closing?.({ flushed: message.flushed, inDoubt: message.inDoubt });
        break;
      case "status":
        this.#reported = message.lastError;
        if (message.lastError !== null) this.failure = null;
        this.state = message.state;
        this.transportName = message.name;
        break;
      case "transport":
        this.#fromWorker?.(message.message);
        break;
      case "hook":
        this.#hook(worker, message.id, message.path, message.args);
        break;
    }
  }

  /** Calls the hook at `path` of the transport's options for the worker; answers calls with an `id`. */
  #hook(worker: WorkerLike, id: number, path: string, args: ReadonlyArray<unknown>): void {
    const hook = this.#parts.hooks.get(path);
    const answer = (reply: { value?: unknown; error?: string }) => {
      if (id !== 0 && this.#worker === worker) worker.postMessage({ type: "hookResult", id, ...reply } satisfies HostMessage);
    };
    if (typeof hook !== "function") return answer({ error: `no function at transport.${path}` });
    // A hook that throws or rejects is the application's bug: it reaches the worker as
    // the call's failure (a token that could not be had), never this thread's.
    new Promise((resolve) => resolve((hook as (...a: unknown[]) => unknown)(...args))).then(
      (value) => answer({ value }),
      (error: unknown) => answer({ error: errorText(error) }),
    );
  }

  #post(message: HostMessage): void {
    if (message.type === "transport" && this.#early !== null) this.#early.push(message.message);
    else if (this.phase === "running" || message.type === "transport") this.#worker?.postMessage(message);
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
    if (worker === null || this.phase !== "running") return;
    const beat = Atomics.load(this.#ints, HEARTBEAT);
    if (beat !== this.#lastBeat) {
      this.#lastBeat = beat;
      this.#silentChecks = 0;
      return;
    }
    if (++this.#silentChecks >= SILENT_CHECKS) {
      this.#why = `worker failed: no heartbeat for ${(SILENT_CHECKS * WATCH_MS) / 1000} seconds`;
      // Replaced once it has exited: until then it may still write the counters.
      void worker.terminate();
    }
  }

  #exited(worker: WorkerLike): void {
    if (this.#worker !== worker || this.phase === "stopped") return;
    this.#worker = null;
    this.phase = "restarting";
    this.failure = this.#why ?? "worker failed: it exited";
    this.#why = null;
    const lost = this.#takeOver(WORKER_LOST);
    this.lost.records += lost.records;
    this.lost.bytes += lost.bytes;
    this.restarts++;
    if (this.#scheduler.now() - this.#startedAt >= HEALTHY_MS) this.#attempt = 0;
    // While closing, at once: the close has a deadline.
    const delay = this.#closing !== null ? 0 : backoffDelay(this.#attempt++, RESTART_FIRST_MS, RESTART_MOST_MS, Math.random, NO_JITTER);
    const waited = this.#flushes.size > 0 || this.#closing !== null;
    this.#restartTimer = this.#scheduler.later(delay, () => {
      this.#restartTimer = null;
      void this.#spawn();
    }, { keepAlive: waited });
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

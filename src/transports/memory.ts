/**
 * A transport that keeps what it receives in memory, and that tests and examples can
 * steer: add latency, fail the next sends retriably, hang until released, refuse records
 * for good.
 *
 * @module
 */

import type { Batch, OutRecord, SendReport, Transport, TransportContext, TransportSpec, TransportState } from "../core/contract.ts";
import { InvalidOptionError } from "../core/errors.ts";
import type { Scheduler } from "../core/scheduler.ts";
import * as v from "valibot";
import { parseOptions } from "../validate.ts";
import { systemScheduler } from "../runtime.ts";
import { TransportError } from "../core/errors.ts";
import { transportModule } from "../worker/locate.ts";

/** Options of {@linkcode memoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * Milliseconds each send takes before it settles, on the sink's scheduler.
   * @default 0
   */
  latencyMs?: number;
}

/** A record as the memory transport kept it (its own copy). */
export interface ReceivedRecord {
  /** The partition key, or null. */
  readonly key: Uint8Array | null;
  /** The encoded value. */
  readonly value: Uint8Array;
  /** The headers, or null when there are none. */
  readonly headers: ReadonlyArray<readonly [string, Uint8Array]> | null;
  /** When the record was emitted, in milliseconds since the epoch. */
  readonly timestamp: number;
}

/** The memory transport and its controls. */
export interface MemoryTransport extends Transport {
  /** Every record delivered, in order of delivery. */
  readonly received: ReceivedRecord[];
  /** The values of `received`, decoded as UTF-8. */
  texts(): string[];
  /** Batches `send` was called with (delivered or not). */
  readonly sendCalls: number;
  /** Sets the latency of later sends. */
  setLatency(ms: number): void;
  /** The next `count` sends fail with a retriable error (nothing in them is delivered). */
  failNext(count: number): void;
  /** Sends from now on wait until `release()` (or until their signal aborts). */
  hang(): void;
  /** Lets hung sends and later ones proceed. */
  release(): void;
  /** Records for which `predicate` returns true are rejected for good; others deliver. */
  rejectWhen(predicate: ((record: OutRecord) => boolean) | null): void;
  /** Records for which `predicate` returns true fail retriably (the flusher sends them again); others deliver. */
  retryWhen(predicate: ((record: OutRecord) => boolean) | null): void;
  /** Whole batches fail with a permanent (non-retriable) error from now on, or not. */
  failPermanently(on: boolean): void;
  /**
   * A testing control, for worker mode (`flusher: "worker"`): makes the worker that runs
   * this transport fail, to test what the sink does then. `"throw"`: an uncaught error in
   * the worker; `"exit"`: the worker's thread exits; `"hang"`: its event loop spins
   * forever (its heartbeat stops, and the sink terminates it after five seconds);
   * `"oom"`: it allocates until its heap limit ends it (Node and Deno; Bun applies no
   * limit to a worker's heap, so there it would take the process). The
   * sink counts what the worker held in flight as `worker_lost` and starts a new worker
   * (with a new transport, made from the options, without the controls given so far).
   * Nothing happens in thread mode. Not for production code: it ends the worker's thread.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createSink } from "../sink.ts";
   * import { memoryTransport } from "./memory.ts";
   *
   * const transport = memoryTransport();
   * const sink = createSink({ transport, flusher: "worker" });
   * sink.emit("before");
   * assert.equal(await sink.flush({ timeoutMs: 10_000 }), true);
   * transport.crashWorker("exit");
   * while (sink.stats().workerRestarts === 0) await new Promise((resolve) => setTimeout(resolve, 10));
   * assert.match(sink.stats().lastError ?? "", /^worker failed/);
   * sink.emit("after"); // the new worker delivers it
   * const report = await sink.close({ timeoutMs: 10_000 });
   * assert.equal(report.delivered.records, 2);
   * assert.deepEqual(transport.texts(), ["before", "after"]);
   * ```
   */
  crashWorker(how: "throw" | "exit" | "hang" | "oom"): void;
}

/**
 * Creates a memory transport.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSink } from "../sink.ts";
 * import { memoryTransport } from "./memory.ts";
 *
 * const transport = memoryTransport();
 * const sink = createSink({ transport, retry: { initialDelayMs: 1, maxDelayMs: 5 } });
 * transport.failNext(2); // the first two sends fail, the flusher retries
 * sink.emit("hello");
 * const report = await sink.close();
 * assert.deepEqual(transport.texts(), ["hello"]);
 * assert.equal(report.delivered.records, 1);
 * ```
 */
export function memoryTransport(options: MemoryTransportOptions = {}): MemoryTransport {
  const o = parseOptions(OptionsSchema, options);
  return new Memory(o.latencyMs ?? 0);
}

const OptionsSchema = v.strictObject(
  { latencyMs: v.optional(v.pipe(v.number(), v.finite(), v.minValue(0, "a finite number >= 0"))) },
  "an options object with latencyMs",
);

const decoder = new TextDecoder();

/** A control passed from the application's thread to the worker's twin. */
interface Control {
  readonly op: "setLatency" | "failNext" | "hang" | "release" | "failPermanently" | "crash";
  readonly arg: unknown;
}

/** What the worker's twin reports after a send. */
interface Report {
  readonly received: ReceivedRecord[];
  readonly sendCalls: number;
}

class Memory implements MemoryTransport {
  readonly name = "memory";
  readonly received: ReceivedRecord[] = [];
  #sendCalls = 0;
  #latencyMs: number;
  #failures = 0;
  #hung = false;
  #waiting: Array<() => void> = [];
  #reject: ((record: OutRecord) => boolean) | null = null;
  #retry: ((record: OutRecord) => boolean) | null = null;
  #permanent = false;
  #state: TransportState = "up";
  #scheduler: Scheduler = systemScheduler;

  constructor(latencyMs: number) {
    this.#latencyMs = latencyMs;
  }

  start(context: TransportContext): void {
    this.#scheduler = context.scheduler;
  }

  get sendCalls(): number {
    return this.#side === "host" ? this.#remoteSends : this.#sendCalls;
  }

  texts(): string[] {
    return this.received.map((r) => decoder.decode(r.value));
  }

  setLatency(ms: number): void {
    this.#latencyMs = ms;
    this.#tell("setLatency", ms);
  }

  failNext(count: number): void {
    this.#failures = count;
    this.#tell("failNext", count);
  }

  hang(): void {
    this.#hung = true;
    this.#tell("hang", null);
  }

  release(): void {
    this.#hung = false;
    this.#tell("release", null);
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const wake of waiting) wake();
  }

  rejectWhen(predicate: ((record: OutRecord) => boolean) | null): void {
    if (this.#side === "host") throw new InvalidOptionError("INVALID_ARGUMENT", "rejectWhen", "a function", 'nothing with flusher: "worker" (a function cannot cross to the worker)');
    this.#reject = predicate;
  }

  retryWhen(predicate: ((record: OutRecord) => boolean) | null): void {
    if (this.#side === "host") throw new InvalidOptionError("INVALID_ARGUMENT", "retryWhen", "a function", 'nothing with flusher: "worker" (a function cannot cross to the worker)');
    this.#retry = predicate;
  }

  failPermanently(on: boolean): void {
    this.#permanent = on;
    this.#tell("failPermanently", on);
  }

  crashWorker(how: "throw" | "exit" | "hang" | "oom"): void {
    this.#tell("crash", how);
  }

  toWorker(): TransportSpec {
    return { module: transportModule(import.meta.url, "memory"), factory: "memoryTransport", options: { latencyMs: this.#latencyMs } };
  }

  /**
   * Worker mode: the worker's twin reports what it received and its sends; this one
   * passes the controls on. Predicates cannot cross: `rejectWhen`/`retryWhen` throw.
   */
  remote(post: (message: unknown) => void, side: "host" | "worker"): (message: unknown) => void {
    this.#post = post;
    this.#side = side;
    // Controls set before the sink was made apply to the worker's twin too.
    if (side === "host") {
      if (this.#hung) this.#tell("hang", null);
      if (this.#failures > 0) this.#tell("failNext", this.#failures);
      if (this.#permanent) this.#tell("failPermanently", true);
    }
    return side === "host" ? (m) => this.#fromWorker(m as Report) : (m) => this.#fromHost(m as Control);
  }

  #post: ((message: unknown) => void) | null = null;
  #side: "host" | "worker" | null = null;
  #remoteSends = 0;

  /** On the application's thread in worker mode: passes a control to the worker's twin. */
  #tell(op: Control["op"], arg: unknown): void {
    if (this.#side === "host") this.#post!({ op, arg });
  }

  #fromHost(control: Control): void {
    switch (control.op) {
      case "setLatency":
        return this.setLatency(control.arg as number);
      case "failNext":
        return this.failNext(control.arg as number);
      case "hang":
        return this.hang();
      case "release":
        return this.release();
      case "failPermanently":
        return this.failPermanently(control.arg as boolean);
      case "crash":
        if (control.arg === "hang") for (;;);
        if (control.arg === "oom") {
          // 64 MiB more each turn of the event loop, so that the heartbeat keeps going
          // and the heap limit is what ends the worker.
          const hog: number[][] = [];
          const grow = () => {
            hog.push(new Array<number>(1 << 23).fill(hog.length));
            systemScheduler.later(0, grow, { keepAlive: true });
          };
          return grow();
        }
        if (control.arg === "exit") (globalThis as { process?: { exit(code: number): never } }).process?.exit(1);
        systemScheduler.later(0, () => {
          throw new Error("memory transport: simulated worker crash");
        }, { keepAlive: true });
    }
  }

  #fromWorker(report: Report): void {
    this.#remoteSends = report.sendCalls;
    for (const record of report.received) this.received.push(record);
  }

  state(): TransportState {
    return this.#state;
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined> {
    this.#sendCalls++;
    if (this.#side === "worker") this.#post!({ received: [], sendCalls: this.#sendCalls } satisfies Report);
    if (this.#state === "closed") throw new TransportError("TRANSPORT_CLOSED", "memory transport is closed", { retriable: false });
    if (this.#hung) {
      // Aborted while hung: nothing was received (nor ever will be).
      const aborted = await this.#wait(signal);
      if (aborted) return { retry: batch.records.map((_, i) => i) };
    }
    if (this.#latencyMs > 0) {
      await new Promise<void>((resolve) => this.#scheduler.later(this.#latencyMs, resolve, { keepAlive: true }));
    }
    if (signal.aborted) return { retry: batch.records.map((_, i) => i) };
    if (this.#failures > 0) {
      this.#failures--;
      this.#state = "down";
      throw new TransportError("TRANSPORT_UNAVAILABLE", "memory transport: simulated outage", { retriable: true });
    }
    if (this.#permanent) throw new TransportError("TRANSPORT_REJECTED", "memory transport: simulated permanent failure", { retriable: false });
    this.#state = "up";
    const rejected: number[] = [];
    const retry: number[] = [];
    batch.records.forEach((record, i) => {
      if (this.#reject?.(record)) {
        rejected.push(i);
        return;
      }
      if (this.#retry?.(record)) {
        retry.push(i);
        return;
      }
      this.received.push({
        key: record.key === null ? null : record.key.slice(),
        value: record.value.slice(),
        headers: record.headers === null ? null : record.headers.map(([name, value]) => [name, value.slice()] as const),
        timestamp: record.timestamp,
      });
    });
    if (this.#side === "worker") {
      const fresh = this.received.splice(0);
      this.#post!({ received: fresh, sendCalls: this.#sendCalls } satisfies Report);
    }
    if (rejected.length === 0 && retry.length === 0) return undefined;
    return {
      rejected,
      retry,
      error: rejected.length > 0
        ? new TransportError("TRANSPORT_REJECTED", "memory transport: record refused", { retriable: false })
        : new TransportError("TRANSPORT_UNAVAILABLE", "memory transport: record to retry", { retriable: true }),
    };
  }

  close(_timeoutMs: number): Promise<void> {
    this.#state = "closed";
    this.release();
    return Promise.resolve();
  }

  #wait(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const onAbort = () => resolve(true);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(() => {
        signal.removeEventListener("abort", onAbort);
        resolve(signal.aborted);
      });
    });
  }
}

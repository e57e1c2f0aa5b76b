/**
 * `createSink`: the public face. A synchronous `emit()` and a `WritableStream` that sheds
 * load instead of applying backpressure, in front of a bounded byte ring that a flusher
 * drains to a transport.
 *
 * @module
 */

import { type Accounting, CLOSED, type Counts } from "./core/accounting.ts";
import type { Transport, TransportState } from "./core/contract.ts";
import { type Core, createCore, createProducerCore, type ProducerCore, staticHeaders } from "./core/core.ts";
import type { RecordWriter } from "./core/encode.ts";
import { controlBlock } from "./core/ring-control.ts";
import { COUNTER_BYTES, mergeCounts, readWorkerCounts, WorkerCounts } from "./core/shared-counts.ts";
import { type Scheduler, withDeadline } from "./core/scheduler.ts";
import { type MetricsOptions, renderMetrics } from "./metrics.ts";
import { closeTimeout, flushTimeout, resolveOptions, type SinkOptions } from "./options.ts";
import { systemScheduler, utf8TargetFor } from "./runtime.ts";
import type { SinkState, SinkStats } from "./stats.ts";
import { WorkerHost } from "./worker/host.ts";
import { workerSpec } from "./worker/spec.ts";

export type { SinkState, SinkStats } from "./stats.ts";

/** What `close()` reports: the final counters, and how the shutdown went. */
export interface CloseReport extends Counts {
  /** Milliseconds from the `close()` call until the transport was closed. */
  readonly durationMs: number;
  /** True when everything accepted was settled before the deadline (no `shutdown` drops). */
  readonly flushed: boolean;
  /**
   * Of the `shutdown` drops, the records handed to the transport that had no answer for
   * them at the deadline (a send still in flight, or aborted by the close): if they
   * reached a broker before it stopped answering, it may still write them. The other
   * `shutdown` drops never left the sink. 0 when `flushed`.
   */
  readonly inDoubt: { readonly records: number; readonly bytes: number };
}

/** Options of {@linkcode Sink.close}. */
export interface CloseOptions {
  /**
   * How long to keep flushing before the rest is dropped as `shutdown`, in milliseconds.
   * @default 5000
   */
  timeoutMs?: number;
}

/** Options of {@linkcode Sink.flush}. */
export interface FlushOptions {
  /**
   * Give up waiting after this many milliseconds (the records stay buffered).
   * @default Infinity
   */
  timeoutMs?: number;
}

/** A sink: see {@linkcode createSink}. */
export interface Sink<T> {
  /**
   * Offers one record. Returns true when it was buffered, false when it was dropped (and
   * counted). Never blocks and never throws.
   */
  emit(record: T): boolean;
  /**
   * A stream into the sink that never applies backpressure: `desiredSize` stays above 0,
   * `writer.ready` is always resolved, and `write()` resolves at once whether the record
   * was kept or dropped. Closing or aborting it does not close the sink.
   */
  readonly writable: WritableStream<T>;
  /** A new writable like `writable`, for one more concurrent producer (such as a pipe per request). */
  writableStream(): WritableStream<T>;
  /** A plain snapshot of the counters. */
  stats(): SinkStats;
  /** The counters in Prometheus text exposition format. */
  metrics(options?: MetricsOptions): string;
  /**
   * Resolves true once every record accepted before the call is settled (delivered or
   * dropped), or false when `timeoutMs` passes first.
   */
  flush(options?: FlushOptions): Promise<boolean>;
  /**
   * Stops accepting, flushes until `timeoutMs`, drops what is left as `shutdown`, closes
   * the transport and resolves to the final report. Calling it again returns the same
   * promise.
   */
  close(options?: CloseOptions): Promise<CloseReport>;
  /** Closes at once: everything not yet delivered is dropped as `shutdown`. */
  abort(): Promise<CloseReport>;
  /** `await using sink = createSink(…)` closes it with the default timeout. */
  [Symbol.asyncDispose](): Promise<void>;
}

const STATE_OPEN = 0;
const STATE_CLOSING = 1;
const STATE_CLOSED = 2;
const STATE_NAMES: ReadonlyArray<SinkState> = ["open", "closing", "closed"];

const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose");

/**
 * Creates a sink.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSink, memoryTransport } from "../mod.ts";
 *
 * const transport = memoryTransport();
 * const sink = createSink({ transport, batch: { lingerMs: 5 } });
 * assert.equal(sink.emit({ table: "users", rows: 3, latencyMs: 1.7 }), true);
 * const writer = sink.writable.getWriter();
 * await writer.write({ table: "orders", rows: 1, latencyMs: 0.4 });
 * const report = await sink.close({ timeoutMs: 1000 });
 * assert.equal(report.delivered.records, 2);
 * assert.deepEqual(transport.texts(), [
 *   '{"table":"users","rows":3,"latencyMs":1.7}',
 *   '{"table":"orders","rows":1,"latencyMs":0.4}',
 * ]);
 * ```
 */
export function createSink<T = unknown>(options: SinkOptions<T>): Sink<T> {
  return new ShedSink<T>(options);
}

/** How this engine writes text fastest, found once. */
const ENGINE = { utf8For: utf8TargetFor };

class ShedSink<T> implements Sink<T> {
  /** Thread mode: the whole core. Null in worker mode. */
  readonly #core: Core<T> | null = null;
  /** Worker mode: the application's side of the core, and the worker's host. Null in thread mode. */
  readonly #producer: ProducerCore<T> | null = null;
  readonly #host: WorkerHost | null = null;
  readonly #workerCounts: WorkerCounts = new WorkerCounts();
  // The two the hot path uses, held directly: one load less per emit().
  readonly #writer: RecordWriter<T>;
  readonly #ledger: Accounting;
  readonly #capacityBytes: number;
  readonly #transport: Transport;
  readonly #scheduler: Scheduler;
  #state = STATE_OPEN;
  #writable: WritableStream<T> | null = null;
  #closing: Promise<CloseReport> | null = null;

  constructor(options: SinkOptions<T>) {
    const o = resolveOptions(options);
    this.#capacityBytes = o.capacityBytes;
    this.#transport = o.transport;
    this.#scheduler = o.scheduler ?? systemScheduler;
    if (o.flusher === "worker") {
      const spec = workerSpec(o.transport);
      const data = new SharedArrayBuffer(o.capacityBytes);
      const control = controlBlock(COUNTER_BYTES);
      const producer = createProducerCore<T>({ settings: o, scheduler: this.#scheduler, data, control, engine: ENGINE });
      this.#producer = producer;
      this.#writer = producer.writer;
      this.#ledger = producer.ledger;
      const classes = o.shedding === null ? 0 : o.shedding.levels.length;
      const settings = {
        maxRecords: o.maxRecords,
        maxBatchBytes: o.maxBatchBytes,
        lingerMs: o.lingerMs,
        maxInFlight: o.maxInFlight,
        maxAgeMs: o.maxAgeMs,
        initialDelayMs: o.initialDelayMs,
        maxDelayMs: o.maxDelayMs,
        capacityBytes: o.capacityBytes,
        classes,
        staticHeaders: staticHeaders(o.headers),
      };
      this.#host = new WorkerHost({ ...producer, start: { data, control, settings, spec }, transport: o.transport });
      return;
    }
    const core = createCore({ settings: o, transport: o.transport, scheduler: this.#scheduler, buffer: o.buffer, engine: ENGINE });
    this.#core = core;
    this.#writer = core.writer;
    this.#ledger = core.ledger;
    o.transport.start?.({ maxAgeMs: o.maxAgeMs, capacityBytes: o.capacityBytes, scheduler: this.#scheduler });
  }

  emit(record: T): boolean {
    if (this.#state !== STATE_OPEN) {
      this.#ledger.refuse(CLOSED, 0);
      return false;
    }
    return this.#writer.write(record);
  }
  get writable(): WritableStream<T> {
    if (this.#writable === null) this.#writable = this.writableStream();
    return this.#writable;
  }

  writableStream(): WritableStream<T> {
    return new WritableStream<T>(
      {
        write: (chunk) => {
          this.emit(chunk);
        },
      },
      // Every chunk counts as zero, so desiredSize never drops and ready never waits.
      { highWaterMark: 1, size: () => 0 },
    );
  }

  stats(): SinkStats {
    let lastError: string | null = null;
    let sends: number;
    let retries: number;
    let c: Counts;
    const host = this.#host;
    const transportState = this.#transportState();
    if (host !== null) {
      const worker = readWorkerCounts(this.#producer!.ring.control, this.#workerCounts);
      c = mergeCounts(this.#ledger.snapshot(), worker);
      sends = worker.sends;
      retries = worker.retries;
      lastError = host.lastError;
    } else {
      const flusher = this.#core!.flusher;
      const error = flusher.lastError;
      // While the transport says why it is down, that is the last error.
      const failure = this.#transportFailure();
      if (failure !== null) lastError = `TransportError: ${this.#transport.name}: ${failure.message}`;
      else if (error !== null) lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      c = this.#ledger.snapshot();
      sends = flusher.sends;
      retries = flusher.retries;
    }
    return {
      offered: c.offered,
      accepted: c.accepted,
      delivered: c.delivered,
      pending: c.pending,
      inFlight: c.inFlight,
      refused: c.refused,
      lost: c.lost,
      dropped: c.dropped,
      shed: c.shed,
      state: STATE_NAMES[this.#state]!,
      capacityBytes: this.#capacityBytes,
      transport: { name: host === null ? this.#transport.name : host.transportName, state: transportState },
      sends,
      retries,
      lastError,
      flusher: host === null ? "thread" : "worker",
      workerRestarts: host === null ? 0 : host.restarts,
    };
  }

  metrics(options?: MetricsOptions): string {
    return renderMetrics(this.stats(), options);
  }

  flush(options?: FlushOptions): Promise<boolean> {
    let timeoutMs: number;
    try {
      timeoutMs = flushTimeout(options ?? {});
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#host !== null ? this.#host.flush(timeoutMs) : this.#core!.flusher.flush(timeoutMs);
  }

  close(options?: CloseOptions): Promise<CloseReport> {
    if (this.#closing !== null) return this.#closing;
    let timeoutMs: number;
    try {
      timeoutMs = closeTimeout(options ?? {});
    } catch (error) {
      return Promise.reject(error);
    }
    this.#state = STATE_CLOSING;
    this.#closing = this.#shutdown(timeoutMs);
    return this.#closing;
  }

  abort(): Promise<CloseReport> {
    return this.close({ timeoutMs: 0 });
  }

  async [asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(timeoutMs: number): Promise<CloseReport> {
    const scheduler = this.#scheduler;
    const started = scheduler.now();
    if (this.#host !== null) {
      const { flushed, inDoubt } = await this.#host.close(timeoutMs);
      this.#state = STATE_CLOSED;
      this.#producer!.clock.stop();
      const c = mergeCounts(this.#ledger.snapshot(), readWorkerCounts(this.#producer!.ring.control, this.#workerCounts));
      return { ...c, durationMs: scheduler.now() - started, flushed, inDoubt };
    }
    const { flusher, ledger, clock } = this.#core!;
    const deadline = started + timeoutMs;
    // Flushing gets most of the budget; the rest is for aborting sends still in flight
    // and closing the transport.
    flusher.drain();
    const flushed = timeoutMs > 0 ? await flusher.flush(Math.floor(timeoutMs * 0.8)) : ledger.pendingRecords + ledger.inFlightRecords === 0;
    await flusher.stop(Math.max(0, Math.floor(deadline - scheduler.now()) - Math.floor(timeoutMs * 0.1)));
    const left = Math.max(0, deadline - scheduler.now());
    const closing = Promise.resolve().then(() => this.#transport.close(left));
    await withDeadline(scheduler, closing, left, { keepAlive: true }).catch(() => {});
    this.#state = STATE_CLOSED;
    clock.stop();
    const inDoubt = { records: flusher.inDoubt.records, bytes: flusher.inDoubt.bytes };
    return { ...ledger.snapshot(), durationMs: scheduler.now() - started, flushed, inDoubt };
  }

  /** Why the transport is down (its `failure()`), or null. */
  #transportFailure(): { readonly message: string } | null {
    const transport = this.#transport;
    if (typeof transport.failure !== "function") return null;
    try {
      return transport.failure();
    } catch {
      return null;
    }
  }

  #transportState(): TransportState {
    if (this.#host !== null) return this.#state === STATE_CLOSED ? "closed" : this.#host.state;
    try {
      return this.#transport.state();
    } catch {
      return "down";
    }
  }
}

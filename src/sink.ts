/**
 * `createSink`: the public face. A synchronous `emit()` and a `WritableStream` that sheds
 * load instead of applying backpressure, in front of a bounded byte ring that a flusher
 * drains to a transport.
 *
 * @module
 */

import { type Accounting, CLOSED, type Counts } from "./core/accounting.ts";
import type { Scheduler } from "./core/scheduler.ts";
import type { RecordWriter } from "./core/encode.ts";
import { type MetricsOptions, renderMetrics } from "./metrics.ts";
import { closeTimeout, flushTimeout, resolveOptions, type SinkOptions } from "./options.ts";
import { type Pipeline, threadPipeline } from "./pipeline.ts";
import { systemScheduler } from "./runtime.ts";
import type { CloseOptions, CloseReport, FlushOptions, SinkState, SinkStats } from "./stats.ts";
import { workerPipeline } from "./worker/pipeline.ts";

export type { CloseOptions, CloseReport, FlushOptions, SinkState, SinkStats } from "./stats.ts";

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

class ShedSink<T> implements Sink<T> {
  readonly #pipeline: Pipeline<T>;
  // The two the hot path uses, held directly: one load less per emit().
  readonly #writer: RecordWriter<T>;
  readonly #ledger: Accounting;
  readonly #capacityBytes: number;
  readonly #scheduler: Scheduler;
  #state = STATE_OPEN;
  #writable: WritableStream<T> | null = null;
  #closing: Promise<CloseReport> | null = null;

  constructor(options: SinkOptions<T>) {
    const o = resolveOptions(options);
    this.#capacityBytes = o.capacityBytes;
    this.#scheduler = o.scheduler ?? systemScheduler;
    this.#pipeline = (o.flusher === "worker" ? workerPipeline : threadPipeline)(o, this.#scheduler);
    this.#writer = this.#pipeline.writer;
    this.#ledger = this.#pipeline.ledger;
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
    const pipeline = this.#pipeline;
    const status = pipeline.status();
    const c = pipeline.counts();
    // Field by field: a snapshot per stats() call, nothing shared with the counters.
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
      transport: { name: status.name, state: status.state },
      sends: status.sends,
      retries: status.retries,
      lastError: status.lastError,
      flusher: pipeline.mode,
      workerRestarts: pipeline.restarts,
      workerHeapBytes: pipeline.workerHeapBytes(),
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
    return this.#pipeline.flush(timeoutMs);
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
    const started = this.#scheduler.now();
    const { flushed, inDoubt } = await this.#pipeline.close(timeoutMs);
    this.#state = STATE_CLOSED;
    const c: Counts = this.#pipeline.counts();
    return { ...c, durationMs: this.#scheduler.now() - started, flushed, inDoubt };
  }
}

/**
 * `createSink`: the public face. A synchronous `emit()` and a `WritableStream` that sheds
 * load instead of applying backpressure, in front of a bounded byte ring that a flusher
 * drains to a transport.
 *
 * @module
 */

import { Accounting, CLOSED, type Counts } from "./core/accounting.ts";
import { headerPairs, RecordWriter } from "./core/encode.ts";
import { Flusher } from "./core/flusher.ts";
import { ByteRing } from "./core/ring.ts";
import { CoarseClock } from "./core/clock.ts";
import { InvalidOptionError } from "./errors.ts";
import { type MetricsOptions, renderMetrics } from "./metrics.ts";
import { resolveOptions, type SinkOptions } from "./options.ts";
import { preferDirectJson, utf8TargetFor } from "./runtime.ts";
import type { TransportState } from "./transport.ts";

/** Where a sink is in its life. */
export type SinkState = "open" | "closing" | "closed";

/** A snapshot of a sink's counters and state. See {@linkcode Counts} for the law they keep. */
export interface SinkStats extends Counts {
  readonly state: SinkState;
  readonly capacityBytes: number;
  readonly transport: { readonly name: string; readonly state: TransportState };
  /** Batches handed to the transport so far. */
  readonly sends: number;
  /** Sends that failed retriably and were scheduled again. */
  readonly retries: number;
  /** The last error the transport reported, as text, or null. */
  readonly lastError: string | null;
}

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

const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

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
 * import { createSink, memoryTransport } from "../mod.ts";
 *
 * const transport = memoryTransport();
 * const sink = createSink({ transport, batch: { lingerMs: 5 } });
 * sink.emit({ table: "users", rows: 3, latencyMs: 1.7 });
 * const writer = sink.writable.getWriter();
 * await writer.write({ table: "orders", rows: 1, latencyMs: 0.4 });
 * const report = await sink.close({ timeoutMs: 1000 });
 * console.assert(report.delivered.records === 2 && transport.received.length === 2);
 * ```
 */
export function createSink<T = unknown>(options: SinkOptions<T>): Sink<T> {
  return new ShedSink<T>(options);
}

class ShedSink<T> implements Sink<T> {
  readonly #acct: Accounting;
  readonly #ring: ByteRing;
  readonly #writer: RecordWriter<T>;
  readonly #flusher: Flusher<T>;
  readonly #capacityBytes: number;
  // When the ticker stops, the writer's fast path (which uses the last tick) must read the time again.
  readonly #clock: CoarseClock = new CoarseClock(() => this.#acct.offeredRecords, 1, () => this.#ring.attendNow());
  readonly #transport;
  #state = STATE_OPEN;
  #writable: WritableStream<T> | null = null;
  #closing: Promise<CloseReport> | null = null;

  constructor(options: SinkOptions<T>) {
    const o = resolveOptions(options);
    this.#capacityBytes = o.capacityBytes;
    this.#transport = o.transport;
    // The ring counts the accepted records; the records in flight count against its capacity.
    this.#ring = new ByteRing(o.buffer ?? new ArrayBuffer(o.capacityBytes), () => this.#acct.inFlightBytes);
    this.#acct = new Accounting(this.#ring);
    this.#writer = new RecordWriter(this.#ring, this.#acct, o, this.#clock, preferDirectJson(), utf8TargetFor(this.#ring.bytes));
    const staticHeaders = o.headers !== null && typeof o.headers === "object" ? headerPairs(o.headers, new TextEncoder()) : null;
    this.#flusher = new Flusher(this.#ring, this.#acct, this.#writer, o.transport, o, staticHeaders && staticHeaders.length > 0 ? staticHeaders : null);
    this.#writer.attach(this.#flusher);
    o.transport.start?.({ maxAgeMs: o.maxAgeMs, capacityBytes: o.capacityBytes });
  }

  emit(record: T): boolean {
    if (this.#state !== STATE_OPEN) {
      this.#acct.refuse(CLOSED, 0);
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
    const error = this.#flusher.lastError;
    if (error !== null) lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    // Field by field, not `{ ...snapshot, … }`: on V8 11 (Node 20) the spread's copies
    // outlived the young generation, so a stats() every millisecond grew the old
    // generation by megabytes a second.
    const c = this.#acct.snapshot();
    return {
      offered: c.offered,
      accepted: c.accepted,
      delivered: c.delivered,
      pending: c.pending,
      inFlight: c.inFlight,
      refused: c.refused,
      lost: c.lost,
      dropped: c.dropped,
      state: STATE_NAMES[this.#state]!,
      capacityBytes: this.#capacityBytes,
      transport: { name: this.#transport.name, state: this.#transportState() },
      sends: this.#flusher.sends,
      retries: this.#flusher.retries,
      lastError,
    };
  }

  metrics(options?: MetricsOptions): string {
    return renderMetrics(this.stats(), options);
  }

  flush(options: FlushOptions = {}): Promise<boolean> {
    const timeoutMs = options.timeoutMs ?? Infinity;
    if (typeof timeoutMs !== "number" || Number.isNaN(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(new InvalidOptionError("INVALID_ARGUMENT", "flush.timeoutMs", timeoutMs, "a number >= 0"));
    }
    return this.#flusher.flush(timeoutMs);
  }

  close(options: CloseOptions = {}): Promise<CloseReport> {
    if (this.#closing !== null) return this.#closing;
    const timeoutMs = options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(new InvalidOptionError("INVALID_ARGUMENT", "close.timeoutMs", timeoutMs, "a finite number >= 0"));
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
    const started = Date.now();
    const deadline = started + timeoutMs;
    // Flushing gets most of the budget; the rest is for aborting sends still in flight
    // and closing the transport.
    this.#flusher.drain();
    const flushed = timeoutMs > 0 ? await this.#flusher.flush(Math.floor(timeoutMs * 0.8)) : this.#acct.pendingRecords + this.#acct.inFlightRecords === 0;
    await this.#flusher.stop(Math.max(0, Math.floor(deadline - Date.now()) - Math.floor(timeoutMs * 0.1)));
    const left = Math.max(0, deadline - Date.now());
    await withDeadline(Promise.resolve().then(() => this.#transport.close(left)).catch(() => {}), left);
    this.#state = STATE_CLOSED;
    this.#clock.stop();
    const inDoubt = { records: this.#flusher.inDoubt.records, bytes: this.#flusher.inDoubt.bytes };
    return { ...this.#acct.snapshot(), durationMs: Date.now() - started, flushed, inDoubt };
  }

  #transportState(): TransportState {
    try {
      return this.#transport.state();
    } catch {
      return "down";
    }
  }
}

function withDeadline(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

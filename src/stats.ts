/**
 * What a sink tells about itself: {@linkcode SinkStats}, read by `stats()`, and rendered
 * by `metrics()` and the OpenTelemetry bridge; and what `close()` reports
 * ({@linkcode CloseReport}), with the options of `close()` and `flush()`.
 *
 * @module
 */

import type { Counts } from "./core/accounting.ts";
import type { TransportState } from "./core/contract.ts";

/** Where a sink is in its life. */
export type SinkState = "open" | "closing" | "closed";

/** A snapshot of a sink's counters and state. See {@linkcode Counts} for the law they keep. */
export interface SinkStats extends Counts {
  /** Where the sink is in its life. */
  readonly state: SinkState;
  /** The sink's `capacityBytes`. */
  readonly capacityBytes: number;
  /** The transport's name and connection state. */
  readonly transport: { readonly name: string; readonly state: TransportState };
  /** Batches handed to the transport so far. */
  readonly sends: number;
  /** Sends that failed retriably and were scheduled again. */
  readonly retries: number;
  /**
   * The last error the transport reported (in worker mode: or why the worker last
   * failed), as text, or null. While a Kafka transport is
   * `down` it is why (`TransportError: confluent: SASL_AUTHENTICATION_FAILED: check
   * sasl.username/password (...)`); a retriable error clears once a send succeeds
   * after it, a record's rejection stays until the next error.
   */
  readonly lastError: string | null;
  /** Where the flusher runs (the sink's `flusher` option). */
  readonly flusher: "thread" | "worker";
  /** Worker mode: workers started to replace one that failed (0 in thread mode). */
  readonly workerRestarts: number;
  /**
   * Worker mode: the worker's JavaScript heap in use, in bytes, as it last reported it
   * (every 200 ms); 0 in thread mode and until the worker's first beat. A worker whose
   * heap keeps growing shows here before it runs out of its limit.
   */
  readonly workerHeapBytes: number;
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

/**
 * The contract between the sink's flusher and a transport. The core owns it; each
 * transport (`src/transports/`) implements it, and the core never knows which one it
 * talks to.
 *
 * The flusher owns buffering, batching, retries with backoff, expiry and accounting.
 * A transport owns exactly one thing: getting a batch of already-encoded records to
 * Kafka and saying, per record, how that went. It never buffers beyond the batch it was
 * handed, and it never retries on its own in a way that outlives the batch's promise.
 *
 * @module
 */

import type { Scheduler } from "./scheduler.ts";

/** One encoded record as the transport sees it. Byte arrays are owned by the batch. */
export interface OutRecord {
  /** Partition key bytes, or `null` to let the producer pick a partition. */
  readonly key: Uint8Array | null;
  /** The encoded value. */
  readonly value: Uint8Array;
  /** Record headers, or `null` when there are none. */
  readonly headers: ReadonlyArray<readonly [string, Uint8Array]> | null;
  /** Milliseconds since the epoch, taken when the record was emitted. */
  readonly timestamp: number;
  /** Bytes this record holds against `capacityBytes` (its encoded size plus framing). */
  readonly size: number;
}

/** A batch of records handed to {@linkcode Transport.send}. */
export interface Batch {
  /** The records, in the order they were accepted. */
  readonly records: ReadonlyArray<OutRecord>;
  /** Sum of `size` over `records`. */
  readonly bytes: number;
}

/**
 * What became of a batch that was not entirely delivered. Each list holds indexes into
 * `batch.records`; an index appears in at most one list; every index not listed was
 * delivered. Resolving `send` with `undefined` means the whole batch was delivered.
 */
export interface SendReport {
  /** Refused for good by the broker or the transport (too large, no such topic, auth). */
  readonly rejected?: ReadonlyArray<number>;
  /** Not delivered, but a later attempt may succeed: the flusher sends them again. */
  readonly retry?: ReadonlyArray<number>;
  /** Given up on by the transport because they reached the sink's `maxAgeMs`. */
  readonly expired?: ReadonlyArray<number>;
  /**
   * Not known to be delivered, and not to be: the send was aborted (the sink is shutting
   * down) while these records were on their way to a broker, with no answer yet.
   */
  readonly aborted?: ReadonlyArray<number>;
  /** Why records were rejected, for the sink's `lastError`. */
  readonly error?: unknown;
}

/**
 * Every state a transport's connection can be in.
 *
 * @example
 * ```ts
 * import { TRANSPORT_STATES, type TransportState } from "./contract.ts";
 *
 * const seen: TransportState = "down";
 * if (!TRANSPORT_STATES.includes(seen)) throw new Error("every state is listed");
 * ```
 */
export const TRANSPORT_STATES = ["connecting", "up", "down", "closed"] as const;

/** How a transport sees its connection, for `stats()` and `metrics()`: one of {@linkcode TRANSPORT_STATES}. */
export type TransportState = (typeof TRANSPORT_STATES)[number];

/** Everything a transport is told when the sink starts it. */
export interface TransportContext {
  /** Time and timers: the one the sink runs on (a fake one in tests). */
  readonly scheduler: Scheduler;
  /** The sink's `maxAgeMs`: a transport with its own delivery timeout aligns it to this. */
  readonly maxAgeMs: number;
  /** The sink's `capacityBytes`: a transport with its own queue bounds it by this. */
  readonly capacityBytes: number;
}

/**
 * How a transport is made inside a worker (`flusher: "worker"`): the module to import,
 * the name of the factory it exports, and the options to call it with, all plain data
 * that crosses to the worker as a structured clone.
 *
 * @example
 * ```ts
 * import type { TransportSpec } from "./contract.ts";
 *
 * const spec: TransportSpec = { module: "file:///app/transports/memory.ts", factory: "memoryTransport", options: { latencyMs: 0 } };
 * if (typeof structuredClone(spec).factory !== "string") throw new Error("plain data");
 * ```
 */
export interface TransportSpec {
  /** The module's URL. */
  readonly module: string;
  /** The factory's export name: called with `options`, it returns the transport. */
  readonly factory: string;
  /** The factory's options: plain data (no function). */
  readonly options: unknown;
  /**
   * The paths in `options` of the functions the application's thread keeps and the
   * worker calls through it (`onError`, `logger`, `sasl.token`): the worker's options
   * get a stand-in at each that forwards the call and, for `sasl.token`, its result.
   */
  readonly hooks?: ReadonlyArray<string>;
}

/**
 * A Kafka transport. Implementations live one per file in `src/transports/`.
 *
 * Contract:
 * - `send` must not throw synchronously; it returns a promise that settles once every
 *   record in the batch has a known outcome (delivered, rejected, expired, aborted or to
 *   be retried). Rejecting the promise means "nothing in this batch was delivered":
 *   with a {@linkcode TransportError} whose `retriable` is true the flusher retries the
 *   whole batch later; with anything else the whole batch counts as `rejected`.
 * - When `signal` aborts, `send` settles promptly; records whose fate is then unknown
 *   (handed on towards a broker, no answer yet) are reported in `aborted` (or the
 *   promise rejects with the abort reason), records it never handed on in `retry`. The
 *   sink counts both as `shutdown`, and the former in the close report's `inDoubt`.
 * - A record reported delivered is never reported again; a record reported rejected,
 *   expired or aborted is never delivered later by this transport.
 */
export interface Transport {
  /** A short name for metrics and errors, such as `"memory"` or `"confluent"`. */
  readonly name: string;
  /** Called once by the sink before the first send. Must not throw synchronously. */
  start?(context: TransportContext): void;
  /** Deliver a batch. See the interface's contract. */
  send(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined>;
  /** The connection state as the transport knows it. */
  state(): TransportState;
  /**
   * Why the transport is `down`, while it is, or was when it closed (`null` otherwise): a
   * `code` to switch on and a `message` that says what to check, without secrets. The
   * sink shows it as `stats().lastError` while it is not null.
   */
  failure?(): { readonly code: string; readonly message: string } | null;
  /** Release connections and timers. Settles within `timeoutMs`. */
  close(timeoutMs: number): Promise<void>;
  /**
   * Worker mode: how to make this transport in the worker. Absent when it cannot run
   * there; throws `InvalidOptionError` naming an option that cannot cross to a worker.
   */
  toWorker?(): TransportSpec;
  /**
   * Where the sink runs its flusher and this transport when the sink's `flusher` option
   * is not given: `"worker"` when the transport runs best in a worker (the Kafka
   * transports, where they can: see `SinkOptions.flusher`). The sink uses `"thread"` when
   * this is absent, or, saying why, when the transport cannot be made in a worker after
   * all.
   */
  readonly preferredFlusher?: "thread" | "worker";
  /**
   * Worker mode: links this object with its twin across the thread boundary. Called on
   * the application's thread's object with `side` "host", and on the worker's with
   * "worker"; `post` sends a message to the twin, and the function returned receives
   * the twin's messages (a test transport reports what it received, say).
   */
  remote?(post: (message: unknown) => void, side: "host" | "worker"): (message: unknown) => void;
  /**
   * Tells the user something through the transport's own logger, if it was given one:
   * returns true then, false (or is absent) when it has none.
   */
  log?(level: "info" | "warn" | "error", message: string): boolean;
}

/** What became of one record of a batch, as a transport classifies it. */
export type RecordOutcome = "delivered" | "rejected" | "retry" | "expired" | "aborted";

/**
 * Builds the {@linkcode SendReport} for a batch of `count` records from each record's
 * outcome: `undefined` when all were delivered. `errors.rejected` (or, when nothing was
 * rejected, `errors.retry`) becomes the report's `error`.
 *
 * @example
 * ```ts
 * import { buildReport } from "./contract.ts";
 *
 * const tooLarge = new Error("too large");
 * const report = buildReport(3, (i) => (i === 1 ? "rejected" : "delivered"), { rejected: tooLarge });
 * if (report?.rejected?.join() !== "1" || report.error !== tooLarge) throw new Error("record 1 rejected");
 * if (buildReport(3, () => "delivered") !== undefined) throw new Error("all delivered: no report");
 * ```
 */
export function buildReport(
  count: number,
  outcomeOf: (index: number) => RecordOutcome,
  errors: { readonly rejected?: unknown; readonly retry?: unknown } = {},
): SendReport | undefined {
  const lists: Record<Exclude<RecordOutcome, "delivered">, number[]> = { rejected: [], retry: [], expired: [], aborted: [] };
  let undelivered = 0;
  for (let i = 0; i < count; i++) {
    const outcome = outcomeOf(i);
    if (outcome === "delivered") continue;
    lists[outcome].push(i);
    undelivered++;
  }
  if (undelivered === 0) return undefined;
  const report: { rejected?: number[]; retry?: number[]; expired?: number[]; aborted?: number[]; error?: unknown } = {};
  for (const key of ["rejected", "retry", "expired", "aborted"] as const) {
    if (lists[key].length > 0) report[key] = lists[key];
  }
  const error = lists.rejected.length > 0 ? errors.rejected : lists.retry.length > 0 ? errors.retry : undefined;
  if (error !== undefined) report.error = error;
  return report;
}

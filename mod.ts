/**
 * shedsink: publish telemetry to Apache Kafka from a hot path without ever waiting for
 * Kafka. Records go into a bounded in-memory buffer; a flusher drains it to Kafka in
 * batches; when the buffer is full, records are dropped, never blocked, and every drop
 * is counted by reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSink, memoryTransport } from "./mod.ts";
 *
 * const sink = createSink({ transport: memoryTransport(), capacityBytes: 1 << 20 });
 * sink.emit({ keyspace: "commerce", table: "orders", rows: 12, latencyMs: 3.1 });
 * assert.equal(sink.stats().accepted.records, 1);
 * const report = await sink.close({ timeoutMs: 1000 });
 * assert.equal(report.delivered.records, 1);
 * ```
 *
 * @module
 */

export { createSink } from "./src/sink.ts";
export type { CloseOptions, CloseReport, FlushOptions, Sink, SinkState, SinkStats } from "./src/sink.ts";
export { DEFAULTS } from "./src/options.ts";
export type { BatchOptions, Encode, FlusherMode, HeaderValues, RecordSchema, RetryOptions, SinkOptions, WhenFull } from "./src/options.ts";
export { conservationErrors, DROP_REASONS } from "./src/core/accounting.ts";
export type { Count, Counts, DropReason } from "./src/core/accounting.ts";
export { ERROR_CODES, InvalidOptionError, ShedsinkError, TransportError } from "./src/core/errors.ts";
export type { ErrorCode, TransportErrorCode } from "./src/core/errors.ts";
export { DEFAULT_SHED_LEVELS, MAX_CLASSES } from "./src/shedding.ts";
export type { SheddingOptions, ShedLevel } from "./src/shedding.ts";
export { renderMetrics } from "./src/metrics.ts";
export type { MetricsOptions } from "./src/metrics.ts";
export { buildReport, TRANSPORT_STATES } from "./src/core/contract.ts";
export type { Batch, OutRecord, RecordOutcome, SendReport, Transport, TransportContext, TransportSpec, TransportState } from "./src/core/contract.ts";
export { ABORTED, TIMED_OUT, withDeadline } from "./src/core/scheduler.ts";
export type { DeadlineOptions, Scheduler, Timer, TimerOptions } from "./src/core/scheduler.ts";
export { systemScheduler } from "./src/runtime.ts";
export { memoryTransport } from "./src/transports/memory.ts";
export type { MemoryTransport, MemoryTransportOptions, ReceivedRecord } from "./src/transports/memory.ts";
export { InvalidLine, ndjson } from "./src/ndjson.ts";
export type { InvalidLineReason, NdjsonOptions } from "./src/ndjson.ts";

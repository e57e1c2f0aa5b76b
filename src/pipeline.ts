/**
 * The pipeline behind a sink, as the sink sees it whichever thread drains it: a writer
 * and a ledger on the application's thread (the hot path), and a drain (`core/drain.ts`)
 * that runs in-process (thread mode, here) or in a worker (`worker/pipeline.ts`), with
 * the counters, status, flush and close that the sink forwards.
 *
 * @module
 */

import type { Accounting, Counts } from "./core/accounting.ts";
import { createCore } from "./core/core.ts";
import type { CloseOutcome, DrainStatus } from "./core/drain.ts";
import type { RecordWriter } from "./core/encode.ts";
import type { Scheduler } from "./core/scheduler.ts";
import type { FlusherMode, ResolvedOptions } from "./options.ts";
import { utf8TargetFor } from "./runtime.ts";

/** One sink's pipeline. */
export interface Pipeline<T> {
  /** Where the drain runs. */
  readonly mode: FlusherMode;
  /** The hot path: encodes and appends records. */
  readonly writer: RecordWriter<T>;
  /** The application's thread's counters (the refusals the sink counts itself go here). */
  readonly ledger: Accounting;
  /** Every counter, wherever it is kept. */
  counts(): Counts;
  /** The drain's status (in worker mode, as the worker last told it, or why it failed). */
  status(): DrainStatus;
  /** Workers started to replace one that failed (0 in thread mode). */
  readonly restarts: number;
  /** The worker's heap in use, in bytes, as it last reported it (0 in thread mode). */
  workerHeapBytes(): number;
  /** See `Sink.flush`. */
  flush(timeoutMs: number): Promise<boolean>;
  /** Flushes, stops and closes the transport (see `Drain.close`); the clock stops with it. */
  close(timeoutMs: number): Promise<CloseOutcome>;
}

/** How this engine writes text fastest, found once. */
export const ENGINE = { utf8For: utf8TargetFor };

/** Thread mode: the core and its drain in-process. */
export function threadPipeline<T>(o: ResolvedOptions<T>, scheduler: Scheduler): Pipeline<T> {
  const core = createCore({ settings: o, transport: o.transport, scheduler, buffer: o.buffer, engine: ENGINE });
  const { ledger, drain, clock } = core;
  o.transport.start?.({ maxAgeMs: o.maxAgeMs, capacityBytes: o.capacityBytes, scheduler });
  return {
    mode: "thread",
    writer: core.writer,
    ledger,
    counts: () => ledger.snapshot(),
    status: () => drain.status(),
    restarts: 0,
    workerHeapBytes: () => 0,
    flush: (timeoutMs) => drain.flush(timeoutMs),
    close: async (timeoutMs) => {
      const outcome = await drain.close(timeoutMs);
      clock.stop();
      return outcome;
    },
  };
}

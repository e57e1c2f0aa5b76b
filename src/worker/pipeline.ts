/**
 * Worker mode's pipeline (see `pipeline.ts`): the writer and ledger on the application's
 * thread over a ring in a `SharedArrayBuffer`, and the drain in a worker that the host
 * (`host.ts`) starts, watches and forwards to.
 *
 * @module
 */

import type { TransportState } from "../core/contract.ts";
import { createProducerCore, shedClasses, staticHeaders } from "../core/core.ts";
import { controlBlock, WORKER_HEAP_KIB } from "../core/ring-control.ts";
import type { Scheduler } from "../core/scheduler.ts";
import { COUNTER_BYTES, mergeCounts, readWorkerCounts, WorkerCounts } from "../core/shared-counts.ts";
import type { ResolvedOptions } from "../options.ts";
import { ENGINE, type Pipeline } from "../pipeline.ts";
import { type SpawnWorker, WorkerHost } from "./host.ts";
import { workerSpec } from "./spec.ts";

/** Worker mode: the application's side, and a worker for the drain. `spawn` stands in for `node:worker_threads` in tests. */
export function workerPipeline<T>(o: ResolvedOptions<T>, scheduler: Scheduler, spawn?: SpawnWorker): Pipeline<T> {
  const { spec, hooks } = o.plan ?? workerSpec(o.transport);
  const data = new SharedArrayBuffer(o.capacityBytes);
  const control = controlBlock(COUNTER_BYTES);
  const producer = createProducerCore<T>({ settings: o, scheduler, data, control, engine: ENGINE });
  const settings = {
    maxRecords: o.maxRecords,
    maxBatchBytes: o.maxBatchBytes,
    lingerMs: o.lingerMs,
    maxInFlight: o.maxInFlight,
    maxAgeMs: o.maxAgeMs,
    initialDelayMs: o.initialDelayMs,
    maxDelayMs: o.maxDelayMs,
    capacityBytes: o.capacityBytes,
    classes: shedClasses(o),
    staticHeaders: staticHeaders(o.headers),
  };
  const worker = new WorkerCounts();
  const ints = new Int32Array(control, 0, 16);
  // Nothing pending nor in flight: every record accepted so far is settled.
  const settled = () => {
    const c = mergeCounts(producer.ledger.snapshot(), readWorkerCounts(control, worker));
    return c.pending.records + c.inFlight.records === 0;
  };
  const host = new WorkerHost({ ...producer, start: { data, control, settings, spec }, transport: o.transport, hooks, scheduler, spawn, settled });
  let closed = false;
  return {
    mode: "worker",
    writer: producer.writer,
    ledger: producer.ledger,
    counts: () => mergeCounts(producer.ledger.snapshot(), readWorkerCounts(control, worker)),
    status: () => {
      const w = readWorkerCounts(control, worker);
      const state: TransportState = closed ? "closed" : host.state;
      return { name: host.transportName, state, lastError: host.lastError, sends: w.sends, retries: w.retries };
    },
    get restarts() {
      return host.restarts;
    },
    workerHeapBytes: () => Atomics.load(ints, WORKER_HEAP_KIB) * 1024,
    flush: (timeoutMs) => host.flush(timeoutMs),
    close: async (timeoutMs) => {
      const outcome = await host.close(timeoutMs);
      closed = true;
      // The application's transport object, a description the worker made its own from,
      // says closed as in thread mode (it never connected: this releases nothing).
      await Promise.resolve().then(() => o.transport.close(0)).catch(() => {});
      producer.clock.stop();
      return outcome;
    },
  };
}

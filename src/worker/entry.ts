/**
 * Worker mode: the worker's program. It runs the core's `Flusher` over the consumer's
 * side of the shared ring (`RingConsumer`) and the worker's ledger, with the transport
 * made from its spec. It waits for records with `Atomics.waitAsync` on the ring's WAKE
 * word (the application's thread notifies it), bumps a heartbeat, and answers flush and
 * close requests. See `host.ts` for the application's side.
 *
 * @module
 */

import process from "node:process";
import { parentPort, workerData } from "node:worker_threads";
import { SHUTDOWN } from "../core/accounting.ts";
import type { Transport, TransportState } from "../core/contract.ts";
import { Drain } from "../core/drain.ts";
import { Flusher } from "../core/flusher.ts";
import { RingConsumer } from "../core/ring-consumer.ts";
import { HEARTBEAT, NEVER, WAKE, WAKE_SEEN, WORKER_HEAP_KIB } from "../core/ring-control.ts";
import { WorkerLedger } from "../core/shared-counts.ts";
import { systemScheduler } from "../runtime.ts";
import type { HostMessage, WorkerMessage, WorkerStart } from "./protocol.ts";
import { withValues } from "./spec.ts";

/** How often the heartbeat beats and the status is sent, in milliseconds. */
const BEAT_MS = 200;

type WaitAsync = (array: Int32Array, index: number, value: number) => { async: boolean; value: Promise<string> | string };

// Imported outside a worker (by a documentation check, say), it does nothing. No
// top-level await (the CommonJS build has none): a failure to start is thrown as an
// uncaught error, which ends the worker with an "error" event, as the host expects.
if (parentPort !== null && workerData !== null && typeof workerData === "object") {
  run(parentPort, workerData as WorkerStart).catch((error: unknown) => {
    queueMicrotask(() => {
      throw error;
    });
  });
}

async function run(port: NonNullable<typeof parentPort>, start: WorkerStart): Promise<void> {
  const post = (message: WorkerMessage) => port.postMessage(message);
  const ints = new Int32Array(start.control, 0, 16);
  const s = start.settings;
  const scheduler = systemScheduler;

  const module = (await import(start.spec.module)) as Record<string, unknown>;
  const factory = module[start.spec.factory];
  if (typeof factory !== "function") throw new TypeError(`${start.spec.module} exports no function ${start.spec.factory}`);
  // The hooks the application's thread keeps: stand-ins that call them there.
  const answers = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let calls = 0;
  const standIn = (path: string) => (...args: unknown[]) => {
    if (path !== "sasl.token") {
      post({ type: "hook", id: 0, path, args });
      return undefined;
    }
    const id = ++calls;
    post({ type: "hook", id, path, args });
    return new Promise((resolve, reject) => answers.set(id, { resolve, reject }));
  };
  const hooks = start.spec.hooks ?? [];
  const options = hooks.length === 0 ? start.spec.options : withValues(start.spec.options, hooks, standIn);
  const transport = factory(options) as Transport;

  const ledger = new WorkerLedger(start.control);
  const consumer = new RingConsumer(start.data, start.control, ledger, {
    maxAgeMs: s.maxAgeMs,
    maxRecords: s.maxRecords,
    staticHeaders: s.staticHeaders,
    classes: s.classes,
    appended: start.appended,
  });
  const flusher = new Flusher(consumer, ledger, transport, s, scheduler);
  ledger.activity = flusher;
  const drain = new Drain(flusher, consumer, transport, scheduler, () => ledger.counts.inFlight.records);

  // The flusher's thresholds, told to the producer once per turn of the event loop.
  let heedQueued = false;
  const publishHeed = () => {
    heedQueued = false;
    const records = flusher.unheardRecords();
    const bytes = flusher.unheardBytes();
    consumer.heed(records === Infinity ? NEVER : records + consumer.count + 1, bytes === Infinity ? NEVER : bytes + consumer.bytes + 1);
  };
  const publishQueuedHeed = () => {
    if (heedQueued) publishHeed();
  };
  consumer.onAttend = () => {
    if (heedQueued) return;
    heedQueued = true;
    queueMicrotask(publishQueuedHeed);
  };

  const fromHost = transport.remote?.((message) => post({ type: "transport", message }), "worker") ?? null;
  for (const message of start.early) fromHost?.(message);
  transport.start?.({ scheduler, maxAgeMs: s.maxAgeMs, capacityBytes: s.capacityBytes });

  // Waiting for records: WAKE_SEEN says which wake this worker has seen, so that the
  // producer notifies only once per wake.
  const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;
  let closed = false;
  function sleep(): void {
    if (closed) return;
    const seen = Atomics.load(ints, WAKE);
    Atomics.store(ints, WAKE_SEEN, seen);
    const result = waitAsync(ints, WAKE, seen);
    if (result.async) (result.value as Promise<string>).then(woken);
    else queueMicrotask(woken);
  }
  function woken(): void {
    flusher.accepted();
    // The new thresholds before the wake is marked seen: the producer, which wakes this
    // worker again only once it has seen the last wake, then counts against them.
    publishQueuedHeed();
    sleep();
  }

  let lastError: string | null = null;
  let state: TransportState | null = null;
  let name: string | null = null;
  function beat(): void {
    Atomics.add(ints, HEARTBEAT, 1);
    // This thread's heap (each worker has its own), for stats().workerHeapBytes.
    Atomics.store(ints, WORKER_HEAP_KIB, Math.min(0x7fffffff, Math.round(process.memoryUsage().heapUsed / 1024)));
    report();
  }
  // Each send's outcome may change the status: told before the counters that follow it
  // are written, so that the application's thread does not see a retry without its error.
  ledger.onSend = report;
  function report(): void {
    // The name too: kafkaTransport on Node is "kafka" on the application's thread, and the
    // client it uses here ("platformatic").
    const status = drain.status();
    if (status.lastError !== lastError || status.state !== state || status.name !== name) {
      ({ lastError, state, name } = status);
      post({ type: "status", name: status.name, lastError: status.lastError, state: status.state });
    }
  }
  scheduler.every(BEAT_MS, beat, { keepAlive: true });

  /** close(): the drain's, then what the producer published after the flusher stopped. */
  async function shutdown(timeoutMs: number): Promise<void> {
    const outcome = await drain.close(timeoutMs);
    closed = true;
    consumer.dropAll(SHUTDOWN);
    beat();
    post({ type: "closed", flushed: outcome.flushed, inDoubt: outcome.inDoubt });
  }

  port.on("message", (message: HostMessage) => {
    switch (message.type) {
      case "flush":
        void drain.flush(message.timeoutMs).then((settled) => {
          beat(); // the status first: a caller reads stats() once its flush resolves
          post({ type: "flushed", id: message.id, settled });
        });
        break;
      case "close":
        void shutdown(message.timeoutMs);
        break;
      case "transport":
        fromHost?.(message.message);
        break;
      case "hookResult": {
        const answer = answers.get(message.id);
        answers.delete(message.id);
        if (message.error !== undefined) answer?.reject(new Error(message.error));
        else answer?.resolve(message.value);
        break;
      }
    }
  });

  beat();
  sleep();
  flusher.accepted(); // records accepted before this worker started
  post({ type: "ready" });
}

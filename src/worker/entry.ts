/**
 * Worker mode: the worker's program. It runs the core's `Flusher` over the consumer's
 * side of the shared ring (`RingConsumer`) and the worker's ledger, with the transport
 * made from its spec. It waits for records with `Atomics.waitAsync` on the ring's WAKE
 * word (the application's thread notifies it), bumps a heartbeat, and answers flush and
 * close requests. See `host.ts` for the application's side.
 *
 * @module
 */

import { parentPort, workerData } from "node:worker_threads";
import { SHUTDOWN } from "../core/accounting.ts";
import type { Transport, TransportState } from "../core/contract.ts";
import { Flusher } from "../core/flusher.ts";
import { RingConsumer } from "../core/ring-consumer.ts";
import { HEARTBEAT, NEVER, WAKE, WAKE_SEEN } from "../core/ring-control.ts";
import { TIMED_OUT, withDeadline } from "../core/scheduler.ts";
import { WorkerLedger } from "../core/shared-counts.ts";
import { systemScheduler } from "../runtime.ts";
import { errorText, type HostMessage, type WorkerMessage, type WorkerStart } from "./protocol.ts";

/** How often the heartbeat beats and the status is sent, in milliseconds. */
const BEAT_MS = 200;

type WaitAsync = (array: Int32Array, index: number, value: number) => { async: boolean; value: Promise<string> | string };

// Imported outside a worker (by a documentation check, say), it does nothing. No
// top-level await (the CommonJS build has none): a failure to start is thrown as an
// uncaught error, which ends the worker with an "error" event, as the host expects.
if (parentPort !== null && workerData !== null && typeof workerData === "object") {
  run(parentPort, workerData as WorkerStart).catch((error: unknown) => {
    setTimeout(() => {
      throw error;
    }, 0);
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
  const transport = factory(start.spec.options) as Transport;

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
    // As in thread mode (sink.ts): while the transport says why it is down, that is the last error.
    let failure: { readonly message: string } | null = null;
    try {
      failure = transport.failure?.() ?? null;
    } catch {
      failure = null;
    }
    const error = failure !== null ? `TransportError: ${transport.name}: ${failure.message}` : flusher.lastError === null ? null : errorText(flusher.lastError);
    let now: TransportState;
    try {
      now = transport.state();
    } catch {
      now = "down";
    }
    // The name too: kafkaTransport on Node is "kafka" on the application's thread, and the
    // client it uses here ("platformatic").
    if (error !== lastError || now !== state || transport.name !== name) {
      lastError = error;
      state = now;
      name = transport.name;
      post({ type: "status", name, lastError, state });
    }
  }
  setInterval(beat, BEAT_MS);

  /** close(): the thread mode's shutdown (`sink.ts`), run here. */
  async function shutdown(timeoutMs: number): Promise<void> {
    const started = scheduler.now();
    const deadline = started + timeoutMs;
    flusher.drain();
    const flushed = timeoutMs > 0 ? await flusher.flush(Math.floor(timeoutMs * 0.8)) : consumer.count + ledger.counts.inFlight.records === 0;
    await flusher.stop(Math.max(0, Math.floor(deadline - scheduler.now()) - Math.floor(timeoutMs * 0.1)));
    const left = Math.max(0, deadline - scheduler.now());
    const closing = Promise.resolve().then(() => transport.close(left));
    await withDeadline(scheduler, closing, left, { keepAlive: true }).catch(() => TIMED_OUT);
    closed = true;
    consumer.dropAll(SHUTDOWN); // records the producer published after the flusher stopped
    beat();
    post({ type: "closed", flushed, inDoubt: { records: flusher.inDoubt.records, bytes: flusher.inDoubt.bytes } });
  }

  port.on("message", (message: HostMessage) => {
    switch (message.type) {
      case "flush":
        void flusher.flush(message.timeoutMs).then((settled) => {
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
    }
  });

  beat();
  sleep();
  flusher.accepted(); // records accepted before this worker started
  post({ type: "ready" });
}

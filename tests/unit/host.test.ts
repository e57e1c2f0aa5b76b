// The worker's life cycle on the application's thread (src/worker/host.ts), under fake
// time with a stand-in worker: start, heartbeat, death, restart with backoff,
// worker_lost counting, hooks called for the worker, and close.
import { test } from "node:test";
import assert from "node:assert/strict";
import { conservationErrors, memoryTransport } from "../../mod.ts";
import { HEARTBEAT } from "../../src/core/ring-control.ts";
import { WorkerLedger } from "../../src/core/shared-counts.ts";
import { resolveOptions } from "../../src/options.ts";
import type { Pipeline } from "../../src/pipeline.ts";
import type { WorkerLike } from "../../src/worker/host.ts";
import { workerPipeline } from "../../src/worker/pipeline.ts";
import type { HostMessage, WorkerMessage, WorkerStart } from "../../src/worker/protocol.ts";
import { FakeScheduler, settle } from "../support/scheduler.ts";

/** A worker that does only what the test tells it, on the ring's real control block. */
class StandIn implements WorkerLike {
  readonly start: WorkerStart;
  readonly received: HostMessage[] = [];
  readonly ledger: WorkerLedger;
  terminated = false;
  readonly #listeners: Record<string, Array<(value: never) => void>> = { message: [], error: [], exit: [] };
  constructor(start: WorkerStart) {
    this.start = start;
    this.ledger = new WorkerLedger(start.control);
  }
  postMessage(message: unknown): void {
    this.received.push(message as HostMessage);
  }
  on(event: "message" | "error" | "exit", listener: (value: never) => void): void {
    this.#listeners[event]!.push(listener);
  }
  ref(): void {}
  unref(): void {}
  terminate(): Promise<number> {
    if (!this.terminated) {
      this.terminated = true;
      this.emit("exit", 1);
    }
    return Promise.resolve(1);
  }
  emit(event: "message" | "error" | "exit", value: unknown): void {
    for (const listener of this.#listeners[event]!) (listener as (v: unknown) => void)(value);
  }
  say(message: WorkerMessage): void {
    this.emit("message", message);
  }
  beat(): void {
    Atomics.add(new Int32Array(this.start.control, 0, 16), HEARTBEAT, 1);
  }
  /** Takes `records` of `bytes` each in flight, as a worker's flusher does when it sends. */
  holdInFlight(records: number, bytes: number): void {
    this.ledger.take(records, records * bytes);
    this.ledger.write();
  }
}

function setUp(transportOptions: Parameters<typeof memoryTransport>[0] = {}) {
  const scheduler = new FakeScheduler();
  const workers: StandIn[] = [];
  const spawnedAt: number[] = [];
  const o = resolveOptions<unknown>({ transport: memoryTransport(transportOptions), flusher: "worker", scheduler });
  const pipeline: Pipeline<unknown> = workerPipeline(o, scheduler, (start) => {
    const worker = new StandIn(start);
    workers.push(worker);
    spawnedAt.push(scheduler.now());
    return worker;
  });
  return { scheduler, workers, spawnedAt, pipeline, t0: scheduler.now() };
}

test("host: a worker that dies is replaced after a backoff that doubles from 100 ms to 5 s, and a worker that lived 30 s resets it", async () => {
  const { scheduler, workers, spawnedAt, pipeline, t0 } = setUp();
  await settle();
  assert.equal(workers.length, 1);
  const diedAt: number[] = [];
  for (let n = 1; n <= 8; n++) {
    const worker = workers[n - 1]!;
    worker.say({ type: "ready" });
    diedAt.push(scheduler.now());
    worker.emit("exit", 1);
    assert.equal(pipeline.status().lastError, "worker failed: it exited");
    await scheduler.advance(10_000);
    await settle();
    assert.equal(workers.length, n + 1, `worker ${n + 1} started`);
  }
  const waits = spawnedAt.slice(1).map((at, i) => at - diedAt[i]!);
  assert.deepEqual(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  assert.equal(spawnedAt[0], t0);
  assert.equal(pipeline.restarts, 8);
  // One that lived 30 s: the next waits 100 ms again.
  const healthy = workers.at(-1)!;
  healthy.say({ type: "ready" });
  for (let i = 0; i < 60; i++) {
    healthy.beat();
    await scheduler.advance(500);
  }
  assert.equal(healthy.terminated, false);
  healthy.emit("exit", 1);
  const lastDied = scheduler.now();
  await scheduler.advance(10_000);
  await settle();
  assert.equal(spawnedAt.at(-1)! - lastDied, 100);
});

test("host: what a dead worker held in flight is counted worker_lost, once, and the counters stay conserved", async () => {
  const { scheduler, workers, pipeline } = setUp();
  await settle();
  for (let i = 0; i < 10; i++) assert.equal(pipeline.writer.write({ i }), true);
  const worker = workers[0]!;
  worker.say({ type: "ready" });
  // The worker claimed 4 records from the ring (its cursor moved) and holds them in flight.
  const before = pipeline.counts();
  const bytes = before.pending.bytes / 10;
  const { CURSOR, cursorSeq, cursorOffset, packCursor } = await import("../../src/core/ring-control.ts");
  const words = new BigUint64Array(worker.start.control, 0, 2);
  const cursor = Atomics.load(words, CURSOR);
  Atomics.store(words, CURSOR, packCursor(cursorSeq(cursor) + 4, cursorOffset(cursor) + 4 * bytes));
  worker.holdInFlight(4, bytes);
  assert.equal(pipeline.counts().inFlight.records, 4);
  worker.emit("error", new Error("boom"));
  worker.emit("exit", 1);
  const after = pipeline.counts();
  assert.equal(after.dropped.worker_lost.records, 4);
  assert.equal(after.dropped.worker_lost.bytes, 4 * bytes);
  assert.equal(after.inFlight.records, 0);
  assert.equal(after.pending.records, 6);
  assert.deepEqual(conservationErrors(after), []);
  assert.equal(pipeline.status().lastError, "worker failed: Error: boom");
  // A second exit event of the same worker counts nothing again.
  worker.emit("exit", 1);
  assert.equal(pipeline.counts().dropped.worker_lost.records, 4);
  await scheduler.advance(100);
  await settle();
  assert.equal(workers.length, 2);
  assert.equal(workers[1]!.start.appended, 10, "the next worker is told how many frames were committed");
});

test("host: a worker that stops beating for 5 s is terminated and replaced; one that beats is left alone", async () => {
  const { scheduler, workers, pipeline } = setUp();
  await settle();
  const worker = workers[0]!;
  worker.say({ type: "ready" });
  for (let i = 0; i < 40; i++) {
    worker.beat();
    await scheduler.advance(250);
  }
  assert.equal(worker.terminated, false, "10 s of beats");
  await scheduler.advance(4500);
  assert.equal(worker.terminated, false, "4.5 s of silence is not yet hung");
  await scheduler.advance(1000);
  assert.equal(worker.terminated, true);
  assert.match(pipeline.status().lastError!, /no heartbeat for 5 seconds/);
  await scheduler.advance(100);
  await settle();
  assert.equal(workers.length, 2);
});

test("host: flush waits for the worker's answer or its timeout on the sink's clock; after close it resolves true at once", async () => {
  const { scheduler, workers, pipeline } = setUp();
  await settle();
  const worker = workers[0]!;
  worker.say({ type: "ready" });
  // Nothing accepted: at the deadline the counters say it is settled.
  const zero = pipeline.flush(0);
  await scheduler.advance(0);
  assert.equal(await zero, true);
  pipeline.writer.write({ a: 1 });
  const answered = pipeline.flush(1000);
  const request = worker.received.filter((m) => m.type === "flush").at(-1) as Extract<HostMessage, { type: "flush" }>;
  assert.ok(request !== undefined);
  worker.say({ type: "flushed", id: request.id, settled: true });
  assert.equal(await answered, true);
  const unanswered = pipeline.flush(1000);
  await scheduler.advance(999);
  let settled: boolean | null = null;
  void unanswered.then((v) => (settled = v));
  await settle();
  assert.equal(settled, null);
  await scheduler.advance(1);
  assert.equal(await unanswered, false);
  const closing = pipeline.close(500);
  const close = worker.received.find((m) => m.type === "close");
  assert.deepEqual(close, { type: "close", timeoutMs: 500 });
  worker.say({ type: "closed", flushed: true, inDoubt: { records: 0, bytes: 0 } });
  assert.deepEqual(await closing, { flushed: true, inDoubt: { records: 0, bytes: 0 } });
  assert.equal(worker.terminated, true);
  assert.equal(await pipeline.flush(Infinity), true);
  assert.equal(pipeline.status().state, "closed");
});

test("host: a close the worker never answers ends 1 s after its deadline; what is left is dropped as shutdown here", async () => {
  const { scheduler, workers, pipeline } = setUp();
  await settle();
  for (let i = 0; i < 5; i++) pipeline.writer.write({ i });
  workers[0]!.say({ type: "ready" });
  const closing = pipeline.close(2000);
  const outcome = await scheduler.drive(closing);
  assert.equal(outcome.flushed, false);
  assert.equal(scheduler.now() - 1_700_000_000_000, 3000);
  const c = pipeline.counts();
  assert.equal(c.dropped.shutdown.records, 5);
  assert.equal(c.pending.records, 0);
  assert.deepEqual(conservationErrors(c), []);
});

test("host: a hook the worker calls runs here, its result (or failure) sent back; an unknown path fails the call", async () => {
  const scheduler = new FakeScheduler();
  const workers: StandIn[] = [];
  const errors: unknown[] = [];
  let tokens = 0;
  const transport = memoryTransport();
  // A transport whose worker spec carries hooks, as the Kafka transports' do.
  const base = transport.toWorker!();
  const withHooks = {
    name: "hooked",
    send: transport.send.bind(transport),
    state: () => "up" as const,
    close: () => Promise.resolve(),
    toWorker: () => ({ ...base, options: { ...(base.options as object), onError: (e: unknown) => errors.push(e), sasl: { token: () => ({ value: `t${++tokens}`, expiresAt: 1 }) } } }),
  };
  const o = resolveOptions<unknown>({ transport: withHooks, flusher: "worker", scheduler });
  assert.deepEqual(o.plan!.spec.hooks, ["onError", "sasl.token"]);
  const crossed = structuredClone(o.plan!.spec) as { options: { onError?: unknown; sasl?: { token?: unknown } } };
  assert.equal(crossed.options.onError, undefined, "no function crosses");
  assert.deepEqual(crossed.options.sasl, {});
  const pipeline = workerPipeline(o, scheduler, (start) => {
    const w = new StandIn(start);
    workers.push(w);
    return w;
  });
  await settle();
  const worker = workers[0]!;
  worker.say({ type: "ready" });
  worker.say({ type: "hook", id: 0, path: "onError", args: [{ code: "SASL_AUTHENTICATION_FAILED", message: "bad password" }] });
  assert.deepEqual(errors, [{ code: "SASL_AUTHENTICATION_FAILED", message: "bad password" }]);
  worker.say({ type: "hook", id: 7, path: "sasl.token", args: [] });
  await settle();
  assert.deepEqual(worker.received.find((m) => m.type === "hookResult"), { type: "hookResult", id: 7, value: { value: "t1", expiresAt: 1 } });
  worker.say({ type: "hook", id: 8, path: "logger", args: [] });
  await settle();
  const failed = worker.received.filter((m) => m.type === "hookResult").at(-1) as Extract<HostMessage, { type: "hookResult" }>;
  assert.equal(failed.id, 8);
  assert.match(failed.error!, /no function at transport\.logger/);
  const closing = pipeline.close(0);
  worker.say({ type: "closed", flushed: true, inDoubt: { records: 0, bytes: 0 } });
  await closing;
});

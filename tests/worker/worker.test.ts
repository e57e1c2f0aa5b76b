// Worker mode (flusher: "worker") with the memory transport in a real worker thread:
// real time, bounded in seconds, no timing thresholds. Run on Node >= 22, Deno and Bun:
//   node --test tests/worker/*.test.ts · deno test -A --no-check --no-lock tests/worker/ · bun test ./tests/worker/
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Counts, conservationErrors, createSink, InvalidOptionError, memoryTransport, type Sink } from "../../mod.ts";
import { confluentTransport } from "../../src/transports/confluent.ts";
import { kafkaTransport } from "../../src/transports/kafka.ts";
import { platformaticTransport } from "../../src/transports/platformatic.ts";
import { systemScheduler } from "../../src/runtime.ts";
import { freePortRange } from "../support/ports.ts";

/** Waits until `check()` holds, looking every 10 ms, for at most `ms`; fails otherwise. */
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function conserved(s: Counts): void {
  assert.deepEqual(conservationErrors(s), []);
}

/** Reads stats() continuously while `work` runs; every snapshot must keep the law. */
async function watching<R>(sink: Sink<unknown>, work: () => Promise<R>): Promise<R> {
  let stop = false;
  let snapshots = 0;
  const watcher = (async () => {
    while (!stop) {
      conserved(sink.stats());
      snapshots++;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  })();
  try {
    return await work();
  } finally {
    stop = true;
    await watcher;
    assert.ok(snapshots > 0);
  }
}

test("worker mode delivers every record once, in order, with the counters conserved on every snapshot", async () => {
  const transport = memoryTransport();
  const sink = createSink<unknown>({ transport, flusher: "worker", batch: { lingerMs: 2, maxRecords: 100 } });
  assert.equal(sink.stats().flusher, "worker");
  await watching(sink, async () => {
    for (let i = 0; i < 5000; i++) {
      sink.emit(i % 2 === 0 ? { i } : new TextEncoder().encode(JSON.stringify({ i })));
      if (i % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(await sink.flush({ timeoutMs: 20_000 }), true);
  });
  const ids = transport.texts().map((t) => (JSON.parse(t) as { i: number }).i);
  assert.deepEqual(ids, Array.from({ length: 5000 }, (_, i) => i));
  const report = await sink.close({ timeoutMs: 5000 });
  assert.equal(report.flushed, true);
  assert.equal(report.delivered.records, 5000);
  assert.deepEqual(report.inDoubt, { records: 0, bytes: 0 });
  conserved(report);
  assert.equal(sink.stats().state, "closed");
});

test("worker mode under drop-newest: a hung transport fills the ring, the rest is refused as buffer_full, then all kept records are delivered", async () => {
  const transport = memoryTransport();
  const sink = createSink<unknown>({ transport, flusher: "worker", capacityBytes: 64 * 1024, batch: { lingerMs: 1 } });
  transport.hang();
  let kept = 0;
  for (let i = 0; i < 5000; i++) if (sink.emit({ i, pad: "x".repeat(40) })) kept++;
  const s = sink.stats();
  conserved(s);
  assert.ok(s.dropped.buffer_full.records > 0, "some refused");
  assert.equal(s.accepted.records, kept);
  assert.ok(s.pending.bytes + s.inFlight.bytes <= 64 * 1024);
  transport.release();
  assert.equal(await sink.flush({ timeoutMs: 20_000 }), true);
  const report = await sink.close();
  assert.equal(report.delivered.records, kept);
  assert.equal(transport.received.length, kept);
  conserved(report);
});

test("worker mode under drop-oldest with shedding: the least important class gives way, counted by class, never an error record", async () => {
  const transport = memoryTransport();
  const sink = createSink<{ level: number; i: number }>({
    transport,
    flusher: "worker",
    capacityBytes: 32 * 1024,
    whenFull: "drop-oldest",
    shedding: { classOf: (r) => r.level },
    batch: { lingerMs: 1 },
  });
  transport.hang();
  for (let i = 0; i < 6000; i++) sink.emit({ level: i % 10 === 0 ? 0 : 3, i });
  const s = sink.stats();
  conserved(s);
  assert.ok(s.dropped.shed.records > 0);
  assert.equal(s.shed[0]!.records, 0, "class 0 never shed");
  transport.release();
  await sink.flush({ timeoutMs: 20_000 });
  const report = await sink.close();
  conserved(report);
  const errors = transport.texts().map((t) => JSON.parse(t) as { level: number }).filter((r) => r.level === 0).length;
  assert.equal(errors, 600, "every error record delivered");
});

test("worker mode under drop-oldest with shedding: records the worker took are not looked for; room comes from the least important class pending, never a more important one", async () => {
  const transport = memoryTransport();
  transport.hang();
  // Levels that never refuse on arrival, so only eviction sheds; one batch of five in flight.
  const levels = [{ start: 1, full: 1 }, { start: 1, full: 1 }, { start: 1, full: 1 }, { start: 1, full: 1 }];
  const sink = createSink<Uint8Array>({
    transport,
    flusher: "worker",
    capacityBytes: 1000,
    whenFull: "drop-oldest",
    batch: { lingerMs: 0, maxRecords: 5, maxInFlight: 1 },
    shedding: { classOf: (r) => r[0]!, levels },
  });
  const record = (c: number, id: number) => Uint8Array.of(c, id, ...new Array(100 - 20 - 2).fill(0)); // 100 bytes framed
  // Five class 3 records before the worker starts: its first batch takes them all.
  for (let id = 0; id < 5; id++) assert.ok(sink.emit(record(3, id)));
  await until("the worker holds them in flight", () => sink.stats().inFlight.records === 5);
  // Five more fill the buffer: classes 1,2,1,2,1 (ids 5-9).
  for (let id = 5; id < 10; id++) assert.ok(sink.emit(record(id % 2 === 0 ? 2 : 1, id)));
  // Class 2 records: no class 3 record is pending (all in flight), so the oldest class 2
  // records give way (buffer_full), never class 1.
  for (let id = 10; id < 13; id++) assert.ok(sink.emit(record(2, id)));
  // A class 3 record finds only more important ones pending: refused.
  assert.equal(sink.emit(record(3, 13)), false);
  const s = sink.stats();
  conserved(s);
  assert.deepEqual(s.shed.map((c) => c.records), [0, 0, 0, 0]);
  assert.equal(s.dropped.buffer_full.records, 4);
  transport.release();
  assert.equal(await sink.flush({ timeoutMs: 20_000 }), true);
  const report = await sink.close();
  conserved(report);
  const delivered = transport.received.map((r) => `${r.value[0]}:${r.value[1]}`);
  assert.deepEqual(delivered, ["3:0", "3:1", "3:2", "3:3", "3:4", "1:5", "1:7", "1:9", "2:11", "2:12"]);
});

test("worker mode expires records older than maxAgeMs while the transport is away", async () => {
  const transport = memoryTransport();
  const sink = createSink<unknown>({ transport, flusher: "worker", maxAgeMs: 50, batch: { lingerMs: 1 }, retry: { initialDelayMs: 5, maxDelayMs: 20 } });
  transport.failNext(1_000_000);
  for (let i = 0; i < 100; i++) sink.emit({ i });
  await until("they expire", () => sink.stats().dropped.expired.records === 100);
  conserved(sink.stats());
  transport.failNext(0);
  const report = await sink.close({ timeoutMs: 2000 });
  assert.equal(report.dropped.expired.records, 100);
  assert.equal(report.delivered.records, 0);
  conserved(report);
});

test("worker mode close() with a hung transport drops what is left as shutdown, the sends aborted in doubt, within its deadline", async () => {
  const transport = memoryTransport();
  const sink = createSink<unknown>({ transport, flusher: "worker", batch: { lingerMs: 1 } });
  transport.hang();
  for (let i = 0; i < 200; i++) sink.emit({ i });
  await until("a send is under way", () => transport.sendCalls > 0);
  const report = await sink.close({ timeoutMs: 300 });
  assert.equal(report.flushed, false);
  assert.equal(report.dropped.shutdown.records, 200);
  assert.equal(report.pending.records + report.inFlight.records, 0);
  conserved(report);
  assert.equal(sink.emit({ late: true }), false);
  assert.equal(sink.stats().dropped.closed.records, 1);
});

test("worker mode abort() and asyncDispose close the worker", async () => {
  const transport = memoryTransport();
  const sink = createSink<unknown>({ transport, flusher: "worker" });
  sink.emit({ a: 1 });
  const report = await sink.abort();
  conserved(report);
  assert.equal(report.pending.records + report.inFlight.records, 0);
  // What `await using` calls (the syntax itself needs Node 24 or later).
  const disposed = createSink<unknown>({ transport: memoryTransport(), flusher: "worker" });
  disposed.emit({ b: 2 });
  await disposed[Symbol.asyncDispose]();
  assert.equal(disposed.stats().state, "closed");
});

// Bun applies no heap limit to a worker: a worker out of memory is tested on Node and Deno.
const isBun = (globalThis as { Bun?: unknown }).Bun !== undefined;
for (const how of isBun ? ["throw", "exit", "hang"] as const : ["throw", "exit", "hang", "oom"] as const) {
  test(`a worker that fails (${how}) in the middle of a send is replaced: what it held in flight is counted worker_lost, the rest is delivered once`, async () => {
    const transport = memoryTransport();
    const sink = createSink<unknown>({ transport, flusher: "worker", batch: { lingerMs: 1, maxRecords: 50 } });
    transport.hang();
    for (let i = 0; i < 300; i++) sink.emit({ i });
    await until("a send is under way", () => transport.sendCalls > 0 && sink.stats().inFlight.records > 0);
    const held = sink.stats().inFlight.records;
    transport.crashWorker(how);
    await until("the worker is replaced", () => sink.stats().workerRestarts === 1, 30_000);
    const s = sink.stats();
    conserved(s);
    assert.ok(s.lastError?.startsWith("worker failed"), String(s.lastError));
    if (how === "oom") assert.match(s.lastError!, /memory/i);
    assert.match(sink.metrics(), /^shedsink_worker_restarts_total 1$/m);
    assert.ok(s.dropped.worker_lost.records >= held);
    // The new worker has a fresh transport (not hung): the rest goes through.
    assert.equal(await sink.flush({ timeoutMs: 20_000 }), true);
    const report = await sink.close();
    conserved(report);
    assert.equal(report.delivered.records + report.dropped.worker_lost.records, 300);
    const ids = transport.texts().map((t) => (JSON.parse(t) as { i: number }).i);
    assert.equal(new Set(ids).size, ids.length, "no record delivered twice");
    assert.equal(ids.length, report.delivered.records);
  });
}

test("worker mode: memory transport controls set before the sink was made apply in the worker", async () => {
  const transport = memoryTransport();
  transport.failPermanently(true);
  const sink = createSink<unknown>({ transport, flusher: "worker", batch: { lingerMs: 1 } });
  sink.emit({ i: 0 });
  assert.equal(await sink.flush({ timeoutMs: 10_000 }), true);
  const report = await sink.close();
  assert.equal(report.dropped.rejected.records, 1);
  assert.equal(report.delivered.records, 0);
});

test("worker mode: kafkaTransport without use reports the client the worker uses (platformatic) as the transport's name", async () => {
  // A free port with nothing listening: the worker's transport stays down, the worker lives.
  const port = await freePortRange(1);
  const sink = createSink<unknown>({ transport: kafkaTransport({ brokers: `127.0.0.1:${port}`, topic: "t" }), flusher: "worker" });
  sink.emit({ i: 0 });
  await until("the worker reported its transport", () => sink.stats().transport.name === "platformatic");
  assert.match(sink.metrics(), /^shedsink_transport_state\{transport="platformatic",state="[a-z]+"\} 1$/m);
  assert.equal(sink.stats().workerRestarts, 0);
  const report = await sink.abort();
  assert.equal(report.dropped.shutdown.records, 1);
});

test("worker mode refuses at construction what cannot run in a worker, naming the option", () => {
  assert.throws(
    () => createSink({ transport: confluentTransport({ brokers: "127.0.0.1:39900", topic: "t" }), flusher: "worker" }),
    (e: unknown) => e instanceof InvalidOptionError && e.option === "transport" && /confluent/.test(e.message),
  );
  const custom = { name: "custom", send: () => Promise.resolve(undefined), state: () => "up" as const, close: () => Promise.resolve() };
  assert.throws(() => createSink({ transport: custom, flusher: "worker" }), (e: unknown) => e instanceof InvalidOptionError && e.option === "transport");
  const withFunction = { ...custom, toWorker: () => ({ module: "x", factory: "y", options: { onError: () => {}, partitioner: { pick: () => 0 } } }) };
  assert.throws(() => createSink({ transport: withFunction, flusher: "worker" }), (e: unknown) => e instanceof InvalidOptionError && e.option === "transport.partitioner.pick");
  assert.throws(() => createSink({ transport: memoryTransport(), flusher: "worker", buffer: new SharedArrayBuffer(1024), capacityBytes: 1024 }), (e: unknown) => e instanceof InvalidOptionError && e.option === "buffer");
  assert.throws(() => createSink({ transport: memoryTransport(), flusher: "elsewhere" as "worker" }), (e: unknown) => e instanceof InvalidOptionError && e.option === "flusher");
});

test("worker mode: a memory transport's predicate cannot cross to the worker", async () => {
  const transport = memoryTransport();
  const sink = createSink({ transport, flusher: "worker" });
  assert.throws(() => transport.rejectWhen(() => true), (e: unknown) => e instanceof InvalidOptionError && e.option === "rejectWhen");
  await sink.close();
});

test("without a flusher option, the Kafka transports run in a worker where they can, and every other sink on its thread", async () => {
  const port = await freePortRange(1);
  const brokers = `127.0.0.1:${port}`;
  const modeOf = (options: Parameters<typeof createSink>[0]) => {
    const sink = createSink(options);
    const mode = sink.stats().flusher;
    return { mode, done: sink.abort() };
  };
  const cases: Array<[string, Parameters<typeof createSink>[0], "thread" | "worker"]> = [
    ["kafkaTransport", { transport: kafkaTransport({ brokers, topic: "t" }) }, "worker"],
    ["platformaticTransport", { transport: platformaticTransport({ brokers, topic: "t" }) }, "worker"],
    ["kafkaTransport, flusher: thread", { transport: kafkaTransport({ brokers, topic: "t" }), flusher: "thread" }, "thread"],
    ["kafkaTransport with hooks (onError, logger), called across the thread boundary", { transport: kafkaTransport({ brokers, topic: "t", onError: () => {}, logger: () => {} }) }, "worker"],
    ["kafkaTransport, use: confluent", { transport: kafkaTransport({ brokers, topic: "t", use: "confluent" }) }, "thread"],
    ["kafkaTransport with a scheduler (the host's clock)", { transport: kafkaTransport({ brokers, topic: "t" }), scheduler: systemScheduler }, "worker"],
    ["kafkaTransport with a buffer", { transport: kafkaTransport({ brokers, topic: "t" }), buffer: new ArrayBuffer(1 << 20), capacityBytes: 1 << 20 }, "thread"],
    ["memoryTransport", { transport: memoryTransport() }, "thread"],
    ["a transport of one's own", { transport: { name: "custom", send: () => Promise.resolve(undefined), state: () => "up" as const, close: () => Promise.resolve() } }, "thread"],
  ];
  for (const [what, options, expected] of cases) {
    const { mode, done } = modeOf(options);
    assert.equal(mode, expected, what);
    await done;
  }
});

test("worker mode: stats().workerHeapBytes is the worker's own heap, reported on its beat, and shows a worker that grows; thread mode says 0", async () => {
  const thread = createSink<unknown>({ transport: memoryTransport(), flusher: "thread" });
  assert.equal(thread.stats().workerHeapBytes, 0);
  assert.doesNotMatch(thread.metrics(), /worker_heap/);
  await thread.close();
  const transport = memoryTransport();
  const sink = createSink<unknown>({ transport, flusher: "worker", batch: { lingerMs: 1 } });
  await until("the worker's first beat", () => sink.stats().workerHeapBytes > 0);
  const idle = sink.stats().workerHeapBytes;
  // Tens of MiB, not hundreds: a worker's heap before it holds anything.
  assert.ok(idle < 256 << 20, `an idle worker's heap: ${idle} bytes`);
  assert.match(sink.metrics(), /^shedsink_worker_heap_bytes [1-9][0-9]*$/m);
  // Bun applies no heap limit to a worker: a worker that keeps growing is shown on Node and Deno.
  if (!isBun) {
    // 64 MiB more each turn of the worker's event loop, until its heap limit ends it.
    transport.crashWorker("oom");
    await until("the growing heap shows", () => sink.stats().workerHeapBytes > idle + (100 << 20), 20_000);
    await until("the worker is replaced", () => sink.stats().workerRestarts === 1, 30_000);
  }
  await sink.close();
});

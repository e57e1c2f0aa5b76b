import { test } from "node:test";
import assert from "node:assert/strict";
import { conservationErrors, createSink, memoryTransport, type Transport } from "../../mod.ts";
import { FakeScheduler } from "../support/scheduler.ts";

test("writable never applies backpressure: ready stays resolved and write() resolves while nothing drains", async () => {
  const transport = memoryTransport();
  transport.hang();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, capacityBytes: 4096 });
  const writer = sink.writable.getWriter();
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 5000; i++) writes.push(writer.write(`record ${i}`));
  assert.ok(writer.desiredSize! > 0);
  let readySettled = false;
  void writer.ready.then(() => (readySettled = true));
  await Promise.all(writes);
  assert.ok(readySettled, "writer.ready resolved");
  const stats = sink.stats();
  assert.equal(stats.offered.records, 5000);
  assert.ok(stats.dropped.buffer_full.records > 0, "records were dropped, not queued");
  await scheduler.drive(sink.close({ timeoutMs: 50 }));
});

test("pipeTo() a ReadableStream into the writable delivers every record and leaves the sink open", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler });
  const source = new ReadableStream<string>({
    start(controller) {
      for (let i = 0; i < 100; i++) controller.enqueue(`line ${i}`);
      controller.close();
    },
  });
  await source.pipeTo(sink.writableStream());
  assert.equal(sink.stats().state, "open", "closing a writable does not close the sink");
  assert.equal(sink.emit("after the pipe"), true);
  const report = await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.equal(report.delivered.records, 101);
});

test("writableStream() gives independent writables for concurrent producers", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler });
  const a = sink.writableStream().getWriter();
  const b = sink.writableStream().getWriter();
  await Promise.all([a.write("a"), b.write("b")]);
  await a.close();
  await b.abort(new Error("client went away"));
  assert.equal(sink.stats().state, "open");
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.deepEqual(transport.texts().sort(), ["a", "b"]);
});

test("flush() resolves once everything accepted before it is delivered", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport({ latencyMs: 5 });
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 10_000, maxRecords: 3 } });
  for (let i = 0; i < 10; i++) sink.emit(`r${i}`);
  const started = scheduler.now();
  assert.equal(await scheduler.drive(sink.flush()), true);
  // Four batches, at most four in flight, 5 ms each: well before the linger would end.
  assert.ok(scheduler.now() - started <= 4 * 5, `flush bypasses the long linger (took ${scheduler.now() - started} ms)`);
  assert.equal(transport.received.length, 10);
  assert.equal(sink.stats().pending.records, 0);
  assert.equal(sink.stats().inFlight.records, 0);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("flush({ timeoutMs }) resolves false while the transport hangs, and the records stay buffered", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport();
  transport.hang();
  const sink = createSink({ transport, scheduler });
  sink.emit("a");
  let result: boolean | null = null;
  void sink.flush({ timeoutMs: 30 }).then((r) => (result = r));
  await scheduler.advance(29);
  assert.equal(result, null, "still waiting before its timeout");
  await scheduler.advance(1);
  assert.equal(result, false, "false at its timeout");
  assert.equal(sink.stats().pending.records + sink.stats().inFlight.records, 1);
  transport.release();
  assert.equal(await scheduler.drive(sink.flush({ timeoutMs: 1000 })), true);
  assert.equal(sink.stats().delivered.records, 1);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("close() flushes, closes the transport and reports delivered, drops and duration", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport({ latencyMs: 2 });
  const sink = createSink({ transport, scheduler });
  for (let i = 0; i < 50; i++) sink.emit({ i });
  sink.emit({ bad: 1n });
  const started = scheduler.now();
  const report = await scheduler.drive(sink.close({ timeoutMs: 2000 }));
  assert.equal(report.flushed, true);
  assert.deepEqual(report.inDoubt, { records: 0, bytes: 0 });
  assert.equal(report.delivered.records, 50);
  assert.equal(report.dropped.invalid.records, 1);
  assert.equal(report.durationMs, scheduler.now() - started);
  assert.equal(report.durationMs, 2, "one send, of the transport's latency");
  assert.deepEqual(conservationErrors(report), []);
  assert.equal(transport.state(), "closed");
  assert.equal(sink.stats().state, "closed");
});

test("close() called twice returns the same report", async () => {
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport: memoryTransport(), scheduler });
  const first = sink.close();
  const second = sink.close({ timeoutMs: 1 });
  assert.equal(first, second);
  await scheduler.drive(first);
});

test("close() with a hung transport returns by its deadline and counts the rest as shutdown", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport();
  transport.hang();
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 0 } });
  for (let i = 0; i < 100; i++) sink.emit(`r${i}`);
  const started = scheduler.now();
  const report = await scheduler.drive(sink.close({ timeoutMs: 200 }));
  assert.ok(scheduler.now() - started <= 200, `close came back by its deadline (after ${scheduler.now() - started} ms)`);
  assert.equal(report.durationMs, scheduler.now() - started);
  assert.equal(report.dropped.shutdown.records, 100);
  assert.equal(report.flushed, false);
});

test("abort() drops everything not yet delivered as shutdown at once", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 1000 } });
  for (let i = 0; i < 10; i++) sink.emit(`r${i}`);
  const report = await scheduler.drive(sink.abort());
  assert.equal(report.dropped.shutdown.records, 10);
  assert.deepEqual(report.inDoubt, { records: 0, bytes: 0 }, "nothing was sent");
  assert.equal(report.delivered.records, 0);
  assert.equal(transport.received.length, 0);
});

test("await using closes the sink when the scope ends", async () => {
  const transport = memoryTransport();
  let sinkRef: ReturnType<typeof createSink> | null = null;
  {
    const scheduler = new FakeScheduler();
    const sink = createSink({ transport, scheduler });
    sinkRef = sink;
    sink.emit("scoped");
    await scheduler.drive(sink[Symbol.asyncDispose]());
  }
  assert.equal(sinkRef.stats().state, "closed");
  assert.deepEqual(transport.texts(), ["scoped"]);
});

test("close() rejects a bad timeout with an InvalidOptionError naming the argument", async () => {
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport: memoryTransport(), scheduler });
  await assert.rejects(sink.close({ timeoutMs: -1 }), (err: Error & { code?: string; option?: string }) => {
    assert.equal(err.code, "INVALID_ARGUMENT");
    assert.equal(err.option, "close.timeoutMs");
    return true;
  });
  await assert.rejects(sink.flush({ timeoutMs: Number.NaN }), /flush\.timeoutMs/);
  await scheduler.drive(sink.close({ timeoutMs: 10 }));
});

test("stats() reports the transport's state and the last error", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport();
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 0 }, retry: { initialDelayMs: 1, maxDelayMs: 2 } });
  assert.deepEqual(sink.stats().transport, { name: "memory", state: "up" });
  assert.equal(sink.stats().lastError, null);
  transport.failNext(Number.MAX_SAFE_INTEGER);
  sink.emit("x");
  await scheduler.advance(0); // the send, and its failure
  assert.ok(sink.stats().retries >= 1);
  assert.match(sink.stats().lastError ?? "", /simulated outage/);
  transport.failNext(0);
  assert.equal(await scheduler.drive(sink.flush({ timeoutMs: 1000 })), true);
  assert.equal(sink.stats().transport.state, "up");
  assert.equal(sink.stats().lastError, null, "a retriable error clears once a send succeeds after it");
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("stats().lastError: a transport's failure() while it is down; a rejection stays until the next error", async () => {
  const scheduler = new FakeScheduler();
  const inner = memoryTransport();
  let why: { code: string; message: string } | null = { code: "TLS_REQUIRED", message: "TLS_REQUIRED: the broker expects TLS" };
  const transport: Transport = { name: "wrapped", send: (b, s) => inner.send(b, s), state: () => (why === null ? "up" : "down"), failure: () => why, close: (t) => inner.close(t) };
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 0 } });
  assert.equal(sink.stats().lastError, "TransportError: wrapped: TLS_REQUIRED: the broker expects TLS");
  why = null;
  assert.equal(sink.stats().lastError, null);
  inner.rejectWhen((record) => new TextDecoder().decode(record.value).includes("refused"));
  sink.emit("refused");
  await scheduler.advance(0);
  assert.equal(sink.stats().dropped.rejected.records, 1);
  const rejection = sink.stats().lastError;
  assert.ok(rejection !== null);
  sink.emit("delivered");
  assert.equal(await scheduler.drive(sink.flush({ timeoutMs: 1000 })), true);
  assert.equal(sink.stats().delivered.records, 1);
  assert.equal(sink.stats().lastError, rejection, "a rejection stays visible after later successes");
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

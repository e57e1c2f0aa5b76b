// flush(), close(), abort() and asyncDispose in both flusher modes: their reports, their
// deadlines, calls after close() and calls that overlap.
import assert from "node:assert/strict";
import { InvalidOptionError } from "../../mod.ts";
import { makeSink, onlyDrops, parity, settledYet, stats, until, within } from "../support/parity.ts";

parity("flush() resolves true once everything accepted before it is delivered, without waiting for the linger", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 60_000, maxRecords: 3 } });
  transport.setLatency(2);
  for (let i = 0; i < 10; i++) assert.equal(sink.emit(`r${i}`), true);
  assert.equal(await within(sink.flush(), 3000, "flush() (the linger is a minute)"), true);
  assert.deepEqual(transport.texts(), Array.from({ length: 10 }, (_, i) => `r${i}`));
  const s = stats(sink);
  assert.equal(s.delivered.records, 10);
  assert.equal(s.pending.records + s.inFlight.records, 0);
  assert.ok(s.sends >= 4, `at most three records a batch (${s.sends} sends)`);
  await sink.close({ timeoutMs: 1000 });
});

parity("flush() with nothing accepted resolves true", async (mode) => {
  const { sink } = makeSink(mode);
  assert.equal(await within(sink.flush(), 3000, "flush()"), true);
  assert.equal(await within(sink.flush({ timeoutMs: 0 }), 3000, "flush({ timeoutMs: 0 })"), true);
  await sink.close({ timeoutMs: 1000 });
});

parity("flush({ timeoutMs: 0 }) with nothing unsettled resolves true: right after createSink, and every time after", async (mode) => {
  const { sink } = makeSink(mode);
  assert.equal(await within(sink.flush({ timeoutMs: 0 }), 2000, "flush({ timeoutMs: 0 }) of a new sink"), true);
  sink.emit("x");
  assert.equal(await within(sink.flush(), 3000, "flush()"), true);
  const results: boolean[] = [];
  for (let i = 0; i < 20; i++) results.push(await within(sink.flush({ timeoutMs: 0 }), 2000, "flush({ timeoutMs: 0 })"));
  assert.deepEqual(results, new Array(20).fill(true));
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("flush({ timeoutMs }) resolves false while the transport hangs, the records stay buffered, and a later flush delivers them", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  sink.emit("a");
  assert.equal(await within(sink.flush({ timeoutMs: 50 }), 3000, "flush({ timeoutMs: 50 })"), false);
  const s = stats(sink);
  assert.equal(s.pending.records + s.inFlight.records, 1, "still held");
  onlyDrops(s, {});
  transport.release();
  assert.equal(await within(sink.flush({ timeoutMs: 3000 }), 3500, "flush() after release"), true);
  assert.equal(stats(sink).delivered.records, 1);
  assert.deepEqual(transport.texts(), ["a"]);
  await sink.close({ timeoutMs: 1000 });
});

parity("flush() waits through retriable failures and resolves true once the records are delivered", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 }, retry: { initialDelayMs: 1, maxDelayMs: 5 } });
  transport.failNext(3);
  for (let i = 0; i < 5; i++) sink.emit(`r${i}`);
  assert.equal(await within(sink.flush(), 3000, "flush()"), true);
  const s = stats(sink);
  assert.equal(s.delivered.records, 5);
  assert.ok(s.retries >= 3, `retried (${s.retries})`);
  await sink.close({ timeoutMs: 1000 });
});

parity("close() flushes, closes the transport and reports delivered, drops, flushed and no records in doubt", async (mode) => {
  const { sink, transport } = makeSink<unknown>(mode);
  transport.setLatency(2);
  for (let i = 0; i < 50; i++) sink.emit({ i });
  sink.emit({ bad: 1n });
  const report = await within(sink.close({ timeoutMs: 2500 }), 3500, "close()");
  assert.equal(report.flushed, true);
  assert.deepEqual(report.inDoubt, { records: 0, bytes: 0 });
  assert.equal(report.delivered.records, 50);
  onlyDrops(report, { invalid: 1 });
  assert.equal(report.pending.records + report.inFlight.records, 0);
  assert.ok(report.durationMs >= 0 && report.durationMs < 3000, `durationMs ${report.durationMs}`);
  assert.deepEqual(transport.texts().map((t) => (JSON.parse(t) as { i: number }).i), Array.from({ length: 50 }, (_, i) => i));
  const s = stats(sink);
  assert.equal(s.state, "closed");
  assert.equal(s.transport.state, "closed", "stats() says the transport is closed");
  assert.equal(s.delivered.records, report.delivered.records);
});

parity("close(): the transport object the application holds says closed", async (mode) => {
  const { sink, transport } = makeSink(mode);
  sink.emit("x");
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.equal(transport.state(), "closed");
});

parity("close() with a hung transport returns by its deadline, drops the rest as shutdown, nothing in doubt", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  for (let i = 0; i < 100; i++) sink.emit(`r${i}`);
  await until(() => transport.sendCalls > 0, "a send is under way");
  const started = Date.now();
  // Long enough a deadline that the aborted send has time to answer (a tenth of it) even on a
  // busy machine: with no grace left at all, what a send holds is counted in doubt.
  const report = await within(sink.close({ timeoutMs: 1000 }), 3000, "close({ timeoutMs: 1000 })");
  // A generous bound: the machine may be busy; a close that ignored its deadline would wait for ever.
  assert.ok(Date.now() - started < 1000 + 1500, `close came back after ${Date.now() - started} ms`);
  assert.ok(report.durationMs <= Date.now() - started, "durationMs is the close's own duration");
  assert.equal(report.flushed, false);
  onlyDrops(report, { shutdown: 100 });
  assert.deepEqual(report.inDoubt, { records: 0, bytes: 0 }, "the hung memory transport received nothing");
  assert.equal(report.pending.records + report.inFlight.records, 0);
  assert.equal(transport.received.length, 0);
});

parity("close(): records a send still holds at the deadline are dropped as shutdown and counted in doubt; those never sent are not", async (mode) => {
  // Sends take a second and do not heed their abort signal: at a 100 ms deadline, two full
  // batches of three are in flight, four records wait behind them (maxInFlight 2).
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 60_000, maxRecords: 3, maxInFlight: 2 } });
  transport.setLatency(1000);
  for (let i = 0; i < 10; i++) sink.emit(`r${i}`);
  await until(() => stats(sink).inFlight.records === 6, "two batches of three are in flight");
  const report = await within(sink.close({ timeoutMs: 100 }), 3000, "close({ timeoutMs: 100 })");
  assert.equal(report.flushed, false);
  onlyDrops(report, { shutdown: 10 });
  assert.deepEqual(report.inDoubt, { records: 6, bytes: 6 * (20 + 2) });
  assert.equal(report.delivered.records, 0);
});

parity("abort() drops everything not yet delivered as shutdown at once, nothing sent, nothing in doubt", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 60_000 } });
  for (let i = 0; i < 10; i++) sink.emit(`r${i}`);
  const report = await within(sink.abort(), 3000, "abort()");
  onlyDrops(report, { shutdown: 10 });
  assert.equal(report.flushed, false);
  assert.deepEqual(report.inDoubt, { records: 0, bytes: 0 }, "nothing was sent");
  assert.equal(report.delivered.records, 0);
  assert.equal(transport.received.length, 0);
  assert.equal(stats(sink).state, "closed");
});

parity("abort() with nothing held reports flushed", async (mode) => {
  const { sink } = makeSink(mode);
  const report = await within(sink.abort(), 3000, "abort()");
  assert.equal(report.flushed, true);
  onlyDrops(report, {});
});

parity("asyncDispose closes the sink with the default timeout, delivering what it holds", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 60_000 } });
  sink.emit("scoped");
  const disposed = await within(sink[Symbol.asyncDispose](), 3000, "[Symbol.asyncDispose]()");
  assert.equal(disposed, undefined);
  assert.equal(stats(sink).state, "closed");
  assert.deepEqual(transport.texts(), ["scoped"]);
});

parity("close() and flush() reject a bad timeout with an InvalidOptionError naming the argument, and the sink stays open", async (mode) => {
  const { sink } = makeSink(mode);
  await assert.rejects(sink.close({ timeoutMs: -1 }), (e: unknown) => e instanceof InvalidOptionError && e.code === "INVALID_ARGUMENT" && e.option === "close.timeoutMs");
  await assert.rejects(sink.flush({ timeoutMs: Number.NaN }), (e: unknown) => e instanceof InvalidOptionError && e.option === "flush.timeoutMs");
  assert.equal(stats(sink).state, "open");
  assert.equal(sink.emit("still open"), true);
  const report = await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.equal(report.delivered.records, 1);
});

// ------------------------------------------------------------- calls after close()

parity("flush() after close() resolves true at once (nothing is left to settle)", async (mode) => {
  const { sink } = makeSink(mode);
  sink.emit("x");
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.equal(await within(sink.flush(), 2000, "flush() after close()"), true);
});

parity("flush({ timeoutMs }) after close() resolves true, not false at its timeout", async (mode) => {
  const { sink } = makeSink(mode);
  sink.emit("x");
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.equal(await within(sink.flush({ timeoutMs: 100 }), 2000, "flush({ timeoutMs: 100 }) after close()"), true);
});

parity("flush() after a close() that dropped records as shutdown resolves true", async (mode) => {
  const { sink, transport } = makeSink(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  sink.emit("x");
  const report = await within(sink.close({ timeoutMs: 50 }), 3000, "close()");
  assert.equal(report.dropped.shutdown.records, 1);
  assert.equal(await within(sink.flush(), 2000, "flush() after close()"), true);
});

parity("flush() after abort() resolves true", async (mode) => {
  const { sink, transport } = makeSink(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  sink.emit("x");
  const report = await within(sink.abort(), 3000, "abort()");
  assert.equal(report.dropped.shutdown.records, 1);
  assert.equal(await within(sink.flush(), 2000, "flush() after abort()"), true);
});

parity("emit() and writable.write() after close() are dropped as closed, without throwing", async (mode) => {
  const { sink, transport } = makeSink<string>(mode);
  const writer = sink.writable.getWriter();
  sink.emit("before");
  const report = await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.equal(sink.emit("after"), false);
  await within(writer.write("after, through the stream"), 1000, "writer.write() after close()");
  await within(sink.writableStream().getWriter().write("after, through a new stream"), 1000, "a new writable's write() after close()");
  const s = stats(sink);
  onlyDrops(s, { closed: 3 });
  assert.equal(s.offered.records, 4);
  assert.equal(s.refused.records, 3);
  assert.equal(s.state, "closed");
  assert.equal(report.dropped.closed.records, 0, "the report is the state at close");
  assert.deepEqual(transport.texts(), ["before"]);
});

parity("close() again, before or after the first settles, returns the same promise and the same report", async (mode) => {
  const { sink } = makeSink(mode);
  sink.emit("x");
  const first = sink.close({ timeoutMs: 1000 });
  const during = sink.close({ timeoutMs: 1 });
  assert.equal(during, first, "while closing");
  const report = await within(first, 3000, "close()");
  const after = sink.close({ timeoutMs: 5 });
  assert.equal(after, first, "after it settled");
  assert.equal(await after, report);
  assert.equal(report.delivered.records, 1);
});

parity("abort() after close() returns the close's promise", async (mode) => {
  const { sink } = makeSink(mode);
  sink.emit("x");
  const closing = sink.close({ timeoutMs: 1000 });
  const report = await within(closing, 3000, "close()");
  const aborted = sink.abort();
  assert.equal(aborted, closing);
  assert.equal(await within(aborted, 1000, "abort() after close()"), report);
  assert.equal(report.dropped.shutdown.records, 0, "nothing was dropped by the late abort");
});

parity("asyncDispose after close() resolves, and the sink stays closed with the close's counts", async (mode) => {
  const { sink } = makeSink(mode);
  sink.emit("x");
  const report = await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  await within(sink[Symbol.asyncDispose](), 1000, "[Symbol.asyncDispose]() after close()");
  const s = stats(sink);
  assert.equal(s.state, "closed");
  assert.equal(s.delivered.records, report.delivered.records);
});

parity("stats() and metrics() after close(): closed, nothing held, the transport closed", async (mode) => {
  const { sink } = makeSink(mode);
  for (let i = 0; i < 5; i++) sink.emit(`r${i}`);
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  const s = stats(sink);
  assert.equal(s.state, "closed");
  assert.equal(s.delivered.records, 5);
  assert.equal(s.pending.records + s.inFlight.records + s.pending.bytes + s.inFlight.bytes, 0);
  assert.equal(s.transport.state, "closed");
  const text = sink.metrics();
  assert.match(text, /^shedsink_records_delivered_total 5$/m);
  assert.match(text, /^shedsink_transport_state\{transport="memory",state="closed"\} 1$/m);
});

// ------------------------------------------------------------- overlapping calls

parity("emit() while close() is under way is dropped as closed; stats() says closing", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  sink.emit("held");
  const closing = sink.close({ timeoutMs: 200 });
  assert.equal(stats(sink).state, "closing");
  assert.equal(sink.emit("late"), false);
  const report = await within(closing, 3000, "close()");
  onlyDrops(report, { shutdown: 1, closed: 1 });
});

parity("flush() during close() resolves true once close() has settled every record (dropped as shutdown counts)", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  for (let i = 0; i < 5; i++) sink.emit(`r${i}`);
  await until(() => transport.sendCalls > 0, "a send is under way");
  const closing = sink.close({ timeoutMs: 150 });
  const flushing = sink.flush();
  const [report, flushed] = await within(Promise.all([closing, flushing]), 3000, "close() and flush()");
  assert.equal(flushed, true);
  onlyDrops(report, { shutdown: 5 });
});

parity("flush() during a close() that delivers everything resolves true", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 60_000 } });
  transport.setLatency(20);
  for (let i = 0; i < 5; i++) sink.emit(`r${i}`);
  const closing = sink.close({ timeoutMs: 2500 });
  const flushing = sink.flush();
  const [report, flushed] = await within(Promise.all([closing, flushing]), 3000, "close() and flush()");
  assert.equal(flushed, true);
  assert.equal(report.flushed, true);
  assert.equal(report.delivered.records, 5);
});

parity("close() during flush(): the flush resolves true by the time close() resolves", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  for (let i = 0; i < 5; i++) sink.emit(`r${i}`);
  const flushing = sink.flush();
  await until(() => transport.sendCalls > 0, "a send is under way");
  assert.equal(await settledYet(flushing), false, "the flush waits while the transport hangs");
  const report = await within(sink.close({ timeoutMs: 150 }), 3000, "close()");
  onlyDrops(report, { shutdown: 5 });
  assert.equal(await settledYet(flushing), true, "settled by the time close() resolved");
  assert.equal(await flushing, true);
});

parity("close() during flush({ timeoutMs }): the flush resolves true (settled by the close), not false at its timeout", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  sink.emit("r");
  const flushing = sink.flush({ timeoutMs: 3000 });
  await until(() => transport.sendCalls > 0, "a send is under way");
  await within(sink.close({ timeoutMs: 100 }), 3000, "close()");
  assert.equal(await within(flushing, 1000, "the flush, after close() resolved"), true);
});

parity("two close() calls with different deadlines: the second returns the first's promise, and the first's deadline holds (short then long)", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  for (let i = 0; i < 3; i++) sink.emit(`r${i}`);
  await until(() => transport.sendCalls > 0, "a send is under way");
  const started = Date.now();
  const first = sink.close({ timeoutMs: 100 });
  const second = sink.close({ timeoutMs: 10_000 });
  assert.equal(second, first);
  const report = await within(second, 3000, "the second close() (the first's deadline is 100 ms)");
  assert.ok(Date.now() - started < 100 + 1500, `came back after ${Date.now() - started} ms`);
  assert.equal(report.flushed, false);
  onlyDrops(report, { shutdown: 3 });
});

parity("two close() calls with different deadlines: the second returns the first's promise, and the first's deadline holds (long then short)", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  for (let i = 0; i < 3; i++) sink.emit(`r${i}`);
  await until(() => transport.sendCalls > 0, "a send is under way");
  const first = sink.close({ timeoutMs: 5000 });
  const second = sink.close({ timeoutMs: 0 });
  assert.equal(second, first);
  // Released within the first's deadline: everything is delivered (the second's zero did not cut it short).
  await until(() => stats(sink).state === "closing", "closing");
  transport.release();
  const report = await within(first, 3500, "close()");
  assert.equal(report.flushed, true);
  assert.equal(report.delivered.records, 3);
  onlyDrops(report, {});
});

parity("abort() during close() returns the close's promise", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  for (let i = 0; i < 3; i++) sink.emit(`r${i}`);
  await until(() => transport.sendCalls > 0, "a send is under way");
  const closing = sink.close({ timeoutMs: 200 });
  const aborting = sink.abort();
  assert.equal(aborting, closing);
  const report = await within(aborting, 3000, "abort() during close()");
  onlyDrops(report, { shutdown: 3 });
  assert.equal(report.pending.records + report.inFlight.records, 0);
});

parity("asyncDispose during close() resolves once the close has", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  sink.emit("r");
  const closing = sink.close({ timeoutMs: 150 });
  const disposing = sink[Symbol.asyncDispose]();
  await within(disposing, 3000, "[Symbol.asyncDispose]() during close()");
  assert.equal(await settledYet(closing), true);
  assert.equal(stats(sink).state, "closed");
});

parity("abort() during flush(): the flush resolves true once the abort has settled every record", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  for (let i = 0; i < 5; i++) sink.emit(`r${i}`);
  const flushing = sink.flush();
  await until(() => transport.sendCalls > 0, "a send is under way");
  const report = await within(sink.abort(), 3000, "abort()");
  onlyDrops(report, { shutdown: 5 });
  assert.equal(await within(flushing, 1000, "the flush, after abort() resolved"), true);
});

parity("close() right after createSink delivers what was emitted (the flusher may not have started yet)", async (mode) => {
  const { sink, transport } = makeSink<string>(mode);
  for (let i = 0; i < 3; i++) sink.emit(`r${i}`);
  const report = await within(sink.close({ timeoutMs: 2000 }), 3000, "close()");
  assert.equal(report.flushed, true);
  assert.equal(report.delivered.records, 3);
  assert.deepEqual(transport.texts(), ["r0", "r1", "r2"]);
});

parity("close() while every send fails retriably drops the records as shutdown by the deadline", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 }, retry: { initialDelayMs: 1, maxDelayMs: 5 } });
  transport.failNext(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < 20; i++) sink.emit(`r${i}`);
  await until(() => transport.sendCalls >= 2, "a send failed and was sent again");
  const report = await within(sink.close({ timeoutMs: 100 }), 3000, "close()");
  assert.equal(report.flushed, false);
  onlyDrops(report, { shutdown: 20 });
  assert.equal(report.delivered.records, 0);
  assert.ok(report.inDoubt.records <= 20);
});

parity("flush({ timeoutMs: 0 }) with records pending resolves false and keeps them", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  sink.emit("r");
  assert.equal(await within(sink.flush({ timeoutMs: 0 }), 2000, "flush({ timeoutMs: 0 })"), false);
  const one = stats(sink);
  assert.equal(one.pending.records + one.inFlight.records, 1);
  transport.release();
  const report = await within(sink.close({ timeoutMs: 2000 }), 3000, "close()");
  assert.equal(report.delivered.records, 1);
});

parity("two flush() calls with different timeouts each keep their own: the short one false, the long one true once released", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.hang();
  sink.emit("r");
  const short = sink.flush({ timeoutMs: 50 });
  const long = sink.flush();
  assert.equal(await within(short, 2000, "flush({ timeoutMs: 50 })"), false);
  assert.equal(await settledYet(long), false, "the flush without a timeout still waits");
  transport.release();
  assert.equal(await within(long, 3000, "flush() after release"), true);
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("several flush() calls at once all resolve true once their records are delivered", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 60_000 } });
  transport.setLatency(5);
  const flushes: Promise<boolean>[] = [];
  for (let i = 0; i < 5; i++) {
    sink.emit(`r${i}`);
    flushes.push(sink.flush());
  }
  assert.deepEqual(await within(Promise.all(flushes), 3000, "five flush() calls"), [true, true, true, true, true]);
  assert.equal(stats(sink).delivered.records, 5);
  await sink.close({ timeoutMs: 1000 });
});

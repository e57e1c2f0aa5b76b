// Every drop reason provoked in both flusher modes, each counted under its reason and only
// there. (`worker_lost` exists in worker mode only: tests/worker covers it.)
import assert from "node:assert/strict";
import { applied, bytesRecord, FRAME, makeSink, onlyDrops, parity, stats, until, within } from "../support/parity.ts";

parity("buffer_full (drop-newest): the records that do not fit are refused, the older ones kept and delivered", async (mode) => {
  const { sink, transport } = makeSink<Uint8Array>(mode, { capacityBytes: 1000, batch: { lingerMs: 0 } });
  transport.hang();
  const kept: boolean[] = [];
  for (let i = 0; i < 15; i++) kept.push(sink.emit(bytesRecord(100, i)));
  assert.deepEqual(kept, [...Array(10).fill(true), ...Array(5).fill(false)]);
  const s = stats(sink);
  onlyDrops(s, { buffer_full: 5 });
  assert.equal(s.refused.records, 5, "drop-newest refuses on arrival");
  assert.equal(s.dropped.buffer_full.bytes, 500);
  assert.equal(s.accepted.records, 10);
  transport.release();
  const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.equal(report.delivered.records, 10);
  assert.deepEqual(transport.received.map((r) => r.value[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

parity("buffer_full (drop-newest): a record that fits exactly in what is left is kept, one byte more is refused", async (mode) => {
  const { sink, transport } = makeSink<Uint8Array>(mode, { capacityBytes: 1000, batch: { lingerMs: 0 } });
  transport.hang();
  for (let i = 0; i < 9; i++) assert.ok(sink.emit(bytesRecord(100)));
  assert.equal(sink.emit(bytesRecord(101)), false, "one byte over what is left");
  assert.equal(sink.emit(bytesRecord(100)), true, "exactly what is left");
  onlyDrops(stats(sink), { buffer_full: 1 });
  transport.release();
  const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.equal(report.delivered.records, 10);
});

parity("buffer_full (drop-oldest): the oldest pending records are evicted for the newest; the one in flight stays", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, {
    capacityBytes: 1000,
    whenFull: "drop-oldest",
    batch: { lingerMs: 0, maxRecords: 1, maxInFlight: 1 },
  });
  transport.hang();
  const pad = "x".repeat(100 - FRAME - 2);
  sink.emit(`00${pad}`);
  await until(() => stats(sink).inFlight.records === 1, "the first record is in flight");
  for (let id = 1; id < 15; id++) assert.equal(sink.emit(String(id).padStart(2, "0") + pad), true, `record ${id} kept`);
  const s = stats(sink);
  onlyDrops(s, { buffer_full: 5 });
  assert.equal(s.refused.records, 0, "drop-oldest evicts accepted records instead of refusing");
  assert.equal(s.lost.records, 5);
  transport.release();
  await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.deepEqual(transport.texts().map((t) => Number(t.slice(0, 2))), [0, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
});

parity("buffer_full (drop-oldest): a record larger than everything evictable is refused", async (mode) => {
  const { sink, transport } = makeSink<Uint8Array>(mode, {
    capacityBytes: 1000,
    whenFull: "drop-oldest",
    batch: { lingerMs: 0, maxRecords: 1, maxInFlight: 1 },
  });
  transport.hang();
  sink.emit(bytesRecord(600));
  await until(() => stats(sink).inFlight.records === 1, "the first record is in flight");
  assert.equal(sink.emit(bytesRecord(500)), false, "600 in flight + 500 > 1000, nothing pending to evict");
  onlyDrops(stats(sink), { buffer_full: 1 });
  transport.release();
  const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.equal(report.delivered.records, 1);
});

parity("oversize: a record larger than maxRecordBytes is dropped, one that fits exactly is kept", async (mode) => {
  const { sink, transport } = makeSink<Uint8Array | string>(mode, { maxRecordBytes: 200, capacityBytes: 4096 });
  assert.equal(sink.emit(bytesRecord(200)), true, "exactly maxRecordBytes fits");
  assert.equal(sink.emit(bytesRecord(201)), false, "one byte over is oversize");
  assert.equal(sink.emit("é".repeat(100)), false, "a string whose UTF-8 is over the limit is oversize");
  assert.equal(sink.emit("a".repeat(1000)), false, "a string obviously over the limit is oversize");
  const s = stats(sink);
  onlyDrops(s, { oversize: 3 });
  assert.ok(s.dropped.oversize.bytes >= 201 + 220 + 1020, `oversize bytes ${s.dropped.oversize.bytes}`);
  const report = await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.equal(report.delivered.records, 1);
  assert.equal(transport.received.length, 1);
});

parity("invalid: values that cannot be encoded are dropped as invalid, emit never throws", async (mode) => {
  const { sink, transport } = makeSink<unknown>(mode);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const bad: unknown[] = [{ n: 10n }, cyclic, { toJSON() { throw new Error("nope"); } }, undefined, () => 1, Symbol("s")];
  for (const value of bad) assert.equal(sink.emit(value), false);
  onlyDrops(stats(sink), { invalid: bad.length });
  const report = await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  onlyDrops(report, { invalid: bad.length });
  assert.equal(transport.received.length, 0);
});

parity("closed: emit() and writable.write() after close are dropped as closed and do not throw", async (mode) => {
  const { sink, transport } = makeSink<string>(mode);
  const writer = sink.writable.getWriter();
  sink.emit("before");
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.equal(sink.emit("after"), false);
  await writer.write("after, through the stream");
  const s = stats(sink);
  onlyDrops(s, { closed: 2 });
  assert.equal(s.dropped.closed.bytes, 0, "a record refused as closed is not encoded");
  assert.deepEqual(transport.texts(), ["before"]);
});

parity("expired: pending records older than maxAgeMs are dropped as expired once the flusher runs again", async (mode) => {
  // maxAgeMs long enough that r0 is surely sent before it ages, even on a busy machine.
  const { sink, transport } = makeSink<string>(mode, { maxAgeMs: 200, batch: { lingerMs: 0, maxRecords: 1, maxInFlight: 1 } });
  transport.hang();
  // The flusher running first (a worker takes some tens of milliseconds to start): the
  // records must not age out before r0 is sent.
  await applied(sink);
  const emitted = Date.now();
  for (let i = 0; i < 5; i++) sink.emit(`r${i}`);
  await until(() => stats(sink).inFlight.records === 1, "r0 is in flight");
  // Not a timing assertion: the records must be older than maxAgeMs before the send returns.
  await until(() => Date.now() - emitted > 250, "the pending records are older than maxAgeMs");
  transport.release();
  assert.equal(await within(sink.flush({ timeoutMs: 2500 }), 3000, "flush()"), true);
  const s = stats(sink);
  // r0 was in flight and is delivered once released; r1..r4 were pending and aged out.
  assert.equal(s.delivered.records, 1);
  onlyDrops(s, { expired: 4 });
  assert.deepEqual(transport.texts(), ["r0"]);
  await sink.close({ timeoutMs: 1000 });
});

parity("expired: records held for a retry expire too", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { maxAgeMs: 200, batch: { lingerMs: 0 }, retry: { initialDelayMs: 5, maxDelayMs: 20 } });
  transport.failNext(1_000_000);
  await applied(sink); // the flusher runs: they must be sent before they expire
  for (let i = 0; i < 100; i++) sink.emit(`r${i}`);
  await until(() => stats(sink).dropped.expired.records === 100, "all 100 expire");
  const s = stats(sink);
  onlyDrops(s, { expired: 100 });
  assert.ok(s.retries > 0, "they were retried before they expired");
  assert.match(s.lastError ?? "", /simulated outage/);
  transport.failNext(0);
  const report = await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.equal(report.delivered.records, 0);
  onlyDrops(report, { expired: 100 });
});

parity("rejected: a permanent batch failure drops the whole batch as rejected, without retrying, and says why", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.failPermanently(true);
  sink.emit("a");
  sink.emit("b");
  assert.equal(await within(sink.flush({ timeoutMs: 2500 }), 3000, "flush()"), true);
  const s = stats(sink);
  onlyDrops(s, { rejected: 2 });
  assert.equal(s.retries, 0);
  assert.match(s.lastError ?? "", /simulated permanent failure/);
  transport.failPermanently(false);
  await applied(sink);
  sink.emit("c");
  assert.equal(await within(sink.flush({ timeoutMs: 2500 }), 3000, "flush()"), true);
  assert.deepEqual(transport.texts(), ["c"]);
  assert.match(stats(sink).lastError ?? "", /simulated permanent failure/, "a rejection stays until the next error");
  await sink.close({ timeoutMs: 1000 });
});

parity("rejected: a transport that fails permanently before the sink is made rejects the first records", async (mode) => {
  const { memoryTransport } = await import("../../mod.ts");
  const transport = memoryTransport();
  transport.failPermanently(true);
  const { sink } = makeSink<string>(mode, { transport, batch: { lingerMs: 0 } });
  sink.emit("a");
  assert.equal(await within(sink.flush({ timeoutMs: 2500 }), 3000, "flush()"), true);
  const report = await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  onlyDrops(report, { rejected: 1 });
  assert.equal(report.delivered.records, 0);
});

parity("shutdown: close drops what it could not deliver by its deadline as shutdown, pending and in flight alike", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0, maxRecords: 2, maxInFlight: 1 } });
  transport.hang();
  for (let i = 0; i < 6; i++) sink.emit(`r${i}`);
  await until(() => stats(sink).inFlight.records === 2, "one batch of two is in flight");
  const report = await within(sink.close({ timeoutMs: 100 }), 3000, "close()");
  assert.equal(report.flushed, false);
  onlyDrops(report, { shutdown: 6 });
  // Only the two handed to the transport can be in doubt: none when the hung send answered its
  // abort within the grace (as it does unless a busy machine left the close no grace at all).
  assert.ok(report.inDoubt.records === 0 || report.inDoubt.records === 2, `in doubt ${report.inDoubt.records}`);
  assert.equal(report.inDoubt.bytes, report.inDoubt.records * (20 + 2));
  onlyDrops(stats(sink), { shutdown: 6 });
  assert.equal(transport.received.length, 0);
});

parity("shed: a record of a class past its start level is refused as shed, counted under its class", async (mode) => {
  // Class 1 gives way from half full, all of it from then on; class 0 only when full.
  const { sink, transport } = makeSink<Uint8Array>(mode, {
    capacityBytes: 1000,
    batch: { lingerMs: 0 },
    shedding: { classOf: (r) => r[0]!, levels: [{ start: 1, full: 1 }, { start: 0.5, full: 0.5 }] },
  });
  transport.hang();
  for (let i = 0; i < 5; i++) assert.ok(sink.emit(bytesRecord(100, 1)), "below half full: kept");
  assert.equal(sink.emit(bytesRecord(100, 1)), false, "at half full: shed");
  assert.ok(sink.emit(bytesRecord(100, 0)), "class 0 still goes in");
  const s = stats(sink);
  onlyDrops(s, { shed: 1 });
  assert.deepEqual(s.shed, [{ records: 0, bytes: 0 }, { records: 1, bytes: 100 }]);
  transport.release();
  const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.equal(report.delivered.records, 6);
  onlyDrops(report, { shed: 1 });
});

parity("every drop reason of one sink at once: each counted under its reason, the law kept in records and bytes", async (mode) => {
  const { sink, transport } = makeSink<unknown>(mode, {
    capacityBytes: 1000,
    maxRecordBytes: 300,
    batch: { lingerMs: 0, maxRecords: 1, maxInFlight: 1 },
    shedding: { classOf: (r) => (r instanceof Uint8Array ? r[0]! : 0), levels: [{ start: 1, full: 1 }, { start: 0.5, full: 0.5 }] },
  });
  transport.hang();
  sink.emit(bytesRecord(100, 0)); // in flight, then shutdown
  await until(() => stats(sink).inFlight.records === 1, "the first record is in flight");
  for (let i = 0; i < 4; i++) sink.emit(bytesRecord(100, 1)); // pending, then shutdown
  assert.equal(sink.emit(bytesRecord(100, 1)), false, "shed");
  assert.equal(sink.emit(bytesRecord(301, 0)), false, "oversize");
  assert.equal(sink.emit({ n: 1n }), false, "invalid");
  for (let i = 0; i < 5; i++) sink.emit(bytesRecord(100, 0)); // fill to 1000
  assert.equal(sink.emit(bytesRecord(100, 0)), false, "buffer_full");
  const report = await within(sink.close({ timeoutMs: 50 }), 3000, "close()");
  assert.equal(sink.emit("late"), false, "closed");
  onlyDrops(report, { shed: 1, oversize: 1, invalid: 1, buffer_full: 1, shutdown: 10 });
  onlyDrops(stats(sink), { shed: 1, oversize: 1, invalid: 1, buffer_full: 1, shutdown: 10, closed: 1 });
  assert.equal(report.offered.records, 14);
});

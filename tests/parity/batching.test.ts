// Batching and encoding options in both flusher modes: full batches go without waiting
// for the linger, batches keep to maxRecords, maxBytes and maxInFlight, a schema as
// `encode` drops what does not validate, and sinks side by side keep apart.
import assert from "node:assert/strict";
import * as v from "valibot";
import { applied, bytesRecord, makeSink, onlyDrops, parity, stats, until, within } from "../support/parity.ts";

parity("full batches are sent without waiting for the linger, each of at most maxRecords", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 60_000, maxRecords: 10 } });
  for (let i = 0; i < 100; i++) sink.emit(`r${i}`);
  await until(() => stats(sink).delivered.records === 100, "the ten full batches are delivered (the linger is a minute)");
  await applied(sink);
  assert.equal(stats(sink).sends, 10, "ten batches of ten");
  assert.equal(transport.sendCalls, 10);
  assert.deepEqual(transport.texts(), Array.from({ length: 100 }, (_, i) => `r${i}`));
  // A partial batch waits for the linger, or for a flush.
  sink.emit("partial");
  assert.equal(await within(sink.flush(), 3000, "flush()"), true);
  assert.equal(stats(sink).sends, 11);
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("batches keep to maxBytes (framed): records of 100 bytes go ten to a batch of 1000 bytes", async (mode) => {
  const { sink, transport } = makeSink<Uint8Array>(mode, { batch: { lingerMs: 60_000, maxBytes: 1000, maxRecords: 1000 } });
  for (let i = 0; i < 50; i++) sink.emit(bytesRecord(100, i));
  await until(() => stats(sink).delivered.records === 50, "five full batches are delivered");
  await applied(sink);
  assert.equal(stats(sink).sends, 5);
  assert.deepEqual(transport.received.map((r) => r.value[0]), Array.from({ length: 50 }, (_, i) => i));
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("no more than maxInFlight batches are in flight at once", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0, maxRecords: 5, maxInFlight: 2 } });
  transport.hang();
  for (let i = 0; i < 50; i++) sink.emit(`r${i}`);
  await until(() => stats(sink).inFlight.records === 10 && transport.sendCalls === 2, "two batches of five are in flight");
  const s = stats(sink);
  assert.equal(s.inFlight.records, 10);
  assert.equal(s.pending.records, 40, "the rest waits");
  transport.release();
  assert.equal(await within(sink.flush(), 3000, "flush()"), true);
  assert.equal(stats(sink).delivered.records, 50);
  assert.deepEqual(transport.texts(), Array.from({ length: 50 }, (_, i) => `r${i}`), "in order");
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("encode as a schema: records that do not validate are dropped as invalid, the rest delivered as JSON", async (mode) => {
  const schema = v.object({ table: v.string(), rows: v.number() });
  const { sink, transport } = makeSink<unknown>(mode, { encode: schema });
  assert.equal(sink.emit({ table: "orders", rows: 1 }), true);
  assert.equal(sink.emit({ table: 1, rows: 1 }), false);
  assert.equal(sink.emit({ rows: 1 }), false);
  assert.equal(sink.emit("text"), true, "strings are written as they are");
  onlyDrops(stats(sink), { invalid: 2 });
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.deepEqual(transport.texts(), ['{"table":"orders","rows":1}', "text"]);
});

parity("encode as a function: its string or bytes are the record", async (mode) => {
  const { sink, transport } = makeSink<{ a: number }>(mode, { encode: (r) => (r.a % 2 === 0 ? `even ${r.a}` : new TextEncoder().encode(`odd ${r.a}`)) });
  for (let a = 0; a < 4; a++) assert.equal(sink.emit({ a }), true);
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.deepEqual(transport.texts(), ["even 0", "odd 1", "even 2", "odd 3"]);
});

parity("two sinks side by side keep their own counters and deliveries", async (mode) => {
  const a = makeSink<string>(mode, { batch: { lingerMs: 1 } });
  const b = makeSink<string>(mode, { batch: { lingerMs: 1 }, capacityBytes: 1000 });
  b.transport.hang();
  for (let i = 0; i < 20; i++) a.sink.emit(`a${i}`);
  for (let i = 0; i < 100; i++) b.sink.emit(`b${i}`.padEnd(80, "."));
  assert.equal(await within(a.sink.flush(), 3000, "a.flush()"), true);
  const sa = stats(a.sink);
  const sb = stats(b.sink);
  assert.equal(sa.delivered.records, 20);
  onlyDrops(sa, {});
  assert.equal(sb.delivered.records, 0);
  assert.ok(sb.dropped.buffer_full.records > 0);
  assert.equal(sb.capacityBytes, 1000);
  const [ra, rb] = await within(Promise.all([a.sink.close({ timeoutMs: 1000 }), b.sink.close({ timeoutMs: 50 })]), 3000, "both close()");
  assert.equal(ra.flushed, true);
  assert.equal(rb.flushed, false);
  assert.equal(a.transport.received.length, 20);
  assert.equal(b.transport.received.length, 0);
});

parity("the writable getter gives the same stream each time; writableStream() a new one", async (mode) => {
  const { sink } = makeSink(mode);
  assert.equal(sink.writable, sink.writable);
  assert.notEqual(sink.writableStream(), sink.writableStream());
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { createSink, memoryTransport } from "../../mod.ts";
import { FakeScheduler } from "../support/scheduler.ts";
import { utf8TargetFor } from "../../src/runtime.ts";
import { createCore } from "../../src/core/core.ts";
import { BUFFER_FULL, conservationErrors, INVALID, OVERSIZE } from "../../src/core/accounting.ts";
import { resolveOptions } from "../../src/options.ts";

const text = (bytes: Uint8Array | null) => (bytes === null ? null : new TextDecoder().decode(bytes));

test("emit(Uint8Array) copies the bytes: changing the source afterwards changes nothing", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler });
  const source = new Uint8Array([1, 2, 3, 4]);
  sink.emit(source);
  source.fill(9);
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.deepEqual([...transport.received[0]!.value], [1, 2, 3, 4]);
});

test("emit(string) writes UTF-8, multi-byte characters and surrogate pairs included", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler });
  const values = ["", "plain", "héllo wörld", "日本語", "🦀 and 🐘", "a".repeat(5000)];
  for (const value of values) assert.equal(sink.emit(value), true);
  const report = await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.deepEqual(transport.texts(), values);
  const utf8 = values.reduce((sum, value) => sum + new TextEncoder().encode(value).length + 20, 0);
  assert.equal(report.delivered.bytes, utf8, "bytes are counted as UTF-8 length plus 20 bytes of framing");
});

test("emit(string) writes the bytes TextEncoder writes, lone surrogates (as U+FFFD) included", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler });
  const values = ["a\uD800b", "\uDC00", "x\uD83D", "\uD83D\uDE00\uDE00", "\u0080\u07FF\u0800\uFFFF", "\u00E9".repeat(300), "\u0000\u007F"];
  for (const value of values) assert.equal(sink.emit(value), true);
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  const encoder = new TextEncoder();
  assert.deepEqual(
    transport.received.map((r) => [...r.value]),
    values.map((value) => [...encoder.encode(value)]),
  );
});

test("strings are encoded in place on Node and Bun, through TextEncoder on Deno, with the same bytes", () => {
  const bytes = new Uint8Array(64);
  const target = utf8TargetFor(bytes);
  const deno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  assert.equal(target === null, deno);
  if (target === null) return;
  const value = "\u00E9\uD800\uD83D\uDE00z";
  const expected = new TextEncoder().encode(value);
  assert.equal(target.utf8Write(value, 5, 40), expected.length);
  assert.deepEqual([...bytes.subarray(5, 5 + expected.length)], [...expected]);
  assert.equal(bytes[4], 0, "nothing before the offset");
  assert.equal(bytes[5 + expected.length], 0, "nothing after the string");
});

test("strings are written correctly when the ring is nearly full and they must wrap", async () => {
  const transport = memoryTransport();
  transport.hang();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, capacityBytes: 1024, whenFull: "drop-oldest", batch: { lingerMs: 10_000, maxRecords: 1000 } });
  const values: string[] = [];
  for (let i = 0; i < 200; i++) {
    const value = `${i}:${"é".repeat(i % 40)}`;
    values.push(value);
    sink.emit(value);
  }
  transport.release();
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  const got = transport.texts();
  assert.ok(got.length > 5);
  assert.deepEqual(got, values.slice(values.length - got.length), "the newest records survive, intact and in order");
});

test("objects are encoded as JSON by default", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler });
  const record = { keyspace: "commerce", table: "orders", rows: 3, tags: ["a", "b"], nested: { ok: true } };
  sink.emit(record);
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.deepEqual(JSON.parse(transport.texts()[0]!), record);
});

test("a custom encode function is used for objects; strings and bytes bypass it", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink<unknown>({ transport, scheduler, encode: (r) => `custom:${(r as { id: number }).id}` });
  sink.emit({ id: 7 });
  sink.emit("raw");
  sink.emit(new TextEncoder().encode("bytes"));
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.deepEqual(transport.texts(), ["custom:7", "raw", "bytes"]);
});

test("a custom encode function that throws or returns a non-byte value drops the record as invalid", async () => {
  const scheduler = new FakeScheduler();
  const sink = createSink<{ id: number }>({
    scheduler,
    transport: memoryTransport(),
    encode: (r) => {
      if (r.id === 1) throw new Error("bad");
      return r.id === 2 ? (42 as unknown as string) : "ok";
    },
  });
  assert.equal(sink.emit({ id: 1 }), false);
  assert.equal(sink.emit({ id: 2 }), false);
  assert.equal(sink.emit({ id: 3 }), true);
  assert.equal(sink.stats().dropped.invalid.records, 2);
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
});

test("a valibot schema validates before JSON: failures are invalid, output transforms apply", async () => {
  const Query = v.object({ table: v.string(), rows: v.pipe(v.number(), v.integer()), ms: v.pipe(v.number(), v.transform((n) => Math.round(n))) });
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink<unknown>({ transport, scheduler, encode: Query });
  assert.equal(sink.emit({ table: "t", rows: 2, ms: 1.6 }), true);
  assert.equal(sink.emit({ table: "t", rows: 2.5, ms: 1 }), false);
  assert.equal(sink.emit({ rows: 1, ms: 1 }), false);
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.deepEqual(transport.texts().map((t) => JSON.parse(t)), [{ table: "t", rows: 2, ms: 2 }]);
  assert.equal(sink.stats().dropped.invalid.records, 2);
});

test("key and headers reach the transport; a throwing key function drops the record as invalid", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink<{ table: string; id: number }>({
    scheduler,
    transport,
    key: (r) => {
      if (r.id < 0) throw new Error("no key");
      return r.id === 2 ? new Uint8Array([0xff]) : r.id === 3 ? null : r.table;
    },
    headers: (r) => ({ "x-id": String(r.id), bin: new Uint8Array([1, 2]) }),
  });
  sink.emit({ table: "users", id: 1 });
  sink.emit({ table: "users", id: 2 });
  sink.emit({ table: "users", id: 3 });
  assert.equal(sink.emit({ table: "users", id: -1 }), false);
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  const [a, b, c] = transport.received;
  assert.equal(text(a!.key), "users");
  assert.deepEqual([...b!.key!], [0xff]);
  assert.equal(c!.key, null);
  assert.deepEqual(a!.headers!.map(([name, value]) => [name, [...value]]), [["x-id", [...new TextEncoder().encode("1")]], ["bin", [1, 2]]]);
  assert.equal(sink.stats().dropped.invalid.records, 1);
});

test("static headers are attached to every record", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, headers: { source: "vtgate-1" } });
  sink.emit("a");
  sink.emit("b");
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  for (const record of transport.received) {
    assert.deepEqual(record.headers!.map(([name, value]) => [name, text(value)]), [["source", "vtgate-1"]]);
  }
});

test("each record carries the timestamp taken when it was emitted", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 0 } });
  const stamps: number[] = [];
  for (let i = 0; i < 5; i++) {
    stamps.push(scheduler.now());
    sink.emit(`t${i}`);
    await scheduler.advance(15);
  }
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.equal(transport.received.length, 5);
  transport.received.forEach((record, i) => {
    const at = stamps[i]!;
    // The hot path reads a clock refreshed every millisecond: a stamp may lag by a tick.
    assert.ok(record.timestamp >= at - 1 && record.timestamp <= at, `${record.timestamp} within [${at} - 1, ${at}]`);
  });
});

test("a SharedArrayBuffer given as buffer holds the ring", async () => {
  const transport = memoryTransport();
  const buffer = new SharedArrayBuffer(4096);
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, capacityBytes: 4096, buffer, batch: { lingerMs: 10_000 } });
  sink.emit("shared");
  assert.ok(new TextDecoder().decode(new Uint8Array(buffer).slice(20, 26)) === "shared", "the frame is in the given buffer");
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.deepEqual(transport.texts(), ["shared"]);
});

test("byte records without key or headers arrive with key null, headers null and their bytes, on every path", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler });
  // The first record takes the general path, the next ones the short path for bytes.
  const values = Array.from({ length: 20 }, (_, i) => new Uint8Array(i).fill(i));
  for (const value of values) assert.equal(sink.emit(value), true);
  assert.ok(await scheduler.drive(sink.flush({ timeoutMs: 2000 })));
  assert.equal(transport.received.length, values.length);
  transport.received.forEach((r, i) => {
    assert.equal(r.key, null, `record ${i}: no key`);
    assert.equal(r.headers, null, `record ${i}: no headers`);
    assert.deepEqual(r.value, values[i]);
  });
  await scheduler.drive(sink.close());
});

/** A core over the memory transport, its writer driven directly (the flusher never runs). */
function coreWriter(options: Parameters<typeof resolveOptions<unknown>>[0]) {
  const settings = resolveOptions<unknown>(options);
  const scheduler = new FakeScheduler();
  const core = createCore<unknown>({ settings, transport: settings.transport, scheduler });
  const { writer, ring, ledger: acct, clock, backlog } = core;
  /** Takes every pending record out (as the flusher would) and parses it. */
  const values = (): unknown[] => {
    const shipment = backlog.take(Math.max(1, ring.count), Infinity);
    const out = (shipment?.batch.records ?? []).map((record) => JSON.parse(text(record.value)!));
    assert.deepEqual(conservationErrors(acct.snapshot()), []);
    return out;
  };
  return { writer, ring, acct, clock, values };
}

test("objects encoded as JSON read back as the objects, across wrap-around and drop-oldest eviction", () => {
  const { writer, acct, clock, values, ring } = coreWriter({ transport: memoryTransport(), capacityBytes: 2048, whenFull: "drop-oldest" });
  const written: unknown[] = [];
  for (let i = 0; i < 400; i++) {
    const record = { i, name: "é".repeat(i % 7) + "x".repeat(i % 50), when: new Date(i), tags: [i % 3 === 0 ? null : `t${i}`] };
    assert.equal(writer.write(record), true);
    written.push(JSON.parse(JSON.stringify(record)));
  }
  const kept = values();
  assert.ok(kept.length > 5 && kept.length < 400);
  assert.deepEqual(kept, written.slice(written.length - kept.length), "the newest records, intact, in order");
  assert.equal(acct.lostRecords[BUFFER_FULL], 400 - kept.length);
  assert.equal(ring.count, 0);
  clock.stop();
});

test("JSON records: oversize, invalid, class instances and a full buffer are counted, the refused record with its framed size", () => {
  const { writer, acct, clock, values } = coreWriter({ transport: memoryTransport(), capacityBytes: 1024, maxRecordBytes: 200 });
  assert.equal(writer.write({ big: "x".repeat(300) }), false);
  assert.equal(acct.refusedRecords[OVERSIZE], 1);
  assert.equal(writer.write({ n: 1n }), false);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(writer.write(cyclic), false);
  assert.equal(writer.write(undefined), false);
  assert.equal(acct.refusedRecords[INVALID], 3);
  class Point {
    x = 1;
  }
  assert.equal(writer.write(new Point()), true, "class instances go through JSON.stringify");
  let accepted = 1;
  while (writer.write({ fill: "y".repeat(100) })) accepted++;
  assert.equal(acct.refusedRecords[BUFFER_FULL], 1);
  const frame = 20 + new TextEncoder().encode(JSON.stringify({ fill: "y".repeat(100) })).length;
  assert.equal(acct.refusedBytes[BUFFER_FULL], frame, "the refused record counts its framed size");
  const kept = values();
  assert.equal(kept.length, accepted);
  assert.deepEqual(kept[0], { x: 1 });
  clock.stop();
});

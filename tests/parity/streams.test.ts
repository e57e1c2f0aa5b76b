// emit(), writable and writableStream() in both flusher modes: they never apply
// backpressure, never throw for load or for a hostile value, and what they keep is
// delivered once, in order.
import assert from "node:assert/strict";
import { ndjson } from "../../mod.ts";
import { makeSink, onlyDrops, parity, stats, within } from "../support/parity.ts";

parity("writable never applies backpressure: desiredSize stays above 0, ready resolved, write() resolves while nothing drains", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { capacityBytes: 4096 });
  transport.hang();
  const writer = sink.writable.getWriter();
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 5000; i++) writes.push(writer.write(`record ${i}`));
  assert.ok(writer.desiredSize! > 0, `desiredSize ${writer.desiredSize}`);
  await within(writer.ready, 1000, "writer.ready");
  await within(Promise.all(writes), 2000, "5000 writes while the transport hangs");
  const s = stats(sink);
  assert.equal(s.offered.records, 5000);
  assert.ok(s.dropped.buffer_full.records > 0, "records were dropped, not queued");
  onlyDrops(s, { buffer_full: s.dropped.buffer_full.records });
  await sink.abort();
});

parity("emit() returns a boolean synchronously and never throws while the transport hangs, far past capacity", async (mode) => {
  const { sink, transport } = makeSink<unknown>(mode, { capacityBytes: 64 * 1024, batch: { lingerMs: 0 } });
  transport.hang();
  let kept = 0;
  let dropped = 0;
  for (let i = 0; i < 20_000; i++) {
    const result = sink.emit({ i, path: "/api/orders", status: 200 });
    assert.equal(typeof result, "boolean");
    if (result) kept++;
    else dropped++;
  }
  assert.ok(kept > 0 && dropped > 0, `kept ${kept}, dropped ${dropped}`);
  const s = stats(sink);
  assert.equal(s.offered.records, 20_000);
  assert.equal(s.accepted.records, kept);
  assert.equal(s.dropped.buffer_full.records, dropped);
  await sink.abort();
});

parity("pipeTo() a ReadableStream into writableStream() delivers every record in order and leaves the sink open", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 1 } });
  const source = new ReadableStream<string>({
    start(controller) {
      for (let i = 0; i < 100; i++) controller.enqueue(`line ${i}`);
      controller.close();
    },
  });
  await within(source.pipeTo(sink.writableStream()), 2000, "pipeTo()");
  assert.equal(stats(sink).state, "open", "closing a writable does not close the sink");
  assert.equal(sink.emit("after the pipe"), true);
  const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.equal(report.delivered.records, 101);
  assert.deepEqual(transport.texts(), [...Array.from({ length: 100 }, (_, i) => `line ${i}`), "after the pipe"]);
});

parity("writableStream() gives independent writables: closing or aborting one leaves the sink and the others open", async (mode) => {
  const { sink, transport } = makeSink<string>(mode);
  const a = sink.writableStream().getWriter();
  const b = sink.writableStream().getWriter();
  await within(Promise.all([a.write("a"), b.write("b")]), 1000, "two writes");
  await a.close();
  await b.abort(new Error("client went away"));
  assert.equal(stats(sink).state, "open");
  await within(sink.writable.getWriter().write("c"), 1000, "a third write");
  await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.deepEqual(transport.texts().sort(), ["a", "b", "c"]);
});

parity("ndjson() piped into sink.writable with preventClose: every line delivered, an invalid line dropped as invalid, the sink open", async (mode) => {
  const { sink, transport } = makeSink<unknown>(mode, { batch: { lingerMs: 1 } });
  const lines = ['{"table":"orders","rows":1}', '{"broken":', '{"table":"users","rows":2}', "3"].join("\n") + "\n";
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const bytes = new TextEncoder().encode(lines);
      for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.subarray(i, i + 7));
      controller.close();
    },
  });
  await within(body.pipeThrough(ndjson()).pipeTo(sink.writable, { preventClose: true }), 2000, "the pipe");
  assert.equal(stats(sink).state, "open");
  assert.equal(await within(sink.flush(), 3000, "flush()"), true);
  assert.deepEqual(transport.texts(), ['{"table":"orders","rows":1}', '{"table":"users","rows":2}', "3"]);
  onlyDrops(stats(sink), { invalid: 1 });
  await sink.close({ timeoutMs: 1000 });
});

parity("hostile values never make emit() or write() throw: each is dropped as invalid (or oversize), the rest delivered", async (mode) => {
  const { sink, transport } = makeSink<unknown>(mode, { maxRecordBytes: 64 * 1024 });
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const deep: unknown[] = [];
  let cur = deep;
  for (let i = 0; i < 100_000; i++) {
    const next: unknown[] = [];
    cur.push(next);
    cur = next;
  }
  const throwingGetter = Object.defineProperty({}, "x", { enumerable: true, get() { throw new Error("getter"); } });
  const invalid: unknown[] = [
    cyclic,
    { big: 10n },
    10n,
    { toJSON() { throw new Error("toJSON throws"); } },
    { toJSON: () => undefined },
    undefined,
    Symbol("s"),
    () => 1,
    throwingGetter,
  ];
  const oversize: unknown[] = ["x".repeat(1 << 20), { s: "y".repeat(1 << 20) }, new Uint8Array(1 << 20)];
  const writer = sink.writable.getWriter();
  for (const value of invalid) {
    assert.doesNotThrow(() => assert.equal(sink.emit(value), false));
    await within(writer.write(value), 1000, "write() of a hostile value");
  }
  for (const value of oversize) {
    assert.doesNotThrow(() => assert.equal(sink.emit(value), false));
    await within(writer.write(value), 1000, "write() of an oversize value");
  }
  // Values that look odd but encode: kept and delivered as JSON (or as they are: strings, bytes).
  const fine: Array<[unknown, string]> = [
    [null, "null"],
    [0, "0"],
    [NaN, "null"],
    ["", ""],
    [{ u: undefined, f: () => 1, s: Symbol("x") }, "{}"],
    [{ toJSON: () => "custom" }, '"custom"'],
    [new Date(0), '"1970-01-01T00:00:00.000Z"'],
    ["\u0000\ud800 lone surrogate", "\u0000\ufffd lone surrogate"],
  ];
  // Nested deeper than JSON.stringify's stack on some engines (invalid), a long text on others (oversize).
  assert.doesNotThrow(() => assert.equal(sink.emit(deep), false));
  await within(writer.write(deep), 1000, "write() of a deeply nested value");
  for (const [value] of fine) assert.equal(sink.emit(value), true, `kept: ${String(value)}`);
  const s = stats(sink);
  const deepInvalid = s.dropped.invalid.records - 2 * invalid.length; // 2 where it is invalid, 0 where oversize
  assert.ok(deepInvalid === 0 || deepInvalid === 2, `invalid ${s.dropped.invalid.records}`);
  onlyDrops(s, { invalid: 2 * invalid.length + deepInvalid, oversize: 2 * oversize.length + 2 - deepInvalid });
  const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.equal(report.delivered.records, fine.length);
  assert.deepEqual(transport.texts(), fine.map(([, text]) => text));
});

parity("proxies whose traps throw (a revoked Proxy, a getPrototypeOf or get trap that throws) never make emit() throw: dropped as invalid", async (mode) => {
  const { sink, transport } = makeSink<unknown>(mode);
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const fail = () => {
    throw new Error("trap");
  };
  const values: unknown[] = [
    revoked.proxy,
    new Proxy({ a: 1 }, { get: fail }),
    new Proxy({ a: 1 }, { ownKeys: fail }),
  ];
  values.forEach((value, i) => assert.doesNotThrow(() => assert.equal(sink.emit(value), false), `value ${i}`));
  const writer = sink.writable.getWriter();
  for (const value of values) await within(writer.write(value), 1000, "write() of a hostile proxy");
  onlyDrops(stats(sink), { invalid: 2 * values.length });
  // A getPrototypeOf trap that throws is never asked: JSON.stringify does not look at
  // the prototype, so the proxy encodes as what its keys give.
  assert.doesNotThrow(() => assert.equal(sink.emit(new Proxy({}, { getPrototypeOf: fail })), true));
  assert.equal(sink.emit({ fine: true }), true);
  await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.deepEqual(transport.texts(), ["{}", '{"fine":true}']);
});

parity("options that throw (key, headers, encode) drop the record as invalid, never throw from emit()", async (mode) => {
  const { sink, transport } = makeSink<{ i: number }>(mode, {
    key: (r) => {
      if (r.i === 1) throw new Error("key");
      return String(r.i);
    },
    headers: (r) => {
      if (r.i === 2) throw new Error("headers");
      return { n: String(r.i) };
    },
    encode: (r) => {
      if (r.i === 3) throw new Error("encode");
      return JSON.stringify(r);
    },
  });
  for (let i = 0; i < 5; i++) assert.doesNotThrow(() => sink.emit({ i }));
  onlyDrops(stats(sink), { invalid: 3 });
  await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  const got = transport.received.map((r) => ({
    key: new TextDecoder().decode(r.key!),
    n: new TextDecoder().decode(r.headers!.find(([name]) => name === "n")![1]),
    value: new TextDecoder().decode(r.value),
  }));
  assert.deepEqual(got, [{ key: "0", n: "0", value: '{"i":0}' }, { key: "4", n: "4", value: '{"i":4}' }]);
});

parity("records are delivered once each, in order, with keys, headers and timestamps, whatever their kind", async (mode) => {
  const { sink, transport } = makeSink<unknown>(mode, {
    key: (r) => (typeof r === "object" && r !== null && "k" in r ? String((r as { k: unknown }).k) : null),
    headers: { source: "parity" },
    batch: { lingerMs: 1, maxRecords: 7 },
  });
  const before = Date.now();
  const expected: string[] = [];
  for (let i = 0; i < 300; i++) {
    if (i % 3 === 0) {
      sink.emit({ k: i, i });
      expected.push(JSON.stringify({ k: i, i }));
    } else if (i % 3 === 1) {
      sink.emit(`text ${i}`);
      expected.push(`text ${i}`);
    } else {
      sink.emit(new TextEncoder().encode(`bytes ${i}`));
      expected.push(`bytes ${i}`);
    }
  }
  const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.equal(report.delivered.records, 300);
  assert.deepEqual(transport.texts(), expected);
  transport.received.forEach((r, i) => {
    assert.equal(r.key === null ? null : new TextDecoder().decode(r.key), i % 3 === 0 ? String(i) : null, `key of ${i}`);
    assert.deepEqual(r.headers?.map(([name, value]) => [name, new TextDecoder().decode(value)]), [["source", "parity"]], `headers of ${i}`);
    assert.ok(r.timestamp >= before - 1 && r.timestamp <= Date.now() + 1, `timestamp of ${i}`);
  });
});

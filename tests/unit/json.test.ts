import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { JsonWriter, NOT_PLAIN } from "../../src/core/json.ts";
import { createCore } from "../../src/core/core.ts";
import { BUFFER_FULL, conservationErrors, INVALID, OVERSIZE } from "../../src/core/accounting.ts";
import { resolveOptions } from "../../src/options.ts";
import { memoryTransport } from "../../mod.ts";
import { directJsonFor } from "../../src/runtime.ts";
import { FakeScheduler } from "../support/scheduler.ts";

const utf8 = new TextEncoder();
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** What JsonWriter writes for `value` into a roomy buffer, or its status code. */
function direct(value: unknown, room = 1 << 16): string | number {
  const out = new Uint8Array(room + 8);
  const end = new JsonWriter().write(value, out, 8, 8 + room);
  return end < 0 ? end : decode(out.subarray(8, end));
}

/** JsonWriter's bytes equal JSON.stringify's text encoded as UTF-8, or it defers to JSON.stringify. */
function assertSameAsStringify(value: unknown): void {
  const out = new Uint8Array(1 << 16);
  const end = new JsonWriter().write(value, out, 0, out.length);
  const expected = JSON.stringify(value);
  if (expected === undefined) {
    assert.equal(end, -2);
    return;
  }
  if (end === NOT_PLAIN) return; // the caller uses JSON.stringify
  assert.ok(end >= 0, `wrote ${end} for ${expected}`);
  assert.deepEqual(out.subarray(0, end), utf8.encode(expected));
}

test("JsonWriter writes exactly the UTF-8 of JSON.stringify for arbitrary JSON values", () => {
  fc.assert(fc.property(fc.jsonValue(), (value) => assertSameAsStringify(value)), { numRuns: 2000 });
});

test("JsonWriter matches JSON.stringify on strings that need escaping, any Unicode, lone surrogates", () => {
  const strings = fc.oneof(fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }), fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)) }));
  fc.assert(
    fc.property(strings, fc.integer({ min: 0, max: 80 }), (s, pad) => {
      // Short strings take the character loop, long ones encodeInto: cover both.
      assertSameAsStringify(s);
      assertSameAsStringify("x".repeat(pad) + s);
      assertSameAsStringify({ [s]: s + "y".repeat(pad) });
    }),
    { numRuns: 2000 },
  );
  for (const s of ["\ud800", "a\udc00b", "\u0000\u001f\u007f", '"\\', "\u2028\u2029", "x".repeat(40) + "\n", "x".repeat(40) + "\ud83e"]) {
    assertSameAsStringify(s);
  }
});

test("JsonWriter matches JSON.stringify on numbers of every kind", () => {
  fc.assert(fc.property(fc.double(), (n) => assertSameAsStringify([n, { n }])), { numRuns: 2000 });
  fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (n) => assertSameAsStringify(n)), { numRuns: 1000 });
  for (const n of [0, -0, 1, -1, 9, 10, 2147483647, -2147483648, 2147483648, 1e21, 1e-7, 3.217, NaN, Infinity, -Infinity]) assertSameAsStringify(n);
  // Integers beyond int32 (timestamps in ms) take a path of their own, up to ±2^53.
  fc.assert(fc.property(fc.maxSafeInteger(), (n) => assertSameAsStringify([n, { n }])), { numRuns: 2000 });
  fc.assert(fc.property(fc.integer({ min: 0, max: 52 }), fc.boolean(), (bits, negative) => {
    const n = (negative ? -1 : 1) * (2 ** bits + (bits > 0 ? 1 : 0));
    assertSameAsStringify(n);
    assertSameAsStringify(n * 1000 + 999);
  }), { numRuns: 500 });
  for (const n of [2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 2 ** 53 + 2, 1e9, 1e9 * 3, 999999999999, 1000000000000, 1767225600123, -2147483649, 4294967296]) {
    assertSameAsStringify(n);
    assert.equal(direct(n), JSON.stringify(n));
  }
});

test("JsonWriter writes own enumerable keys only, as JSON.stringify, even with Object.prototype extended", () => {
  const withHidden = Object.defineProperty({ a: 1, b: 2 }, "hidden", { value: 3, enumerable: false });
  const withSymbol = { a: 1, [Symbol("s")]: 2 };
  const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { z: 1, 2: "two", 1: "one" });
  for (const value of [withHidden, withSymbol, nullProto, { 10: 1, 9: 2, b: 3, a: 4 }]) {
    assert.equal(direct(value), JSON.stringify(value));
  }
  const proto = Object.prototype as Record<string, unknown>;
  proto.inherited = "from the prototype";
  try {
    assert.equal(direct({ a: 1, nested: { b: [1, { c: 2 }] } }), '{"a":1,"nested":{"b":[1,{"c":2}]}}');
  } finally {
    delete proto.inherited;
  }
});

test("JsonWriter matches JSON.stringify when a getter deletes or adds keys of its own object", () => {
  const make = () => {
    const o: Record<string, unknown> = { a: 1 };
    Object.defineProperty(o, "g", {
      enumerable: true,
      get() {
        delete o.later;
        o.added = "new";
        return "got";
      },
    });
    o.later = 2;
    o.last = 3;
    return o;
  };
  assert.equal(direct(make()), JSON.stringify(make()));
});

test("JsonWriter skips what JSON skips and calls toJSON with the property key", () => {
  const keys: string[] = [];
  const stamp = { toJSON: (key: string) => (keys.push(key), `at:${key}`) };
  const value = {
    a: undefined,
    b: () => 1,
    c: Symbol("c"),
    d: [undefined, () => 1, Symbol("d")],
    when: new Date(Date.UTC(2026, 10, 27)),
    bad: new Date(NaN),
    stamp,
    list: [stamp],
    nested: { toJSON: () => ({ inner: stamp, skip: undefined }) },
    gone: { toJSON: () => undefined },
    "": 0,
  };
  assert.equal(direct(value), JSON.stringify(value));
  assert.deepEqual(keys, ["stamp", "0", "inner", "stamp", "0", "inner"], "once per property, with its key, here then in JSON.stringify");
  assert.equal(direct(undefined), -2);
  assert.equal(direct(() => 1), -2);
  assert.equal(direct({ toJSON: () => undefined }), -2);
});

test("JsonWriter defers to JSON.stringify for class instances, boxed values, BigInt and cycles", () => {
  class Point {
    x = 1;
  }
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  for (const value of [new Point(), { p: new Point() }, [Object(1)], { n: 1n }, cyclic, new Map(), new Uint8Array(2)]) {
    assert.equal(direct(value), NOT_PLAIN);
  }
  // The same object twice, not a cycle, stays on the direct path.
  const shared = { a: 1 };
  assert.equal(direct([shared, shared, { shared }]), JSON.stringify([shared, shared, { shared }]));
  // Objects without a prototype are plain data.
  const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: [1] });
  assert.equal(direct(bare), '{"a":[1]}');
});

test("JsonWriter reports no room instead of writing past its limit, and throws what getters throw", () => {
  const value = { fingerprint: "select 1 from t where x = ?".repeat(3), rows: 42, tags: ["a", "b"] };
  const text = JSON.stringify(value);
  const length = utf8.encode(text).length;
  for (let room = 0; room < length; room++) {
    const out = new Uint8Array(length + 16).fill(0xee);
    assert.equal(new JsonWriter().write(value, out, 8, 8 + room), -1, `room ${room}`);
    assert.ok(out.subarray(8 + room).every((b) => b === 0xee), `nothing written past the limit with room ${room}`);
  }
  assert.equal(direct(value, length), text);
  const boom = {
    get x(): number {
      throw new Error("getter");
    },
  };
  assert.throws(() => new JsonWriter().write(boom, new Uint8Array(64), 0, 64), /getter/);
});

/** A core whose writer writes JSON directly, as the sink does on engines where that is faster. */
function directWriter(options: Parameters<typeof resolveOptions<unknown>>[0]) {
  const settings = resolveOptions<unknown>(options);
  const scheduler = new FakeScheduler();
  const core = createCore<unknown>({ settings, transport: settings.transport, scheduler, engine: { directJson: true, utf8For: () => null } });
  const { writer, ring, ledger: acct, clock, backlog } = core;
  /** Takes every pending record out (as the flusher would) and parses it. */
  const values = (): unknown[] => {
    const shipment = backlog.take(Math.max(1, ring.count), Infinity);
    const out = (shipment?.batch.records ?? []).map((record) => JSON.parse(decode(record.value)));
    assert.deepEqual(conservationErrors(acct.snapshot()), []);
    return out;
  };
  return { writer, ring, acct, clock, values };
}

test("records written directly as JSON read back as the objects, across wrap-around and eviction", () => {
  const { writer, acct, clock, values, ring } = directWriter({ transport: memoryTransport(), capacityBytes: 2048, whenFull: "drop-oldest" });
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

test("direct JSON: oversize, invalid, class instances and a full buffer count as the generic path does", () => {
  const { writer, acct, clock, values } = directWriter({ transport: memoryTransport(), capacityBytes: 1024, maxRecordBytes: 200 });
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

test("the direct JSON writer is chosen only on V8 before 12, where it is the cheaper way", () => {
  assert.equal(directJsonFor("v8", "11.3.244.8-node.38"), true); // Node 20
  assert.equal(directJsonFor("v8", "10.2.154.26-node.26"), true);
  assert.equal(directJsonFor("v8", "12.4.254.21-node.57"), false); // Node 22
  assert.equal(directJsonFor("v8", "13.6.233.17-node.53"), false); // Node 24
  assert.equal(directJsonFor("v8", "14.2.1"), false); // Deno
  assert.equal(directJsonFor("jsc", "11.3.244.8"), false); // Bun, whatever it reports
  assert.equal(directJsonFor("v8", undefined), false);
  assert.equal(directJsonFor("v8", "not a version"), false);
});

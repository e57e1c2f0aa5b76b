// One test (or more) per invariant of DESIGN.md, against the memory transport. The same
// invariants are asserted against a real broker in tests/e2e and tests/faults.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { conservationErrors, createSink, DROP_REASONS, memoryTransport } from "../../mod.ts";
import { FakeScheduler } from "../support/scheduler.ts";

test("invariant 1: emit() and writable.write() return while the transport hangs, and never throw for load", async () => {
  const transport = memoryTransport();
  transport.hang();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, capacityBytes: 64 * 1024, batch: { lingerMs: 0 } });
  const writer = sink.writable.getWriter();
  let kept = 0;
  let dropped = 0;
  // Far more than fits: every call must come back with a boolean, synchronously.
  for (let i = 0; i < 50_000; i++) {
    const result = sink.emit({ i, path: "/api/orders", status: 200 });
    assert.equal(typeof result, "boolean");
    if (result) kept++;
    else dropped++;
  }
  for (let i = 0; i < 1000; i++) {
    assert.ok(writer.desiredSize! > 0, "desiredSize stays above 0");
    const write = writer.write({ i });
    await write; // resolves at once although nothing is ever delivered
  }
  await writer.ready;
  assert.ok(kept > 0 && dropped > 0);
  assert.equal(sink.stats().offered.records, 51_000);
  await scheduler.drive(sink.close({ timeoutMs: 50 }));
});

test("invariant 2: bytes held (pending + in flight) never exceed capacityBytes during a long outage", async () => {
  const capacityBytes = 32 * 1024;
  // Strings and byte records (which take a shorter path when there is room), each policy.
  for (const [whenFull, kind] of [["drop-newest", "string"], ["drop-oldest", "string"], ["drop-newest", "bytes"], ["drop-oldest", "bytes"]] as const) {
    const transport = memoryTransport();
    transport.failNext(Number.MAX_SAFE_INTEGER);
    const scheduler = new FakeScheduler();
    const sink = createSink({ transport, scheduler, capacityBytes, whenFull, batch: { lingerMs: 0, maxRecords: 50 }, retry: { initialDelayMs: 1, maxDelayMs: 2 } });
    let offeredBytes = 0;
    let maxHeld = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 200; i++) {
        const length = 20 + ((round * 200 + i) % 180);
        offeredBytes += length;
        sink.emit(kind === "string" ? "r".repeat(length) : new Uint8Array(length));
        const s = sink.stats();
        maxHeld = Math.max(maxHeld, s.pending.bytes + s.inFlight.bytes);
        assert.ok(s.pending.bytes + s.inFlight.bytes <= capacityBytes, `held ${s.pending.bytes + s.inFlight.bytes} > ${capacityBytes}`);
      }
      await scheduler.advance(1);
    }
    assert.ok(offeredBytes > 10 * capacityBytes, "producers wrote many times the capacity");
    assert.ok(maxHeld > capacityBytes * 0.9, `the buffer was actually filled (max held ${maxHeld})`);
    assert.ok(sink.stats().retries > 0, "the flusher kept retrying");
    await scheduler.drive(sink.close({ timeoutMs: 50 }));
  }
});

test("invariant 3: conservation holds at every step under random load, failures and timing", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant("emit" as const), size: fc.integer({ min: 0, max: 600 }), n: fc.integer({ min: 1, max: 30 }) }),
          fc.record({ op: fc.constant("invalid" as const) }),
          fc.record({ op: fc.constant("fail" as const), n: fc.integer({ min: 1, max: 5 }) }),
          fc.record({ op: fc.constant("hang" as const) }),
          fc.record({ op: fc.constant("release" as const) }),
          fc.record({ op: fc.constant("reject" as const), on: fc.boolean() }),
          fc.record({ op: fc.constant("retry" as const), on: fc.boolean() }),
          fc.record({ op: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 8 }) }),
          fc.record({ op: fc.constant("flush" as const) }),
        ),
        { maxLength: 40 },
      ),
      fc.constantFrom("drop-newest" as const, "drop-oldest" as const),
      fc.integer({ min: 0, max: 3 }),
      async (ops, whenFull, linger) => {
        const transport = memoryTransport();
        const scheduler = new FakeScheduler();
        const sink = createSink<unknown>({
          scheduler,
          transport,
          capacityBytes: 4096,
          whenFull,
          maxAgeMs: 30,
          maxRecordBytes: 500,
          batch: { lingerMs: linger, maxRecords: 7, maxBytes: 1500, maxInFlight: 2 },
          retry: { initialDelayMs: 1, maxDelayMs: 4 },
        });
        let emitted = 0;
        const check = () => {
          const s = sink.stats();
          assert.deepEqual(conservationErrors(s), []);
          assert.equal(s.offered.records, emitted, "every emit() is counted as offered");
          assert.ok(s.pending.bytes + s.inFlight.bytes <= 4096, "bytes held stay within capacityBytes");
          for (const gauge of [s.pending, s.inFlight]) assert.ok(gauge.records >= 0 && gauge.bytes >= 0, "gauges never go negative");
        };
        for (const step of ops) {
          switch (step.op) {
            case "emit":
              for (let i = 0; i < step.n; i++, emitted++) sink.emit(new Uint8Array(step.size));
              break;
            case "invalid":
              emitted++;
              sink.emit({ big: 1n });
              break;
            case "fail":
              transport.failNext(step.n);
              break;
            case "hang":
              transport.hang();
              break;
            case "release":
              transport.release();
              break;
            case "reject":
              transport.rejectWhen(step.on ? (r) => r.value.length % 3 === 0 : null);
              break;
            case "retry":
              transport.retryWhen(step.on ? (r) => r.value.length % 4 === 1 : null);
              break;
            case "tick":
              await scheduler.advance(step.ms);
              break;
            case "flush": {
              // flush() resolving true means every record accepted before it is settled.
              const accepted = sink.stats().accepted.records;
              if (await scheduler.drive(sink.flush({ timeoutMs: 20 }))) {
                const s = sink.stats();
                assert.ok(s.delivered.records + s.lost.records >= accepted, `flush() resolved with ${accepted - s.delivered.records - s.lost.records} of its records unsettled`);
              }
              break;
            }
          }
          check();
        }
        transport.release();
        transport.retryWhen(null);
        const report = await scheduler.drive(sink.close({ timeoutMs: 200 }));
        assert.deepEqual(conservationErrors(report), []);
        assert.equal(report.pending.records, 0);
        assert.equal(report.inFlight.records, 0);
        assert.equal(report.pending.bytes, 0);
        assert.equal(report.inFlight.bytes, 0);
        assert.equal(report.delivered.records, transport.received.length);
      },
    ),
    { numRuns: 80 },
  );
});

test("invariant 4: a dropped record is never delivered and a delivered one is counted once", async () => {
  const transport = memoryTransport();
  const id = (value: Uint8Array) => Number(new TextDecoder().decode(value));
  transport.rejectWhen((record) => id(record.value) % 7 === 0);
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, capacityBytes: 2048, batch: { lingerMs: 0, maxRecords: 10, maxInFlight: 1 }, retry: { initialDelayMs: 1, maxDelayMs: 2 } });
  const refused = new Set<number>();
  for (let i = 1; i <= 3000; i++) {
    if (i % 500 === 0) transport.failNext(2);
    if (!sink.emit(String(i))) refused.add(i);
    if (i % 100 === 0) await scheduler.advance(1);
  }
  const report = await scheduler.drive(sink.close({ timeoutMs: 2000 }));
  const delivered = transport.texts().map(Number);
  assert.equal(new Set(delivered).size, delivered.length, "no record delivered twice");
  assert.equal(report.delivered.records, delivered.length, "delivered counted once each");
  for (const i of delivered) {
    assert.ok(!refused.has(i), `refused record ${i} was delivered`);
    assert.notEqual(i % 7, 0, `rejected record ${i} was delivered`);
  }
  assert.ok(refused.size > 0 && report.dropped.rejected.records > 0);
  assert.equal(report.delivered.records + report.lost.records + report.refused.records, 3000);
});

test("invariant 5: an outage whose records fit in the buffer loses nothing", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, capacityBytes: 256 * 1024, batch: { lingerMs: 1 }, retry: { initialDelayMs: 2, maxDelayMs: 10 } });
  transport.failNext(25); // the "outage": the next 25 sends fail retriably
  const sent: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const text = JSON.stringify({ id: i, path: "/q" });
    sent.push(text);
    assert.equal(sink.emit(text), true);
    if (i % 50 === 0) await scheduler.advance(1);
  }
  const report = await scheduler.drive(sink.close({ timeoutMs: 5000 }));
  assert.equal(report.lost.records, 0);
  assert.equal(report.refused.records, 0);
  assert.ok(sink.stats().retries >= 1);
  assert.deepEqual(transport.texts().sort(), sent.sort());
});

test("invariant 6: every drop reason has its own counter in stats() and metrics()", async () => {
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport: memoryTransport(), scheduler });
  const stats = sink.stats();
  const metrics = sink.metrics();
  for (const reason of DROP_REASONS) {
    assert.deepEqual(stats.dropped[reason], { records: 0, bytes: 0 });
    assert.match(metrics, new RegExp(`^shedsink_records_dropped_total\\{reason="${reason}"\\} 0$`, "m"));
  }
  sink.emit({ bad: 1n });
  assert.match(sink.metrics(), /^shedsink_records_dropped_total\{reason="invalid"\} 1$/m);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

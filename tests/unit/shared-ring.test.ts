// The ring shared with a worker, on one thread: the producer's side (SharedRing, with
// the Backlog's evictions) and the consumer's (RingConsumer) against a model, and the
// counters merged from both sides kept conserved.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { conservationErrors, EXPIRED } from "../../src/core/accounting.ts";
import { frameClass, frameTimestamp } from "../../src/core/frame.ts";
import { BUFFER_FULL, consumer, idAt, idOf, newRing, producer, put, SHED, snapshot } from "../support/shared-ring.ts";

interface Frame {
  readonly id: number;
  readonly ts: number;
  readonly cls: number;
}

const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("put" as const), bytes: fc.integer({ min: 4, max: 90 }), cls: fc.integer({ min: 0, max: 3 }), fast: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("take" as const), most: fc.integer({ min: 1, max: 8 }), bytes: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("evict" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("shed" as const), cls: fc.integer({ min: 0, max: 3 }), want: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("expire" as const), consumer: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 400 }) }) },
);

test("SharedRing and RingConsumer on one thread: every frame taken or evicted once, intact, in order, counters conserved", () => {
  fc.assert(
    fc.property(fc.integer({ min: 128, max: 1024 }), fc.array(op, { maxLength: 300 }), (capacity, ops) => {
      const { data, control } = newRing(capacity);
      const p = producer(data, control, 1000);
      const { consumer: c, ledger } = consumer(data, control, 1000);
      let model: Frame[] = [];
      let now = 10_000;
      let next = 0;
      const evicted: number[] = [];
      for (const o of ops) {
        if (o.kind === "put") {
          if (o.fast) p.ring.attendAfter(1 << 20);
          else p.ring.attendNow();
          const id = next++;
          if (put(p, id, o.bytes, now, o.cls)) model.push({ id, ts: now, cls: o.cls });
          else p.ledger.refuse(BUFFER_FULL, 0);
        } else if (o.kind === "take") {
          p.ring.publish();
          const shipment = c.take(o.most, o.bytes);
          if (model.length === 0) assert.equal(shipment, null);
          else {
            assert.ok(shipment !== null);
            const ids = shipment.batch.records.map((r) => idOf(r.value));
            assert.deepEqual(ids, model.slice(0, ids.length).map((f) => f.id), "the oldest, in order");
            model = model.slice(ids.length);
            ledger.deliver(ids.length, shipment.batch.bytes);
          }
        } else if (o.kind === "evict") {
          const before = model[0];
          const ok = p.backlog.dropOldest(BUFFER_FULL);
          assert.equal(ok, before !== undefined);
          if (before !== undefined) {
            assert.equal(idAt(p, p.ring.lastShifted), before.id);
            evicted.push(before.id);
            model.shift();
          }
        } else if (o.kind === "shed") {
          const victims: number[] = [];
          const freed = p.ring.evictWhere((at) => frameClass(p.ring.view, at) === o.cls, o.want, (at) => {
            victims.push(idAt(p, at));
            p.backlog.held![o.cls]!--;
            p.ledger.losePendingShed(o.cls, p.ring.view.getUint32(at, true));
          });
          const expected = model.filter((f) => f.cls === o.cls).map((f) => f.id);
          assert.deepEqual(victims, expected.slice(0, victims.length), "the oldest of the class");
          assert.ok(freed >= o.want || victims.length === expected.length);
          model = model.filter((f) => !victims.includes(f.id));
        } else if (o.kind === "expire") {
          const limit = now - 1000;
          const old = model.filter((f, i) => f.ts < limit && model.slice(0, i).every((g) => g.ts < limit));
          if (o.consumer) {
            p.ring.publish();
            assert.equal(c.expire(now), old.length);
          } else {
            assert.equal(p.backlog.expire(now), old.length);
          }
          model = model.slice(old.length);
        } else {
          now += o.ms;
        }
        // The consumer sees what the producer published; the producer its own frames.
        p.ring.publish();
        assert.equal(c.count, model.length);
        assert.equal(p.ring.count, model.length);
        if (model.length > 0) assert.equal(frameTimestamp(c.view, 0) >= 0, true);
        assert.equal(c.oldestTimestamp(), model.length > 0 ? model[0]!.ts : Infinity);
        const s = snapshot(p, control);
        assert.deepEqual(conservationErrors(s), []);
        assert.equal(s.pending.records, model.length);
        assert.equal(s.inFlight.records, 0);
        assert.ok(p.ring.frameBytes + p.ring.outside <= capacity, "within capacity");
      }
      // Drain: everything left is dropped at shutdown by the consumer.
      p.ring.publish();
      c.dropAll(EXPIRED);
      const s = snapshot(p, control);
      assert.equal(s.pending.records, 0);
      assert.deepEqual(conservationErrors(s), []);
    }),
    { numRuns: Number(process.env.RUNS ?? 300) },
  );
});

test("SharedRing starts again at offset 0 once the consumer emptied it, so a frame of the whole capacity fits", () => {
  const { data, control } = newRing(256);
  const p = producer(data, control);
  const { consumer: c, ledger } = consumer(data, control);
  assert.ok(put(p, 1, 100, 0, 0));
  p.ring.publish();
  const first = c.take(10, 1 << 20)!;
  assert.equal(first.batch.records.length, 1);
  ledger.deliver(1, first.batch.bytes);
  assert.ok(put(p, 2, 256 - 20, 0, 0), "the whole buffer, from 0");
  p.ring.publish();
  assert.equal(idOf(c.take(10, 1 << 20)!.batch.records[0]!.value), 2);
});

test("SharedRing counts the bytes in flight against its capacity until the worker settles them", () => {
  const { data, control } = newRing(256);
  const p = producer(data, control);
  const { consumer: c, ledger } = consumer(data, control);
  assert.ok(put(p, 1, 200, 0, 0));
  p.ring.publish();
  const shipment = c.take(10, 1 << 20)!;
  assert.equal(put(p, 2, 100, 0, 0), false, "220 bytes in flight: no room for 120 more");
  ledger.deliver(1, shipment.batch.bytes);
  assert.ok(put(p, 3, 100, 0, 0), "delivered: room again");
});

test("SharedRing.shift refuses to evict while the worker copies a batch out (a hazard behind the cursor)", () => {
  const { data, control } = newRing(256);
  const p = producer(data, control);
  assert.ok(put(p, 1, 40, 0, 0));
  assert.ok(put(p, 2, 40, 0, 0));
  // What a worker leaves while it copies frame 1 out: the cursor past it, the hazard on it.
  const words = new BigUint64Array(control, 0, 2);
  const claimedFrom = words[0]!;
  words[0] = (1n << 32n) | (60n << 1n);
  words[1] = claimedFrom;
  assert.equal(p.ring.shift(), 0);
  words[1] = 0xffff_ffff_ffff_ffffn;
  assert.equal(p.ring.shift(), 60);
  void SHED;
});

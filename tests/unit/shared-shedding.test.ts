// Graded shedding over the ring shared with a worker, on one thread: the producer makes
// room as the writer does under drop-oldest (Backlog.makeRoom) while the consumer takes
// batches out. The producer's records held per class, less what the worker's counters say
// it removed, match a model of the pending records; eviction picks the least important
// class held that is less important than the new record (else that record's own class),
// oldest first, never a more important one, and it never scans for a class that is gone.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { conservationErrors } from "../../src/core/accounting.ts";
import { FRAME_HEADER_BYTES, frameClass } from "../../src/core/frame.ts";
import { CLASSES, consumer, idAt, idOf, newRing, type Producer, producer, put, snapshot } from "../support/shared-ring.ts";

interface Frame {
  readonly id: number;
  readonly cls: number;
}

/** Every evictWhere call: the ids and classes it evicted. */
function spyEvictions(p: Producer): Array<Array<{ id: number; cls: number }>> {
  const calls: Array<Array<{ id: number; cls: number }>> = [];
  const ring = p.ring;
  const evictWhere = ring.evictWhere.bind(ring);
  ring.evictWhere = (victim, want, removed) => {
    const call: Array<{ id: number; cls: number }> = [];
    calls.push(call);
    return evictWhere(victim, want, (at, size) => {
      call.push({ id: idAt(p, at), cls: frameClass(ring.view, at) });
      removed(at, size);
    });
  };
  return calls;
}

function heldByModel(model: ReadonlyArray<Frame>): number[] {
  const held = new Array<number>(CLASSES).fill(0);
  for (const f of model) held[f.cls]!++;
  return held;
}

test("shedding on a shared ring: after the consumer took records, held per class is exact and eviction never scans for a class that is gone", () => {
  const { data, control } = newRing(1000);
  const p = producer(data, control);
  const { consumer: c, ledger } = consumer(data, control);
  const calls = spyEvictions(p);
  // Five class 3 records (100 bytes framed each), all taken by the consumer (in flight).
  for (let id = 0; id < 5; id++) assert.ok(put(p, id, 100 - FRAME_HEADER_BYTES, 0, 3));
  p.ring.publish();
  const shipment = c.take(5, 10_000);
  assert.equal(shipment?.batch.records.length, 5);
  ledger.deliver(5, shipment!.batch.bytes);
  // Ten more fill the ring: classes 1 and 2.
  for (let id = 5; id < 15; id++) assert.ok(put(p, id, 100 - FRAME_HEADER_BYTES, 0, id % 2 === 0 ? 2 : 1));
  assert.equal(put(p, 15, 100 - FRAME_HEADER_BYTES, 0, 2), false, "full");
  // A class 2 record: no class 3 is pending, so the oldest class 2 record gives way.
  assert.equal(p.backlog.makeRoom(2, 100), true);
  assert.deepEqual(calls, [[{ id: 6, cls: 2 }]], "one scan, for class 2 (none for class 3, all taken)");
  p.backlog.settleHeld();
  assert.deepEqual(Array.from(p.backlog.held!), [0, 5, 4, 0]);
  assert.deepEqual(conservationErrors(snapshot(p, control)), []);
});

const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("offer" as const), bytes: fc.integer({ min: 4, max: 90 }), cls: fc.integer({ min: 0, max: CLASSES - 1 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("take" as const), most: fc.integer({ min: 1, max: 8 }), bytes: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("settle" as const) }) },
);

test("shedding on a shared ring, against a model: held per class is exact after every step, eviction takes the right class oldest first and never scans in vain", () => {
  fc.assert(
    fc.property(fc.integer({ min: 200, max: 1200 }), fc.array(op, { maxLength: 300 }), (capacity, ops) => {
      const { data, control } = newRing(capacity);
      const p = producer(data, control);
      const { consumer: c, ledger } = consumer(data, control);
      const calls = spyEvictions(p);
      let model: Frame[] = [];
      let next = 0;
      let inFlight: { records: number; bytes: number } | null = null;
      for (const o of ops) {
        if (o.kind === "offer") {
          const id = next++;
          const size = FRAME_HEADER_BYTES + Math.max(4, o.bytes);
          // As the writer under drop-oldest with shedding: make room until it fits or cannot.
          for (;;) {
            if (put(p, id, o.bytes, 0, o.cls)) {
              model.push({ id, cls: o.cls });
              break;
            }
            const before = calls.length;
            const made = p.backlog.makeRoom(o.cls, size);
            const scans = calls.slice(before);
            for (const scan of scans) assert.ok(scan.length > 0, "a scan found what it looked for");
            const less: Frame[] = model.filter((f: Frame) => f.cls > o.cls);
            const target: number = less.length > 0 ? Math.max(...less.map((f) => f.cls)) : model.some((f) => f.cls === o.cls) ? o.cls : -1;
            if (!made) {
              assert.equal(target, -1, "room is refused only when no class is less important nor its own pending");
              break;
            }
            assert.equal(scans.length, 1);
            const victims = scans[0]!;
            const ofTarget: number[] = model.filter((f) => f.cls === target).map((f) => f.id);
            assert.deepEqual(victims.map((v) => v.id), ofTarget.slice(0, victims.length), `the oldest of class ${target}`);
            model = model.filter((f) => !victims.some((v) => v.id === f.id));
          }
        } else if (o.kind === "take") {
          if (inFlight !== null) {
            ledger.deliver(inFlight.records, inFlight.bytes);
            inFlight = null;
          }
          p.ring.publish();
          const shipment = c.take(o.most, o.bytes);
          if (shipment !== null) {
            const ids = shipment.batch.records.map((r) => idOf(r.value));
            assert.deepEqual(ids, model.slice(0, ids.length).map((f) => f.id));
            model = model.slice(ids.length);
            inFlight = { records: ids.length, bytes: shipment.batch.bytes };
          }
        }
        p.backlog.settleHeld();
        assert.deepEqual(Array.from(p.backlog.held!), heldByModel(model));
      }
      assert.deepEqual(conservationErrors(snapshot(p, control)), []);
    }),
    { numRuns: 150 },
  );
});

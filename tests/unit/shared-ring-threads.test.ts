// The ring shared with a worker, under concurrency: the application's thread appends,
// evicts (drop-oldest, expiry, graded shedding's mid-ring eviction) and reads the
// counters while a worker thread takes batches and expires records, at random. Every
// frame must be taken or evicted exactly once, intact and in order, and every snapshot
// of the counters must keep the conservation law.
import { test } from "node:test";
import assert from "node:assert/strict";
import { conservationErrors, EXPIRED } from "../../src/core/accounting.ts";
import { frameClass } from "../../src/core/frame.ts";
import { readWorkerCounts } from "../../src/core/shared-counts.ts";
import { startWorker } from "../support/threads.ts";
import { BUFFER_FULL, idAt, newRing, producer, put, Rng, snapshot } from "../support/shared-ring.ts";

const OPS = 20_000;

async function run(seed: number, capacity: number): Promise<void> {
  const { data, control } = newRing(capacity);
  const flags = new SharedArrayBuffer(12);
  const state = new Int32Array(flags);
  const p = producer(data, control, 50);
  const random = new Rng(seed);
  const worker = startWorker(new URL("../support/ring-consumer-worker.ts", import.meta.url), { data, control, flags, seed: seed + 1 });
  const done = new Promise<{ taken: number[]; takenWhileRunning: number; error: string | null }>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  // Both threads at work from the first operation on.
  // (The worker stores 1 and notifies: no timer, no polling.)
  const { waitAsync } = Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: unknown } };
  const started = waitAsync(state, 2, 0);
  if (started.async) await started.value;
  const accepted: number[] = [];
  const evicted = new Set<number>();
  const where = new Map<number, string>();
  let snapshots = 0;
  try {
  // OPS operations, and more (up to 20 times as many) until the worker has taken a batch
  // while they run: on a busy machine its thread may not have been scheduled yet.
  for (let i = 0; i < OPS || (i < 20 * OPS && readWorkerCounts(control).delivered.records === 0); i++) {
    Atomics.store(state, 1, i);
    const roll = random.nextInt(0, 19);
    if (roll < 12) {
      if (random.nextBoolean()) p.ring.attendAfter(random.nextInt(0, 4096));
      else p.ring.attendNow();
      if (put(p, i, random.nextInt(4, 120), i, random.nextInt(0, 3))) accepted.push(i);
      else p.ledger.refuse(BUFFER_FULL, 0);
    } else if (roll < 14) {
      const before = p.ledger.snapshot().lost.bytes;
      if (p.backlog.dropOldest(BUFFER_FULL)) {
        const id = idAt(p, p.ring.lastShifted);
        const size = p.ledger.snapshot().lost.bytes - before;
        assert.ok(size >= 24 && size <= 140 && id < i && !evicted.has(id), `drop-oldest at op ${i}: frame ${id} of ${size} bytes at ${p.ring.lastShifted}`);
        evicted.add(id);
        where.set(id, `drop@${i}:${p.ring.lastShifted}`);
      }
    } else if (roll < 16) {
      const cls = random.nextInt(0, 3);
      p.ring.evictWhere((at) => frameClass(p.ring.view, at) === cls, random.nextInt(1, 300), (at, size) => {
        const id = idAt(p, at);
        assert.ok(size >= 24 && size <= 140 && id < i && !evicted.has(id), `shed at op ${i}: frame ${id} of ${size} bytes at ${at}`);
        evicted.add(id);
        where.set(id, `shed@${i}:${at}`);
        p.backlog.held![cls]!--;
        p.ledger.losePendingShed(cls, size);
      });
    } else if (roll < 17) {
      // Producer-side expiry (as when the buffer is full); ids read before they go.
      const limit = i - 50;
      for (let at = p.ring.peek(); at >= 0 && p.ring.view.getFloat64(at + 4, true) < limit; at = p.ring.peek()) {
        const id = idAt(p, at);
        if (p.ring.shiftIf((x) => x === at && p.ring.view.getFloat64(x + 4, true) < limit) > 0) {
          const w = new BigUint64Array(control, 0, 2);
          assert.ok(!evicted.has(id), `expired at op ${i}: frame ${id} at ${at}; cursor ${w[0]! >> 32n}/${(w[0]! & 0xffffffffn) >> 1n} hazard ${w[1]! >> 32n}/${(w[1]! & 0xffffffffn) >> 1n} appended ${p.ring.appended} evicted ${JSON.stringify(where.get(id))} cap ${capacity}`);
          evicted.add(id);
          p.ledger.losePending(EXPIRED, p.ring.view.getUint32(at, true));
        }
      }
    } else {
      p.ring.publish();
      const s = snapshot(p, control);
      assert.deepEqual(conservationErrors(s), [], `snapshot at op ${i}`);
      assert.ok(s.pending.records >= 0 && s.inFlight.records >= 0, `at op ${i}: ${JSON.stringify({ pending: s.pending, inFlight: s.inFlight, accepted: s.accepted, lost: s.lost, delivered: s.delivered, left: readWorkerCounts(control).left })}`);
      snapshots++;
    }
    if (i % 64 === 0) p.ring.publish();
  }
  } finally {
    p.ring.publish();
    Atomics.store(state, 0, 1);
  }
  const { taken, takenWhileRunning, error } = await done;
  await worker.terminate();
  assert.equal(error, null);
  assert.ok(snapshots > 100);
  assert.ok(takenWhileRunning > 0, "the worker took records while the producer ran");
  for (let k = 1; k < taken.length; k++) assert.ok(taken[k]! > taken[k - 1]!, `taken in order (${taken[k - 1]} then ${taken[k]})`);
  for (const id of taken) assert.ok(!evicted.has(id), `frame ${id} taken and evicted`);
  const final = snapshot(p, control);
  assert.deepEqual(conservationErrors(final), []);
  assert.equal(final.pending.records, 0);
  assert.equal(final.inFlight.records, 0);
  const worker_ = readWorkerCounts(control);
  const expiredByWorker = worker_.lost(EXPIRED).records;
  assert.equal(taken.length + evicted.size + expiredByWorker, accepted.length, "every frame taken, evicted or expired, once");
  assert.equal(final.delivered.records, taken.length);
}

test("SharedRing under two threads: random appends, evictions, shedding and expiry against a worker that takes and expires", async () => {
  // A new seed every run (in the failure's message); the threads interleave differently anyway.
  const base = Date.now() % 1_000_000;
  for (const [k, capacity] of [[0, 512], [1, 4096], [2, 1500]] as const) {
    const seed = base * 3 + k;
    await run(seed, capacity).catch((error: unknown) => {
      throw new Error(`seed ${seed}, capacity ${capacity}: ${(error as Error).message}`, { cause: error });
    });
  }
});

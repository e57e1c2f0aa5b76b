// shedsink at the edge, for real: the test Worker (tests/edge/worker.ts) in workerd from
// npm, its Durable Object's sink writing to the local broker through @platformatic/kafka
// over node:net, driven by concurrent requests from this process. Records are read back
// from the topic and matched by id. Needs the broker (scripts/kafka.sh start) and runs on
// Node (esbuild and workerd are npm binaries): see scripts/test.sh.

import { test } from "node:test";
import assert from "node:assert/strict";
import { consumeValues, kafka, requireBroker, uniqueTopic } from "../support/kafka.ts";
import { sleep } from "../support/wait.ts";
import { Workerd } from "../support/workerd.ts";

interface Count {
  records: number;
  bytes: number;
}
interface ObjectStats {
  offered: Count;
  accepted: Count;
  delivered: Count;
  pending: Count;
  inFlight: Count;
  refused: Count;
  lost: Count;
  dropped: Record<string, Count>;
  conservationErrors: string[];
  lastError: string | null;
  transport: { name: string; state: string };
}
interface FrontStats {
  offered: number;
  handedOver: number;
  pending: number;
  dropped: Record<string, number>;
  failedCalls: number;
  lastError: string | null;
}
interface Stats {
  object: ObjectStats;
  front: FrontStats;
}

/** What one scenario saw, printed for the record. */
function report(name: string, facts: Record<string, unknown>): void {
  console.log(`edge: ${name}: ${JSON.stringify(facts)}`);
}

async function stats(w: Workerd): Promise<Stats> {
  const r = await w.call("/stats");
  assert.equal(r.status, 200, String(r.body));
  return r.body as Stats;
}

async function flush(w: Workerd, ms = 20_000): Promise<void> {
  const r = await w.call(`/flush?ms=${ms}`);
  assert.equal(r.status, 200, String(r.body));
  assert.equal(r.body, true, "flush settled everything");
}

/**
 * `requests` requests of `perRequest` records each, `concurrency` at a time; ids are
 * `${tag}${request}-${i}`. Returns the ids of the requests that were answered 200 (the
 * others, workerd being down, sent nothing) and how many failed.
 */
async function load(w: Workerd, tag: string, requests: number, perRequest: number, concurrency = 8, pauseMs = 0, progress = { answered: 0 }): Promise<{ sent: string[]; failed: number }> {
  const sent: string[] = [];
  let failed = 0;
  let next = 0;
  const loop = async () => {
    for (let r = next++; r < requests; r = next++) {
      try {
        const res = await fetch(`${w.url}/records?n=${perRequest}&id=${tag}${r}`, { method: "POST" });
        await res.arrayBuffer();
        if (res.status === 200) for (let i = 0; i < perRequest; i++) sent.push(`${tag}${r}-${i}`);
        else failed++;
        progress.answered++;
      } catch {
        failed++;
      }
      if (pauseMs > 0) await sleep(pauseMs);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { sent, failed };
}

/** The ids read back from `topic`, and how many of them came more than once. */
async function readBack(topic: string, expected: number): Promise<{ ids: Set<string>; duplicates: number; total: number }> {
  const values = await consumeValues(topic, { expected, timeoutMs: 20_000 });
  const ids = new Set<string>();
  let duplicates = 0;
  for (const v of values) {
    const id = (JSON.parse(v) as { id: string }).id;
    if (ids.has(id)) duplicates++;
    ids.add(id);
  }
  return { ids, duplicates, total: values.length };
}

function droppedByReason(s: ObjectStats): Record<string, number> {
  return Object.fromEntries(Object.entries(s.dropped).filter(([, c]) => c.records > 0).map(([r, c]) => [r, c.records]));
}

test("workerd: concurrent requests through the front and one Durable Object: every record in the topic exactly once, books balanced", async () => {
  await requireBroker();
  const topic = uniqueTopic("edge-load");
  const w = await Workerd.start({ topic });
  try {
    const { sent, failed } = await load(w, "L", 1000, 20, 8);
    assert.equal(failed, 0);
    await flush(w);
    const s = await stats(w);
    const back = await readBack(topic, sent.length);
    report("load", { sent: sent.length, delivered: s.object.delivered.records, readBack: back.total, duplicates: back.duplicates, dropped: droppedByReason(s.object), frontDropped: s.front.dropped });
    assert.deepEqual(s.object.conservationErrors, []);
    assert.equal(s.front.offered, sent.length);
    assert.equal(s.front.handedOver, sent.length);
    assert.equal(s.front.pending, 0);
    assert.equal(s.object.accepted.records, sent.length);
    assert.equal(s.object.delivered.records, sent.length);
    assert.equal(back.duplicates, 0);
    assert.equal(back.total, sent.length);
    for (const id of sent) assert.ok(back.ids.has(id), `${id} read back`);
  } finally {
    await w.stop();
  }
});

test("workerd: records split over four objects by key: each object's books balance, the topic holds every record once", async () => {
  await requireBroker();
  const topic = uniqueTopic("edge-shards");
  const w = await Workerd.start({ topic, sink: { shards: 4 } });
  try {
    const { sent, failed } = await load(w, "H", 200, 10, 8);
    assert.equal(failed, 0);
    let delivered = 0;
    const perObject: number[] = [];
    for (let shard = 0; shard < 4; shard++) {
      assert.equal((await w.call(`/flush?ms=20000&object=shedsink:${shard}`)).body, true);
      const s = (await w.call(`/stats?object=shedsink:${shard}`)).body as Stats;
      assert.deepEqual(s.object.conservationErrors, []);
      perObject.push(s.object.delivered.records);
      delivered += s.object.delivered.records;
    }
    const front = (await stats(w)).front;
    const back = await readBack(topic, sent.length);
    report("4 shards", { sent: sent.length, deliveredPerObject: perObject, readBack: back.total, duplicates: back.duplicates, handedOver: front.handedOver });
    assert.equal(delivered, sent.length);
    assert.ok(perObject.filter((n) => n > 0).length >= 2, "records spread over objects");
    assert.equal(front.handedOver, sent.length);
    assert.equal(back.total, sent.length);
    assert.equal(back.duplicates, 0);
  } finally {
    await w.stop();
  }
});

test("workerd: broker paused longer than the linger, within the buffer: nothing lost, all delivered after it resumes", async () => {
  await requireBroker();
  const topic = uniqueTopic("edge-pause");
  const w = await Workerd.start({ topic, sink: { batch: { lingerMs: 20 }, capacityBytes: 4 << 20 } });
  let paused = false;
  try {
    const before = await load(w, "A", 50, 20, 4);
    await flush(w);
    await kafka("pause");
    paused = true;
    const during = await load(w, "P", 200, 20, 4, 5);
    const held = await stats(w);
    assert.equal(held.object.delivered.records, before.sent.length, "nothing delivered while paused");
    await sleep(1500);
    await kafka("resume");
    paused = false;
    await flush(w, 30_000);
    const s = await stats(w);
    const sent = [...before.sent, ...during.sent];
    const back = await readBack(topic, sent.length);
    report("broker paused", { sent: sent.length, heldDuringPause: held.object.pending.records + held.object.inFlight.records, delivered: s.object.delivered.records, readBack: back.total, duplicates: back.duplicates, dropped: droppedByReason(s.object) });
    assert.deepEqual(s.object.conservationErrors, []);
    assert.equal(s.object.lost.records + s.object.refused.records, 0, "nothing dropped");
    assert.equal(s.object.delivered.records, sent.length);
    assert.equal(back.duplicates, 0);
    assert.equal(back.total, sent.length);
    for (const id of sent) assert.ok(back.ids.has(id), `${id} read back`);
  } finally {
    if (paused) await kafka("resume");
    await w.stop();
  }
});

test("workerd: broker killed while more than the buffer holds arrives: the overflow is dropped as buffer_full, the rest delivered once after its restart", async () => {
  await requireBroker();
  const topic = uniqueTopic("edge-full");
  // About 80 bytes a record: 64 KiB hold some 800 of the 4000 sent.
  const w = await Workerd.start({ topic, sink: { capacityBytes: 65536, batch: { lingerMs: 20 } } });
  let down = false;
  try {
    await load(w, "W", 1, 1, 1);
    await flush(w);
    await kafka("kill");
    down = true;
    const during = await load(w, "F", 200, 20, 4);
    const held = await stats(w);
    await kafka("restart");
    down = false;
    await flush(w, 60_000);
    const s = await stats(w);
    const sent = ["W0-0", ...during.sent];
    const back = await readBack(topic, s.object.delivered.records);
    const dropped = droppedByReason(s.object);
    report("broker down, buffer overflow", { sent: sent.length, delivered: s.object.delivered.records, readBack: back.total, duplicates: back.duplicates, dropped, heldAtMost: held.object.pending.bytes + held.object.inFlight.bytes, capacityBytes: 65536, lastErrorWhileDown: held.object.lastError });
    assert.deepEqual(s.object.conservationErrors, []);
    assert.ok((dropped.buffer_full ?? 0) > 0, "drops counted as buffer_full");
    assert.equal(s.object.offered.records, sent.length);
    assert.equal(s.object.delivered.records + s.object.refused.records + s.object.lost.records, sent.length);
    assert.ok(held.object.pending.bytes + held.object.inFlight.bytes <= 65536, "the buffer stayed within capacityBytes");
    assert.equal(back.duplicates, 0);
    assert.equal(back.total, s.object.delivered.records);
    for (const id of back.ids) assert.ok(sent.includes(id), `${id} was sent`);
  } finally {
    if (down) await kafka("restart");
    await w.stop();
  }
});

test("workerd: the object reset under load: the front counts the calls it lost as worker_lost; what the objects held in memory is the only other loss", async () => {
  await requireBroker();
  const topic = uniqueTopic("edge-reset");
  // A long linger and large batches: each object holds what it takes until it is reset.
  const sink = { batch: { lingerMs: 60_000, maxRecords: 100_000, maxBytes: 4 << 20 }, capacityBytes: 4 << 20, alarmDelayMs: 3_600_000 };
  const w = await Workerd.start({ topic, sink });
  try {
    const progress = { answered: 0 };
    const running = load(w, "R", 3000, 20, 16, 0, progress);
    // Reset while the load runs, until calls under way were caught by a reset (a call
    // the object has answered, or not yet received, is not lost): at least three resets.
    let resets = 0;
    while (progress.answered < 2900 && resets < 40) {
      while (progress.answered < 200 + resets * 60) await sleep(1);
      await w.call("/reset");
      resets++;
      if (resets >= 3 && (await stats(w)).front.failedCalls > 0) break;
    }
    const { sent, failed } = await running;
    assert.equal(failed, 0, "every request was answered: the front does not delay responses");
    const after = await load(w, "S", 100, 10, 4);
    await flush(w);
    const s = await stats(w);
    const all = [...sent, ...after.sent];
    const back = await readBack(topic, s.object.delivered.records);
    const lostInMemory = s.front.handedOver - back.total;
    report("object reset", { resets, sent: all.length, frontDropped: { worker_lost: s.front.dropped.worker_lost }, failedCalls: s.front.failedCalls, delivered: s.object.delivered.records, readBack: back.total, duplicates: back.duplicates, lostInMemory, lastError: s.front.lastError });
    assert.deepEqual(s.object.conservationErrors, []);
    assert.equal(s.front.offered, all.length);
    assert.equal(s.front.pending, 0);
    assert.equal(s.front.offered, s.front.handedOver + s.front.dropped.worker_lost, "front: offered = handed over + lost calls");
    assert.ok(s.front.dropped.worker_lost > 0, "calls under way at a reset failed and were counted");
    assert.equal(back.duplicates, 0);
    assert.ok(back.total + s.front.dropped.worker_lost <= all.length, "no record both counted lost and delivered");
    assert.equal(back.total, s.object.delivered.records, "the last object delivered what it took");
    assert.equal(s.object.accepted.records, s.object.delivered.records);
    for (const id of after.sent) assert.ok(back.ids.has(id), `${id}, sent after the resets, read back`);
    assert.ok(lostInMemory > 0, "the reset objects' records were in memory only");
  } finally {
    await w.stop();
  }
});

test("workerd: killed and restarted: what the object held in memory is lost, nothing else; requests while it is down fail at the client", async () => {
  await requireBroker();
  const topic = uniqueTopic("edge-restart");
  const sink = { batch: { lingerMs: 60_000, maxRecords: 100_000, maxBytes: 4 << 20 }, capacityBytes: 4 << 20, alarmDelayMs: 3_600_000 };
  const w = await Workerd.start({ topic, sink });
  try {
    const before = await load(w, "K", 100, 10, 4);
    const held = await stats(w);
    assert.equal(held.object.pending.records, before.sent.length, "all held in memory (long linger)");
    await w.kill();
    const down = await load(w, "D", 20, 10, 4);
    await w.restart();
    const after = await load(w, "A", 100, 10, 4);
    await flush(w);
    const s = await stats(w);
    const back = await readBack(topic, after.sent.length);
    report("workerd restart", { sent: before.sent.length + after.sent.length, failedRequestsWhileDown: down.failed, lostInMemory: held.object.pending.records, delivered: s.object.delivered.records, readBack: back.total, duplicates: back.duplicates });
    assert.equal(down.sent.length, 0);
    assert.equal(down.failed, 20);
    assert.deepEqual(s.object.conservationErrors, []);
    assert.equal(back.duplicates, 0);
    assert.equal(back.total, after.sent.length, "exactly the records sent after the restart");
    for (const id of after.sent) assert.ok(back.ids.has(id));
    for (const id of before.sent) assert.ok(!back.ids.has(id), "the killed object's records were in memory only");
  } finally {
    await w.stop();
  }
});

test("workerd: the object's alarm flushes what the sink's linger would hold for a minute", async () => {
  await requireBroker();
  const topic = uniqueTopic("edge-alarm");
  const w = await Workerd.start({ topic, sink: { batch: { lingerMs: 60_000, maxRecords: 100_000 }, alarmDelayMs: 300 } });
  try {
    const { sent } = await load(w, "M", 10, 10, 2);
    let s = await stats(w);
    for (const deadline = Date.now() + 10_000; s.object.delivered.records < sent.length && Date.now() < deadline; s = await stats(w)) await sleep(100);
    const back = await readBack(topic, sent.length);
    report("alarm", { sent: sent.length, delivered: s.object.delivered.records, readBack: back.total, duplicates: back.duplicates });
    assert.equal(s.object.delivered.records, sent.length, "delivered without a flush() call, long before the linger");
    assert.equal(back.total, sent.length);
    assert.equal(back.duplicates, 0);
    assert.deepEqual(s.object.conservationErrors, []);
  } finally {
    await w.stop();
  }
});

test("workerd: without nodejs_compat (a compatibility date before 2026-08-04) the Worker does not start, and the error names the node: module", async () => {
  await assert.rejects(Workerd.start({ topic: "unused", compatibilityDate: "2024-09-23" }), (error: Error) => {
    assert.match(error.message, /No such module "node:[a-z_]+"/);
    return true;
  });
});

test("workerd: a compatibility date newer than the binary is refused, and the error says so", async () => {
  await assert.rejects(Workerd.start({ topic: "unused", compatibilityDate: "2099-01-01" }), (error: Error) => {
    assert.match(error.message, /compatibility date/i);
    return true;
  });
});

test("workerd: a network that does not allow the broker's address: the sink is down and lastError says the network refused it", async () => {
  await requireBroker();
  const w = await Workerd.start({ topic: uniqueTopic("edge-network"), allow: null, sink: { batch: { lingerMs: 5 } } });
  try {
    await load(w, "N", 1, 3, 1);
    let s = await stats(w);
    const deadline = Date.now() + 15_000;
    while (s.object.lastError === null && Date.now() < deadline) {
      await sleep(200);
      s = await stats(w);
    }
    assert.equal(s.object.transport.state, "down");
    assert.match(s.object.lastError ?? "", /workerd refused the connection: its network does not allow this address/);
    assert.equal(s.object.delivered.records, 0);
    assert.deepEqual(s.object.conservationErrors, []);
  } finally {
    await w.stop();
  }
});

// End to end on the real broker (scripts/kafka.sh): records go through a sink and the
// runtime's Kafka transport, and are read back from the topic. The transport comes from
// tests/support/transports.ts; nothing here is specific to one Kafka client.

import { test } from "node:test";
import assert from "node:assert/strict";
import { conservationErrors, type SinkStats } from "../../mod.ts";
import { createTestSink } from "../support/sinks.ts";
import { consumeWithHeaders } from "../support/headers.ts";
import { BOOTSTRAP, consumeValues, createTopic, requireBroker, topicPartitions, uniqueTopic } from "../support/kafka.ts";
import { kafkaTransportForTests } from "../support/transports.ts";
import { murmur2 } from "../../src/transports/kafka/partition.ts";

interface Rec {
  id: number;
  pad: string;
}

/** Ids from JSON values `{"id":…}`; throws on anything else. */
function idsOf(values: string[]): number[] {
  return values.map((v) => (JSON.parse(v) as Rec).id);
}

function duplicates(ids: number[]): number[] {
  const seen = new Set<number>();
  const dups: number[] = [];
  for (const id of ids) {
    if (seen.has(id)) dups.push(id);
    seen.add(id);
  }
  return dups;
}

function sameSet(actual: Iterable<number>, expected: Iterable<number>, what: string): void {
  const a = new Set(actual);
  const e = new Set(expected);
  const missing = [...e].filter((x) => !a.has(x));
  const extra = [...a].filter((x) => !e.has(x));
  assert.deepEqual(
    { missing: missing.slice(0, 20), missingCount: missing.length, extra: extra.slice(0, 20), extraCount: extra.length },
    { missing: [], missingCount: 0, extra: [], extraCount: 0 },
    what,
  );
}

function settled(stats: SinkStats): void {
  assert.deepEqual(conservationErrors(stats), [], "conservation holds");
  assert.equal(stats.pending.records, 0, "nothing pending after close");
  assert.equal(stats.inFlight.records, 0, "nothing in flight after close");
  assert.equal(stats.pending.bytes + stats.inFlight.bytes, 0);
}

test("every record the sink counts as delivered is in the topic exactly once, and nothing else is", async () => {
  await requireBroker();
  const topic = uniqueTopic("e2e-ids");
  await createTopic(topic, 3);
  const transport = await kafkaTransportForTests({ brokers: BOOTSTRAP, topic });
  const sink = createTestSink<Rec>({ transport, batch: { lingerMs: 5, maxRecords: 500 } });
  const n = 4000;
  const accepted: number[] = [];
  const writer = sink.writable.getWriter();
  for (let id = 0; id < n; id++) {
    const record = { id, pad: `record ${id} `.padEnd(60, "#") };
    if (id % 2 === 0) {
      if (sink.emit(record)) accepted.push(id);
    } else {
      const before = sink.stats().accepted.records;
      await writer.write(record);
      if (sink.stats().accepted.records === before + 1) accepted.push(id);
    }
  }
  writer.releaseLock();
  assert.equal(await sink.flush({ timeoutMs: 30_000 }), true, "flush settles everything");
  assert.equal(sink.stats().transport.state, "up");
  const report = await sink.close({ timeoutMs: 10_000 });
  const stats = sink.stats();
  settled(stats);
  assert.equal(report.flushed, true);
  assert.equal(stats.transport.state, "closed");
  assert.equal(stats.lost.records, 0, `no record lost on a healthy broker: ${JSON.stringify(stats.dropped)}`);
  assert.equal(stats.delivered.records, accepted.length);
  assert.equal(accepted.length, n);

  const ids = idsOf(await consumeValues(topic, { expected: stats.delivered.records }));
  assert.deepEqual(duplicates(ids), [], "no id twice in the topic");
  assert.equal(ids.length, stats.delivered.records, "the topic holds exactly `delivered` records");
  sameSet(ids, accepted, "the ids in the topic are the ids accepted (none was dropped)");
});

test("keys, headers and timestamps arrive as the sink was given them", async () => {
  await requireBroker();
  const topic = uniqueTopic("e2e-keys");
  await createTopic(topic, 3);
  const transport = await kafkaTransportForTests({ brokers: BOOTSTRAP, topic });
  const sink = createTestSink<Rec>({
    transport,
    batch: { lingerMs: 5 },
    key: (r) => (r.id % 3 === 0 ? null : `key-${r.id % 10}`),
    headers: (r) => (r.id % 4 === 0 ? null : { id: String(r.id), kind: r.id % 2 === 0 ? "even" : "odd" }),
  });
  const n = 300;
  const before = Date.now();
  for (let id = 0; id < n; id++) assert.equal(sink.emit({ id, pad: "p" }), true);
  const after = Date.now();
  const report = await sink.close({ timeoutMs: 15_000 });
  settled(sink.stats());
  assert.equal(report.delivered.records, n);

  const records = await consumeWithHeaders(topic, { expected: n });
  assert.equal(records.length, n);
  const byId = new Map(records.map((r) => [(JSON.parse(r.value!) as Rec).id, r]));
  assert.equal(byId.size, n);
  for (let id = 0; id < n; id++) {
    const r = byId.get(id)!;
    assert.equal(r.key, id % 3 === 0 ? null : `key-${id % 10}`, `key of ${id}`);
    const expected: Array<[string, string]> = id % 4 === 0 ? [] : [["id", String(id)], ["kind", id % 2 === 0 ? "even" : "odd"]];
    assert.deepEqual(r.headers, expected, `headers of ${id}`);
    assert.ok(r.timestamp >= before && r.timestamp <= after, `timestamp of ${id} is the emit time (${r.timestamp} in [${before}, ${after}])`);
  }
  // A key lands where Kafka's Java client would put it (murmur2), on every runtime, so
  // records of one key stay together whichever runtime produced them.
  for (const r of records) {
    if (r.key === null) continue;
    const expected = (murmur2(new TextEncoder().encode(r.key)) & 0x7fffffff) % 3;
    assert.equal(r.partition, expected, `${r.key} on partition ${r.partition}, murmur2 says ${expected}`);
  }
});

test("a record over the topic's max.message.bytes is rejected while its neighbours are delivered", async () => {
  await requireBroker();
  const topic = uniqueTopic("e2e-too-large");
  await createTopic(topic, 3, { "max.message.bytes": 10_000 });
  const transport = await kafkaTransportForTests({ brokers: BOOTSTRAP, topic });
  const sink = createTestSink<Rec>({ transport, batch: { lingerMs: 5 } });
  // 30 000 random hex digits: no codec gets them below 10 000 bytes (at best 4 bits each).
  const random = crypto.getRandomValues(new Uint8Array(15_000));
  const big = Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
  const bigId = 150;
  const n = 300;
  for (let id = 0; id < n; id++) assert.equal(sink.emit({ id, pad: id === bigId ? big : "small" }), true);
  const report = await sink.close({ timeoutMs: 30_000 });
  const stats = sink.stats();
  settled(stats);
  assert.equal(report.flushed, true);
  assert.equal(stats.dropped.rejected.records, 1, `exactly the big record is rejected: ${JSON.stringify(stats.dropped)}`);
  assert.equal(stats.delivered.records, n - 1);
  assert.match(stats.lastError ?? "", /MSG_SIZE_TOO_LARGE|too large/i);
  assert.ok(stats.lastError!.includes(topic), `lastError names the topic: ${stats.lastError}`);

  const ids = idsOf(await consumeValues(topic, { expected: n - 1 }));
  assert.deepEqual(duplicates(ids), []);
  sameSet(ids, Array.from({ length: n }, (_, i) => i).filter((i) => i !== bigId), "every neighbour arrived, the big one did not");
});

test("a topic that does not exist (auto-creation off) is reported: records rejected, lastError names it", async () => {
  await requireBroker();
  const topic = uniqueTopic("e2e-missing");
  const transport = await kafkaTransportForTests({ brokers: BOOTSTRAP, topic, autoCreateTopics: false });
  const sink = createTestSink<Rec>({ transport, batch: { lingerMs: 5 } });
  const n = 20;
  for (let id = 0; id < n; id++) assert.equal(sink.emit({ id, pad: "x" }), true);
  const report = await sink.close({ timeoutMs: 20_000 });
  const stats = sink.stats();
  settled(stats);
  assert.equal(report.flushed, true, "settled before the deadline");
  assert.equal(stats.delivered.records, 0);
  assert.equal(stats.dropped.rejected.records, n, `all rejected: ${JSON.stringify(stats.dropped)}`);
  assert.ok(stats.lastError !== null && stats.lastError.includes(topic), `lastError names the topic: ${stats.lastError}`);
  assert.match(stats.lastError!, /unknown topic/i);
  assert.equal(await topicPartitions(topic), 0, "the topic was not created");
});

// Graded shedding against the real broker: an outage longer than the buffer absorbs,
// with a mix of errors (class 0), request telemetry (class 1) and debug samples
// (class 3). The topic is read back: every error is there, nothing refused is, and the
// counts by class agree with the sink's.
//
// Runs in the fault suite (one test at a time on the shared broker, which it pauses and
// always resumes). Prints one line `fault shedding: …` for the CI log.

import { test } from "node:test";
import assert from "node:assert/strict";
import { conservationErrors } from "../../mod.ts";
import { createTestSink } from "../support/sinks.ts";
import { BOOTSTRAP, brokerReachable, consumeValues, createTopic, kafka, requireBroker, uniqueTopic } from "../support/kafka.ts";
import { kafkaTransportForTests } from "../support/transports.ts";
import { sleep } from "../support/wait.ts";

type Level = "error" | "info" | "debug";
interface Rec {
  level: Level;
  id: number;
  pad: string;
}

const CLASS: Record<Level, number> = { error: 0, info: 1, debug: 3 };
const PAD = "query telemetry ".repeat(3);
/** Of every 40 records: 1 error, 29 request records, 10 debug samples. */
const levelOf = (id: number): Level => (id % 40 === 0 ? "error" : id % 4 === 1 ? "debug" : "info");

test("shedding: an outage longer than the buffer absorbs keeps every error, sheds debug first, and the topic matches the counts by class", async () => {
  await requireBroker();
  const topic = uniqueTopic("fault-shedding");
  await createTopic(topic, 3);
  const capacityBytes = 128 * 1024;
  const sink = createTestSink<Rec>({
    transport: await kafkaTransportForTests({ brokers: BOOTSTRAP, topic }),
    capacityBytes,
    whenFull: "drop-oldest",
    batch: { lingerMs: 10, maxRecords: 50 },
    shedding: { field: "level", names: CLASS },
  });
  const offered = [0, 0, 0, 0];
  const refused = new Set<number>();
  const kept: number[] = [];
  let next = 0;
  let maxHeld = 0;
  const writer = setInterval(() => {
    for (let k = 0; k < 8; k++) {
      const id = next++;
      const level = levelOf(id);
      offered[CLASS[level]]!++;
      if (sink.emit({ level, id, pad: PAD })) kept.push(id);
      else refused.add(id);
    }
    const s = sink.stats();
    maxHeld = Math.max(maxHeld, s.pending.bytes + s.inFlight.bytes);
  }, 10);
  try {
    await sleep(1000);
    await kafka("pause");
    await sleep(6000);
    await kafka("resume");
    await sleep(1000);
    clearInterval(writer);
    const report = await sink.close({ timeoutMs: 60_000 });
    const stats = sink.stats();
    console.log(
      `fault shedding: offered=${JSON.stringify(offered)} delivered=${stats.delivered.records} shed=${JSON.stringify(stats.shed.map((c) => c.records))}` +
        ` buffer_full=${stats.dropped.buffer_full.records} maxHeldBytes=${maxHeld} closeMs=${report.durationMs}`,
    );
    assert.deepEqual(conservationErrors(report), []);
    assert.equal(report.pending.records + report.inFlight.records, 0, "everything settled");
    assert.ok(maxHeld <= capacityBytes, `memory bound: ${maxHeld} <= ${capacityBytes}`);
    assert.equal(report.offered.records, next);

    // Read the topic back.
    const values = await consumeValues(topic, { expected: report.delivered.records, timeoutMs: 30_000 });
    const records = values.map((v) => JSON.parse(v) as Rec);
    const ids = records.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, "no record twice");
    assert.equal(ids.length, report.delivered.records, "the topic holds exactly the delivered records");
    assert.deepEqual(ids.filter((id) => refused.has(id)), [], "no refused record is in the topic");
    const inTopic = [0, 0, 0, 0];
    for (const r of records) inTopic[CLASS[r.level]]!++;

    // Every error is there; none was shed or dropped.
    assert.equal(report.shed[0]!.records, 0);
    assert.equal(inTopic[0], offered[0], `every error delivered: ${inTopic[0]} of ${offered[0]}`);
    // Shedding happened, debug first: a larger share of debug samples than of request records.
    assert.ok(report.shed[3]!.records > 0, "debug samples were shed");
    assert.ok(report.shed[3]!.records / offered[3]! > report.shed[1]!.records / offered[1]!, "debug gave way before request telemetry");
    // The counts by class: what reached the topic plus what was shed is at most what was
    // offered, and what is missing beyond the shed records is the other drops.
    let missing = 0;
    for (let c = 0; c < 4; c++) {
      assert.ok(inTopic[c]! + report.shed[c]!.records <= offered[c]!, `class ${c}: ${inTopic[c]} in the topic + ${report.shed[c]!.records} shed <= ${offered[c]} offered`);
      missing += offered[c]! - inTopic[c]!;
    }
    assert.equal(missing, report.refused.records + report.lost.records, "every record not in the topic was counted as dropped");
  } finally {
    clearInterval(writer);
    await sink.close({ timeoutMs: 1000 });
    await kafka("resume").catch(() => {});
    if (!(await brokerReachable())) await kafka("restart");
  }
});

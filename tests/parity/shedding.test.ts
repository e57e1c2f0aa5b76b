// Graded shedding in both flusher modes: refused by class past its start level, evicted
// least important first under drop-oldest, counted by class everywhere.
import assert from "node:assert/strict";
import { DEFAULT_SHED_LEVELS, DROP_REASONS, type SinkStats } from "../../mod.ts";
import { applied, bytesRecord, makeSink, onlyDrops, parity, seeded, stats, until, within } from "../support/parity.ts";

type Rec = { c: number; i: number };

parity("shedding (drop-oldest): room is made from the least important class first, oldest first, never from a more important one", async (mode) => {
  // Levels that never refuse on arrival, so only eviction sheds; one batch in flight of one record.
  const levels = [{ start: 1, full: 1 }, { start: 1, full: 1 }, { start: 1, full: 1 }, { start: 1, full: 1 }];
  const { sink, transport } = makeSink<Uint8Array>(mode, {
    capacityBytes: 1000,
    whenFull: "drop-oldest",
    batch: { lingerMs: 0, maxRecords: 1, maxInFlight: 1 },
    shedding: { classOf: (r) => r[0]!, levels },
  });
  transport.hang();
  // Ten records fill the buffer: classes 3,1,2,3,0,1,2,3,0,1 (ids 0-9); the first goes in flight.
  const classes = [3, 1, 2, 3, 0, 1, 2, 3, 0, 1];
  assert.ok(sink.emit(bytesRecord(100, classes[0], 0)));
  await until(() => stats(sink).inFlight.records === 1, "the first record is in flight");
  classes.slice(1).forEach((c, i) => assert.ok(sink.emit(bytesRecord(100, c, i + 1))));
  // A class 2 record evicts class 3 records first (ids 3 and 7: the one in flight stays), then
  // the oldest of its own class (buffer_full), never class 0 or 1.
  for (const id of [10, 11, 12]) assert.ok(sink.emit(bytesRecord(100, 2, id)));
  let s = stats(sink);
  assert.equal(s.shed[3]!.records, 2, "both pending class 3 records");
  assert.equal(s.dropped.buffer_full.records, 1, "then the oldest class 2 record");
  // A class 3 record finds only more important ones, and one of its own class in flight: refused.
  assert.equal(sink.emit(bytesRecord(100, 3, 13)), false);
  s = stats(sink);
  onlyDrops(s, { shed: 2, buffer_full: 2 });
  assert.deepEqual(s.shed.map((c) => c.records), [0, 0, 0, 2]);
  transport.release();
  await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  const delivered = transport.received.map((r) => `${r.value[0]}:${r.value[1]}`);
  // In flight first (3:0), then the survivors in their order of arrival.
  assert.deepEqual(delivered, ["3:0", "1:1", "0:4", "1:5", "2:6", "0:8", "1:9", "2:10", "2:11", "2:12"]);
});

parity("shedding (drop-oldest): with a small buffer and a long outage every class 0 record is kept, less important classes shed first", async (mode) => {
  const { sink, transport } = makeSink<Rec>(mode, { capacityBytes: 20_000, whenFull: "drop-oldest", shedding: { classOf: (r) => r.c } });
  transport.hang();
  // One error in 20, request telemetry 15 in 20, debug 4 in 20: 4000 records, far more than fit.
  const mix = [0, ...new Array(15).fill(1), 3, 3, 3, 3];
  let errors = 0;
  for (let i = 0; i < 4000; i++) {
    const c = mix[i % mix.length]!;
    if (c === 0) errors++;
    sink.emit({ c, i });
  }
  const s = stats(sink);
  assert.equal(s.shed[0]!.records, 0);
  assert.ok(s.shed[3]!.records > 0 && s.shed[1]!.records > 0, JSON.stringify(s.shed));
  transport.release();
  const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  const got = transport.texts().map((t) => JSON.parse(t) as Rec);
  assert.equal(got.filter((r) => r.c === 0).length, errors, "every error delivered");
  assert.equal(report.delivered.records, got.length);
  const metrics = sink.metrics();
  assert.match(metrics, new RegExp(`^shedsink_records_shed_total\\{class="3"\\} ${report.shed[3]!.records}$`, "m"));
  assert.match(metrics, /^shedsink_records_shed_total\{class="0"\} 0$/m);
});

parity("shedding (drop-newest): records and bytes by class add up to the shed reason in stats, the close report and metrics", async (mode) => {
  const { sink, transport } = makeSink<Rec>(mode, { capacityBytes: 5000, shedding: { classOf: (r) => r.c } });
  transport.hang();
  for (let i = 0; i < 1000; i++) sink.emit({ c: i % 4, i });
  const s = stats(sink);
  assert.ok(s.dropped.shed.records > 0);
  assert.equal(s.shed[0]!.records, 0, "class 0 is never shed");
  transport.release();
  const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  for (const unit of ["records", "bytes"] as const) {
    assert.equal(report.shed.reduce((n, c) => n + c[unit], 0), report.dropped.shed[unit], unit);
  }
  assert.equal(report.shed.length, 4);
  const metrics = sink.metrics();
  for (let c = 0; c < 4; c++) assert.match(metrics, new RegExp(`^shedsink_records_shed_total\\{class="${c}"\\} ${report.shed[c]!.records}$`, "m"));
  assert.equal(report.delivered.records, transport.received.length);
});

for (const whenFull of ["drop-newest", "drop-oldest"] as const) {
  parity(`shedding (${whenFull}): once the buffer has drained after an outage, a less important class is kept again`, async (mode) => {
    const { sink, transport } = makeSink<{ c: number; p: string }>(mode, {
      capacityBytes: 4000,
      whenFull,
      batch: { lingerMs: 2, maxRecords: 10 },
      shedding: { classOf: (r) => r.c },
    });
    transport.hang();
    await applied(sink);
    // One snapshot per look: two would count a record the worker takes in between twice.
    const held = () => {
      const s = stats(sink);
      return s.pending.bytes + s.inFlight.bytes;
    };
    while (held() < 3000) assert.ok(sink.emit({ c: 0, p: "x".repeat(50) }));
    const full = stats(sink);
    assert.equal(sink.emit({ c: 3, p: "over its start" }), false, `75% full: class 3 is shed (held ${full.pending.bytes} pending + ${full.inFlight.bytes} in flight; after: ${JSON.stringify(stats(sink).dropped)})`);
    transport.release();
    assert.equal(await within(sink.flush(), 3000, "flush()"), true);
    const drained = stats(sink);
    assert.equal(drained.pending.bytes + drained.inFlight.bytes, 0, "drained");
    for (let i = 0; i < 20; i++) assert.equal(sink.emit({ c: 3, p: `after ${i}` }), true, `class 3 record ${i} kept in an empty buffer`);
    onlyDrops(stats(sink), { shed: 1 });
    const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
    assert.equal(report.dropped.shed.records, 1);
  });
}

parity("shedding: a class function that throws or gives no class drops the record as invalid; emit never throws", async (mode) => {
  const { sink } = makeSink<{ c: unknown }>(mode, {
    shedding: {
      classOf: (r) => {
        if (r.c === "throw") throw new Error("no class");
        return r.c as number;
      },
    },
  });
  for (const c of ["throw", 4, -1, 1.5, NaN, "1", null, undefined]) assert.equal(sink.emit({ c }), false, String(c));
  assert.equal(sink.emit({ c: 3 }), true);
  onlyDrops(stats(sink), { invalid: 8 });
  const { sink: named } = makeSink<unknown>(mode, { shedding: { field: "level", names: { error: 0, debug: 3 } } });
  assert.equal(named.emit({ level: "error" }), true);
  assert.equal(named.emit({ level: 3 }), true, "a class number works as well");
  for (const r of [{ level: "trace" }, { level: "toString" }, {}, "text", new Uint8Array(4), null]) assert.equal(named.emit(r), false);
  onlyDrops(stats(named), { invalid: 6 });
  const reports = await within(Promise.all([sink.close({ timeoutMs: 2500 }), named.close({ timeoutMs: 2500 })]), 3000, "close()");
  assert.deepEqual(reports.map((r) => r.delivered.records), [1, 2]);
});

parity("shedding: a sink without it reports no classes and its metrics have no shed series", async (mode) => {
  const { sink } = makeSink(mode);
  sink.emit("x");
  assert.deepEqual(stats(sink).shed, []);
  assert.doesNotMatch(sink.metrics(), /_shed_total/);
  const report = await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.deepEqual(report.shed, []);
});

/** The reason a record was dropped for, from the counters before and after its emit() (null: none). */
function reasonOf(before: SinkStats, after: SinkStats): string | null {
  for (const reason of DROP_REASONS) if (after.dropped[reason].records > before.dropped[reason].records) return reason;
  return null;
}

for (const whenFull of ["drop-newest", "drop-oldest"] as const) {
  parity(`shedding (${whenFull}) under a pseudo-random load with outages: no class shed below its start, class 0 never, counted by class`, async (mode) => {
    const capacity = 4000;
    const { sink, transport } = makeSink<Rec & { p: string }>(mode, {
      capacityBytes: capacity,
      whenFull,
      batch: { lingerMs: 2, maxRecords: 10 },
      shedding: { classOf: (r) => r.c },
    });
    const random = seeded(whenFull === "drop-newest" ? 7 : 11);
    let down = false;
    let refusedShed = 0;
    for (let i = 0; i < 3000; i++) {
      const roll = random();
      if (roll < 0.01) {
        down = !down;
        if (down) transport.hang();
        else transport.release();
        continue;
      }
      if (roll < 0.02) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const c = Math.floor(random() * 4);
      const before = stats(sink);
      const kept = sink.emit({ c, i, p: "x".repeat(Math.floor(random() * 120)) });
      const after = stats(sink);
      const reason = reasonOf(before, after);
      if (!kept && reason === "shed") {
        refusedShed++;
        assert.ok(c > 0, "class 0 is never shed");
        assert.ok(after.shed[c]!.records > before.shed[c]!.records, "counted under its own class");
        // Records held only fall while the flusher works: the fill at the emit was at most `before`'s.
        const used = before.pending.bytes + before.inFlight.bytes;
        assert.ok(used >= DEFAULT_SHED_LEVELS[c]!.start * capacity, `class ${c} shed at ${used} bytes, below its start`);
      }
      assert.equal(after.shed[0]!.records, 0, "class 0 is never shed");
    }
    assert.ok(refusedShed > 0, "the load reached the levels where shedding happens");
    transport.release();
    const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
    onlyDrops(report, Object.fromEntries(DROP_REASONS.map((r) => [r, report.dropped[r].records])));
    assert.equal(report.shed.reduce((n, c) => n + c.records, 0), report.dropped.shed.records);
    assert.equal(report.delivered.records, transport.received.length);
  });
}

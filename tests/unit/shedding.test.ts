// Graded shedding: the policy's share by fill level, the option's validation, and the
// sink under random load and outages against the properties the option promises.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { conservationErrors, createSink, DEFAULT_SHED_LEVELS, DROP_REASONS, InvalidOptionError, memoryTransport, renderMetrics, type ShedLevel, type SinkStats } from "../../mod.ts";
import { createCore } from "../../src/core/core.ts";
import { ShedPolicy } from "../../src/core/shedding.ts";
import { resolveOptions } from "../../src/options.ts";
import { FakeScheduler } from "../support/scheduler.ts";

const FRAME = 20;
type Rec = { c: number; i: number };
const byField = { classOf: (r: Rec) => r.c };
const withDefaults = { ...byField, levels: DEFAULT_SHED_LEVELS };

test("ShedPolicy: nothing below a class's start; between start and full the refused share grows in a straight line, exactly, by counter", () => {
  const policy = new ShedPolicy(withDefaults, 1000);
  // Class 3 (defaults 50% -> 75%): refuses nothing below 500 bytes.
  for (let i = 0; i < 1000; i++) assert.equal(policy.shed(3, 499), false);
  // At 600 bytes the share is 0.4: exactly 40 of 100, the same ones every run.
  const pattern = (p: ShedPolicy<Rec>) => Array.from({ length: 100 }, () => p.shed(3, 600));
  const first = pattern(new ShedPolicy(withDefaults, 1000));
  assert.equal(first.filter(Boolean).length, 40);
  assert.deepEqual(pattern(new ShedPolicy(withDefaults, 1000)), first, "deterministic");
  // At and beyond full, all of it.
  for (let i = 0; i < 100; i++) assert.equal(policy.shed(3, 750), true);
  // Class 0 (start 1) is never refused, whatever the fill.
  for (let used = 0; used <= 1000; used += 10) assert.equal(policy.shed(0, used), false);
  // start == full: all of the class from that fill on.
  const steep = new ShedPolicy({ classOf: (r: Rec) => r.c, levels: [{ start: 1, full: 1 }, { start: 0.5, full: 0.5 }] }, 1000);
  assert.equal(steep.shed(1, 499), false);
  assert.equal(steep.shed(1, 500), true);
});

test("ShedPolicy: the refused share never falls as the fill rises, and over n records at one fill exactly floor or ceil of n times the share are refused", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ start: fc.double({ min: 0, max: 1, noNaN: true }), span: fc.double({ min: 0, max: 1, noNaN: true }) }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 256, max: 1 << 20 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 2, maxLength: 20 }),
      fc.integer({ min: 1, max: 200 }),
      (raw, capacity, fills, n) => {
        const levels: ShedLevel[] = raw.map(({ start, span }) => ({ start, full: Math.min(1, start + span) }));
        const policy = new ShedPolicy({ classOf: () => 0, levels }, capacity);
        const sorted = fills.map((f) => Math.floor(f * capacity)).sort((a, b) => a - b);
        for (let c = 0; c < levels.length; c++) {
          for (let k = 1; k < sorted.length; k++) {
            assert.ok(policy.share(c, sorted[k]!) >= policy.share(c, sorted[k - 1]!), "monotone in the fill");
          }
          const used = sorted[sorted.length - 1]!;
          if (used < levels[c]!.start * capacity || levels[c]!.start >= 1) assert.equal(policy.share(c, used), 0, "nothing below the start");
          const fresh = new ShedPolicy({ classOf: () => 0, levels }, capacity);
          let refused = 0;
          for (let i = 0; i < n; i++) if (fresh.shed(c, used)) refused++;
          const expected = n * fresh.share(c, used);
          assert.ok(refused >= Math.floor(expected + 1e-9) - 1 && refused <= Math.ceil(expected - 1e-9), `refused ${refused} of ${n} at share ${fresh.share(c, used)}`);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test("shedding: a bad option is an InvalidOptionError naming it", () => {
  const transport = memoryTransport();
  const bad: Array<[unknown, string]> = [
    [{}, "shedding"], // neither classOf nor field
    [{ classOf: () => 0, field: "level" }, "shedding"], // both
    [{ classOf: 3 }, "shedding.classOf"],
    [{ field: "level", names: { error: 0, debug: 4 } }, "shedding.names.debug"], // unknown class (4 levels: 0-3)
    [{ field: "level", names: { error: 1.5 } }, "shedding.names.error"],
    [{ classOf: () => 0, names: { error: 0 } }, "shedding.names"],
    [{ classOf: () => 0, levels: [] }, "shedding.levels"],
    [{ classOf: () => 0, levels: Array.from({ length: 9 }, () => ({ start: 1, full: 1 })) }, "shedding.levels"], // more than 8 classes
    [{ classOf: () => 0, levels: [{ start: 1, full: 1 }, { start: 0.9, full: 0.8 }] }, "shedding.levels.1"], // start after full
    [{ classOf: () => 0, levels: [{ start: 1, full: 1 }, { start: 0.5, full: 0.7 }, { start: 0.6, full: 0.7 }] }, "shedding.levels.2"], // less important, later
    [{ classOf: () => 0, levels: [{ start: 1.5, full: 1 }] }, "shedding.levels.0.start"],
    [{ classOf: () => 0, level: [] }, "shedding.level"], // misspelt
    ["level", "shedding"],
  ];
  for (const [shedding, option] of bad) {
    assert.throws(
      () => createSink({ transport, shedding: shedding as never }),
      (error: unknown) => error instanceof InvalidOptionError && error.option === option,
      `${JSON.stringify(shedding)} names ${option}`,
    );
  }
  assert.throws(
    () => createSink({ transport, capacityBytes: 2 ** 30, maxRecordBytes: 2 ** 29 + 1, batch: { maxBytes: 2 ** 30 }, shedding: byField as never }),
    (error: unknown) => error instanceof InvalidOptionError && error.option === "maxRecordBytes",
  );
  // Eight classes are allowed, and so are the defaults.
  createSink({ transport, shedding: { classOf: () => 0, levels: Array.from({ length: 8 }, () => ({ start: 1, full: 1 })) } });
  createSink({ transport, shedding: { classOf: () => 0, levels: DEFAULT_SHED_LEVELS } });
});

test("shedding: a class function that throws or gives no class drops the record as invalid; emit never throws", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink<{ c: unknown }>({
    transport,
    scheduler,
    shedding: {
      classOf: (r) => {
        if (r.c === "throw") throw new Error("no class");
        return r.c as number;
      },
    },
  });
  for (const c of ["throw", 4, -1, 1.5, NaN, "1", null, undefined]) assert.equal(sink.emit({ c }), false, String(c));
  assert.equal(sink.emit({ c: 3 }), true);
  const stats = sink.stats();
  assert.equal(stats.dropped.invalid.records, 8);
  assert.equal(stats.dropped.shed.records, 0);
  assert.deepEqual(conservationErrors(stats), []);
  // By field: a name that is not in `names`, or a record with no such field, is invalid too.
  const named = createSink<unknown>({ transport, scheduler, shedding: { field: "level", names: { error: 0, debug: 3 } } });
  assert.equal(named.emit({ level: "error" }), true);
  assert.equal(named.emit({ level: 3 }), true, "a class number works as well");
  for (const r of [{ level: "trace" }, { level: "toString" }, {}, "text", new Uint8Array(4), null]) assert.equal(named.emit(r), false);
  assert.equal(named.stats().dropped.invalid.records, 6);
  await scheduler.drive(Promise.all([sink.close(), named.close()]));
});

test("shedding: a sink without it reports no classes, and its metrics have no shed series", async () => {
  const sink = createSink({ transport: memoryTransport() });
  sink.emit("x");
  assert.deepEqual(sink.stats().shed, []);
  assert.doesNotMatch(sink.metrics(), /_shed_total/);
  await sink.close();
});

/** The reason a record was dropped for, from the counters before and after its emit() (null: accepted). */
function reasonOf(before: SinkStats, after: SinkStats): string | null {
  for (const reason of DROP_REASONS) if (after.dropped[reason].records > before.dropped[reason].records) return reason;
  return null;
}

for (const [whenFull, kind] of [["drop-newest", "objects"], ["drop-oldest", "objects"], ["drop-newest", "bytes"], ["drop-oldest", "bytes"], ["drop-oldest", "strings"]] as const) {
  test(`shedding (${whenFull}, ${kind}): under random load and outages no class is shed below its start, class 0 never, and the counters are conserved by reason and by class`, async () => {
    const seen = { refusedShed: 0, evictedShed: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            { weight: 14, arbitrary: fc.record({ op: fc.constant("emit" as const), c: fc.integer({ min: 0, max: 3 }), pad: fc.integer({ min: 0, max: 120 }) }) },
            { weight: 1, arbitrary: fc.record({ op: fc.constant("outage" as const), on: fc.boolean() }) },
            { weight: 1, arbitrary: fc.record({ op: fc.constant("time" as const), ms: fc.integer({ min: 1, max: 50 }) }) },
          ),
          { minLength: 200, maxLength: 600 },
        ),
        async (ops) => {
          const scheduler = new FakeScheduler();
          const transport = memoryTransport();
          const capacity = 4000;
          // Bytes carry their class in their first byte (and take the byte fast path while
          // the buffer is below every start level); objects in a field.
          const sink = createSink<Rec & { p: string } | Uint8Array | string>({
            transport,
            scheduler,
            capacityBytes: capacity,
            whenFull,
            batch: { lingerMs: 5, maxRecords: 10 },
            // Strings carry it in their first character.
            shedding: { classOf: (r) => (r instanceof Uint8Array ? r[0]! : typeof r === "string" ? Number(r[0]) : r.c) },
          });
          let i = 0;
          let down = false;
          for (const step of ops) {
            if (step.op === "outage") {
              if (step.on && !down) transport.hang();
              if (!step.on && down) transport.release();
              down = step.on;
              continue;
            }
            if (step.op === "time") {
              await scheduler.advance(step.ms);
              continue;
            }
            const before = sink.stats();
            const used = before.pending.bytes + before.inFlight.bytes;
            const kept = sink.emit(
              kind === "bytes"
                ? Uint8Array.of(step.c, ...new Array(step.pad + 10).fill(i++ & 255))
                : kind === "strings"
                ? `${step.c}:${i++}:${"x".repeat(step.pad)}`
                : { c: step.c, i: i++, p: "x".repeat(step.pad) },
            );
            const after = sink.stats();
            assert.deepEqual(conservationErrors(after), []);
            const reason = reasonOf(before, after);
            if (kept) assert.ok(reason === null || (whenFull === "drop-oldest" && (reason === "shed" || reason === "buffer_full" || reason === "expired")), `kept, yet ${reason}`);
            // Refused as shed: only at or above the class's start, never class 0.
            if (!kept && reason === "shed") {
              seen.refusedShed++;
              const refusedBefore = before.shed[step.c]!.records;
              assert.ok(after.shed[step.c]!.records > refusedBefore, "counted under its own class");
              assert.ok(step.c > 0, "class 0 is never shed");
              assert.ok(used >= DEFAULT_SHED_LEVELS[step.c]!.start * capacity, `class ${step.c} shed at ${used} bytes, below its start`);
            }
            // Records evicted to make room are of a less important class than the one that came in.
            if (kept && reason === "shed") {
              seen.evictedShed++;
              for (let c = 0; c <= step.c; c++) assert.equal(after.shed[c]!.records, before.shed[c]!.records, `a class ${step.c} record evicted class ${c}`);
            }
            assert.equal(after.shed[0]!.records, 0, "class 0 is never shed");
          }
          transport.release();
          const report = await scheduler.drive(sink.close({ timeoutMs: 1000 }));
          assert.deepEqual(conservationErrors(report), []);
          assert.equal(report.shed.reduce((n, c) => n + c.records, 0), report.dropped.shed.records);
          assert.equal(report.delivered.records, transport.received.length);
          // Every record delivered carries the class it was emitted with, whatever path it took.
          const text = (r: { value: Uint8Array }) => new TextDecoder().decode(r.value);
          const classes = transport.received.map((r) => (kind === "bytes" ? r.value[0]! : kind === "strings" ? Number(text(r)[0]) : (JSON.parse(text(r)) as Rec).c));
          assert.ok(classes.every((c) => c >= 0 && c <= 3));
        },
      ),
      { numRuns: 60 },
    );
    // The runs reached the levels where shedding happens (so the checks above ran).
    assert.ok(seen.refusedShed > 0, "records shed on arrival");
    if (whenFull === "drop-oldest") assert.ok(seen.evictedShed > 0, "records shed by eviction");
  });
}

test("shedding (drop-oldest): room is made from the least important class first, oldest first, and never from a more important one", async () => {
  const transport = memoryTransport();
  transport.hang();
  const scheduler = new FakeScheduler();
  // Levels that never refuse on arrival, so only eviction sheds; one batch in flight of one record.
  const levels = [{ start: 1, full: 1 }, { start: 1, full: 1 }, { start: 1, full: 1 }, { start: 1, full: 1 }];
  const sink = createSink<Uint8Array>({
    transport,
    scheduler,
    capacityBytes: 1000,
    whenFull: "drop-oldest",
    batch: { lingerMs: 0, maxRecords: 1, maxInFlight: 1 },
    shedding: { classOf: (r) => r[0]!, levels },
  });
  const record = (c: number, id: number) => Uint8Array.of(c, id, ...new Array(100 - FRAME - 2).fill(0)); // 100 bytes framed
  // Ten records fill the buffer: classes 3,1,2,3,0,1,2,3,0,1 (ids 0-9); the first goes in flight.
  const classes = [3, 1, 2, 3, 0, 1, 2, 3, 0, 1];
  classes.forEach((c, id) => assert.ok(sink.emit(record(c, id))));
  await scheduler.advance(1);
  assert.equal(sink.stats().inFlight.records, 1);
  // A class 2 record evicts class 3 records first (ids 3 and 7: the one in flight stays), then
  // the oldest of its own class (buffer_full), never class 0 or 1.
  assert.ok(sink.emit(record(2, 10)));
  assert.ok(sink.emit(record(2, 11)));
  assert.ok(sink.emit(record(2, 12)));
  let stats = sink.stats();
  assert.equal(stats.shed[3]!.records, 2, "both pending class 3 records");
  assert.equal(stats.dropped.buffer_full.records, 1, "then the oldest class 2 record");
  // A class 3 record finds only more important ones, and one of its own class in flight: refused.
  assert.equal(sink.emit(record(3, 13)), false);
  stats = sink.stats();
  assert.equal(stats.dropped.buffer_full.records, 2);
  assert.deepEqual(conservationErrors(stats), []);
  transport.release();
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  const delivered = transport.received.map((r) => `${r.value[0]}:${r.value[1]}`);
  // In flight first (3:0), then the survivors in their order of arrival.
  assert.deepEqual(delivered, ["3:0", "1:1", "0:4", "1:5", "2:6", "0:8", "1:9", "2:10", "2:11", "2:12"]);
});

test("shedding: with a small buffer and a long outage, every class 0 record that fits is kept, and less important classes are shed first (drop-oldest)", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport();
  transport.hang();
  const sink = createSink<Rec>({ transport, scheduler, capacityBytes: 20_000, whenFull: "drop-oldest", shedding: byField });
  // One error in 20, request telemetry 15 in 20, debug 4 in 20: 4000 records, far more than fit.
  const mix = [0, ...new Array(15).fill(1), 3, 3, 3, 3];
  let errors = 0;
  for (let i = 0; i < 4000; i++) {
    const c = mix[i % mix.length]!;
    if (c === 0) errors++;
    sink.emit({ c, i });
  }
  const stats = sink.stats();
  assert.equal(stats.shed[0]!.records, 0);
  assert.ok(stats.shed[3]!.records > 0 && stats.shed[1]!.records > 0);
  transport.release();
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  const got = transport.texts().map((t) => JSON.parse(t) as Rec);
  assert.equal(got.filter((r) => r.c === 0).length, errors, "every error delivered");
  const metrics = renderMetrics(sink.stats());
  assert.match(metrics, new RegExp(`^shedsink_records_shed_total\\{class="3"\\} ${stats.shed[3]!.records}$`, "m"));
  assert.match(metrics, /^shedsink_records_shed_total\{class="0"\} 0$/m);
});

test("shedding: records and bytes by class add up to the shed reason in stats, the close report and metrics", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport();
  transport.hang();
  const sink = createSink<Rec>({ transport, scheduler, capacityBytes: 5000, shedding: byField });
  for (let i = 0; i < 1000; i++) sink.emit({ c: i % 4, i });
  transport.release();
  const report = await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.deepEqual(conservationErrors(report), []);
  const sum = (unit: "records" | "bytes") => report.shed.reduce((n, c) => n + c[unit], 0);
  assert.ok(report.dropped.shed.records > 0);
  assert.equal(sum("records"), report.dropped.shed.records);
  assert.equal(sum("bytes"), report.dropped.shed.bytes);
  assert.equal(report.shed.length, 4);
  const core = createCore({ settings: resolveOptions<Rec>({ transport, shedding: byField }), transport, scheduler });
  assert.deepEqual(Array.from(core.backlog.held!), [0, 0, 0, 0]);
});

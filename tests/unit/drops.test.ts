// One test per drop reason: each provokes the drop and checks it is counted under its
// reason, and only there.
import { test } from "node:test";
import assert from "node:assert/strict";
import { conservationErrors, createSink, DROP_REASONS, type DropReason, memoryTransport, type SinkStats } from "../../mod.ts";
import { FakeScheduler } from "../support/scheduler.ts";

const FRAME = 20;

function onlyDrops(stats: SinkStats, expected: Partial<Record<DropReason, number>>): void {
  for (const reason of DROP_REASONS) {
    assert.equal(stats.dropped[reason].records, expected[reason] ?? 0, `dropped.${reason}`);
  }
  assert.deepEqual(conservationErrors(stats), []);
}

test("buffer_full: drop-newest refuses the record that does not fit and keeps the older ones", async () => {
  const transport = memoryTransport();
  transport.hang();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, capacityBytes: 1000, batch: { lingerMs: 0 } });
  const record = new Uint8Array(100 - FRAME); // 100 bytes framed
  const kept: boolean[] = [];
  for (let i = 0; i < 15; i++) kept.push(sink.emit(record));
  assert.deepEqual(kept, [...Array(10).fill(true), ...Array(5).fill(false)]);
  const stats = sink.stats();
  onlyDrops(stats, { buffer_full: 5 });
  assert.equal(stats.refused.records, 5, "drop-newest refuses on arrival");
  assert.equal(stats.dropped.buffer_full.bytes, 500);
  transport.release();
  const report = await scheduler.drive(sink.close({ timeoutMs: 2000 }));
  assert.equal(report.delivered.records, 10);
});

test("buffer_full: drop-oldest evicts the oldest pending records to make room for the newest", async () => {
  const transport = memoryTransport();
  transport.hang();
  // One record per batch and one batch in flight: record 0 is in flight, the rest pending.
  const scheduler = new FakeScheduler();
  const sink = createSink({
    scheduler,
    transport,
    capacityBytes: 1000,
    whenFull: "drop-oldest",
    batch: { lingerMs: 0, maxRecords: 1, maxInFlight: 1 },
  });
  const ids = Array.from({ length: 15 }, (_, i) => i);
  const pad = "x".repeat(100 - FRAME - 2);
  sink.emit(`00${pad}`);
  await scheduler.advance(0);
  assert.equal(sink.stats().inFlight.records, 1, "first record in flight");
  for (const id of ids.slice(1)) assert.equal(sink.emit(String(id).padStart(2, "0") + pad), true);
  const stats = sink.stats();
  onlyDrops(stats, { buffer_full: 5 });
  assert.equal(stats.refused.records, 0, "drop-oldest evicts accepted records instead of refusing");
  assert.equal(stats.lost.records, 5);
  transport.release();
  await scheduler.drive(sink.close({ timeoutMs: 2000 }));
  const delivered = transport.texts().map((t) => Number(t.slice(0, 2)));
  // In flight (0) cannot be evicted; 1..5 were the oldest pending and went.
  assert.deepEqual(delivered, [0, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
});

test("oversize: a record larger than maxRecordBytes is dropped, one that fits exactly is kept", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, maxRecordBytes: 200, capacityBytes: 4096 });
  assert.equal(sink.emit(new Uint8Array(200 - FRAME)), true, "exactly maxRecordBytes fits");
  assert.equal(sink.emit(new Uint8Array(201 - FRAME)), false, "one byte over is oversize");
  assert.equal(sink.emit("é".repeat(100)), false, "a string whose UTF-8 is over the limit is oversize");
  assert.equal(sink.emit("a".repeat(1000)), false, "a string obviously over the limit is oversize");
  const stats = sink.stats();
  onlyDrops(stats, { oversize: 3 });
  assert.equal(stats.dropped.oversize.bytes >= 201 + 220 + 1020, true);
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.equal(transport.received.length, 1);
});

test("invalid: values that cannot be encoded are dropped, emit never throws", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink<unknown>({ transport, scheduler });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const bad: unknown[] = [
    { n: 10n },
    cyclic,
    { toJSON() { throw new Error("nope"); } },
    undefined,
    () => 1,
    Symbol("s"),
  ];
  for (const value of bad) assert.equal(sink.emit(value), false);
  onlyDrops(sink.stats(), { invalid: bad.length });
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.equal(transport.received.length, 0);
});

test("closed: emit and writable.write after close are dropped as closed and do not throw", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler });
  const writer = sink.writable.getWriter();
  sink.emit("before");
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.equal(sink.emit("after"), false);
  await writer.write("after, through the stream");
  const stats = sink.stats();
  onlyDrops(stats, { closed: 2 });
  assert.equal(stats.state, "closed");
  assert.deepEqual(transport.texts(), ["before"]);
});

test("expired: pending records older than maxAgeMs are dropped as expired", async () => {
  const transport = memoryTransport();
  transport.hang();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, maxAgeMs: 30, batch: { lingerMs: 0, maxRecords: 1, maxInFlight: 1 } });
  for (let i = 0; i < 5; i++) sink.emit(`r${i}`);
  await scheduler.advance(60);
  // Room is made by expiry when the buffer is asked for more; the flusher also sweeps.
  transport.release();
  assert.equal(await scheduler.drive(sink.flush({ timeoutMs: 2000 })), true);
  const stats = sink.stats();
  // r0 was in flight and got delivered once released; r1..r4 were pending and aged out.
  assert.equal(stats.delivered.records, 1);
  onlyDrops(stats, { expired: 4 });
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
});

test("expired: records held for a retry expire too", async () => {
  const transport = memoryTransport();
  transport.failNext(1_000_000);
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, maxAgeMs: 40, batch: { lingerMs: 0 }, retry: { initialDelayMs: 5, maxDelayMs: 10 } });
  sink.emit("a");
  sink.emit("b");
  await scheduler.advance(40);
  assert.equal(sink.stats().inFlight.records, 2, "held for a retry, not yet older than maxAgeMs");
  onlyDrops(sink.stats(), {});
  // The next retry (backoffs stay under maxDelayMs) finds them too old.
  await scheduler.advance(11);
  onlyDrops(sink.stats(), { expired: 2 });
  assert.ok(sink.stats().retries > 0);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("rejected: records the transport refuses for good are dropped as rejected, neighbours deliver", async () => {
  const transport = memoryTransport();
  transport.rejectWhen((record) => new TextDecoder().decode(record.value) === "poison");
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler });
  sink.emit("a");
  sink.emit("poison");
  sink.emit("b");
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  const stats = sink.stats();
  onlyDrops(stats, { rejected: 1 });
  assert.deepEqual(transport.texts(), ["a", "b"]);
  assert.match(stats.lastError ?? "", /record refused/);
});

test("rejected: a permanent batch failure drops the whole batch as rejected, without retrying", async () => {
  const transport = memoryTransport();
  transport.failPermanently(true);
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler });
  sink.emit("a");
  sink.emit("b");
  assert.equal(await scheduler.drive(sink.flush({ timeoutMs: 1000 })), true);
  onlyDrops(sink.stats(), { rejected: 2 });
  assert.equal(sink.stats().retries, 0);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("shutdown: records a send still holds at the deadline, ignoring the abort, are dropped as shutdown and counted in doubt", async () => {
  const sent: number[] = [];
  const transport = {
    name: "deaf",
    send: (batch: { records: ReadonlyArray<unknown> }) => {
      sent.push(batch.records.length);
      return new Promise<undefined>(() => {}); // never settles, whatever the signal says
    },
    state: () => "up" as const,
    close: async () => {},
  };
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 0, maxRecords: 3, maxInFlight: 2 } });
  for (let i = 0; i < 10; i++) sink.emit(`r${i}`);
  const report = await scheduler.drive(sink.close({ timeoutMs: 100 }));
  assert.ok(report.durationMs <= 100, `close kept its deadline (${report.durationMs} ms)`);
  assert.deepEqual(sent, [3, 3], "two batches of three in flight");
  assert.equal(report.dropped.shutdown.records, 10);
  assert.deepEqual(report.inDoubt, { records: 6, bytes: 6 * (20 + 2) }, "the six records the transport held, not the four it never got");
  assert.deepEqual(conservationErrors(report), []);
});

test("shutdown: records an aborted send reports aborted, or rejects with the abort, are counted in doubt; those it reports to retry are not", async () => {
  for (const answer of ["report", "reject"] as const) {
    const transport = {
      name: "aborting",
      send: (batch: { records: ReadonlyArray<unknown> }, signal: AbortSignal) =>
        new Promise<{ aborted: number[]; retry: number[] } | undefined>((resolve, reject) => {
          signal.addEventListener("abort", () => {
            // The first two records were on their way, the rest never left.
            if (answer === "report") resolve({ aborted: [0, 1], retry: batch.records.map((_, i) => i).slice(2) });
            else reject(signal.reason);
          }, { once: true });
        }),
      state: () => "up" as const,
      close: async () => {},
    };
    const scheduler = new FakeScheduler();
    const sink = createSink({ transport, scheduler, batch: { lingerMs: 0, maxRecords: 5, maxInFlight: 1 } });
    for (let i = 0; i < 8; i++) sink.emit(`r${i}`);
    const report = await scheduler.drive(sink.close({ timeoutMs: 200 }));
    assert.equal(report.dropped.shutdown.records, 8, answer);
    assert.deepEqual(report.inDoubt, answer === "report" ? { records: 2, bytes: 2 * 22 } : { records: 5, bytes: 5 * 22 }, answer);
    assert.deepEqual(conservationErrors(report), [], answer);
  }
});

test("shutdown: close drops what it could not deliver by its deadline as shutdown", async () => {
  const transport = memoryTransport();
  transport.hang();
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 0, maxRecords: 2, maxInFlight: 1 } });
  for (let i = 0; i < 6; i++) sink.emit(`r${i}`);
  const report = await scheduler.drive(sink.close({ timeoutMs: 100 }));
  assert.equal(report.flushed, false);
  assert.equal(report.dropped.shutdown.records, 6);
  assert.deepEqual(report.inDoubt, { records: 0, bytes: 0 }, "the hung memory transport received nothing");
  assert.equal(report.pending.records, 0);
  assert.equal(report.inFlight.records, 0);
  onlyDrops(sink.stats(), { shutdown: 6 });
  assert.equal(transport.received.length, 0);
});

test("shed: with graded shedding, a record of a class past its start level is refused as shed, counted under its class", async () => {
  const transport = memoryTransport();
  transport.hang();
  const scheduler = new FakeScheduler();
  // Class 1 gives way from half full, all of it from then on; class 0 only when full.
  const sink = createSink<Uint8Array>({
    transport,
    scheduler,
    capacityBytes: 1000,
    shedding: { classOf: (r) => r[0]!, levels: [{ start: 1, full: 1 }, { start: 0.5, full: 0.5 }] },
  });
  const record = (c: number) => Uint8Array.of(c, ...new Array(100 - FRAME - 1).fill(7)); // 100 bytes framed
  for (let i = 0; i < 5; i++) assert.ok(sink.emit(record(1)), "below half full: kept");
  assert.equal(sink.emit(record(1)), false, "at half full: shed");
  assert.ok(sink.emit(record(0)), "class 0 still goes in");
  const stats = sink.stats();
  onlyDrops(stats, { shed: 1 });
  assert.deepEqual(stats.shed, [{ records: 0, bytes: 0 }, { records: 1, bytes: 100 }]);
  transport.release();
  const report = await scheduler.drive(sink.close({ timeoutMs: 2000 }));
  assert.equal(report.delivered.records, 6);
});

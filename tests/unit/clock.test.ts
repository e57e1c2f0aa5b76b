import { test } from "node:test";
import assert from "node:assert/strict";
import { CoarseClock, REFRESH_EVERY } from "../../src/core/clock.ts";
import { ATTENTION_BYTES } from "../../src/core/encode.ts";
import { createSink, memoryTransport } from "../../mod.ts";
import { FakeScheduler } from "../support/scheduler.ts";

/** A clock read the way the sink reads it: with a counter that steps once per read. */
function counted(): { clock: CoarseClock; read: () => number; scheduler: FakeScheduler } {
  const scheduler = new FakeScheduler();
  let reads = 0;
  const clock = new CoarseClock(scheduler, () => reads);
  return { clock, read: () => clock.now(++reads), scheduler };
}

test("CoarseClock reads the real time on the first read after an idle spell", async () => {
  const { clock, read, scheduler } = counted();
  assert.equal(read(), scheduler.now());
  await scheduler.advance(30); // the ticker stops after a tick with no reads
  assert.equal(read(), scheduler.now(), "no stale time after idling");
  clock.stop();
});

test("CoarseClock keeps up during a synchronous burst longer than a tick", () => {
  const { clock, read, scheduler } = counted();
  read();
  const start = scheduler.now();
  // Nothing yields here, so only the every-N-reads refresh can move the clock: time
  // passes (a millisecond every 16 reads) but no timer runs.
  const readsPerMs = 16;
  let reads = 0;
  let last = 0;
  while (scheduler.now() < start + 20) {
    last = read();
    reads++;
    const lag = scheduler.now() - last;
    assert.ok(lag >= 0, "never ahead of the time");
    assert.ok(lag <= REFRESH_EVERY / readsPerMs, `read ${reads} lags ${lag} ms: more than ${REFRESH_EVERY} reads' worth`);
    if (reads % readsPerMs === 0) scheduler.jump(1);
  }
  assert.ok(reads > REFRESH_EVERY);
  assert.ok(last >= start + 10, `clock advanced during the burst (read ${last}, burst started ${start})`);
  clock.stop();
});

test("CoarseClock follows the wall clock while reads keep coming", async () => {
  const { clock, read, scheduler } = counted();
  read();
  // Two reads per tick: the ticker keeps running and keeps the clock current, far more
  // often than the every-N-reads refresh would.
  for (let i = 0; i < 40; i++) {
    await scheduler.advance(0.5);
    const lag = scheduler.now() - read();
    assert.ok(lag >= 0 && lag <= 1, `within a tick of the time (lags ${lag} ms)`);
  }
  assert.equal(scheduler.pending, 1, "the ticker ran all along");
  clock.stop();
  assert.equal(scheduler.pending, 0, "stop() cancels the ticker");
});

test("CoarseClock's ticker stops once reads stop, and starts again on the next read", async () => {
  const { clock, read, scheduler } = counted();
  read();
  assert.equal(scheduler.pending, 1, "reading starts the ticker");
  assert.equal(scheduler.keepingAlive, 0, "the ticker does not keep the process alive");
  await scheduler.advance(30);
  assert.equal(scheduler.pending, 0, "stopped after a tick without reads");
  // Stopped: the next read is the real time even without a refresh step.
  assert.equal(clock.now(1), scheduler.now(), "the first read after the ticker stopped reads the real time");
  assert.equal(scheduler.pending, 1, "and starts the ticker again");
  clock.stop();
});

test("CoarseClock tells its owner when the ticker stops", async () => {
  const scheduler = new FakeScheduler();
  let stops = 0;
  const clock = new CoarseClock(scheduler, () => 0, 1, () => stops++);
  clock.read();
  await scheduler.advance(1);
  assert.equal(stops, 1, "once, when the first tick saw no activity");
  await scheduler.advance(10);
  assert.equal(stops, 1);
  clock.stop();
});

// The sink stamps byte records (no key, no headers) on a shorter path that uses the
// clock's last tick; these check that path's timestamps against the wall clock.

test("a sink stamps a byte record emitted after an idle spell with the current time", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport();
  // A long linger: the flusher does not stir between the two records.
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 60_000 } });
  sink.emit(new Uint8Array(8));
  await scheduler.advance(30); // the clock's ticker stops after a tick without records
  const emittedAt = scheduler.now();
  sink.emit(new Uint8Array(8));
  assert.ok(await scheduler.drive(sink.flush()));
  assert.equal(transport.received[0]!.timestamp, emittedAt - 30);
  assert.equal(transport.received[1]!.timestamp, emittedAt, "stamped with the time of the emit, not the last tick");
  await scheduler.drive(sink.close());
});

for (const [kind, record] of [["byte", new Uint8Array(1000)], ["string", "s".repeat(1000)], ["JSON", { pad: "j".repeat(990) }]] as const) {
  test(`a sink's timestamps follow the wall clock through a synchronous burst of ${kind} records`, async () => {
    const scheduler = new FakeScheduler();
    const transport = memoryTransport();
    transport.hang(); // keep everything pending: the burst must not depend on the flusher
    const sink = createSink<unknown>({ transport, scheduler, capacityBytes: 8 * 1024 * 1024 });
    const start = scheduler.now();
    const end = start + 40;
    const emittedAt: number[] = [];
    // Nothing yields: timers cannot tick, so only the sink's own refreshes move the clock.
    // The time moves by a millisecond every 50 records (about 50 KB).
    const perMs = 50;
    while (scheduler.now() < end) {
      emittedAt.push(scheduler.now());
      assert.ok(sink.emit(record));
      if (emittedAt.length % perMs === 0) scheduler.jump(1);
    }
    transport.release();
    assert.ok(await scheduler.drive(sink.flush()));
    const stamps = transport.received.map((r) => r.timestamp);
    assert.equal(stamps.length, emittedAt.length);
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i]! >= stamps[i - 1]!, "timestamps never go back");
    assert.equal(stamps[0], start, "the first record is stamped with the burst's start");
    // The sink reads the time at least every ATTENTION_BYTES of records (64 KB: about 64
    // of these, under 2 ms of this burst), and every REFRESH_EVERY records.
    const most = Math.ceil(Math.min(ATTENTION_BYTES / 1000, REFRESH_EVERY) / perMs) + 1;
    stamps.forEach((stamp, i) => {
      const lag = emittedAt[i]! - stamp;
      assert.ok(lag >= 0 && lag <= most, `record ${i}, emitted at +${emittedAt[i]! - start} ms, stamped ${lag} ms late (at most ${most})`);
    });
    assert.ok(stamps.at(-1)! >= end - 10, `last stamp ${stamps.at(-1)} within 10 ms of the burst's end ${end}`);
    await scheduler.drive(sink.close());
  });
}

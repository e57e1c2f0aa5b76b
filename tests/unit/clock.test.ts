import { test } from "node:test";
import assert from "node:assert/strict";
import { CoarseClock, REFRESH_EVERY } from "../../src/core/clock.ts";
import { createSink, memoryTransport } from "../../mod.ts";
import { sleep } from "../support/wait.ts";

/** A clock read the way the sink reads it: with a counter that steps once per read. */
function counted(): { clock: CoarseClock; read: () => number } {
  let reads = 0;
  const clock = new CoarseClock(() => reads);
  return { clock, read: () => clock.now(++reads) };
}

test("CoarseClock reads the real time on the first read after an idle spell", async () => {
  const { clock, read } = counted();
  const before = Date.now();
  const first = read();
  assert.ok(first >= before && first <= Date.now());
  await sleep(30); // the ticker stops after a tick with no reads
  const again = Date.now();
  assert.ok(read() >= again, "no stale time after idling");
  clock.stop();
});

test("CoarseClock keeps up during a synchronous burst longer than a tick", () => {
  const { clock, read } = counted();
  read();
  const until = Date.now() + 20;
  let last = 0;
  let reads = 0;
  // Nothing yields here, so only the every-N-reads refresh can move the clock.
  while (Date.now() < until) {
    last = read();
    reads++;
  }
  assert.ok(reads > REFRESH_EVERY);
  assert.ok(last >= until - 20 + 10, `clock advanced during the burst (read ${last}, burst ended ${until})`);
  clock.stop();
});

test("CoarseClock follows the wall clock while reads keep coming", async () => {
  const { clock, read } = counted();
  for (let i = 0; i < 10; i++) {
    await sleep(5);
    const now = Date.now();
    assert.ok(Math.abs(read() - now) <= 20, "within a few ticks of Date.now()");
  }
  clock.stop();
});

test("CoarseClock's ticker stops once reads stop, and starts again on the next read", async () => {
  const { clock, read } = counted();
  read();
  await sleep(30);
  // Stopped: the next read is the real time even without a refresh step.
  const before = Date.now();
  assert.ok(clock.now(1) >= before, "the first read after the ticker stopped reads the real time");
  clock.stop();
});

// The sink stamps byte records (no key, no headers) on a shorter path that uses the
// clock's last tick; these check that path's timestamps against the wall clock.

test("a sink stamps a byte record emitted after an idle spell with the current time", async () => {
  const transport = memoryTransport();
  // A long linger: the flusher does not stir between the two records.
  const sink = createSink({ transport, batch: { lingerMs: 60_000 } });
  sink.emit(new Uint8Array(8));
  await sleep(30); // the clock's ticker stops after a tick without records
  const before = Date.now();
  sink.emit(new Uint8Array(8));
  const after = Date.now();
  assert.ok(await sink.flush({ timeoutMs: 2000 }));
  const stamp = transport.received[1]!.timestamp;
  assert.ok(stamp >= before && stamp <= after, `stamped ${stamp}, emitted between ${before} and ${after}`);
  await sink.close();
});

for (const [kind, record] of [["byte", new Uint8Array(1000)], ["string", "s".repeat(1000)], ["JSON", { pad: "j".repeat(990) }]] as const) {
  test(`a sink's timestamps follow the wall clock through a synchronous burst of ${kind} records`, async () => {
    const transport = memoryTransport();
    transport.hang(); // keep everything pending: the burst must not depend on the flusher
    const sink = createSink<unknown>({ transport, capacityBytes: 8 * 1024 * 1024 });
    const start = Date.now();
    const end = start + 40;
    const stamps: number[] = [];
    let now = start;
    // Nothing yields: timers cannot tick, so only the sink's own refreshes move the clock.
    while (now < end) {
      assert.ok(sink.emit(record));
      const spin = performance.now() + 0.02;
      while (performance.now() < spin);
      now = Date.now();
    }
    const emitted = sink.stats().accepted.records;
    transport.release();
    assert.ok(await sink.flush({ timeoutMs: 5000 }));
    for (const r of transport.received) stamps.push(r.timestamp);
    assert.equal(stamps.length, emitted);
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i]! >= stamps[i - 1]!, "timestamps never go back");
    assert.ok(stamps[0]! >= start - 1 && stamps[0]! <= start + 5, `first stamp ${stamps[0]} near the burst's start ${start}`);
    assert.ok(stamps.at(-1)! >= end - 10, `last stamp ${stamps.at(-1)} within 10 ms of the burst's end ${end}`);
    await sink.close();
  });
}

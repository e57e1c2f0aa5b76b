import { test } from "node:test";
import assert from "node:assert/strict";
import { CoarseClock, REFRESH_EVERY } from "../../src/core/clock.ts";
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

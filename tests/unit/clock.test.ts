import { test } from "node:test";
import assert from "node:assert/strict";
import { CoarseClock, REFRESH_EVERY } from "../../src/core/clock.ts";
import { sleep } from "../support/wait.ts";

test("CoarseClock reads the real time on the first read after an idle spell", async () => {
  const clock = new CoarseClock();
  const before = Date.now();
  const first = clock.now();
  assert.ok(first >= before && first <= Date.now());
  await sleep(30); // the ticker stops after a tick with no reads
  const again = Date.now();
  assert.ok(clock.now() >= again, "no stale time after idling");
  clock.stop();
});

test("CoarseClock keeps up during a synchronous burst longer than a tick", () => {
  const clock = new CoarseClock();
  clock.now();
  const until = Date.now() + 20;
  let last = 0;
  let reads = 0;
  // Nothing yields here, so only the every-N-reads refresh can move the clock.
  while (Date.now() < until) {
    last = clock.now();
    reads++;
  }
  assert.ok(reads > REFRESH_EVERY);
  assert.ok(last >= until - 20 + 10, `clock advanced during the burst (read ${last}, burst ended ${until})`);
  clock.stop();
});

test("CoarseClock follows the wall clock while reads keep coming", async () => {
  const clock = new CoarseClock();
  for (let i = 0; i < 10; i++) {
    await sleep(5);
    const now = Date.now();
    assert.ok(Math.abs(clock.now() - now) <= 20, "within a few ticks of Date.now()");
  }
  clock.stop();
});

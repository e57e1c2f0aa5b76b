// The stall watch (src/transports/kafka/health.ts) on a fake scheduler: it looks once a
// second (or every quietMs, if shorter), and time moves only when the test says so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { StallWatch } from "../../src/transports/kafka/health.ts";
import { FakeScheduler } from "../support/scheduler.ts";

function watch(quietMs = 5000) {
  const state = { waiting: 0, answers: 0, stalls: [] as number[] };
  const w = new StallWatch(() => state.waiting, () => state.answers, (ms) => state.stalls.push(ms), quietMs);
  const scheduler = new FakeScheduler();
  w.start(scheduler);
  return { w, state, scheduler };
}

test("StallWatch: records waiting with no answer for quietMs is a stall, told once per quietMs", async () => {
  const { w, state, scheduler } = watch();
  state.waiting = 3;
  // The first look (at 1 s) starts the quiet time.
  await scheduler.advance(5999);
  assert.deepEqual(state.stalls, []);
  assert.equal(w.stalled, false);
  await scheduler.advance(1);
  assert.deepEqual(state.stalls, [5000]);
  assert.equal(w.stalled, true);
  await scheduler.advance(1000);
  assert.deepEqual(state.stalls, [5000], "not again before another quietMs");
  await scheduler.advance(4000);
  assert.deepEqual(state.stalls, [5000, 10_000], "the quiet time counts from the last answer");
  w.stop();
});

test("StallWatch: an answer, or nothing waiting, ends the stall and restarts the clock", async () => {
  const { w, state, scheduler } = watch();
  state.waiting = 1;
  await scheduler.advance(6000);
  assert.equal(w.stalled, true);
  state.answers++;
  await scheduler.advance(1000);
  assert.equal(w.stalled, false, "an answer came");
  await scheduler.advance(4000);
  assert.equal(w.stalled, false, "4 s since the answer");
  await scheduler.advance(1000);
  assert.equal(w.stalled, true);
  state.waiting = 0;
  await scheduler.advance(1000);
  assert.equal(w.stalled, false, "nothing waits");
  await scheduler.advance(30_000);
  assert.equal(state.stalls.length, 2, "an idle transport never stalls");
  w.stop();
});

test("StallWatch: answers that keep coming, however slowly, are no stall", async () => {
  const { w, state, scheduler } = watch(1000);
  state.waiting = 100;
  const answering = scheduler.every(900, () => state.answers++);
  await scheduler.advance(20_000);
  assert.deepEqual(state.stalls, []);
  answering.cancel();
  await scheduler.advance(1000);
  assert.equal(state.stalls.length, 1, "and once they stop, the stall is told");
  w.stop();
});

test("StallWatch: stop() cancels its timer and clears the stall; start() is idempotent", async () => {
  const { w, state, scheduler } = watch();
  w.start(scheduler);
  assert.equal(scheduler.pending, 1, "one timer, however often started");
  state.waiting = 1;
  await scheduler.advance(6000);
  assert.equal(w.stalled, true);
  w.stop();
  assert.equal(w.stalled, false);
  assert.equal(scheduler.pending, 0);
});

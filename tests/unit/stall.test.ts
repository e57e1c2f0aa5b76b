import { test } from "node:test";
import assert from "node:assert/strict";
import { StallWatch } from "../../src/transports/stall.ts";

function watch(quietMs = 5000) {
  const state = { waiting: 0, answers: 0, stalls: [] as number[] };
  const w = new StallWatch(() => state.waiting, () => state.answers, (ms) => state.stalls.push(ms), quietMs);
  return { w, state };
}

test("StallWatch: records waiting with no answer for quietMs is a stall, told once per quietMs", () => {
  const { w, state } = watch();
  state.waiting = 3;
  w.check(0);
  w.check(4999);
  assert.deepEqual(state.stalls, []);
  assert.equal(w.stalled, false);
  w.check(5000);
  assert.deepEqual(state.stalls, [5000]);
  assert.equal(w.stalled, true);
  w.check(6000);
  assert.deepEqual(state.stalls, [5000], "not again before another quietMs");
  w.check(10_000);
  assert.deepEqual(state.stalls, [5000, 10_000], "the quiet time counts from the last answer");
});

test("StallWatch: an answer, or nothing waiting, ends the stall and restarts the clock", () => {
  const { w, state } = watch();
  state.waiting = 1;
  w.check(0);
  w.check(5000);
  assert.equal(w.stalled, true);
  state.answers++;
  w.check(5500);
  assert.equal(w.stalled, false, "an answer came");
  w.check(10_000);
  assert.equal(w.stalled, false, "4.5 s since the answer");
  w.check(10_500);
  assert.equal(w.stalled, true);
  state.waiting = 0;
  w.check(11_000);
  assert.equal(w.stalled, false, "nothing waits");
  w.check(30_000);
  assert.deepEqual(state.stalls.length, 2, "an idle transport never stalls");
});

test("StallWatch: answers that keep coming, however slowly, are no stall", () => {
  const { w, state } = watch(1000);
  state.waiting = 100;
  for (let t = 0; t <= 20_000; t += 900) {
    state.answers++;
    w.check(t);
  }
  assert.deepEqual(state.stalls, []);
});

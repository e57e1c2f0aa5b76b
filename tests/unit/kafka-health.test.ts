// A Kafka transport's view of its connection (src/transports/kafka/health.ts) on a fake
// scheduler: connecting, up, down with a probe every second until one is answered, the
// stall watch, closed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Health } from "../../src/transports/kafka/health.ts";
import { FakeScheduler } from "../support/scheduler.ts";

/** A Health whose probe answers as `answer` says (null: cannot probe now), counting probes. */
function health(answer: () => Promise<boolean> | null = () => Promise.resolve(true)) {
  const state = { waiting: 0, probes: 0 };
  const scheduler = new FakeScheduler();
  const h = new Health(() => state.waiting, () => {
    state.probes++;
    return answer();
  });
  h.start(scheduler);
  return { h, state, scheduler };
}

test("Health: connecting until a broker answers; down before that changes nothing", async () => {
  const { h, state, scheduler } = health();
  assert.equal(h.state(), "connecting");
  h.down();
  await scheduler.advance(5000);
  assert.equal(h.state(), "connecting", "never up: still connecting, not down");
  assert.equal(state.probes, 0, "no probe before the first answer");
  h.markUp();
  assert.equal(h.state(), "up");
  h.close();
});

test("Health: down probes every second until a probe is answered, then stops probing", async () => {
  let ok = false;
  const { h, state, scheduler } = health(() => Promise.resolve(ok));
  h.markUp();
  h.down();
  assert.equal(h.state(), "down");
  await scheduler.advance(999);
  assert.equal(state.probes, 0, "the first probe a second after going down");
  await scheduler.advance(1);
  assert.equal(state.probes, 1);
  await scheduler.advance(2000);
  assert.equal(state.probes, 3, "one a second while unanswered");
  assert.equal(h.state(), "down");
  ok = true;
  await scheduler.advance(1000);
  assert.equal(h.state(), "up");
  await scheduler.advance(10_000);
  assert.equal(state.probes, 4, "no probe while up");
  assert.equal(scheduler.pending, 1, "only the stall watch's timer");
  h.close();
});

test("Health: a probe that cannot be sent now, or gets no answer within a second, is tried again", async () => {
  let mode: "none" | "hang" | "ok" = "none";
  const { h, state, scheduler } = health(() => (mode === "none" ? null : mode === "hang" ? new Promise<boolean>(() => {}) : Promise.resolve(true)));
  h.markUp();
  h.down();
  await scheduler.advance(3000);
  assert.equal(state.probes, 3);
  mode = "hang";
  await scheduler.advance(1000);
  assert.equal(state.probes, 4, "a probe under way");
  await scheduler.advance(1000);
  assert.equal(state.probes, 4, "given up on after a second; the next one a second later");
  mode = "ok";
  await scheduler.advance(1000);
  assert.equal(state.probes, 5);
  assert.equal(h.state(), "up");
  h.close();
});

test("Health: records with no answer for 5 s mean down; an answered probe does not count while they still wait", async () => {
  const { h, state, scheduler } = health();
  h.markUp();
  state.waiting = 2;
  await scheduler.advance(5999);
  assert.equal(h.state(), "up");
  await scheduler.advance(1);
  assert.equal(h.state(), "down", "stalled");
  assert.equal(h.stalled, true);
  await scheduler.advance(3000);
  assert.ok(state.probes >= 2, "probed");
  assert.equal(h.state(), "down", "a broker that answers metadata but not produce requests stays down");
  h.answered();
  await scheduler.advance(2000);
  assert.equal(h.stalled, false);
  assert.equal(h.state(), "up", "answers came: the next probe counts");
  h.close();
});

test("Health: close() is final and leaves no timer", async () => {
  const { h, scheduler } = health(() => null);
  h.markUp();
  h.down();
  h.close();
  assert.equal(h.state(), "closed");
  h.markUp();
  h.down();
  assert.equal(h.state(), "closed");
  assert.equal(scheduler.pending, 0);
  await scheduler.advance(10_000);
  assert.equal(h.state(), "closed");
});

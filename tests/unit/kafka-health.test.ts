// A Kafka transport's view of its connection (src/transports/kafka/health.ts) on a fake
// scheduler: connecting, up, down with a probe every second until one is answered, the
// stall watch, closed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { failure } from "../../src/transports/kafka/failures.ts";
import { Health } from "../../src/transports/kafka/health.ts";
import { FakeScheduler } from "../support/scheduler.ts";

/** A Health whose probe answers as `answer` says (null: cannot probe now), counting probes. */
function health(answer: () => Promise<boolean> | null = () => Promise.resolve(true), random: () => number = Math.random) {
  const state = { waiting: 0, probes: 0 };
  const scheduler = new FakeScheduler();
  const h = new Health(() => state.waiting, () => {
    state.probes++;
    return answer();
  }, null, random);
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

test("Health: down on credentials or TLS, the probes back off (1 s doubling to 10 s, with jitter), and come back at once when answered", async () => {
  let ok = false;
  let jitter = 0.5; // no jitter: 0.8 + 0.4 * 0.5 = 1
  const { h, state, scheduler } = health(() => Promise.resolve(ok), () => jitter);
  h.fail(failure("TLS_CERTIFICATE_VERIFY_FAILED", "self-signed certificate"));
  assert.equal(h.state(), "down");
  assert.equal(h.backingOff, true);
  const at: number[] = [];
  const started = scheduler.now();
  for (let i = 0; i < 7; i++) {
    const before = state.probes;
    while (state.probes === before) await scheduler.advance(100);
    at.push(scheduler.now() - started);
  }
  assert.deepEqual(at, [1000, 3000, 7000, 15000, 25000, 35000, 45000], "1, 2, 4, 8 s apart, then 10 s at most");
  jitter = 0; // 20% early, from the next delay drawn on
  await scheduler.advance(10_000);
  const before = state.probes;
  await scheduler.advance(7999);
  assert.equal(state.probes, before);
  await scheduler.advance(1);
  assert.equal(state.probes, before + 1, "jitter: 8 s instead of 10");
  ok = true;
  await scheduler.advance(12_000);
  assert.equal(h.state(), "up");
  assert.equal(h.backingOff, false);
  // Down on an unreachable broker: one probe a second again, from the start.
  ok = false;
  h.down();
  assert.equal(h.backingOff, false, "an unreachable broker costs no handshake: a probe a second");
  const unreachable = state.probes;
  await scheduler.advance(3000);
  assert.equal(state.probes - unreachable, 3);
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

// Per-record outcome codes of one send (src/transports/kafka/outcomes.ts) and the report
// the flusher reads from them.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { OutRecord } from "../../mod.ts";
import { ABORTED, DELIVERED, EXPIRED, Outcomes, PENDING, REJECTED, RETRY, SENT, SPLIT } from "../../src/transports/kafka/outcomes.ts";

const records = (n: number): OutRecord[] => Array.from({ length: n }, () => ({ key: null, value: new Uint8Array(1), headers: null, timestamp: 0, size: 21 }));
const live = () => new AbortController().signal;
const aborted = () => {
  const c = new AbortController();
  c.abort();
  return c.signal;
};

test("Outcomes: a send whose records were all delivered reports nothing; an empty one neither", () => {
  const o = new Outcomes(records(3));
  o.codes.fill(DELIVERED);
  assert.equal(o.report(live()), undefined);
  assert.equal(new Outcomes([]).report(live()), undefined);
});

test("Outcomes: every code lands in its list, in index order", () => {
  const o = new Outcomes(records(8));
  o.codes.set([PENDING, SENT, DELIVERED, REJECTED, RETRY, EXPIRED, ABORTED, SPLIT]);
  assert.deepEqual(o.report(live()), { rejected: [3], retry: [0, 4, 7], expired: [5], aborted: [1, 6] });
});

test("Outcomes: once the send was aborted, records to retry are aborted, but those never handed on stay retry", () => {
  const o = new Outcomes(records(5));
  o.codes.set([PENDING, SENT, RETRY, SPLIT, DELIVERED]);
  assert.deepEqual(o.report(aborted()), { retry: [0], aborted: [1, 2, 3] });
  const none = new Outcomes(records(2));
  assert.deepEqual(none.report(aborted()), { retry: [0, 1] }, "nothing handed on: all may be sent again");
});

test("Outcomes: the first rejection's error is the report's error; else the last retry's", () => {
  const first = new Error("too large");
  const o = new Outcomes(records(4));
  o.codes.fill(DELIVERED);
  o.reject(0, first);
  o.reject(1, new Error("second"));
  o.retry([2, 3], new Error("retry"));
  assert.deepEqual(o.report(live()), { rejected: [0, 1], retry: [2, 3], error: first });
  const r = new Outcomes(records(3));
  r.codes.fill(DELIVERED);
  r.retry([0, 1, 2], new Error("early"));
  const last = new Error("late");
  r.retry([0, 1, 2], last, 1);
  assert.deepEqual(r.report(live()), { retry: [0, 1, 2], error: last }, "retry(indexes, error, from) marks from `from` on");
});

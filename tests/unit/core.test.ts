// The flusher's own behaviour, through the core as createCore wires it, on fake time: a
// transport that answers only when the test says so, and time that moves only when the
// test advances it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Counts, conservationErrors, DROP_REASONS, type DropReason } from "../../src/core/accounting.ts";
import type { Batch, SendReport, Transport } from "../../src/core/contract.ts";
import { type Core, createCore } from "../../src/core/core.ts";
import { TransportError } from "../../src/core/errors.ts";
import { resolveOptions, type SinkOptions } from "../../src/options.ts";
import { FakeScheduler, settle } from "../support/scheduler.ts";

const FRAME = 20; // bytes of framing per record (no key, no headers)
const decoder = new TextDecoder();

/** One call of `send`, answered when the test says. */
interface Send {
  readonly batch: Batch;
  readonly signal: AbortSignal;
  answered: boolean;
  answer(report?: SendReport): void;
  fail(error: unknown): void;
}

/** A transport that keeps every send waiting until the test answers it (or answers at once when `auto`). */
interface Scripted extends Transport {
  readonly sends: Send[];
  /** Sends not answered yet. */
  open(): Send[];
  /** Answers every open send as delivered. */
  deliverAll(): void;
}

function scriptedTransport(auto = false): Scripted {
  const sends: Send[] = [];
  return {
    name: "scripted",
    sends,
    send(batch, signal) {
      return new Promise((resolve, reject) => {
        const send: Send = {
          batch,
          signal,
          answered: false,
          answer(report) {
            assert.ok(!send.answered, "a send is answered once");
            send.answered = true;
            resolve(report);
          },
          fail(error) {
            assert.ok(!send.answered, "a send is answered once");
            send.answered = true;
            reject(error);
          },
        };
        sends.push(send);
        if (auto) send.answer(undefined);
      });
    },
    state: () => "up",
    close: () => Promise.resolve(),
    open: () => sends.filter((s) => !s.answered),
    deliverAll() {
      for (const send of sends) if (!send.answered) send.answer(undefined);
    },
  };
}

const texts = (batch: Batch): string[] => batch.records.map((r) => decoder.decode(r.value));

interface Rig {
  readonly scheduler: FakeScheduler;
  readonly transport: Scripted;
  readonly core: Core<string | Uint8Array>;
  emit(record: string | Uint8Array): boolean;
  /** The ledger's counters; asserts that they are conserved. */
  counts(): Counts;
}

/** A core wired by createCore, on a fake scheduler, with a scripted transport. */
function rig(options: Omit<SinkOptions<string | Uint8Array>, "transport">, extra: { random?: () => number; auto?: boolean } = {}): Rig {
  const scheduler = new FakeScheduler();
  const transport = scriptedTransport(extra.auto ?? false);
  const settings = resolveOptions<string | Uint8Array>({ transport, ...options });
  const core = createCore<string | Uint8Array>({ settings, transport, scheduler, random: extra.random });
  return {
    scheduler,
    transport,
    core,
    emit: (record) => core.writer.write(record),
    counts() {
      const c = core.ledger.snapshot();
      assert.deepEqual(conservationErrors(c), []);
      return c;
    },
  };
}

function dropsOf(c: Counts): Partial<Record<DropReason, number>> {
  const out: Partial<Record<DropReason, number>> = {};
  for (const reason of DROP_REASONS) if (c.dropped[reason].records > 0) out[reason] = c.dropped[reason].records;
  return out;
}

const retriable = () => new TransportError("TRANSPORT_UNAVAILABLE", "broker down", { retriable: true });

test("Flusher sends a partial batch after lingerMs, not before", async () => {
  const { scheduler, transport, emit, counts } = rig({ batch: { lingerMs: 20, maxRecords: 100 } });
  emit("a");
  await scheduler.advance(5);
  emit("b"); // lingering is timed from the oldest record
  await scheduler.advance(14);
  assert.equal(transport.sends.length, 0, "nothing sent after lingerMs - 1");
  assert.equal(counts().pending.records, 2);
  await scheduler.advance(1);
  assert.equal(transport.sends.length, 1, "sent at lingerMs");
  assert.deepEqual(texts(transport.sends[0]!.batch), ["a", "b"]);
  assert.deepEqual(counts().inFlight, { records: 2, bytes: 2 * (FRAME + 1) });
  transport.deliverAll();
  await settle();
  assert.deepEqual(counts().delivered, { records: 2, bytes: 2 * (FRAME + 1) });
});

test("Flusher times lingering from the oldest pending record, also when it runs meanwhile", async () => {
  const { scheduler, transport, emit } = rig({ batch: { lingerMs: 20, maxRecords: 100, maxInFlight: 1 } });
  emit("a");
  await scheduler.advance(20);
  assert.equal(transport.sends.length, 1);
  emit("b"); // waits for the send in flight, and lingers from now
  await scheduler.advance(10);
  transport.sends[0]!.answer(); // the flusher runs again, 10 ms into b's linger
  await scheduler.advance(9);
  assert.equal(transport.sends.length, 1, "b has waited 19 ms");
  await scheduler.advance(1);
  assert.equal(transport.sends.length, 2, "b has waited lingerMs");
  assert.deepEqual(texts(transport.sends[1]!.batch), ["b"]);
});

test("Flusher sends a batch at once when it reaches maxRecords, without time passing", async () => {
  const { scheduler, transport, emit, counts } = rig({ batch: { lingerMs: 60_000, maxRecords: 4 } });
  const start = scheduler.now();
  for (const r of ["a", "b", "c"]) emit(r);
  await settle();
  assert.equal(transport.sends.length, 0, "three records linger");
  emit("d");
  emit("e");
  await settle();
  assert.equal(scheduler.now(), start, "no time passed");
  assert.equal(transport.sends.length, 1);
  assert.deepEqual(texts(transport.sends[0]!.batch), ["a", "b", "c", "d"]);
  assert.equal(counts().pending.records, 1, "the fifth record lingers");
});

test("Flusher sends a batch at once when it reaches maxBatchBytes, without time passing", async () => {
  // Byte records of 50 bytes framed; they take the writer's fast path.
  const { scheduler, transport, emit, counts } = rig({ batch: { lingerMs: 60_000, maxBytes: 150 } });
  const start = scheduler.now();
  emit(new Uint8Array(50 - FRAME));
  emit(new Uint8Array(50 - FRAME));
  await settle();
  assert.equal(transport.sends.length, 0, "100 bytes linger");
  emit(new Uint8Array(50 - FRAME));
  emit(new Uint8Array(50 - FRAME));
  await settle();
  assert.equal(scheduler.now(), start, "no time passed");
  assert.equal(transport.sends.length, 1);
  assert.equal(transport.sends[0]!.batch.bytes, 150);
  assert.equal(transport.sends[0]!.batch.records.length, 3);
  assert.equal(counts().pending.bytes, 50);
});

test("Flusher keeps at most maxInFlight sends in the transport's hands", async () => {
  const { scheduler, transport, emit, counts } = rig({ batch: { lingerMs: 0, maxRecords: 1, maxInFlight: 2 } });
  for (let i = 0; i < 5; i++) emit(`r${i}`);
  await scheduler.advance(1000);
  assert.equal(transport.sends.length, 2);
  assert.equal(counts().inFlight.records, 2);
  let answered = 0;
  while (answered < 5) {
    transport.open()[0]!.answer();
    answered++;
    await scheduler.advance(0);
    assert.ok(transport.open().length <= 2, `${transport.open().length} sends open`);
    assert.equal(transport.open().length, Math.min(2, 5 - answered), "a send answered makes room for the next");
    counts();
  }
  assert.deepEqual(transport.sends.map((s) => texts(s.batch)[0]), ["r0", "r1", "r2", "r3", "r4"], "in order");
  assert.equal(counts().delivered.records, 5);
});

test("Flusher retries a retriable failure after the backoff, not before, and a success resets the backoff", async () => {
  // The jitter pinned at its top: each delay is just under initialDelayMs * 2 ** attempt.
  const { scheduler, transport, core, emit, counts } = rig(
    { batch: { lingerMs: 0 }, retry: { initialDelayMs: 100, maxDelayMs: 300 } },
    { random: () => 0.999999 },
  );
  emit("x");
  await scheduler.advance(0);
  assert.equal(transport.sends.length, 1);
  const expected = [99, 199, 299]; // capped by maxDelayMs on the third
  for (const [attempt, delay] of expected.entries()) {
    transport.sends.at(-1)!.fail(retriable());
    await settle();
    assert.equal(counts().inFlight.records, 1, "the record is held, still counted in flight");
    await scheduler.advance(delay - 1);
    assert.equal(transport.sends.length, attempt + 1, `retry ${attempt + 1} not before ${delay} ms`);
    await scheduler.advance(1);
    assert.equal(transport.sends.length, attempt + 2, `retry ${attempt + 1} at ${delay} ms`);
    assert.deepEqual(texts(transport.sends.at(-1)!.batch), ["x"]);
  }
  transport.sends.at(-1)!.answer();
  await settle();
  assert.equal(core.flusher.retries, 3);
  assert.deepEqual(dropsOf(counts()), {});
  assert.equal(counts().delivered.records, 1);
  // After a success the next failure waits the first delay again.
  emit("y");
  await scheduler.advance(0);
  transport.sends.at(-1)!.fail(retriable());
  await scheduler.advance(98);
  assert.equal(transport.sends.length, 5);
  await scheduler.advance(1);
  assert.equal(transport.sends.length, 6, "backoff reset to initialDelayMs");
});

test("Flusher draws each backoff from [0, initialDelayMs * 2 ** attempt)", async () => {
  // The jitter at its bottom: no wait at all.
  const { scheduler, transport, emit, counts } = rig(
    { batch: { lingerMs: 0 }, retry: { initialDelayMs: 100, maxDelayMs: 1000 } },
    { random: () => 0 },
  );
  emit("x");
  await scheduler.advance(0);
  const start = scheduler.now();
  for (let i = 0; i < 3; i++) {
    transport.sends.at(-1)!.fail(retriable());
    await scheduler.advance(0);
  }
  assert.equal(transport.sends.length, 4, "every retry at once");
  assert.equal(scheduler.now(), start);
  transport.deliverAll();
  await settle();
  assert.equal(counts().delivered.records, 1);
});

test("Flusher drops a batch as rejected on a permanent failure, without retrying", async () => {
  const { scheduler, transport, core, emit, counts } = rig({ batch: { lingerMs: 0 } });
  emit("a");
  emit("bb");
  await scheduler.advance(0);
  const refused = new Error("no such topic");
  transport.sends[0]!.fail(refused);
  await scheduler.advance(60_000);
  assert.equal(transport.sends.length, 1, "not retried");
  const c = counts();
  assert.deepEqual(dropsOf(c), { rejected: 2 });
  assert.equal(c.dropped.rejected.bytes, 2 * FRAME + 3);
  assert.equal(c.inFlight.records, 0);
  assert.equal(core.flusher.retries, 0);
  assert.equal(core.flusher.lastError, refused);
});

test("Flusher applies a per-record report record by record, and conservation holds at every step", async () => {
  const { scheduler, transport, core, emit, counts } = rig(
    { batch: { lingerMs: 0 }, retry: { initialDelayMs: 10, maxDelayMs: 10 } },
    { random: () => 0.5 },
  );
  const records = ["ok", "rejected", "retry1", "expired", "retry22", "aborted"];
  for (const r of records) emit(r);
  counts();
  await scheduler.advance(0);
  assert.deepEqual(texts(transport.sends[0]!.batch), records);
  counts();
  const why = new Error("too large");
  transport.sends[0]!.answer({ rejected: [1], retry: [2, 4], expired: [3], aborted: [5], error: why });
  await settle();
  const size = (text: string) => FRAME + text.length;
  let c = counts();
  assert.deepEqual(c.delivered, { records: 1, bytes: size("ok") });
  assert.deepEqual(c.dropped.rejected, { records: 1, bytes: size("rejected") });
  assert.deepEqual(c.dropped.expired, { records: 1, bytes: size("expired") });
  assert.deepEqual(c.dropped.shutdown, { records: 1, bytes: size("aborted") }, "aborted: fate unknown");
  assert.deepEqual(core.flusher.inDoubt, { records: 1, bytes: size("aborted") });
  assert.deepEqual(c.inFlight, { records: 2, bytes: size("retry1") + size("retry22") }, "the two to retry are held");
  assert.equal(core.flusher.lastError, why);
  await scheduler.advance(4);
  assert.equal(transport.sends.length, 1, "retried after the backoff (5 ms), not before");
  await scheduler.advance(1);
  assert.equal(transport.sends.length, 2);
  assert.deepEqual(texts(transport.sends[1]!.batch), ["retry1", "retry22"], "only the records to retry, in order");
  counts();
  transport.sends[1]!.answer();
  await settle();
  c = counts();
  assert.equal(c.delivered.records, 3);
  assert.deepEqual(c.inFlight, { records: 0, bytes: 0 });
  assert.deepEqual(dropsOf(c), { rejected: 1, expired: 1, shutdown: 1 });
});

test("Flusher drops records held for a retry as expired once they are older than maxAgeMs", async () => {
  // Every retry 399 ms after the failure; the records reach maxAgeMs between the third and fourth.
  const { scheduler, transport, emit, counts } = rig(
    { maxAgeMs: 1000, batch: { lingerMs: 0 }, retry: { initialDelayMs: 400, maxDelayMs: 400 } },
    { random: () => 0.999 },
  );
  emit("a");
  emit("b");
  const born = scheduler.now();
  await scheduler.advance(0);
  for (let i = 0; i < 2; i++) {
    transport.sends.at(-1)!.fail(retriable());
    await scheduler.advance(399);
    counts();
  }
  // Sent at +0, +399 and +798: younger than maxAgeMs each time. The retry due at +1197
  // finds them older.
  assert.equal(transport.sends.length, 3);
  assert.equal(scheduler.now() - born, 798);
  transport.sends.at(-1)!.fail(retriable());
  await scheduler.advance(398);
  assert.deepEqual(dropsOf(counts()), {}, "held, not expired, before the retry");
  assert.equal(counts().inFlight.records, 2);
  await scheduler.advance(1);
  assert.equal(transport.sends.length, 3, "not sent again");
  const c = counts();
  assert.deepEqual(dropsOf(c), { expired: 2 });
  assert.deepEqual(c.inFlight, { records: 0, bytes: 0 });
});

test("Flusher drops pending records older than maxAgeMs as expired when it next runs", async () => {
  const { scheduler, transport, emit, counts } = rig({ maxAgeMs: 100, batch: { lingerMs: 0, maxRecords: 1, maxInFlight: 1 } });
  emit("in flight");
  emit("old");
  await scheduler.advance(50);
  emit("young");
  await scheduler.advance(51);
  assert.equal(transport.sends.length, 1, "one send at a time");
  assert.deepEqual(dropsOf(counts()), {});
  transport.sends[0]!.answer();
  await scheduler.advance(0);
  assert.deepEqual(dropsOf(counts()), { expired: 1 }, "the pending record over maxAgeMs");
  assert.deepEqual(texts(transport.sends[1]!.batch), ["young"]);
});

test("Flusher.flush(timeoutMs) resolves false at its deadline and true once everything accepted before it is settled", async () => {
  const { scheduler, transport, core, emit, counts } = rig({ batch: { lingerMs: 60_000 } });
  assert.equal(await core.flusher.flush(10), true, "nothing to wait for");
  emit("a");
  let first: boolean | null = null;
  void core.flusher.flush(50).then((r) => (first = r));
  await settle();
  assert.equal(transport.sends.length, 1, "a flush sends a partial batch without lingering");
  await scheduler.advance(49);
  assert.equal(first, null, "still waiting before its deadline");
  await scheduler.advance(1);
  assert.equal(first, false, "false at its deadline");
  assert.equal(counts().inFlight.records, 1, "the record stays in flight");
  let second: boolean | null = null;
  void core.flusher.flush(1000).then((r) => (second = r));
  emit("after the flush"); // not waited for
  await settle();
  transport.sends[0]!.answer();
  await settle();
  assert.equal(second, true, "true once the records before it are settled");
  assert.equal(counts().pending.records + counts().inFlight.records, 1, "the later record is not settled");
});

test("Flusher.flush() resolves true when its records are dropped rather than delivered", async () => {
  const { scheduler, transport, core, emit, counts } = rig({ batch: { lingerMs: 0 } });
  emit("a");
  await scheduler.advance(0);
  const flushed = core.flusher.flush(1000);
  transport.sends[0]!.fail(new Error("refused"));
  assert.equal(await flushed, true);
  assert.deepEqual(dropsOf(counts()), { rejected: 1 });
});

test("Flusher.stop(graceMs) aborts sends in flight, waits up to graceMs, then drops what is left as shutdown", async () => {
  const { scheduler, transport, core, emit, counts } = rig({ batch: { lingerMs: 0, maxRecords: 2, maxInFlight: 2 } });
  for (let i = 0; i < 7; i++) emit(`r${i}`);
  await scheduler.advance(0);
  assert.equal(transport.sends.length, 2);
  const [answers, deaf] = transport.sends as [Send, Send];
  // The first send answers the abort: its first record was on its way, the other never left.
  answers.signal.addEventListener("abort", () => answers.answer({ aborted: [0], retry: [1] }), { once: true });
  let stopped = false;
  void core.flusher.stop(100).then(() => (stopped = true));
  assert.ok(answers.signal.aborted && deaf.signal.aborted, "every send in flight is aborted");
  await scheduler.advance(99);
  assert.equal(stopped, false, "waits for the send that did not answer");
  assert.equal(counts().inFlight.records, 2);
  await scheduler.advance(1);
  assert.equal(stopped, true, "gives up at graceMs");
  const c = counts();
  assert.deepEqual(dropsOf(c), { shutdown: 7 });
  assert.deepEqual(c.pending, { records: 0, bytes: 0 });
  assert.deepEqual(c.inFlight, { records: 0, bytes: 0 });
  // In doubt: r0 (reported aborted) and r2, r3 (no answer); not r1 (never left) nor r4..r6 (never sent).
  assert.deepEqual(core.flusher.inDoubt, { records: 3, bytes: 3 * (FRAME + 2) });
  deaf.answer(); // a late answer changes nothing
  await scheduler.advance(1000);
  assert.deepEqual(counts().dropped.shutdown.records, 7);
  assert.equal(counts().delivered.records, 0);
  assert.equal(transport.sends.length, 2, "nothing sent after stop");
});

test("Flusher.stop(graceMs) returns as soon as every send in flight has answered", async () => {
  const { scheduler, transport, core, emit, counts } = rig({ batch: { lingerMs: 0 } });
  emit("a");
  await scheduler.advance(0);
  const send = transport.sends[0]!;
  send.signal.addEventListener("abort", () => send.answer({ retry: [0] }), { once: true });
  const start = scheduler.now();
  await core.flusher.stop(10_000);
  assert.equal(scheduler.now(), start, "no time passed");
  assert.deepEqual(dropsOf(counts()), { shutdown: 1 });
  assert.deepEqual(core.flusher.inDoubt, { records: 0, bytes: 0 }, "a record the transport never handed on is not in doubt");
  assert.equal(scheduler.keepingAlive, 0);
});

test("Flusher's idle lingering and backoff timers do not keep the process alive; a pending flush does", async () => {
  const { scheduler, transport, core, emit, counts } = rig(
    { batch: { lingerMs: 20 }, retry: { initialDelayMs: 100, maxDelayMs: 100 } },
    { random: () => 0.999 },
  );
  emit("a");
  assert.ok(scheduler.pending >= 1, "lingering");
  assert.equal(scheduler.keepingAlive, 0, "lingering does not keep the process alive");
  await scheduler.advance(20);
  transport.sends[0]!.fail(retriable());
  await settle();
  assert.equal(scheduler.nextAt - scheduler.now(), 99, "backing off");
  assert.equal(scheduler.keepingAlive, 0, "backing off does not keep the process alive");
  const flushed = core.flusher.flush(Infinity); // no deadline: no timer of its own
  await settle();
  assert.equal(scheduler.keepingAlive, 1, "the backoff keeps the process alive while a flush waits for it");
  assert.equal(scheduler.nextAt - scheduler.now(), 99, "and still ends when it did");
  await scheduler.advance(99);
  assert.equal(transport.sends.length, 2, "retried at the end of the backoff");
  transport.sends[1]!.answer();
  assert.equal(await flushed, true);
  await settle();
  assert.equal(scheduler.keepingAlive, 0, "nothing keeps the process alive once the flush is settled");
  assert.equal(counts().delivered.records, 1);
});

test("createCore keeps pending + in-flight bytes within capacityBytes while the transport hangs and records keep coming", async () => {
  const capacityBytes = 4096;
  for (const whenFull of ["drop-newest", "drop-oldest"] as const) {
    const { scheduler, transport, core, emit, counts } = rig({
      capacityBytes,
      whenFull,
      batch: { lingerMs: 1, maxRecords: 8, maxInFlight: 3 },
    });
    let offeredBytes = 0;
    let mostHeld = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 40; i++) {
        const length = 10 + ((round * 40 + i) * 37) % 200;
        offeredBytes += FRAME + length;
        emit(i % 2 === 0 ? "s".repeat(length) : new Uint8Array(length));
        const c = counts();
        const held = c.pending.bytes + c.inFlight.bytes;
        mostHeld = Math.max(mostHeld, held);
        assert.ok(held <= capacityBytes, `${whenFull}: ${c.pending.bytes} pending + ${c.inFlight.bytes} in flight > ${capacityBytes}`);
        assert.ok(core.ring.frameBytes + core.ring.outside <= capacityBytes, "the ring's budget counts the bytes in flight");
      }
      await scheduler.advance(1);
    }
    assert.ok(offeredBytes > 10 * capacityBytes, "many times the capacity was offered");
    assert.equal(transport.open().length, 3, "the transport holds maxInFlight sends");
    assert.ok(counts().inFlight.bytes > 0, "bytes in flight count against the capacity");
    assert.ok(mostHeld > capacityBytes * 0.9, `the buffer filled up (at most ${mostHeld} held)`);
    assert.ok(counts().dropped.buffer_full.records > 0);
    // The transport comes back: everything held is delivered, and nothing else is lost.
    const lostBefore = counts().lost.records;
    while (transport.open().length > 0) {
      transport.deliverAll();
      await scheduler.advance(1);
    }
    const c = counts();
    assert.deepEqual(c.pending, { records: 0, bytes: 0 });
    assert.deepEqual(c.inFlight, { records: 0, bytes: 0 });
    assert.equal(c.lost.records, lostBefore);
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { type Batch, buildReport, createSink, memoryTransport, type SendReport, type Transport, TransportError } from "../../mod.ts";
import { backoffDelay } from "../../src/core/policy.ts";
import { FakeScheduler, settle } from "../support/scheduler.ts";

/** A transport that records the batches it was given and delivers them. */
function recordingTransport(): Transport & { batches: Batch[] } {
  const batches: Batch[] = [];
  return {
    name: "recording",
    batches,
    send(batch: Batch): Promise<SendReport | undefined> {
      batches.push(batch);
      return Promise.resolve(undefined);
    },
    state: () => "up",
    close: () => Promise.resolve(),
  };
}

test("batches hold at most maxRecords records and at most maxBytes bytes", async () => {
  const scheduler = new FakeScheduler();
  const transport = recordingTransport();
  const sink = createSink({ transport, scheduler, batch: { maxRecords: 7, maxBytes: 500, lingerMs: 0 } });
  for (let i = 0; i < 100; i++) sink.emit(new Uint8Array(i % 3 === 0 ? 100 : 10));
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.equal(transport.batches.reduce((n, b) => n + b.records.length, 0), 100);
  for (const batch of transport.batches) {
    assert.ok(batch.records.length >= 1 && batch.records.length <= 7);
    assert.ok(batch.bytes <= 500);
    assert.equal(batch.bytes, batch.records.reduce((n, r) => n + r.size, 0));
  }
});

test("a full batch is sent at once, without waiting for lingerMs", async () => {
  const scheduler = new FakeScheduler();
  const transport = recordingTransport();
  const sink = createSink({ transport, scheduler, batch: { maxRecords: 5, lingerMs: 60_000 } });
  for (let i = 0; i < 4; i++) sink.emit(`r${i}`);
  await settle();
  assert.equal(transport.batches.length, 0, "four records linger");
  sink.emit("r4");
  await settle(); // no time passes
  assert.equal(transport.batches.length, 1, "the full batch");
  assert.equal(transport.batches[0]!.records.length, 5);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("records that skip the flusher's check while there is room (bytes, strings, JSON) still send a full batch at once", async () => {
  const records: Array<[string, () => unknown]> = [
    ["bytes", () => new Uint8Array(100)], // 120-byte frames
    ["string", () => "s".repeat(100)],
    ["object", () => ({ pad: "o".repeat(90) })], // 100 bytes of JSON
  ];
  for (const [kind, make] of records) {
    for (const batch of [{ maxRecords: 5, lingerMs: 60_000 }, { maxBytes: 5 * 120, lingerMs: 60_000 }, { maxRecords: 1000, lingerMs: 60_000 }]) {
      const scheduler = new FakeScheduler();
      const transport = recordingTransport();
      const sink = createSink({ transport, scheduler, batch });
      const count = batch.maxRecords === 1000 ? 1000 : 5;
      // A first record wakes the idle flusher (it starts lingering); the rest fill the batch.
      for (let i = 0; i < count; i++) sink.emit(make());
      await settle(); // no time passes: only a full batch can leave
      assert.equal(transport.batches.length, 1, `the full batch of ${kind} (${JSON.stringify(batch)})`);
      assert.equal(transport.batches[0]!.records.length, count);
      await scheduler.drive(sink.close({ timeoutMs: 100 }));
    }
  }
});

test("byte records wake an idle flusher, again after each send", async () => {
  const scheduler = new FakeScheduler();
  const transport = recordingTransport();
  const sink = createSink({ transport, scheduler, maxRecordBytes: 100, batch: { maxRecords: 100, lingerMs: 5 } });
  // Oversize records, refused, keep the sink's clock ticking between the rounds without
  // telling the flusher anything: only the two records of each round may wake it.
  const tooBig = new Uint8Array(200);
  for (let round = 1; round <= 3; round++) {
    sink.emit(new Uint8Array(10));
    sink.emit(new Uint8Array(10));
    for (let ms = 1; ms <= 5; ms++) {
      assert.equal(transport.batches.length, round - 1, `batch ${round} lingers (${ms - 1} ms)`);
      sink.emit(tooBig);
      await scheduler.advance(1);
    }
    assert.equal(transport.batches.length, round, `batch ${round} was sent after lingerMs`);
    assert.equal(transport.batches[round - 1]!.records.length, 2);
    await scheduler.advance(3);
  }
  assert.equal(sink.stats().dropped.oversize.records, 15);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("a partial batch waits for lingerMs, then goes", async () => {
  const scheduler = new FakeScheduler();
  const transport = recordingTransport();
  const sink = createSink({ transport, scheduler, batch: { maxRecords: 100, lingerMs: 40 } });
  sink.emit("a");
  sink.emit("b");
  await scheduler.advance(39);
  assert.equal(transport.batches.length, 0, "not sent before lingerMs");
  await scheduler.advance(1);
  assert.equal(transport.batches.length, 1, "sent once the oldest record waited lingerMs");
  assert.equal(transport.batches[0]!.records.length, 2);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("batches keep emit order", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport();
  const sink = createSink({ transport, scheduler, batch: { maxRecords: 3, lingerMs: 0, maxInFlight: 1 } });
  const sent = Array.from({ length: 50 }, (_, i) => `r${i}`);
  for (const s of sent) sink.emit(s);
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.deepEqual(transport.texts(), sent);
});

test("retriable failures are retried with backoff, keeping the records; success resets the backoff", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport();
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 0 }, retry: { initialDelayMs: 2, maxDelayMs: 8 } });
  transport.failNext(3);
  sink.emit("kept through three failures");
  const started = scheduler.now();
  assert.equal(await scheduler.drive(sink.flush({ timeoutMs: 2000 })), true);
  assert.equal(transport.sendCalls, 4);
  assert.equal(sink.stats().retries, 3);
  assert.deepEqual(transport.texts(), ["kept through three failures"]);
  // Backoffs drawn below 2, 4 and 8 ms.
  assert.ok(scheduler.now() - started < 2 + 4 + 8, `the retries took ${scheduler.now() - started} ms`);
  // The backoff starts over after a success: one more failure waits less than 2 ms.
  transport.failNext(1);
  sink.emit("one more failure");
  const again = scheduler.now();
  assert.equal(await scheduler.drive(sink.flush({ timeoutMs: 2000 })), true);
  assert.equal(transport.sendCalls, 6);
  assert.ok(scheduler.now() - again < 2, `the backoff was reset (waited ${scheduler.now() - again} ms)`);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("records a transport reports as retry are sent again; the rest count as delivered once", async () => {
  let calls = 0;
  const got: string[] = [];
  const transport: Transport = {
    name: "partial",
    send(batch) {
      calls++;
      const texts = batch.records.map((r) => new TextDecoder().decode(r.value));
      if (calls === 1) {
        got.push(texts[0]!, texts[2]!);
        return Promise.resolve({ retry: [1], error: new TransportError("TRANSPORT_UNAVAILABLE", "slow", { retriable: true }) });
      }
      got.push(...texts);
      return Promise.resolve(undefined);
    },
    state: () => "up",
    close: () => Promise.resolve(),
  };
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 0 }, retry: { initialDelayMs: 1, maxDelayMs: 2 } });
  sink.emit("a");
  sink.emit("b");
  sink.emit("c");
  const report = await scheduler.drive(sink.close({ timeoutMs: 1000 }));
  assert.deepEqual(got.sort(), ["a", "b", "c"]);
  assert.equal(report.delivered.records, 3);
  assert.equal(calls, 2);
});

test("a transport whose send throws synchronously does not break the sink", async () => {
  const transport: Transport = {
    name: "throws",
    send() {
      throw new Error("boom");
    },
    state: () => "down",
    close: () => Promise.resolve(),
  };
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 0 } });
  assert.equal(sink.emit("x"), true);
  assert.equal(await scheduler.drive(sink.flush({ timeoutMs: 1000 })), true);
  assert.equal(sink.stats().dropped.rejected.records, 1);
  assert.match(sink.stats().lastError ?? "", /boom/);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("no more than maxInFlight batches are in the transport's hands at once", async () => {
  const scheduler = new FakeScheduler();
  const transport = memoryTransport();
  transport.hang();
  const sink = createSink({ transport, scheduler, batch: { maxRecords: 1, lingerMs: 0, maxInFlight: 3 } });
  for (let i = 0; i < 20; i++) sink.emit(`r${i}`);
  // Sends go one per turn of the event loop (a timer of 0 ms): give a fourth every chance.
  await scheduler.advance(0);
  assert.equal(transport.sendCalls, 3);
  await scheduler.advance(1000);
  assert.equal(transport.sendCalls, 3);
  assert.equal(sink.stats().inFlight.records, 3);
  transport.release();
  assert.equal(await scheduler.drive(sink.flush({ timeoutMs: 2000 })), true);
  assert.equal(transport.received.length, 20);
  await scheduler.drive(sink.close({ timeoutMs: 100 }));
});

test("each send gets a signal of its own, and closing aborts every one in flight", async () => {
  // One shared signal would gather an abort listener per send in flight (Node warns past 10).
  const signals: AbortSignal[] = [];
  const transport: Transport = {
    name: "hanging",
    send(_batch: Batch, signal: AbortSignal): Promise<SendReport | undefined> {
      signals.push(signal);
      return new Promise((resolve) => signal.addEventListener("abort", () => resolve({ aborted: _batch.records.map((_, i) => i) }), { once: true }));
    },
    state: () => "up",
    close: () => Promise.resolve(),
  };
  const scheduler = new FakeScheduler();
  const sink = createSink({ transport, scheduler, batch: { maxRecords: 1, lingerMs: 0, maxInFlight: 16 } });
  for (let i = 0; i < 20; i++) sink.emit(`r${i}`);
  await scheduler.advance(0);
  assert.equal(signals.length, 16, "16 sends in flight");
  assert.equal(new Set(signals).size, 16, "16 distinct signals");
  assert.ok(signals.every((s) => !s.aborted), "none aborted while open");
  const report = await scheduler.drive(sink.close({ timeoutMs: 200 }));
  assert.ok(signals.every((s) => s.aborted), "every one aborted by close()");
  assert.equal(report.dropped.shutdown.records, 20);
});

test("backoffDelay draws from [0, min(max, initial * 2^attempt))", () => {
  assert.equal(backoffDelay(0, 50, 2000, () => 0), 0);
  assert.equal(backoffDelay(0, 50, 2000, () => 0.999999), 49);
  assert.equal(backoffDelay(3, 50, 2000, () => 0.999999), 399);
  assert.equal(backoffDelay(10, 50, 2000, () => 0.999999), 1999);
  assert.equal(backoffDelay(1000, 50, 2000, () => 0.5), 1000);
});

test("buildReport() lists every record not delivered under its outcome, and is undefined when all were", () => {
  assert.equal(buildReport(3, () => "delivered"), undefined);
  const outcomes = ["delivered", "rejected", "retry", "expired", "aborted", "rejected"] as const;
  const tooLarge = new Error("too large");
  assert.deepEqual(buildReport(outcomes.length, (i) => outcomes[i]!, { rejected: tooLarge, retry: new Error("later") }), {
    rejected: [1, 5],
    retry: [2],
    expired: [3],
    aborted: [4],
    error: tooLarge,
  });
  const later = new Error("later");
  assert.deepEqual(buildReport(2, (i) => (i === 0 ? "retry" : "delivered"), { retry: later }), { retry: [0], error: later });
});

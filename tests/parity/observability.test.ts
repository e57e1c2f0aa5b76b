// stats(), metrics() and the OpenTelemetry bridge in both flusher modes, and the
// invariants of DESIGN.md that stats() shows (conservation on every snapshot, the memory
// bound, no double count, an outage within capacity loses nothing).
import assert from "node:assert/strict";
import { createSink, DROP_REASONS, InvalidOptionError, memoryTransport, renderMetrics } from "../../mod.ts";
import { registerSinkMetrics } from "../../src/otel.ts";
import { asMeter, TestMeter, value } from "../support/meter.ts";
import { applied, makeSink, onlyDrops, parity, seeded, snapshotErrors, stats, until, within } from "../support/parity.ts";

// Prometheus text format 0.0.4: comments, then `name{label="value",...} number`.
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? -?[0-9.e+]+$/;

parity("stats() of a new sink: its options, the flusher mode, zero counters, every drop reason at zero", async (mode) => {
  const { sink } = makeSink(mode, { capacityBytes: 64 * 1024 });
  const s = stats(sink);
  assert.equal(s.state, "open");
  assert.equal(s.capacityBytes, 64 * 1024);
  assert.equal(s.flusher, mode);
  assert.equal(s.workerRestarts, 0);
  assert.equal(s.transport.name, "memory");
  assert.ok(s.transport.state === "up" || s.transport.state === "connecting", s.transport.state);
  assert.equal(s.lastError, null);
  assert.equal(s.sends, 0);
  assert.equal(s.retries, 0);
  for (const field of ["offered", "accepted", "delivered", "pending", "inFlight", "refused", "lost"] as const) {
    assert.deepEqual(s[field], { records: 0, bytes: 0 }, field);
  }
  for (const reason of DROP_REASONS) assert.deepEqual(s.dropped[reason], { records: 0, bytes: 0 }, reason);
  assert.deepEqual(s.shed, []);
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("stats() once the flusher has run: the transport up, sends counted, bytes framed", async (mode) => {
  const { sink } = makeSink<string>(mode);
  sink.emit("abc");
  assert.equal(await within(sink.flush(), 3000, "flush()"), true);
  const s = stats(sink);
  assert.deepEqual(s.transport, { name: "memory", state: "up" });
  assert.equal(s.sends, 1);
  assert.deepEqual(s.delivered, { records: 1, bytes: 20 + 3 });
  assert.deepEqual(s.offered, s.accepted);
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("stats(): a retriable failure shows as lastError and the transport down; both clear once a send succeeds", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 }, retry: { initialDelayMs: 1, maxDelayMs: 2 } });
  transport.failNext(Number.MAX_SAFE_INTEGER);
  await applied(sink);
  sink.emit("x");
  await until(() => stats(sink).retries >= 1, "the send failed and is retried");
  await until(() => /simulated outage/.test(stats(sink).lastError ?? ""), "lastError says why");
  await until(() => stats(sink).transport.state === "down", "the transport is down");
  transport.failNext(0);
  assert.equal(await within(sink.flush({ timeoutMs: 2500 }), 3000, "flush()"), true);
  const s = stats(sink);
  assert.equal(s.delivered.records, 1);
  assert.equal(s.transport.state, "up");
  assert.equal(s.lastError, null, "a retriable error clears once a send succeeds after it");
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("stats(): once a send has failed and been retried, the same snapshot says why (lastError)", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 }, retry: { initialDelayMs: 1, maxDelayMs: 2 } });
  transport.failNext(Number.MAX_SAFE_INTEGER);
  await applied(sink);
  sink.emit("x");
  await until(() => sink.stats().retries >= 1, "the send failed and is retried");
  assert.match(stats(sink).lastError ?? "", /simulated outage/);
  await sink.abort();
});

parity("stats(): the snapshot that first counts a rejection also says why (lastError)", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { batch: { lingerMs: 0 } });
  transport.failPermanently(true);
  await applied(sink);
  sink.emit("x");
  await until(() => sink.stats().dropped.rejected.records === 1, "the record is rejected");
  assert.match(stats(sink).lastError ?? "", /simulated permanent failure/);
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("metrics() is well-formed Prometheus text with a TYPE for every metric and the sink's counts", async (mode) => {
  const { sink } = makeSink<unknown>(mode);
  sink.emit("x");
  sink.emit({ bad: 1n });
  assert.equal(await within(sink.flush(), 3000, "flush()"), true);
  const text = sink.metrics();
  assert.ok(text.endsWith("\n"));
  const typed = new Set<string>();
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      assert.ok(type === "counter" || type === "gauge", line);
      typed.add(name!);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    assert.match(line, SAMPLE);
    assert.ok(typed.has(line.split(/[{ ]/)[0]!), `sample before its TYPE: ${line}`);
  }
  assert.match(text, /^shedsink_records_offered_total 2$/m);
  assert.match(text, /^shedsink_records_delivered_total 1$/m);
  assert.match(text, /^shedsink_records_dropped_total\{reason="invalid"\} 1$/m);
  assert.match(text, /^shedsink_capacity_bytes 5242880$/m);
  assert.match(text, /^shedsink_transport_state\{transport="memory",state="up"\} 1$/m);
  assert.match(text, /^shedsink_transport_state\{transport="memory",state="down"\} 0$/m);
  for (const reason of DROP_REASONS) assert.match(text, new RegExp(`^shedsink_records_dropped_total\\{reason="${reason}"\\} \\d+$`, "m"));
  // The worker's restarts: a series in worker mode (0 here), none in thread mode.
  if (mode === "worker") assert.match(text, /^shedsink_worker_restarts_total 0$/m);
  else assert.doesNotMatch(text, /worker_restarts/);
  assert.equal(text, renderMetrics(sink.stats()), "metrics() renders stats()");
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("metrics({ labels }) adds escaped labels to every sample", async (mode) => {
  const { sink } = makeSink(mode);
  const text = sink.metrics({ labels: { sink: 'a"b\\c' } });
  for (const line of text.trimEnd().split("\n")) {
    if (!line.startsWith("#")) assert.ok(line.includes('sink="a\\"b\\\\c"'), line);
  }
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

parity("invariant 6: every drop reason has its own counter in stats() and metrics()", async (mode) => {
  const { sink } = makeSink<unknown>(mode);
  const s = stats(sink);
  const metrics = sink.metrics();
  for (const reason of DROP_REASONS) {
    assert.deepEqual(s.dropped[reason], { records: 0, bytes: 0 });
    assert.match(metrics, new RegExp(`^shedsink_records_dropped_total\\{reason="${reason}"\\} 0$`, "m"));
  }
  sink.emit({ bad: 1n });
  assert.match(sink.metrics(), /^shedsink_records_dropped_total\{reason="invalid"\} 1$/m);
  await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
});

// ------------------------------------------------------------- OpenTelemetry

parity("OpenTelemetry: a collection reports the sink's counters, drops by reason (zeros included) and the transport state", async (mode) => {
  const meter = new TestMeter();
  const { sink, transport } = makeSink<unknown>(mode, { capacityBytes: 1024, batch: { lingerMs: 1 } });
  registerSinkMetrics(sink, asMeter(meter), { attributes: { sink: "query-insights" } });
  sink.emit({ table: "orders", rows: 1 });
  sink.emit({ bad: 1n });
  assert.equal(await within(sink.flush(), 3000, "flush()"), true);
  transport.hang();
  await applied(sink);
  for (let i = 0; i < 100; i++) sink.emit({ table: "users", i });
  // The counters stand still while the transport hangs (records are held, none can settle).
  await until(() => stats(sink).inFlight.records > 0, "a send is under way");
  const s = stats(sink);
  const points = await meter.collect();
  for (const p of points) assert.equal(p.attributes.sink, "query-insights", `${p.name} carries the base attributes`);
  assert.equal(value(points, "shedsink.records.offered"), 102);
  assert.equal(value(points, "shedsink.records.offered"), s.offered.records);
  assert.equal(value(points, "shedsink.records.delivered"), 1);
  assert.equal(value(points, "shedsink.bytes.accepted"), s.accepted.bytes);
  for (const reason of DROP_REASONS) {
    assert.equal(value(points, "shedsink.records.dropped", { reason }), s.dropped[reason].records, reason);
    assert.equal(value(points, "shedsink.bytes.dropped", { reason }), s.dropped[reason].bytes, reason);
  }
  assert.equal(value(points, "shedsink.records.dropped", { reason: "invalid" }), 1);
  assert.ok(value(points, "shedsink.records.dropped", { reason: "buffer_full" })! > 0);
  assert.equal(value(points, "shedsink.pending.records"), s.pending.records);
  assert.equal(value(points, "shedsink.inflight.bytes"), s.inFlight.bytes);
  assert.equal(value(points, "shedsink.capacity"), 1024);
  assert.equal(value(points, "shedsink.buffer.utilization"), (s.pending.bytes + s.inFlight.bytes) / 1024);
  assert.equal(value(points, "shedsink.transport.state", { transport: "memory", state: "up" }), 1);
  assert.equal(value(points, "shedsink.transport.state", { state: "down" }), 0);
  assert.equal(points.filter((p) => p.name === "shedsink.transport.state").length, 4);
  transport.release();
  await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
});

parity("OpenTelemetry: instruments by mode (worker.restarts in worker mode only), shed by class with shedding", async (mode) => {
  const meter = new TestMeter();
  const { sink, transport } = makeSink<{ c: number }>(mode, { capacityBytes: 2000, shedding: { classOf: (r) => r.c } });
  transport.hang();
  const registration = registerSinkMetrics(sink, asMeter(meter));
  assert.equal(registration.instruments.includes("shedsink.worker.restarts"), mode === "worker");
  assert.ok(registration.instruments.includes("shedsink.records.shed"));
  for (let i = 0; i < 200; i++) sink.emit({ c: i % 4 });
  const s = stats(sink);
  const points = await meter.collect();
  assert.ok(s.dropped.shed.records > 0);
  for (let c = 0; c < 4; c++) {
    assert.equal(value(points, "shedsink.records.shed", { class: c }), s.shed[c]!.records, `class ${c}`);
    assert.equal(value(points, "shedsink.bytes.shed", { class: c }), s.shed[c]!.bytes, `class ${c}`);
  }
  if (mode === "worker") assert.equal(value(points, "shedsink.worker.restarts"), 0);
  registration.unregister();
  assert.deepEqual(await meter.collect(), []);
  transport.release();
  await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
});

// ------------------------------------------------------------- invariants under load

parity("invariant 2 and 3: under a long outage with retries, bytes held never exceed capacity and every snapshot keeps the law", async (mode) => {
  const capacityBytes = 32 * 1024;
  for (const whenFull of ["drop-newest", "drop-oldest"] as const) {
    const { sink, transport } = makeSink<string | Uint8Array>(mode, { capacityBytes, whenFull, batch: { lingerMs: 0, maxRecords: 50 }, retry: { initialDelayMs: 1, maxDelayMs: 2 } });
    transport.failNext(Number.MAX_SAFE_INTEGER);
    let offeredBytes = 0;
    let maxHeld = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 200; i++) {
        const length = 20 + ((round * 200 + i) % 180);
        offeredBytes += length;
        sink.emit(i % 2 === 0 ? "r".repeat(length) : new Uint8Array(length));
        const s = stats(sink);
        maxHeld = Math.max(maxHeld, s.pending.bytes + s.inFlight.bytes);
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.ok(offeredBytes > 5 * capacityBytes, "producers wrote many times the capacity");
    assert.ok(maxHeld > capacityBytes * 0.9, `the buffer was filled (max held ${maxHeld})`);
    await until(() => stats(sink).retries > 0, "the flusher retries");
    const report = await within(sink.close({ timeoutMs: 50 }), 3000, "close()");
    assert.deepEqual(snapshotErrors(report), []);
    assert.equal(report.delivered.records, 0);
  }
});

parity("invariant 4: under intermittent failures a delivered record is counted once and none is delivered twice", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { capacityBytes: 2048, batch: { lingerMs: 0, maxRecords: 10, maxInFlight: 1 }, retry: { initialDelayMs: 1, maxDelayMs: 2 } });
  const refused = new Set<number>();
  for (let i = 1; i <= 3000; i++) {
    if (i % 500 === 0) transport.failNext(2);
    if (!sink.emit(String(i))) refused.add(i);
    if (i % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const report = await within(sink.close({ timeoutMs: 3000 }), 4000, "close()");
  const delivered = transport.texts().map(Number);
  assert.equal(new Set(delivered).size, delivered.length, "no record delivered twice");
  assert.equal(report.delivered.records, delivered.length, "delivered counted once each");
  for (const i of delivered) assert.ok(!refused.has(i), `refused record ${i} was delivered`);
  assert.equal(report.delivered.records + report.lost.records + report.refused.records, 3000);
  assert.equal(report.refused.records, refused.size);
  assert.deepEqual(snapshotErrors(report), []);
});

parity("invariant 5: an outage whose records fit in the buffer loses nothing", async (mode) => {
  const { sink, transport } = makeSink<string>(mode, { capacityBytes: 256 * 1024, batch: { lingerMs: 1 }, retry: { initialDelayMs: 2, maxDelayMs: 10 } });
  transport.failNext(25);
  const sent: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const text = JSON.stringify({ id: i, path: "/q" });
    sent.push(text);
    assert.equal(sink.emit(text), true);
    if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const report = await within(sink.close({ timeoutMs: 3000 }), 4000, "close()");
  assert.equal(report.lost.records, 0);
  assert.equal(report.refused.records, 0);
  assert.ok(stats(sink).retries >= 1);
  assert.deepEqual(transport.texts(), sent, "all delivered, in order");
});

parity("a steady stream of 5000 records of every kind, read by stats() all along: delivered once, in order, the law on every snapshot", async (mode) => {
  const { sink, transport } = makeSink<unknown>(mode, { batch: { lingerMs: 2, maxRecords: 100 } });
  for (let i = 0; i < 5000; i++) {
    sink.emit(i % 3 === 0 ? { i } : i % 3 === 1 ? JSON.stringify({ i }) : new TextEncoder().encode(JSON.stringify({ i })));
    if (i % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.equal(await within(sink.flush({ timeoutMs: 3000 }), 4000, "flush()"), true);
  assert.deepEqual(transport.texts().map((t) => (JSON.parse(t) as { i: number }).i), Array.from({ length: 5000 }, (_, i) => i));
  const report = await within(sink.close({ timeoutMs: 2500 }), 3000, "close()");
  assert.equal(report.flushed, true);
  assert.equal(report.delivered.records, 5000);
  onlyDrops(report, {});
});

parity("stats() read in a tight loop while records flow: every snapshot keeps the law, counters never go back", async (mode) => {
  const { sink } = makeSink<string>(mode, { capacityBytes: 64 * 1024, batch: { lingerMs: 0, maxRecords: 50 } });
  let last = stats(sink);
  let snapshots = 0;
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 250; i++) sink.emit(`round ${round} record ${i}`);
    for (let i = 0; i < 200; i++) {
      const s = stats(sink);
      snapshots++;
      for (const field of ["offered", "accepted", "delivered", "refused", "lost"] as const) {
        assert.ok(s[field].records >= last[field].records && s[field].bytes >= last[field].bytes, `${field} went back`);
      }
      last = s;
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert.equal(snapshots, 8000);
  assert.equal(await within(sink.flush(), 3000, "flush()"), true);
  const report = await within(sink.close({ timeoutMs: 1000 }), 3000, "close()");
  assert.equal(report.delivered.records + report.dropped.buffer_full.records, 10_000);
  onlyDrops(report, { buffer_full: report.dropped.buffer_full.records });
});

for (const [seed, whenFull] of [[1, "drop-newest"], [2, "drop-oldest"], [3, "drop-newest"], [4, "drop-oldest"]] as const) {
  parity(`invariant 3 under a pseudo-random mix (seed ${seed}, ${whenFull}) of load, invalid records, outages, rejections and flushes: the law at every step, flush() true only once its records are settled`, async (mode) => {
    const { sink, transport } = makeSink<unknown>(mode, {
      capacityBytes: 4096,
      whenFull,
      maxAgeMs: 30,
      maxRecordBytes: 500,
      batch: { lingerMs: 1, maxRecords: 7, maxBytes: 1500, maxInFlight: 2 },
      retry: { initialDelayMs: 1, maxDelayMs: 4 },
    });
    const random = seeded(seed);
    let emitted = 0;
    let hung = false;
    for (let step = 0; step < 60; step++) {
      const roll = random();
      if (roll < 0.45) {
        const n = 1 + Math.floor(random() * 30);
        const size = Math.floor(random() * 600);
        for (let i = 0; i < n; i++, emitted++) sink.emit(new Uint8Array(size));
      } else if (roll < 0.5) {
        emitted++;
        sink.emit({ big: 1n });
      } else if (roll < 0.58) {
        transport.failNext(1 + Math.floor(random() * 5));
      } else if (roll < 0.64) {
        hung = !hung;
        if (hung) transport.hang();
        else transport.release();
      } else if (roll < 0.7) {
        transport.failPermanently(random() < 0.5);
      } else if (roll < 0.88) {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 5)));
      } else {
        const accepted = stats(sink).accepted.records;
        if (await within(sink.flush({ timeoutMs: 20 }), 2000, "flush({ timeoutMs: 20 })")) {
          const s = stats(sink);
          assert.ok(s.delivered.records + s.lost.records >= accepted, `flush() resolved true with ${accepted - s.delivered.records - s.lost.records} of its records unsettled`);
        }
      }
      const s = stats(sink);
      assert.equal(s.offered.records, emitted, "every emit() is counted as offered");
    }
    transport.release();
    transport.failPermanently(false);
    const report = await within(sink.close({ timeoutMs: 200 }), 3000, "close()");
    assert.deepEqual(snapshotErrors(report), []);
    assert.equal(report.offered.records, emitted);
    assert.equal(report.pending.records + report.inFlight.records, 0);
    assert.equal(report.delivered.records, transport.received.length);
  });
}

parity("bad options throw the same InvalidOptionError, naming the option, in both modes", (mode) => {
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ capacityBytes: 10 }, "capacityBytes"],
    [{ whenFull: "drop-random" }, "whenFull"],
    [{ batch: { maxRecords: 0 } }, "batch.maxRecords"],
    [{ maxAgeMs: -1 }, "maxAgeMs"],
    [{ capacityBytes: 1024, maxRecordBytes: 2048 }, "maxRecordBytes"],
    [{ shedding: {} }, "shedding"],
    [{ encode: 42 }, "encode"],
  ];
  for (const [options, option] of bad) {
    assert.throws(
      () => createSink({ transport: memoryTransport(), flusher: mode, ...options } as never),
      (e: unknown) => e instanceof InvalidOptionError && e.option === option,
      `${JSON.stringify(options)} names ${option}`,
    );
  }
});

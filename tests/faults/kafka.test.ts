// Faults injected for real into the local broker (scripts/kafka.sh pause/resume/kill/
// restart) and into the network (tests/support/proxy.ts), with a sink writing through
// the runtime's Kafka transport (tests/support/transports.ts) the whole time.
//
// The tests share one broker and take it down: they run one after another (top-level
// tests in a file run in order; the runner passes --test-concurrency=1 for files), and
// each one puts the broker back in running state in a `finally`, failed or not.
// Each prints one line `fault NAME: written=… delivered=… dropped={…}` for the CI log.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { conservationErrors, type Sink, type SinkStats } from "../../mod.ts";
import { createTestSink } from "../support/sinks.ts";
import {
  BOOTSTRAP,
  brokerReachable,
  consumeValues,
  createTopic,
  kafka,
  PROXIED_BOOTSTRAP,
  PROXIED_PROXY_PORT,
  PROXIED_TARGET_PORT,
  requireBroker,
  uniqueTopic,
} from "../support/kafka.ts";
import { startProxy } from "../support/proxy.ts";
import { kafkaTransportForTests } from "../support/transports.ts";
import { sleep, until } from "../support/wait.ts";

interface Rec {
  id: number;
  at: number;
  pad: string;
}

const PAD = "telemetry ".repeat(6);

/**
 * Writes records with increasing ids on a timer (`perTick` every `everyMs`), like a
 * request handler would, and watches the event loop with a drift probe.
 */
class Load {
  readonly sink: Sink<Rec>;
  readonly kept: number[] = [];
  readonly refused: number[] = [];
  /** Emits made while `outage` was true, and the longest of them. */
  outageEmits = 0;
  outage = false;
  maxEmitMs = 0;
  /** Largest lateness of a 20 ms interval timer: how long the event loop was blocked. */
  maxDriftMs = 0;
  /** Largest pending + inFlight bytes seen (the memory bound). */
  maxHeldBytes = 0;
  #next = 0;
  #writer: ReturnType<typeof setInterval> | null = null;
  readonly #probe: ReturnType<typeof setInterval>;
  #last = performance.now();

  constructor(sink: Sink<Rec>) {
    this.sink = sink;
    this.#probe = setInterval(() => {
      const now = performance.now();
      this.maxDriftMs = Math.max(this.maxDriftMs, now - this.#last - 20);
      this.#last = now;
      const s = sink.stats();
      this.maxHeldBytes = Math.max(this.maxHeldBytes, s.pending.bytes + s.inFlight.bytes);
    }, 20);
  }

  get written(): number {
    return this.#next;
  }

  start(perTick: number, everyMs = 10): void {
    this.#writer = setInterval(() => {
      for (let k = 0; k < perTick; k++) this.emitOne();
    }, everyMs);
  }

  emitOne(): void {
    const id = this.#next++;
    const t0 = performance.now();
    const kept = this.sink.emit({ id, at: Date.now(), pad: PAD });
    const took = performance.now() - t0;
    this.maxEmitMs = Math.max(this.maxEmitMs, took);
    if (this.outage) this.outageEmits++;
    (kept ? this.kept : this.refused).push(id);
  }

  stop(): void {
    if (this.#writer !== null) clearInterval(this.#writer);
    this.#writer = null;
  }

  dispose(): void {
    this.stop();
    clearInterval(this.#probe);
  }
}

function dropsOf(stats: SinkStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [reason, count] of Object.entries(stats.dropped)) if (count.records > 0) out[reason] = count.records;
  return out;
}

function logFigures(name: string, load: Load, stats: SinkStats, extra = ""): void {
  console.log(
    `fault ${name}: written=${load.written} delivered=${stats.delivered.records} dropped=${JSON.stringify(dropsOf(stats))}` +
      ` outageEmits=${load.outageEmits} maxEmitMs=${load.maxEmitMs.toFixed(2)} maxLoopDriftMs=${load.maxDriftMs.toFixed(0)}${extra}`,
  );
}

function idsIn(values: string[]): number[] {
  return values.map((v) => (JSON.parse(v) as Rec).id);
}

function duplicates(ids: number[]): number[] {
  const seen = new Set<number>();
  return ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
}

function assertSettled(stats: SinkStats): void {
  assert.deepEqual(conservationErrors(stats), [], "conservation holds");
  assert.equal(stats.pending.records, 0, "nothing pending after close");
  assert.equal(stats.inFlight.records, 0, "nothing in flight after close");
}

/** The hot path kept running through the outage. Bounds are "came back at all" bounds. */
function assertHotPathRan(load: Load): void {
  assert.ok(load.outageEmits > 0, "records were written during the outage");
  assert.ok(load.maxEmitMs < 1000, `every emit returned (slowest ${load.maxEmitMs.toFixed(1)} ms)`);
  assert.ok(load.maxDriftMs < 1000, `the event loop kept turning (worst drift ${load.maxDriftMs.toFixed(0)} ms)`);
}

/** The topic holds exactly the kept ids, each once. */
async function assertAllArrived(topic: string, load: Load, stats: SinkStats, bootstrap = BOOTSTRAP): Promise<void> {
  assert.deepEqual(load.refused, [], "no record was refused: the outage fits in the buffer");
  // The topic first: if records were lost, the failure then says whether they reached it.
  const ids = idsIn(await consumeValues(topic, { expected: load.kept.length, timeoutMs: 30_000, bootstrap }));
  const got = new Set(ids);
  const missing = load.kept.filter((id) => !got.has(id));
  const where = `the topic holds ${ids.length} records, ${missing.length} of the ${load.kept.length} kept ids missing (first: ${missing.slice(0, 5).join(", ")})`;
  assert.equal(stats.lost.records, 0, `nothing lost: ${JSON.stringify(dropsOf(stats))}; ${where}`);
  assert.equal(stats.delivered.records, load.kept.length);
  assert.deepEqual(duplicates(ids), [], "no id twice");
  assert.deepEqual({ missing: missing.slice(0, 20), count: missing.length }, { missing: [], count: 0 }, "every record arrived");
  assert.equal(ids.length, load.kept.length, "nothing else is in the topic");
}

/** Puts the shared broker back into running state, whatever a test did to it. */
async function restoreBroker(): Promise<void> {
  await kafka("resume").catch(() => {});
  if (!(await brokerReachable())) await kafka("restart");
  await requireBroker();
}

test("broker paused 10 s under a load that fits: every record arrives after resume; the hot path kept running", async () => {
  await requireBroker();
  const topic = uniqueTopic("fault-pause");
  await createTopic(topic, 3);
  const sink = createTestSink<Rec>({ transport: await kafkaTransportForTests({ brokers: BOOTSTRAP, topic }), batch: { lingerMs: 10 } });
  const load = new Load(sink);
  // A hung broker keeps its connections open: only the records' missing answers tell.
  let downAfterMs = -1;
  try {
    load.start(2);
    await sleep(2000);
    assert.equal(sink.stats().transport.state, "up");
    await kafka("pause");
    load.outage = true;
    const pausedAt = Date.now();
    while (Date.now() - pausedAt < 10_000) {
      if (downAfterMs < 0 && sink.stats().transport.state === "down") downAfterMs = Date.now() - pausedAt;
      await sleep(100);
    }
    load.outage = false;
    await kafka("resume");
    await until(() => sink.stats().transport.state === "up", "the transport up again after the resume", 30_000);
    await sleep(2000);
    load.stop();
    const report = await sink.close({ timeoutMs: 60_000 });
    const stats = sink.stats();
    logFigures("broker-paused", load, stats, ` closeMs=${report.durationMs} inDoubt=${report.inDoubt.records} downAfterMs=${downAfterMs} sends=${stats.sends} retries=${stats.retries} lastError=${JSON.stringify(stats.lastError)}`);
    assertSettled(stats);
    assertHotPathRan(load);
    assert.ok(downAfterMs >= 0, "the transport reported the hung broker down");
    await assertAllArrived(topic, load, stats);
  } finally {
    load.dispose();
    await sink.close({ timeoutMs: 1000 });
    await restoreBroker();
  }
});

test("broker killed (SIGKILL) and restarted after 10 s: every record arrives; the hot path kept running", async () => {
  await requireBroker();
  const topic = uniqueTopic("fault-kill");
  await createTopic(topic, 3);
  const sink = createTestSink<Rec>({ transport: await kafkaTransportForTests({ brokers: BOOTSTRAP, topic }), batch: { lingerMs: 10 } });
  const load = new Load(sink);
  let sawDown = false;
  try {
    load.start(2);
    await sleep(2000);
    await kafka("kill");
    load.outage = true;
    const downUntil = Date.now() + 10_000;
    while (Date.now() < downUntil) {
      if (sink.stats().transport.state === "down") sawDown = true;
      await sleep(100);
    }
    await kafka("restart");
    load.outage = false;
    await until(() => sink.stats().transport.state === "up", "the transport up again after the restart", 30_000);
    await sleep(2000);
    load.stop();
    const report = await sink.close({ timeoutMs: 60_000 });
    const stats = sink.stats();
    logFigures("broker-killed", load, stats, ` closeMs=${report.durationMs} sawDown=${sawDown}`);
    assertSettled(stats);
    assertHotPathRan(load);
    assert.ok(sawDown, "the transport reported the broker down while it was dead");
    await assertAllArrived(topic, load, stats);
  } finally {
    load.dispose();
    await sink.close({ timeoutMs: 1000 });
    await restoreBroker();
  }
});

test("an outage longer than the buffer absorbs: drops are counted, conservation holds, no dropped id reaches the topic", async () => {
  await requireBroker();
  const topic = uniqueTopic("fault-overflow");
  await createTopic(topic, 3);
  const capacityBytes = 64 * 1024;
  const sink = createTestSink<Rec>({
    transport: await kafkaTransportForTests({ brokers: BOOTSTRAP, topic }),
    capacityBytes,
    maxAgeMs: 4000,
    batch: { lingerMs: 10, maxRecords: 100 },
  });
  const load = new Load(sink);
  try {
    load.start(2);
    await sleep(1000);
    await kafka("pause");
    load.outage = true;
    await sleep(8000);
    load.outage = false;
    await kafka("resume");
    await sleep(1000);
    load.stop();
    const report = await sink.close({ timeoutMs: 60_000 });
    const stats = sink.stats();
    logFigures("buffer-overflow", load, stats, ` capacityBytes=${capacityBytes} maxHeldBytes=${load.maxHeldBytes} closeMs=${report.durationMs}`);
    assertSettled(stats);
    assertHotPathRan(load);
    assert.ok(load.maxHeldBytes <= capacityBytes, `memory bound: ${load.maxHeldBytes} <= ${capacityBytes}`);
    assert.ok(load.refused.length > 0, "the buffer overflowed: records were refused");
    assert.equal(stats.dropped.buffer_full.records + stats.dropped.expired.records, stats.lost.records + stats.refused.records, "every drop is buffer_full or expired");
    assert.equal(stats.refused.records, load.refused.length, "refused = emits that returned false");
    assert.equal(stats.accepted.records, load.kept.length);
    assert.equal(stats.accepted.records, stats.delivered.records + stats.lost.records, "accepted = delivered + lost after close");

    const ids = idsIn(await consumeValues(topic, { expected: stats.delivered.records, timeoutMs: 30_000 }));
    assert.deepEqual(duplicates(ids), [], "no id twice");
    assert.equal(ids.length, stats.delivered.records, "the topic holds exactly `delivered` records");
    const refused = new Set(load.refused);
    assert.deepEqual(ids.filter((id) => refused.has(id)), [], "no refused id is in the topic");
    const kept = new Set(load.kept);
    assert.deepEqual(ids.filter((id) => !kept.has(id)), [], "every id in the topic was accepted");
  } finally {
    load.dispose();
    await sink.close({ timeoutMs: 1000 });
    await restoreBroker();
  }
});

test("broker unreachable from the start: construction succeeds, emit works, the transport is down with BROKERS_UNREACHABLE, close returns on time and counts the rest as shutdown", async () => {
  // A loopback port nothing listens on.
  const port = await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const p = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(p));
    });
  });
  const topic = uniqueTopic("fault-unreachable");
  const sink = createTestSink<Rec>({ transport: await kafkaTransportForTests({ brokers: `127.0.0.1:${port}`, topic }), batch: { lingerMs: 10 } });
  const load = new Load(sink);
  try {
    load.outage = true;
    load.start(2);
    await sleep(2000);
    load.stop();
    assert.equal(load.refused.length, 0, "every record was kept");
    // No bootstrap broker answers: the transport says so (down, and why), it does not
    // stay "connecting".
    assert.equal(sink.stats().transport.state, "down");
    assert.match(sink.stats().lastError ?? "", /BROKERS_UNREACHABLE/);
    const t0 = Date.now();
    const report = await sink.close({ timeoutMs: 3000 });
    const took = Date.now() - t0;
    const stats = sink.stats();
    logFigures("unreachable", load, stats, ` closeMs=${took} inDoubt=${report.inDoubt.records} lastError=${JSON.stringify(stats.lastError)}`);
    assert.ok(took < 10_000, `close came back (${took} ms for a 3000 ms timeout)`);
    assertSettled(stats);
    assertHotPathRan(load);
    assert.equal(report.flushed, false);
    assert.equal(stats.delivered.records, 0);
    assert.equal(stats.dropped.shutdown.records, load.kept.length, "everything left is counted as shutdown");
    assert.equal(report.inDoubt.records, 0, "nothing reached a broker, and the transport knows it");
    assert.equal(stats.lost.records, stats.dropped.shutdown.records);
    assert.equal(stats.transport.state, "closed");
    assert.ok(stats.lastError !== null, "the connection failure is visible");
  } finally {
    load.dispose();
    await sink.close({ timeoutMs: 1000 });
  }
});

test("connection blackholed 8 s through the proxy, outage fits: every record arrives after it heals", async () => {
  await requireBroker();
  await requireBroker(`127.0.0.1:${PROXIED_TARGET_PORT}`);
  const topic = uniqueTopic("fault-blackhole");
  await createTopic(topic, 3);
  const proxy = await startProxy({ listenPort: PROXIED_PROXY_PORT, targetHost: "127.0.0.1", targetPort: PROXIED_TARGET_PORT });
  const transport = await kafkaTransportForTests({ brokers: PROXIED_BOOTSTRAP, topic, requestTimeoutMs: 5000 });
  const sink = createTestSink<Rec>({ transport, batch: { lingerMs: 10 } });
  const load = new Load(sink);
  try {
    load.start(2);
    await sleep(2000);
    assert.ok(sink.stats().delivered.records > 0, "records flow through the proxy");
    proxy.mode("blackhole");
    load.outage = true;
    await sleep(8000);
    load.outage = false;
    proxy.mode("pass");
    await sleep(2000);
    load.stop();
    const report = await sink.close({ timeoutMs: 60_000 });
    const stats = sink.stats();
    logFigures("blackhole", load, stats, ` closeMs=${report.durationMs} droppedBytes=${proxy.stats().bytesDropped}`);
    assertSettled(stats);
    assertHotPathRan(load);
    assert.ok(proxy.stats().bytesDropped > 0, "the blackhole swallowed traffic");
    await assertAllArrived(topic, load, stats);
  } finally {
    load.dispose();
    await sink.close({ timeoutMs: 1000 });
    await proxy.close();
  }
});

test("connection blackholed through the proxy at close: close returns on time, and nothing counted dropped is in the topic", async () => {
  await requireBroker();
  await requireBroker(`127.0.0.1:${PROXIED_TARGET_PORT}`);
  const topic = uniqueTopic("fault-blackhole-close");
  await createTopic(topic, 3);
  const proxy = await startProxy({ listenPort: PROXIED_PROXY_PORT, targetHost: "127.0.0.1", targetPort: PROXIED_TARGET_PORT });
  const transport = await kafkaTransportForTests({ brokers: PROXIED_BOOTSTRAP, topic, requestTimeoutMs: 5000 });
  const sink = createTestSink<Rec>({ transport, batch: { lingerMs: 10 } });
  const load = new Load(sink);
  try {
    load.start(2);
    await sleep(1500);
    load.stop();
    // Nothing on the wire when the network fails: a produce request that crossed the
    // proxy just before would have an unknown fate (written, answer lost), and the sink
    // would count it as shutdown (the documented limit at close). Records written from
    // now on cannot reach the broker, so none of them may be in the topic.
    assert.equal(await sink.flush({ timeoutMs: 30_000 }), true);
    assert.ok(sink.stats().delivered.records > 0, "records flow through the proxy");
    proxy.mode("blackhole");
    load.outage = true;
    load.start(2);
    await sleep(3000);
    load.stop();
    const t0 = Date.now();
    const report = await sink.close({ timeoutMs: 3000 });
    const took = Date.now() - t0;
    const stats = sink.stats();
    logFigures("blackhole-at-close", load, stats, ` closeMs=${took} inDoubt=${report.inDoubt.records}`);
    assert.ok(took < 10_000, `close came back (${took} ms for a 3000 ms timeout)`);
    assertSettled(stats);
    assertHotPathRan(load);
    assert.equal(report.flushed, false);
    assert.ok(stats.dropped.shutdown.records > 0, "what could not be sent is counted as shutdown");
    assert.ok(report.inDoubt.records > 0, "the sends the blackhole swallowed are in doubt");
    assert.ok(report.inDoubt.records < stats.dropped.shutdown.records, "and only those: the rest never left the sink");
    assert.equal(stats.accepted.records, stats.delivered.records + stats.lost.records);

    // Heal the network: nothing the sink gave up on may show up later.
    proxy.mode("pass");
    await sleep(1000);
    const ids = idsIn(await consumeValues(topic, { expected: stats.delivered.records, timeoutMs: 30_000 }));
    assert.deepEqual(duplicates(ids), [], "no id twice");
    assert.equal(ids.length, stats.delivered.records, "the topic holds exactly `delivered` records");
    const kept = new Set(load.kept);
    assert.deepEqual(ids.filter((id) => !kept.has(id)), []);
  } finally {
    load.dispose();
    await sink.close({ timeoutMs: 1000 });
    await proxy.close();
  }
});

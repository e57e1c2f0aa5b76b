// The platformatic transport against a replicated cluster, on a stand-in for
// @platformatic/kafka that behaves as the client does where it matters, and on the fake
// scheduler:
//
// - the client asks for metadata through the first broker that answers among its
//   bootstrap brokers and the brokers of its metadata; once it has cleared its metadata
//   (which it does on a stale-leader error), among the bootstrap brokers only. The
//   transport remembers the brokers it has learnt and has the client use them, so losing
//   the bootstrap brokers does not lose the cluster.
// - the client numbers an idempotent producer's records per partition when send() is
//   called, and the broker accepts a request only if it continues that partition's
//   sequence. The transport never has two sends to one partition under way, however many
//   batches the sink's flusher has in flight.
//
// Runs on Node 22, 24 and 26, Deno and Bun. @platformatic/kafka needs
// Promise.withResolvers (Node >= 22): on Node 20 the transport refuses to start, which the
// tests check instead.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool, kGetBootstrapConnection, Producer as RealProducer } from "@platformatic/kafka";
import { createSink, type OutRecord, TransportError } from "../../mod.ts";
import { platformaticWith } from "../../src/transports/platformatic/adapter.ts";
import { KnownBrokers, parseBroker } from "../../src/transports/platformatic/binding.ts";
import { FakeScheduler } from "../support/scheduler.ts";

const supported = typeof (Promise as { withResolvers?: unknown }).withResolvers === "function";

interface Broker {
  host: string;
  port: number;
}

type Callback = (error: unknown, result?: unknown) => void;

/** A cluster of brokers b1:1, b2:2, b3:3 and its one topic, as the stand-in client sees them. */
class Cluster {
  readonly live = new Set(["b1:1", "b2:2", "b3:3"]);
  /** Every broker a client asked for metadata or a producer id, in order. */
  readonly asked: string[] = [];
  /** Records appended per partition, in order, and the next sequence number each expects. */
  readonly log = new Map<number, number[]>();
  /** Per producer id and partition. */
  readonly expected = new Map<string, number>();
  outOfOrder = 0;
  partitions: number;

  constructor(partitions: number) {
    this.partitions = partitions;
  }

  brokers(): Map<number, Broker> {
    const out = new Map<number, Broker>();
    for (const id of [1, 2, 3]) if (this.live.has(`b${id}:${id}`)) out.set(id, { host: `b${id}`, port: id });
    return out;
  }

  /** The broker's check of an idempotent produce request: it must continue the partition's sequence. */
  append(producerId: bigint, partition: number, sequence: number, ids: number[]): boolean {
    const expected = this.expected.get(`${producerId}:${partition}`) ?? 0;
    if (sequence !== expected) {
      this.outOfOrder++;
      return false;
    }
    this.expected.set(`${producerId}:${partition}`, expected + ids.length);
    const log = this.log.get(partition) ?? [];
    log.push(...ids);
    this.log.set(partition, log);
    return true;
  }
}

const ids = (messages: Array<{ value: Uint8Array }>) => messages.map((m) => (JSON.parse(new TextDecoder().decode(m.value)) as { id: number }).id);

/**
 * A stand-in for @platformatic/kafka's Producer: what it does with its bootstrap brokers
 * and metadata is what the client does (see base.js, `kGetBootstrapConnection`), and it
 * numbers records per partition when `send()` is called. Sends are answered when the test
 * says so (`answer`), or at once with `autoAnswer`.
 */
function standIn(cluster: Cluster, options: { autoAnswer: boolean }) {
  const made: Producer[] = [];
  const unanswered: Array<{ partition: number; answer: () => void }> = [];
  class Producer {
    readonly bootstrap: Broker[];
    metadataCache: { brokers: Map<number, Broker> } | undefined = undefined;
    producerId: bigint | undefined = undefined;
    closed = false;
    readonly sequences = new Map<number, number>();
    readonly listeners = new Map<string, Array<(...args: unknown[]) => void>>();
    readonly connections = {
      getFirstAvailable: (brokers: Broker[], callback: Callback) => {
        for (const b of brokers) {
          const key = `${b.host}:${b.port}`;
          cluster.asked.push(key);
          if (cluster.live.has(key)) return callback(null, key);
        }
        callback(new Error("Cannot connect to any broker."));
      },
      *[Symbol.iterator]() {},
    };

    constructor(o: { bootstrapBrokers: string[] }) {
      this.bootstrap = o.bootstrapBrokers.map((b) => ({ host: b.split(":")[0]!, port: Number(b.split(":")[1]) }));
      made.push(this);
    }

    /** The client's own choice: bootstrap brokers, plus those of its metadata while it has any. */
    [kGetBootstrapConnection](callback: Callback, _attempt = 0): void {
      const brokers = this.metadataCache === undefined ? this.bootstrap : [...this.bootstrap, ...this.metadataCache.brokers.values()];
      this.connections.getFirstAvailable(brokers, callback);
    }

    /** What the client does on NOT_LEADER_OR_FOLLOWER and the other stale-leader errors. */
    clearMetadata(): void {
      this.metadataCache = undefined;
    }

    #viaBootstrap(): Promise<unknown> {
      return new Promise((resolve, reject) => (this as unknown as Record<symbol, (cb: Callback) => void>)[kGetBootstrapConnection]!((e, c) => (e ? reject(e) : resolve(c))));
    }

    async metadata(): Promise<unknown> {
      await this.#viaBootstrap();
      this.metadataCache = { brokers: cluster.brokers() };
      const answer = { brokers: this.metadataCache.brokers, topics: new Map([["t", { partitionsCount: cluster.partitions }]]) };
      for (const listener of this.listeners.get("client:metadata") ?? []) listener(answer);
      return answer;
    }

    async initIdempotentProducer(): Promise<void> {
      await this.#viaBootstrap();
      this.producerId = BigInt(made.indexOf(this) + 1);
    }

    async send(o: { messages: Array<{ partition: number; value: Uint8Array }> }): Promise<unknown> {
      if (this.metadataCache === undefined) await this.metadata();
      const partition = o.messages[0]!.partition;
      const sequence = this.sequences.get(partition) ?? 0;
      this.sequences.set(partition, sequence + o.messages.length);
      return new Promise((resolve, reject) => {
        const answer = () => (cluster.append(this.producerId!, partition, sequence, ids(o.messages)) ? resolve({}) : reject(new Error("OUT_OF_ORDER_SEQUENCE_NUMBER")));
        if (options.autoAnswer) answer();
        else unanswered.push({ partition, answer });
      });
    }

    close(): Promise<void> {
      this.closed = true;
      return Promise.resolve();
    }

    on(event: string, listener: (...args: unknown[]) => void): void {
      this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    }
  }
  return { load: () => Promise.resolve({ Producer, kGetBootstrapConnection }), made, unanswered };
}

const record = (id: number): OutRecord => ({ key: null, value: new TextEncoder().encode(JSON.stringify({ id })), headers: null, timestamp: 0, size: 40 });
const batch = (from: number, n: number) => {
  const records = Array.from({ length: n }, (_, k) => record(from + k));
  return { records, bytes: n * 40 };
};

test("@platformatic/kafka still has what the transport's broker workaround replaces (kGetBootstrapConnection, getFirstAvailable)", () => {
  assert.equal(typeof kGetBootstrapConnection, "symbol");
  assert.equal(typeof (RealProducer.prototype as unknown as Record<symbol, unknown>)[kGetBootstrapConnection], "function");
  assert.equal(typeof ConnectionPool.prototype.getFirstAvailable, "function");
  assert.deepEqual([parseBroker("b1:1"), parseBroker("kafka"), parseBroker("[::1]:9093"), parseBroker("[::1]")], [
    { host: "b1", port: 1 },
    { host: "kafka", port: 9092 },
    { host: "::1", port: 9093 },
    { host: "::1", port: 9092 },
  ]);
  const known = new KnownBrokers();
  known.learn({ brokers: new Map([[1, { host: "a", port: 1 }], [2, { host: "b", port: 2 }]]) });
  known.learn({ brokers: new Map([[3, { host: "c", port: 3 }], [2, { host: "b", port: 2 }]]) });
  known.learn({ nothing: true });
  assert.deepEqual(known.list().map((b) => b.host), ["c", "b", "a"], "newest answer first");
});

test("the bootstrap broker dies and the client clears its metadata (a stale leader): the transport reaches the brokers it learnt, on this client and the next", async () => {
  const cluster = new Cluster(3);
  const behaviour = { autoAnswer: true };
  const { load, made, unanswered } = standIn(cluster, behaviour);
  const scheduler = new FakeScheduler();
  const t = platformaticWith(load, { brokers: "b1:1", topic: "t" });
  t.start({ maxAgeMs: 60_000, capacityBytes: 1 << 20, scheduler });
  const send = (from: number, signal = new AbortController().signal) => t.send(batch(from, 3), signal).then((r) => r, (e: unknown) => e);
  if (!supported) {
    const setup = await send(0);
    assert.ok(setup instanceof TransportError && !setup.retriable && /Node >= 22/.test(setup.message), String(setup));
    await t.close(1000);
    return;
  }
  assert.equal(await send(0), undefined, "all delivered");
  assert.equal(t.state(), "up");

  // Node 1 is killed; then a send meets NOT_LEADER_OR_FOLLOWER and the client clears its metadata.
  cluster.live.delete("b1:1");
  made[0]!.clearMetadata();
  cluster.asked.length = 0;
  const after = await send(3);
  assert.equal(after, undefined, `all delivered through a live broker, got ${after}`);
  assert.ok(cluster.asked.includes("b2:2"), `a learnt broker was asked: ${cluster.asked.join(" ")}`);

  // A send aborted on the wire closes the client; the next client knows the brokers too.
  behaviour.autoAnswer = false;
  const aborting = new AbortController();
  const sending = send(6, aborting.signal);
  while (unanswered.length === 0) await scheduler.advance(0);
  aborting.abort();
  assert.deepEqual(await sending, { aborted: [0, 1, 2] });
  behaviour.autoAnswer = true;
  assert.ok(made[0]!.closed, "the aborted send's client is closed");
  cluster.asked.length = 0;
  assert.equal(await send(9), undefined, "all delivered");
  assert.equal(made.length, 2, "a new client");
  assert.deepEqual(cluster.asked.slice(0, 2), ["b1:1", "b2:2"], "the new client tried the bootstrap broker, then a learnt one");
  const appended = [...cluster.log.values()].flat().sort((a, b) => a - b);
  assert.deepEqual(appended, [0, 1, 2, 3, 4, 5, 9, 10, 11], "each delivered batch once; the aborted one never answered");
  await scheduler.drive(t.close(1000));
});

test("four batches in flight to one partition: one send at a time reaches the client, in order, so the broker sees no sequence gap", async () => {
  const cluster = new Cluster(1);
  const { load, unanswered } = standIn(cluster, { autoAnswer: false });
  const scheduler = new FakeScheduler();
  const transport = platformaticWith(load, { brokers: "b1:1", topic: "t" });
  if (!supported) {
    transport.start({ maxAgeMs: 60_000, capacityBytes: 1 << 20, scheduler });
    const setup = await transport.send(batch(0, 1), new AbortController().signal).then(() => null, (e: unknown) => e);
    assert.ok(setup instanceof TransportError && !setup.retriable, String(setup));
    await transport.close(1000);
    return;
  }
  const sink = createSink<{ id: number }>({ transport, scheduler, batch: { maxRecords: 5, lingerMs: 0, maxInFlight: 4 } });
  for (let id = 0; id < 20; id++) assert.equal(sink.emit({ id }), true);
  let mostAtOnce = 0;
  for (let turn = 0; turn < 200 && sink.stats().delivered.records < 20; turn++) {
    await scheduler.advance(1);
    mostAtOnce = Math.max(mostAtOnce, unanswered.length);
    // The worst order a failover can give: the newest request reaches the new leader first.
    unanswered.pop()?.answer();
  }
  const stats = sink.stats();
  assert.equal(mostAtOnce, 1, "never two sends to the partition under way at once");
  assert.equal(stats.sends >= 4, true, `the flusher sent several batches (${stats.sends})`);
  assert.equal(cluster.outOfOrder, 0, "no request arrived out of sequence");
  assert.deepEqual(cluster.log.get(0), Array.from({ length: 20 }, (_, i) => i), "every record once, in emit order");
  assert.equal(stats.delivered.records, 20);
  await scheduler.drive(sink.close({ timeoutMs: 1000 }));
});

test("sends waiting for their partition's turn when the sink aborts them: those on the wire are aborted, those still waiting never left (retry)", async () => {
  const cluster = new Cluster(1);
  const { load, unanswered } = standIn(cluster, { autoAnswer: false });
  const scheduler = new FakeScheduler();
  const t = platformaticWith(load, { brokers: "b1:1", topic: "t" });
  t.start({ maxAgeMs: 60_000, capacityBytes: 1 << 20, scheduler });
  const first = new AbortController();
  const second = new AbortController();
  const outcome = (p: Promise<unknown>) => p.then((r) => r, (e: unknown) => e);
  const sendingFirst = outcome(t.send(batch(0, 2), first.signal));
  if (!supported) {
    const setup = await sendingFirst;
    assert.ok(setup instanceof TransportError && !setup.retriable, String(setup));
    await t.close(1000);
    return;
  }
  while (unanswered.length === 0) await scheduler.advance(0);
  const sendingSecond = outcome(t.send(batch(2, 2), second.signal));
  for (let k = 0; k < 10; k++) await scheduler.advance(0);
  assert.equal(unanswered.length, 1, "the second send waits for the first");
  // The sink's flusher aborts every send in flight at once when it shuts down.
  first.abort();
  second.abort();
  assert.deepEqual(await sendingFirst, { aborted: [0, 1] }, "on the wire: unknown");
  const report = await sendingSecond as { retry?: number[]; aborted?: number[]; error?: unknown };
  assert.deepEqual([report.retry, report.aborted], [[0, 1], undefined], "never handed to the client: safe to count as not written");
  assert.equal(unanswered.length, 1, "the client never saw the second send");
  await scheduler.drive(t.close(1000));
});

// confluentTransport() on a stand-in for @confluentinc/kafka-javascript's Producer, so
// that what it does with librdkafka's events can be provoked on demand: here, a producer
// whose statistics list no broker at all while its records get no answer. Runs on every
// runtime (the package is never imported), on a fake scheduler: time moves only when the
// test says so.

import { test } from "node:test";
import assert from "node:assert/strict";
import { conservationErrors, createSink } from "../../mod.ts";
import { confluentWith } from "../../src/transports/confluent/adapter.ts";
import { FakeScheduler, settle } from "../support/scheduler.ts";

type Listener = (...args: unknown[]) => void;

/** A Producer stand-in: connects at once; delivers what it is given unless told not to. */
interface FakeProducer {
  readonly config: Record<string, unknown>;
  readonly produced: Array<{ value: Uint8Array; opaque: unknown }>;
  disconnected: boolean;
  emit(event: string, ...args: unknown[]): void;
}

function binding(deliver: (producerIndex: number) => boolean) {
  const producers: FakeProducer[] = [];
  class Producer implements FakeProducer {
    readonly config: Record<string, unknown>;
    readonly produced: Array<{ value: Uint8Array; opaque: unknown }> = [];
    readonly #listeners = new Map<string, Listener>();
    readonly #index: number;
    #connected = false;
    disconnected = false;
    constructor(config: Record<string, unknown>) {
      this.config = config;
      this.#index = producers.length;
      producers.push(this);
    }
    connect(_options: unknown, callback: (error: null) => void): void {
      queueMicrotask(() => {
        this.#connected = true;
        callback(null);
      });
    }
    produce(_topic: string, _partition: null, value: Uint8Array, _key: unknown, _timestamp: number, opaque: unknown): void {
      this.produced.push({ value, opaque });
      if (deliver(this.#index)) queueMicrotask(() => this.emit("delivery-report", null, { opaque }));
    }
    setPollInBackground(): void {}
    getMetadata(_options: unknown, callback: (error: null) => void): void {
      queueMicrotask(() => callback(null));
    }
    disconnect(_timeoutMs: number, callback: () => void): void {
      this.#connected = false;
      this.disconnected = true;
      queueMicrotask(callback);
    }
    isConnected(): boolean {
      return this.#connected;
    }
    on(event: string, listener: Listener): void {
      this.#listeners.set(event, listener);
    }
    emit(event: string, ...args: unknown[]): void {
      this.#listeners.get(event)?.(...args);
    }
  }
  return { load: () => Promise.resolve({ Producer }), producers };
}

/** librdkafka's statistics, as much of them as the transport reads. */
function stats(brokers: Record<string, unknown>): { message: string } {
  return { message: JSON.stringify({ name: "rdkafka#producer-1", type: "producer", brokers, topics: {} }) };
}

/** Moves fake time on in small steps until `condition` holds; fails after `limitMs` of it. */
async function until(scheduler: FakeScheduler, condition: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > limitMs) throw new Error(`not within ${limitMs} ms (fake time): ${what}`);
    await scheduler.advance(10);
  }
}

test("a producer that has lost every broker while its records wait is replaced: the records are sent again on a new one and arrive once", async () => {
  // The first producer never answers (a broker it no longer knows); the next one delivers.
  const { load, producers } = binding((index) => index > 0);
  const scheduler = new FakeScheduler();
  const transport = confluentWith(load, { brokers: "127.0.0.1:1", topic: "t" });
  const sink = createSink({ transport, batch: { lingerMs: 1 }, scheduler });
  try {
    await until(scheduler, () => transport.state() === "up", "the first producer connected");
    const first = producers[0]!;
    assert.equal(first.config["statistics.interval.ms"], 5000, "librdkafka reports its statistics");

    // No broker, but nothing waits: nothing to recover.
    first.emit("event.stats", stats({}));
    await settle();
    assert.equal(producers.length, 1, "not replaced while no record waits");

    for (let id = 0; id < 3; id++) sink.emit({ id });
    await until(scheduler, () => first.produced.length === 3, "three records handed to the first producer");
    await scheduler.advance(4000);
    assert.equal(transport.state(), "up", "4 s without an answer: not yet a stall");
    await until(scheduler, () => transport.state() === "down", "the stall noticed (no answer for 5 s)", 2000);

    // Stalled, but librdkafka still knows a broker: it may yet answer.
    first.emit("event.stats", stats({ "127.0.0.1:1/1": { nodeid: 1, state: "UP", source: "learned" } }));
    await scheduler.advance(1000);
    assert.equal(producers.length, 1, "not replaced while librdkafka knows a broker");

    // Only librdkafka's own handles (no connection to a broker behind them) count as none.
    first.emit("event.stats", stats({ ":0/internal": { nodeid: -1, source: "internal" }, "GroupCoordinator": { nodeid: -1, source: "logical" } }));
    await until(scheduler, () => sink.stats().delivered.records === 3, "the three records delivered by a new producer");
    assert.equal(producers.length, 2);
    assert.ok(first.disconnected, "the producer without brokers was destroyed");
    const decode = (v: Uint8Array) => (JSON.parse(new TextDecoder().decode(v)) as { id: number }).id;
    assert.deepEqual(producers[1]!.produced.map((p) => decode(p.value)).sort(), [0, 1, 2]);
    assert.equal(sink.stats().lastError, null, "the retriable error is stale once a new producer delivered");

    // Reports the destroyed producer might still let out count for nothing.
    for (const { opaque } of first.produced) first.emit("delivery-report", null, { opaque });
    assert.equal(sink.stats().delivered.records, 3, "each record counted once");
    assert.equal(transport.state(), "up");

    const report = await scheduler.drive(sink.close({ timeoutMs: 1000 }));
    assert.equal(report.delivered.records, 3);
    assert.deepEqual(conservationErrors(sink.stats()), []);
    assert.equal(report.inDoubt.records, 0);
    assert.equal(transport.state(), "closed");
  } finally {
    await scheduler.drive(sink.close({ timeoutMs: 100 }));
  }
});

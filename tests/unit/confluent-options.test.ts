// confluentTransport()'s options and life cycle without a broker and without loading
// @confluentinc/kafka-javascript: construction only validates, nothing connects until
// the sink starts the transport; connection attempts on a stand-in binding, on a fake
// scheduler. Runs on every runtime (the package is never imported).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { InvalidOptionError, TransportError } from "../../mod.ts";
import { confluentTransport, type ConfluentTransportOptions } from "../../src/transports/confluent.ts";
import { confluentWith } from "../../src/transports/confluent/adapter.ts";
import { FakeScheduler } from "../support/scheduler.ts";

function invalid(options: unknown, option: string): void {
  assert.throws(
    () => confluentTransport(options as ConfluentTransportOptions),
    (error: unknown) => {
      assert.ok(error instanceof InvalidOptionError, `an InvalidOptionError, got ${error}`);
      assert.equal(error.code, "INVALID_OPTION");
      assert.equal(error.option, option);
      assert.ok(error.message.includes(option));
      return true;
    },
  );
}

test("confluentTransport validates its options and names the bad one", () => {
  invalid({ topic: "t" }, "brokers");
  invalid({ brokers: "", topic: "t" }, "brokers");
  invalid({ brokers: "a:1,,b:2", topic: "t" }, "brokers");
  invalid({ brokers: [], topic: "t" }, "brokers");
  invalid({ brokers: ["a:1", "b c:2"], topic: "t" }, "brokers");
  invalid({ brokers: 9092, topic: "t" }, "brokers");
  invalid({ brokers: "a:1" }, "topic");
  invalid({ brokers: "a:1", topic: "" }, "topic");
  invalid({ brokers: "a:1", topic: "has space" }, "topic");
  invalid({ brokers: "a:1", topic: ".." }, "topic");
  invalid({ brokers: "a:1", topic: "x".repeat(250) }, "topic");
  invalid({ brokers: "a:1", topic: "t", clientId: "" }, "clientId");
  invalid({ brokers: "a:1", topic: "t", compression: "brotli" }, "compression");
  invalid({ brokers: "a:1", topic: "t", config: { "linger.ms": {} } }, "config.linger.ms");
  invalid({ brokers: "a:1", topic: "t", config: { "enable.idempotence": false } }, "config.enable.idempotence");
  invalid({ brokers: "a:1", topic: "t", config: { acks: 1 } }, "config.acks");
  invalid({ brokers: "a:1", topic: "t", config: { "queue.buffering.max.kbytes": 1 } }, "config.queue.buffering.max.kbytes");
  invalid({ brokers: "a:1", topic: "t", config: { "bootstrap.servers": "x:1" } }, "config.bootstrap.servers");
  invalid({ brokers: "a:1", topic: "t", topics: ["t"] }, "topics");
});

test("confluentTransport accepts a broker string, a list and an array, and passes other librdkafka properties", () => {
  for (const brokers of ["127.0.0.1:39092", "a:1, b:2", ["a:1", "b:2"]]) {
    const t = confluentTransport({ brokers, topic: "query-insights" });
    assert.equal(t.name, "confluent");
    assert.equal(t.topic, "query-insights");
  }
  confluentTransport({
    brokers: "a:1",
    topic: "t.x_y-z",
    clientId: "api",
    compression: "zstd",
    config: { "linger.ms": 20, "security.protocol": "ssl", "enable.ssl.certificate.verification": true },
  });
});

test("construction connects to nothing: state is connecting until started, closed after close", async () => {
  // Nothing listens on port 9: construction must neither throw nor wait.
  const t = confluentTransport({ brokers: "127.0.0.1:9", topic: "t" });
  assert.equal(t.state(), "connecting");
  await t.close(100);
  assert.equal(t.state(), "closed");
  await assert.rejects(
    t.send({ records: [], bytes: 0 }, new AbortController().signal),
    (error: unknown) => (error as { code?: string }).code === "TRANSPORT_CLOSED",
  );
});

test("the shedsink root never imports the confluent transport (its package is optional)", () => {
  const mod = readFileSync(new URL("../../mod.ts", import.meta.url), "utf8");
  assert.ok(!/transports\/confluent/.test(mod), "mod.ts does not import src/transports/confluent.ts");
  const source = readFileSync(new URL("../../src/transports/confluent.ts", import.meta.url), "utf8");
  assert.ok(!/^import[^;]*["']@confluentinc\/kafka-javascript["']/m.test(source), "no static import of the package");
});

const batch = () => ({ records: [{ key: null, value: new Uint8Array(1), headers: null, timestamp: 0, size: 21 }], bytes: 21 });

test("a package that cannot be loaded is a final error naming it, for every send", async () => {
  const t = confluentWith(() => Promise.reject(new Error("Cannot find package")), { brokers: "127.0.0.1:1", topic: "t" });
  const scheduler = new FakeScheduler();
  t.start({ scheduler, maxAgeMs: 60_000, capacityBytes: 1 << 20 });
  for (let i = 0; i < 2; i++) {
    await assert.rejects(t.send(batch(), new AbortController().signal), (e: unknown) => {
      assert.ok(e instanceof TransportError && !e.retriable && e.code === "TRANSPORT_UNAVAILABLE", String(e));
      assert.match(e.message, /^confluent transport: cannot load @confluentinc\/kafka-javascript \(install it next to shedsink; it runs on Node only\): Cannot find package/);
      return true;
    });
  }
  await t.close(100);
  assert.equal(scheduler.pending, 0, "no reconnect after a setup error");
});

test("a broker that refuses connections: down with BROKERS_UNREACHABLE; a send waits at most 1 s for the attempt under way, then fails retriably; attempts back off from 250 ms, doubling, with ±20% jitter", async () => {
  const scheduler = new FakeScheduler();
  const made: number[] = [];
  class Producer {
    constructor() {
      made.push(scheduler.now());
    }
    connect(_options: unknown, callback: (error: { message: string }) => void): void {
      // librdkafka gives up on the bootstrap broker after the connect timeout (5 s).
      scheduler.later(5000, () => callback({ message: "Connection refused" }));
    }
    on(): void {}
    isConnected(): boolean {
      return false;
    }
  }
  const t = confluentWith(() => Promise.resolve({ Producer }), { brokers: "127.0.0.1:1", topic: "t" });
  t.start({ scheduler, maxAgeMs: 60_000, capacityBytes: 1 << 20 });
  const started = scheduler.now();
  let settled = false;
  const sending = t.send(batch(), new AbortController().signal).then(
    () => assert.fail("nothing can be delivered"),
    (error: unknown) => error,
  ).finally(() => (settled = true));
  await scheduler.advance(999);
  assert.equal(settled, false, "waits for the attempt under way");
  await scheduler.advance(1);
  const error = await sending;
  assert.ok(error instanceof TransportError && error.retriable && error.code === "TRANSPORT_UNAVAILABLE", String(error));
  assert.match(error.message, /^confluent: not connected to 127\.0\.0\.1:1/);
  assert.equal(t.state(), "connecting", "the first attempt is still under way");
  await scheduler.advance(5000 + 300 + 5000 + 600 + 5000 + 1200);
  // Each attempt 5 s, then 250, 500, 1000 ms of backoff, each ±20% (jitter).
  const at = made.map((time) => time - started);
  assert.equal(at.length, 4);
  for (const [k, nominal] of [250, 500, 1000].entries()) {
    const gap = at[k + 1]! - at[k]! - 5000;
    assert.ok(gap >= nominal * 0.8 - 1 && gap <= nominal * 1.2 + 1, `backoff ${k + 1}: ${gap} ms, nominal ${nominal}`);
  }
  assert.equal(t.state(), "down", "every bootstrap broker refused: down, not connecting for ever");
  assert.equal(t.failure()?.code, "BROKERS_UNREACHABLE");
  assert.match(t.failure()!.message, /^BROKERS_UNREACHABLE: .*Connection refused/);
  // An attempt is under way again: the send waits for it up to 1 s, and says why the last one failed.
  await assert.rejects(scheduler.drive(t.send(batch(), new AbortController().signal)), /not connected to 127\.0\.0\.1:1: BROKERS_UNREACHABLE: .*Connection refused/);
  await t.close(100);
  assert.equal(t.state(), "closed");
  await scheduler.advance(60_000);
  assert.equal(made.length, 4, "no attempt after close()");
});

// confluentTransport()'s options and life cycle without a broker and without loading
// @confluentinc/kafka-javascript: construction only validates, nothing connects until
// the sink starts the transport. Runs on every runtime (the package is never imported).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { InvalidOptionError } from "../../mod.ts";
import { confluentTransport, type ConfluentTransportOptions } from "../../src/transports/confluent.ts";

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

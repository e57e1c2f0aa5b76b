// platformaticTransport() and kafkaTransport() without a broker: option validation, the
// partitioner, how the client's errors map to per-record outcomes, and the life cycle
// (construction connects nothing; abort, close). The error mapping is checked against
// @platformatic/kafka's own error classes (a devDependency), so a change in their shape
// shows up here. Runs on Node 22, 24 and 26, Deno and Bun.

import { test } from "node:test";
import assert from "node:assert/strict";
import { MultipleErrors, NetworkError, ResponseError, UserError } from "@platformatic/kafka";
import { InvalidOptionError, type OutRecord, TransportError } from "../../mod.ts";
import { runtimeName, systemScheduler } from "../../src/runtime.ts";
import { kafkaTransport, type KafkaTransportOptions } from "../../src/transports/kafka.ts";
import { resolveClientOptions } from "../../src/transports/kafka/options.ts";
import { groupByPartition, murmur2, partitionForKey } from "../../src/transports/kafka/partition.ts";
import { platformaticTransport, type PlatformaticTransportOptions } from "../../src/transports/platformatic.ts";
import { platformaticWith } from "../../src/transports/platformatic/adapter.ts";
import { PRODUCER_CONFIG } from "../../src/transports/platformatic/binding.ts";
import { classifyError, describeError } from "../../src/transports/platformatic/errors.ts";
import { FakeScheduler } from "../support/scheduler.ts";

const resolveOptions = (options: PlatformaticTransportOptions) => resolveClientOptions(PRODUCER_CONFIG, options);

function invalid(options: unknown, option: string, build: (o: never) => unknown = platformaticTransport as never): void {
  assert.throws(
    () => build(options as never),
    (error: unknown) => {
      assert.ok(error instanceof InvalidOptionError, `an InvalidOptionError, got ${error}`);
      assert.equal(error.code, "INVALID_OPTION");
      assert.equal(error.option, option);
      assert.ok(error.message.includes(option), error.message);
      return true;
    },
  );
}

test("platformaticTransport validates its options and names the bad one", () => {
  invalid({ topic: "t" }, "brokers");
  invalid({ brokers: "", topic: "t" }, "brokers");
  invalid({ brokers: "a:1,,b:2", topic: "t" }, "brokers");
  invalid({ brokers: [], topic: "t" }, "brokers");
  invalid({ brokers: ["a:1", "b c:2"], topic: "t" }, "brokers");
  invalid({ brokers: "a:0", topic: "t" }, "brokers");
  invalid({ brokers: "a:70000", topic: "t" }, "brokers");
  invalid({ brokers: "a:b:c", topic: "t" }, "brokers");
  invalid({ brokers: 9092, topic: "t" }, "brokers");
  invalid({ brokers: "a:1" }, "topic");
  invalid({ brokers: "a:1", topic: "" }, "topic");
  invalid({ brokers: "a:1", topic: "has space" }, "topic");
  invalid({ brokers: "a:1", topic: ".." }, "topic");
  invalid({ brokers: "a:1", topic: "x".repeat(250) }, "topic");
  invalid({ brokers: "a:1", topic: "t", clientId: "" }, "clientId");
  invalid({ brokers: "a:1", topic: "t", clientId: "two words" }, "clientId");
  invalid({ brokers: "a:1", topic: "t", compression: "brotli" }, "compression");
  invalid({ brokers: "a:1", topic: "t", config: "tls" }, "config");
  invalid({ brokers: "a:1", topic: "t", config: [] }, "config");
  for (const owned of ["bootstrapBrokers", "clientId", "compression", "idempotent", "acks", "retries", "serializers", "transactionalId", "partitioner"]) {
    invalid({ brokers: "a:1", topic: "t", config: { [owned]: 1 } }, `config.${owned}`);
  }
  invalid({ brokers: "a:1", topic: "t", topics: ["t"] }, "topics");
});

test("platformaticTransport accepts a broker string, a list and an array, fills in defaults and passes other options", () => {
  for (const brokers of ["127.0.0.1:39092", "a:1, b:2", ["a:1", "b:2"], "localhost", "[::1]:9092"]) {
    const t = platformaticTransport({ brokers, topic: "query-insights" });
    assert.equal(t.name, "platformatic");
    assert.equal(t.topic, "query-insights");
  }
  const r = resolveOptions({ brokers: "a:1, b:2", topic: "t" });
  assert.deepEqual(r, { brokers: ["a:1", "b:2"], topic: "t", clientId: "shedsink", compression: "lz4", security: { tls: null, sasl: null }, onError: null, logger: null, config: {} });
  const options: PlatformaticTransportOptions = {
    brokers: ["a:1"],
    topic: "t.x_y-z",
    clientId: "api",
    compression: "zstd",
    config: { requestTimeout: 5000, autocreateTopics: false, tls: { rejectUnauthorized: true }, sasl: { mechanism: "PLAIN", username: "u", password: "p" } },
  };
  assert.equal(resolveOptions(options).config.requestTimeout, 5000);
});

test("murmur2 is Kafka's (the Java client's test vectors) and keys land where the Java client puts them", () => {
  const enc = new TextEncoder();
  const vectors: Array<[string, number]> = [
    ["21", -973932308],
    ["foobar", -790332482],
    ["a-little-bit-long-string", -985981536],
    ["a-little-bit-longer-string", -1486304829],
    ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
    ["abc", 479470107],
  ];
  for (const [text, hash] of vectors) assert.equal(murmur2(enc.encode(text)), hash, text);
  // toPositive(murmur2(key)) % partitions
  assert.equal(partitionForKey(enc.encode("21"), 3), (-973932308 & 0x7fffffff) % 3);
  assert.equal(partitionForKey(enc.encode("foobar"), 7), (-790332482 & 0x7fffffff) % 7);
  for (let n = 1; n < 20; n++) {
    const p = partitionForKey(enc.encode(`key-${n}`), n);
    assert.ok(p >= 0 && p < n);
  }
});

function rec(key: string | null): OutRecord {
  const enc = new TextEncoder();
  return { key: key === null ? null : enc.encode(key), value: enc.encode("v"), headers: null, timestamp: 0, size: 21 };
}

test("groupByPartition: keyed records by their key's partition, unkeyed ones together in the sticky partition, order kept", () => {
  const records = [rec(null), rec("a"), rec(null), rec("b"), rec("a"), rec(null)];
  const groups = groupByPartition(records, 4, 6);
  const enc = new TextEncoder();
  assert.deepEqual(groups.get(6 % 4)!.filter((i) => records[i]!.key === null), [0, 2, 5], "unkeyed: all in partition sticky % 4");
  const pa = partitionForKey(enc.encode("a"), 4);
  const pb = partitionForKey(enc.encode("b"), 4);
  const all = [...groups.values()].flat().sort((x, y) => x - y);
  assert.deepEqual(all, [0, 1, 2, 3, 4, 5], "every record in exactly one group");
  assert.ok(groups.get(pa)!.includes(1) && groups.get(pa)!.includes(4));
  assert.ok(groups.get(pb)!.includes(3));
  for (const g of groups.values()) assert.deepEqual(g, [...g].sort((x, y) => x - y), "batch order kept in a group");
  assert.deepEqual([...groupByPartition([rec(null), rec(null)], 1, 5).entries()], [[0, [0, 1]]]);
});

const produceError = (code: number) =>
  new MultipleErrors("Producing messages failed.", [
    new ResponseError(0, 11, { "/responses/0/partition_responses/0": [code, null] }, { responses: [] }),
  ]);

test("classifyError maps the client's final errors: record-level, final, retriable", () => {
  assert.equal(classifyError(produceError(10)), "records", "MESSAGE_TOO_LARGE");
  assert.equal(classifyError(produceError(18)), "records", "RECORD_LIST_TOO_LARGE");
  assert.equal(classifyError(produceError(87)), "records", "INVALID_RECORD");
  assert.equal(classifyError(produceError(29)), "rejected", "TOPIC_AUTHORIZATION_FAILED");
  assert.equal(classifyError(produceError(17)), "rejected", "INVALID_TOPIC_EXCEPTION");
  assert.equal(classifyError(produceError(45)), "retry", "OUT_OF_ORDER_SEQUENCE_NUMBER: never written");
  assert.equal(classifyError(produceError(6)), "retry", "NOT_LEADER_OR_FOLLOWER");
  assert.equal(classifyError(new UserError("Unknown topic t.")), "rejected");
  assert.equal(classifyError(new MultipleErrors("produce failed 3 times.", [new NetworkError("Connection closed"), new NetworkError("Connection closed")])), "retry");
  assert.equal(classifyError(new NetworkError("Client is closed.", { canRetry: false, closed: true })), "retry", "our own close is not final");
  assert.equal(classifyError(new MultipleErrors("produce failed 2 times.", [new NetworkError("x"), new UserError("Client closed while retrying produce.")])), "retry");
  assert.equal(classifyError(new Error("something else")), "retry");
  assert.equal(classifyError(undefined), "retry");
});

test("describeError names the Kafka error, in words where it matters", () => {
  assert.match(describeError(produceError(10)), /too large.*\(MESSAGE_TOO_LARGE\)/);
  assert.match(describeError(produceError(29)), /TOPIC_AUTHORIZATION_FAILED/);
  const network = new MultipleErrors("metadata failed 2 times.", [new NetworkError("Connection to 127.0.0.1:1 failed.", { cause: new Error("connect ECONNREFUSED 127.0.0.1:1") })]);
  assert.match(describeError(network), /^metadata failed 2 times\.: .*ECONNREFUSED/);
  assert.equal(describeError("plain"), "plain");
});

test("construction connects nothing; a send aborted before sending reports every record to retry (none left); close() closes", async () => {
  const t = platformaticTransport({ brokers: "127.0.0.1:1", topic: "t" });
  assert.equal(t.state(), "connecting");
  const batch = { records: [rec(null), rec("k")], bytes: 42 };
  const controller = new AbortController();
  controller.abort();
  assert.deepEqual(await t.send(batch, controller.signal), { retry: [0, 1] });
  // Nothing was connected: close() settles without waiting for its deadline.
  const scheduler = new FakeScheduler();
  t.start?.({ maxAgeMs: 60_000, capacityBytes: 1 << 20, scheduler });
  let closed = false;
  void t.close(1000).then(() => (closed = true));
  await scheduler.advance(0);
  assert.equal(closed, true, "closed with no time passing");
  assert.equal(t.state(), "closed");
  await assert.rejects(t.send(batch, new AbortController().signal), (e: unknown) => e instanceof TransportError && e.code === "TRANSPORT_CLOSED" && !e.retriable);
});

test("a send to a broker that is not there fails with a TransportError, nothing sent (its deadline: the hung-broker test below)", async () => {
  const t = platformaticTransport({ brokers: "127.0.0.1:1", topic: "t", config: { connectTimeout: 500 } });
  // A real connection attempt: the transport's deadlines run on the runtime's own timers.
  t.start?.({ maxAgeMs: 60_000, capacityBytes: 1 << 20, scheduler: systemScheduler });
  const supported = typeof (Promise as { withResolvers?: unknown }).withResolvers === "function";
  await assert.rejects(t.send({ records: [rec(null)], bytes: 21 }, new AbortController().signal), (e: unknown) => {
    assert.ok(e instanceof TransportError, `a TransportError, got ${e}`);
    // Node 20 has no Promise.withResolvers, which @platformatic/kafka needs: a setup error.
    assert.equal(e.retriable, supported, e.message);
    assert.match(e.message, supported ? /ECONNREFUSED|failed|no answer/ : /Node >= 22/);
    return true;
  });
  // Node 20 cannot run the client at all: a setup error, not a connection failure.
  assert.equal(t.state(), supported ? "down" : "connecting", "no bootstrap broker: down");
  if (supported) assert.equal((t as unknown as { failure(): { code: string } }).failure().code, "BROKERS_UNREACHABLE");
  await t.close(1000);
});

test("kafkaTransport validates once for every transport and picks the runtime's", () => {
  const k = (o: unknown) => kafkaTransport(o as KafkaTransportOptions);
  invalid({ topic: "t" }, "brokers", k as never);
  invalid({ brokers: "a:1", topic: "t", use: "rdkafka" }, "use", k as never);
  invalid({ brokers: "a:1", topic: "t", config: {} }, "config", k as never);
  invalid({ brokers: "a:1", topic: "t", platformatic: { retries: 1 } }, "platformatic.retries", k as never);
  invalid({ brokers: "a:1", topic: "t", confluent: { acks: 1 } }, "confluent.acks", k as never);
  assert.equal(k({ brokers: "a:1", topic: "t", use: "platformatic" }).name, "platformatic");
  assert.equal(k({ brokers: "a:1", topic: "t", use: "confluent" }).name, "confluent");
  const auto = k({ brokers: "a:1", topic: "t", compression: "gzip", confluent: { "linger.ms": 5 }, platformatic: { requestTimeout: 5000 } });
  // Node decides when the transport starts (can the confluent package be imported?).
  assert.equal(auto.name, runtimeName() === "node" ? "kafka" : "platformatic");
  assert.equal(auto.state(), "connecting");
});

/** A stand-in for @platformatic/kafka whose broker never answers (a hung broker). */
function hungClient() {
  const made: Array<{ closed: boolean }> = [];
  class Producer {
    closed = false;
    producerId = undefined;
    constructor() {
      made.push(this);
    }
    metadata(): Promise<never> {
      return new Promise(() => {});
    }
    send(): Promise<never> {
      return new Promise(() => {});
    }
    initIdempotentProducer(): Promise<never> {
      return new Promise(() => {});
    }
    close(): Promise<void> {
      this.closed = true;
      return Promise.resolve();
    }
    on(): void {}
  }
  return { load: () => Promise.resolve({ Producer }), made };
}

test("a send to a broker that never answers fails retriably after 2 s of the transport's time, nothing sent; close() closes the client", async () => {
  const { load, made } = hungClient();
  const scheduler = new FakeScheduler();
  const t = platformaticWith(load, { brokers: "127.0.0.1:1", topic: "t" });
  t.start({ maxAgeMs: 60_000, capacityBytes: 1 << 20, scheduler });
  let settled = false;
  const sending = t.send({ records: [rec(null)], bytes: 21 }, new AbortController().signal).then(
    (report: unknown) => report,
    (error: unknown) => error,
  ).finally(() => (settled = true));
  if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== "function") {
    // Node 20: @platformatic/kafka cannot run there; the transport says so at once, for good.
    const setup = await sending;
    assert.ok(setup instanceof TransportError && !setup.retriable && /Node >= 22/.test(setup.message), String(setup));
    assert.equal(made.length, 0);
    await t.close(1000);
    return;
  }
  await scheduler.advance(1999);
  assert.equal(settled, false, "waits for metadata up to 2 s");
  await scheduler.advance(1);
  const outcome = await sending;
  assert.ok(outcome instanceof TransportError && outcome.retriable && outcome.code === "TRANSPORT_UNAVAILABLE", String(outcome));
  assert.match(outcome.message, /^platformatic: topic "t": BROKERS_UNREACHABLE: .*no answer from 127\.0\.0\.1:1 within 2000 ms/);
  assert.equal(t.state(), "down", "never up, and no answer: down");
  assert.equal(made.length, 1, "one client, made once");
  await scheduler.drive(t.close(1000));
  assert.equal(t.state(), "closed");
  assert.ok(made[0]!.closed, "the client was closed");
  assert.equal(scheduler.pending, 0, "no timer left behind");
});

/** A stand-in for @platformatic/kafka whose broker does not know the topic (yet). */
function unknownTopicClient() {
  class Producer {
    producerId = undefined;
    metadata(): Promise<never> {
      return Promise.reject(new Error("Unknown topic or partition."));
    }
    send(): Promise<never> {
      return Promise.reject(new Error("not reached"));
    }
    close(): Promise<void> {
      return Promise.resolve();
    }
    on(): void {}
  }
  return () => Promise.resolve({ Producer });
}

test("an unknown topic the client asked the broker to create fails retriably for 30 s of the transport's time (creating it takes a while), then for good; without auto-creation, for good at once", async () => {
  const send = (t: ReturnType<typeof platformaticWith>) => t.send({ records: [rec(null)], bytes: 21 }, new AbortController().signal).then((r: unknown) => r, (e: unknown) => e);
  const scheduler = new FakeScheduler();
  const t = platformaticWith(unknownTopicClient(), { brokers: "127.0.0.1:1", topic: "t" });
  t.start({ maxAgeMs: 60_000, capacityBytes: 1 << 20, scheduler });
  const first = await scheduler.drive(send(t));
  assert.ok(first instanceof TransportError && first.retriable, String(first));
  assert.match(first.message, /unknown topic "t": waiting for the broker to create it/);
  await scheduler.advance(29_000);
  const later = await scheduler.drive(send(t));
  assert.ok(later instanceof TransportError && later.retriable, `still retriable at 29 s: ${String(later)}`);
  await scheduler.advance(1_000);
  const last = await scheduler.drive(send(t));
  assert.ok(last instanceof TransportError && !last.retriable, `for good at 30 s: ${String(last)}`);
  assert.match(last.message, /unknown topic "t": it does not exist/);
  await scheduler.drive(t.close(1000));

  const off = platformaticWith(unknownTopicClient(), { brokers: "127.0.0.1:1", topic: "t", config: { autocreateTopics: false } });
  off.start({ maxAgeMs: 60_000, capacityBytes: 1 << 20, scheduler });
  const refused = await scheduler.drive(send(off));
  assert.ok(refused instanceof TransportError && !refused.retriable, String(refused));
  await scheduler.drive(off.close(1000));
});

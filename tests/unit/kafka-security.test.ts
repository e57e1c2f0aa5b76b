// The common security options (tls, sasl) and the one failure model of the Kafka
// transports, without a broker: validation at construction (unknown librdkafka names with
// a suggestion, contradictions, mechanisms, secrets never echoed), the mapping to each
// client's options, and on stand-in clients over a fake scheduler: an authentication
// failure is `down` with a typed failure and holds the records until the user exists,
// unreachable bootstraps are `down`, hooks are told once per change, nothing connects
// after close(). Runs on every runtime (no client package is loaded).

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { conservationErrors, createSink, InvalidOptionError } from "../../mod.ts";
import { confluentTransport } from "../../src/transports/confluent.ts";
import { confluentWith } from "../../src/transports/confluent/adapter.ts";
import { librdkafkaConfig, LIBRDKAFKA_CONFIG } from "../../src/transports/confluent/binding.ts";
import { kafkaTransport } from "../../src/transports/kafka.ts";
import { KAFKA_FAILURE_CODES, librdkafkaFailure, nodeFailure } from "../../src/transports/kafka/failures.ts";
import { resolveClientOptions } from "../../src/transports/kafka/options.ts";
import { platformaticTransport } from "../../src/transports/platformatic.ts";
import { platformaticWith } from "../../src/transports/platformatic/adapter.ts";
import { securityOptions } from "../../src/transports/platformatic/security.ts";
import { FakeScheduler } from "../support/scheduler.ts";

const SECRET = "s3cr3t-Pa55word";
const PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQfake\n-----END PRIVATE KEY-----\n";
const context = (scheduler: FakeScheduler) => ({ scheduler, maxAgeMs: 120_000, capacityBytes: 1 << 20 });

/** Asserts `build()` throws an InvalidOptionError naming `option`, whose message matches `expected` and holds no secret. */
function invalid(build: () => unknown, option: string, expected?: RegExp): InvalidOptionError {
  let caught: unknown;
  try {
    build();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof InvalidOptionError, `an InvalidOptionError for ${option}, got ${caught}`);
  assert.equal(caught.option, option, caught.message);
  if (expected !== undefined) assert.match(caught.message, expected);
  assert.ok(!caught.message.includes(SECRET) && !JSON.stringify(caught.value ?? null).includes(SECRET), `no secret in: ${caught.message}`);
  return caught;
}

const base = { brokers: "127.0.0.1:1", topic: "t" };
const plain = { mechanism: "PLAIN" as const, username: "u", password: SECRET };

test("tls and sasl are validated at construction on every transport, naming the option, never echoing a secret", () => {
  for (const make of [confluentTransport, platformaticTransport, (o: never) => kafkaTransport({ ...(o as object), use: "platformatic" } as never)] as Array<(o: never) => unknown>) {
    const build = (extra: object) => () => make({ ...base, ...extra } as never);
    invalid(build({ sasl: { mechanism: "GSSAPI", username: "u", password: SECRET } }), "sasl.mechanism");
    invalid(build({ sasl: { mechanism: "PLAIN", username: "u" } }), "sasl.password");
    invalid(build({ sasl: { mechanism: "PLAIN", username: "u", password: 12345 } }), "sasl.password");
    invalid(build({ sasl: { mechanism: "PLAIN", username: "u", password: SECRET, passwrd: SECRET } }), "sasl.passwrd");
    invalid(build({ sasl: { mechanism: "OAUTHBEARER", token: SECRET } }), "sasl.token");
    invalid(build({ tls: { ca: "/no/such/ca.pem" } }), "tls.ca", /readable PEM file/);
    invalid(build({ tls: { cert: PEM } }), "tls.key", /go together/);
    invalid(build({ tls: { rejectUnauthorized: "no" } }), "tls.rejectUnauthorized");
    invalid(build({ tls: { verify: false } }), "tls.verify");
    invalid(build({ onError: "log" }), "onError");
  }
});

test("confluent: an unknown librdkafka property is refused with the closest name; contradictions and servername are refused", () => {
  const e = invalid(() => confluentTransport({ ...base, config: { "security.protocoll": "sasl_ssl" } }), "config.security.protocoll", /did you mean "security\.protocol"\?/);
  assert.equal(e.code, "INVALID_OPTION");
  invalid(() => confluentTransport({ ...base, config: { "sasl.passwrd": SECRET } }), "config.sasl.passwrd", /did you mean "sasl\.password"\?/);
  invalid(() => confluentTransport({ ...base, config: { "completely.unrelated.thing": 1 } }), "config.completely.unrelated.thing", /CONFIGURATION\.md/);
  invalid(() => confluentTransport({ ...base, sasl: plain, config: { "sasl.password": "other" + SECRET } }), "config.sasl.password", /contradicts/);
  invalid(() => confluentTransport({ ...base, sasl: plain, config: { "security.protocol": "plaintext" } }), "config.security.protocol", /contradicts/);
  invalid(() => confluentTransport({ ...base, tls: { servername: "kafka.internal" } }), "tls.servername", /platformatic/);
  // The same value is no contradiction; tuning keys pass.
  confluentTransport({ ...base, sasl: plain, config: { "sasl.mechanisms": "PLAIN", "reconnect.backoff.ms": 200, "ssl.cipher.suites": "x" } });
});

test("kafkaTransport: security in one client's section only is refused (the other client would connect without it)", () => {
  invalid(() => kafkaTransport({ ...base, confluent: { "security.protocol": "sasl_ssl", "sasl.password": SECRET } }), "confluent.security.protocol", /tls\/sasl options/);
  invalid(() => kafkaTransport({ ...base, use: "confluent", platformatic: { sasl: plain } }), "platformatic.sasl", /tls\/sasl options/);
  invalid(() => kafkaTransport({ ...base, use: "platformatic", confluent: { "security.protocoll": "ssl" } }), "confluent.security.protocoll", /did you mean/);
  invalid(() => kafkaTransport({ ...base, use: "platformatic", sasl: plain, platformatic: { tls: {} } }), "platformatic.tls", /one place/);
  // Each client alone may have its own section's security.
  assert.equal(kafkaTransport({ ...base, use: "confluent", confluent: { "security.protocol": "ssl" } }).name, "confluent");
  assert.equal(kafkaTransport({ ...base, use: "platformatic", platformatic: { tls: {} } }).name, "platformatic");
  // servername only matters where confluent may be picked.
  assert.equal(kafkaTransport({ ...base, use: "platformatic", tls: { servername: "kafka.internal" } }).name, "platformatic");
});

test("the same options map to librdkafka properties: PEM text or a file path, SASL, verification on by default", () => {
  const dir = mkdtempSync(join(tmpdir(), "shedsink-tls-"));
  const caPath = join(dir, "ca.pem");
  writeFileSync(caPath, PEM);
  const resolve = (o: object) => librdkafkaConfig(resolveClientOptions(LIBRDKAFKA_CONFIG, { ...base, ...o }), context(new FakeScheduler()));
  const scram = resolve({ tls: { ca: PEM }, sasl: { mechanism: "SCRAM-SHA-512", username: "u", password: SECRET } });
  assert.equal(scram["security.protocol"], "sasl_ssl");
  assert.equal(scram["sasl.mechanisms"], "SCRAM-SHA-512");
  assert.equal(scram["sasl.username"], "u");
  assert.equal(scram["sasl.password"], SECRET);
  assert.equal(scram["ssl.ca.pem"], PEM);
  assert.equal(scram["enable.ssl.certificate.verification"], true);
  assert.equal(scram["ssl.endpoint.identification.algorithm"], "https");
  assert.ok((scram["reconnect.backoff.ms"] as number) >= 1000, "handshakes retried at most about once a second");
  const path = resolve({ tls: { ca: caPath, cert: PEM, key: KEY, rejectUnauthorized: false } });
  assert.equal(path["security.protocol"], "ssl");
  assert.equal(path["ssl.ca.location"], caPath);
  assert.equal(path["ssl.certificate.pem"], PEM);
  assert.equal(path["ssl.key.pem"], KEY);
  assert.equal(path["enable.ssl.certificate.verification"], false);
  assert.equal(path["ssl.endpoint.identification.algorithm"], "none");
  assert.equal(resolve({ sasl: plain })["security.protocol"], "sasl_plaintext");
  assert.equal(resolve({})["security.protocol"], undefined, "no security: librdkafka's default (plaintext)");
});

test("OAUTHBEARER: the token provider feeds librdkafka's refresh callback and the platformatic client's token", async () => {
  const expiresAt = 1_800_000_000_000;
  const sasl = { mechanism: "OAUTHBEARER" as const, token: async () => ({ value: "jwt", expiresAt, principal: "svc", extensions: { a: "b" } }) };
  const rd = librdkafkaConfig(resolveClientOptions(LIBRDKAFKA_CONFIG, { ...base, tls: true, sasl }), context(new FakeScheduler()));
  assert.equal(rd["sasl.mechanisms"], "OAUTHBEARER");
  const refresh = rd.oauthbearer_token_refresh_cb as () => Promise<unknown>;
  assert.deepEqual(await refresh(), { tokenValue: "jwt", lifetime: expiresAt, principal: "svc", extensions: { a: "b" } });
  const plt = securityOptions({ tls: null, sasl });
  const s = plt.sasl as { mechanism: string; token: () => Promise<string>; oauthBearerExtensions: () => Promise<unknown> };
  assert.equal(s.mechanism, "OAUTHBEARER");
  assert.equal(await s.token(), "jwt");
  assert.deepEqual(await s.oauthBearerExtensions(), { a: "b" });
});

test("the same options map to @platformatic/kafka's tls and sasl", () => {
  const dir = mkdtempSync(join(tmpdir(), "shedsink-tls-"));
  const caPath = join(dir, "ca.pem");
  writeFileSync(caPath, PEM);
  const t = platformaticWith(() => Promise.reject(new Error("unused")), { ...base, tls: { ca: caPath, servername: "kafka.internal" }, sasl: plain });
  assert.equal(t.name, "platformatic");
  const o = securityOptions({ tls: { ca: { pem: PEM, path: caPath }, cert: null, key: null, servername: "kafka.internal", verify: true }, sasl: plain });
  assert.deepEqual(o, {
    tls: { rejectUnauthorized: true, ca: PEM, servername: "kafka.internal" },
    tlsServerName: "kafka.internal",
    sasl: { mechanism: "PLAIN", username: "u", password: SECRET },
  });
  assert.deepEqual(securityOptions({ tls: null, sasl: null }), {});
});

test("failures are classified the same way from librdkafka's texts and from Node/@platformatic/kafka errors", () => {
  const rd = (text: string, tls = true) => librdkafkaFailure(text, tls)?.code ?? null;
  assert.equal(rd("SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"), "SASL_AUTHENTICATION_FAILED");
  assert.equal(rd("SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified"), "TLS_CERTIFICATE_VERIFY_FAILED");
  assert.equal(rd("Disconnected while requesting ApiVersion: might be caused by incorrect security.protocol configuration (connecting to a SSL listener?)", false), "TLS_REQUIRED");
  assert.equal(rd("Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)"), "BROKERS_UNREACHABLE");
  assert.equal(rd("Broker: Topic authorization failed"), null, "an ACL refusal is a record's rejection, not a connection failure");
  const err = (message: string, props: object = {}, cause?: unknown) => Object.assign(new Error(message, cause === undefined ? undefined : { cause }), props);
  assert.equal(nodeFailure(err("SASL authentication failed.", { code: "PLT_KFK_AUTHENTICATION" }, err("Authentication failed", { apiId: "SASL_AUTHENTICATION_FAILED" })))?.code, "SASL_AUTHENTICATION_FAILED");
  assert.equal(nodeFailure(err("Connection failed", {}, err("self-signed certificate in certificate chain", { code: "SELF_SIGNED_CERT_IN_CHAIN" })))?.code, "TLS_CERTIFICATE_VERIFY_FAILED");
  assert.equal(nodeFailure(err("Broker requires TLS.", { code: "PLT_KFK_USER" }))?.code, "TLS_REQUIRED");
  // A plaintext client with SASL against a TLS listener: closed at the SASL handshake.
  const closedAtHandshake = () => err("Connection to 127.0.0.1:1 failed.", { code: "PLT_KFK_NETWORK" }, err("Cannot find a suitable SASL mechanism.", { code: "PLT_KFK_AUTHENTICATION" }, err("Connection closed", { code: "PLT_KFK_NETWORK" })));
  assert.equal(nodeFailure(closedAtHandshake(), false)?.code, "TLS_REQUIRED");
  assert.equal(nodeFailure(closedAtHandshake(), true)?.code, "BROKERS_UNREACHABLE");
  assert.equal(nodeFailure(err("x", { code: "PLT_KFK_AUTHENTICATION" }, err("y", { apiId: "UNSUPPORTED_SASL_MECHANISM" })), false)?.code, "SASL_MECHANISM_UNSUPPORTED");
  assert.equal(nodeFailure(err("x", {}, err("connect ECONNREFUSED", { code: "ECONNREFUSED" })))?.code, "BROKERS_UNREACHABLE");
  assert.equal(nodeFailure(err("not authorized", { apiId: "TOPIC_AUTHORIZATION_FAILED" })), null);
  for (const code of KAFKA_FAILURE_CODES) assert.match(code, /^[A-Z_]+$/);
});

type Listener = (...args: unknown[]) => void;

/**
 * A librdkafka Producer stand-in whose connection fails with SASL errors while
 * `world.user` is false (as librdkafka does: error events, then the connect callback
 * after its timeout), and delivers once it is true.
 */
function saslBinding(scheduler: FakeScheduler, world: { user: boolean }) {
  const made: Array<{ disconnected: boolean; config: Record<string, unknown> }> = [];
  class Producer {
    readonly #listeners = new Map<string, Listener>();
    #connected = false;
    disconnected = false;
    readonly config: Record<string, unknown>;
    constructor(config: Record<string, unknown>) {
      this.config = config;
      made.push(this);
    }
    connect(_options: unknown, callback: (error: { message: string } | null) => void): void {
      if (world.user) {
        queueMicrotask(() => {
          this.#connected = true;
          callback(null);
        });
        return;
      }
      this.#connected = true;
      const text = "SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512";
      scheduler.later(10, () => this.#listeners.get("event.error")?.({ message: text }));
      scheduler.later(5000, () => {
        if (this.disconnected) return;
        this.#connected = false;
        this.disconnected = true;
        callback({ message: "Local: Broker transport failure" });
      });
    }
    produce(_topic: string, _partition: null, _value: Uint8Array, _key: unknown, _timestamp: number, opaque: unknown): void {
      queueMicrotask(() => this.#listeners.get("delivery-report")?.(null, { opaque }));
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
  }
  return { load: () => Promise.resolve({ Producer }), made };
}

async function until(scheduler: FakeScheduler, condition: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > limitMs) throw new Error(`not within ${limitMs} ms (fake time): ${what}`);
    await scheduler.advance(10);
  }
}

test("confluent: wrong credentials are down with SASL_AUTHENTICATION_FAILED, hold the records, and deliver them once the user exists; hooks told once per change", async () => {
  const scheduler = new FakeScheduler();
  const world = { user: false };
  const { load, made } = saslBinding(scheduler, world);
  const failures: string[] = [];
  const logs: string[] = [];
  const transport = confluentWith(load, {
    brokers: "127.0.0.1:1",
    topic: "t",
    tls: { ca: PEM },
    sasl: { mechanism: "SCRAM-SHA-512", username: "u", password: SECRET },
    onError: (f) => failures.push(f.code),
    logger: (level, message) => logs.push(`${level} ${message}`),
  });
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 1 } });
  try {
    for (let id = 0; id < 5; id++) sink.emit({ id });
    await until(scheduler, () => transport.state() === "down", "down on the SASL error");
    assert.equal(transport.failure()?.code, "SASL_AUTHENTICATION_FAILED");
    assert.match(sink.stats().lastError ?? "", /^TransportError: confluent: SASL_AUTHENTICATION_FAILED: check sasl\.username\/password/);
    await scheduler.advance(30_000);
    const held = sink.stats();
    assert.equal(held.delivered.records, 0);
    assert.equal(held.lost.records + held.refused.records, 0, "held, not rejected");
    assert.ok(made.length >= 3, `reconnects go on (${made.length} producers)`);
    assert.deepEqual(failures, ["SASL_AUTHENTICATION_FAILED"], "onError told once, not per retry");
    world.user = true;
    await until(scheduler, () => sink.stats().delivered.records === 5, "all five delivered once the user exists");
    assert.equal(transport.state(), "up");
    assert.equal(transport.failure(), null);
    assert.equal(sink.stats().lastError, null, "lastError cleared on recovery");
    assert.deepEqual(logs.map((l) => l.split(":")[0]), ["error confluent", "info confluent"]);
    assert.match(logs[1]!, /up again/);
    const everything = JSON.stringify([logs, failures, sink.stats(), sink.metrics(), made.map((p) => ({ ...p.config, "sasl.password": "" }))]);
    assert.ok(!everything.includes(SECRET), "no secret in logs, stats or metrics");
    assert.equal(made.at(-1)!.config["sasl.password"], SECRET, "the secret reaches librdkafka");
  } finally {
    await scheduler.drive(sink.close({ timeoutMs: 1000 }));
    assert.deepEqual(conservationErrors(sink.stats()), []);
  }
});

test("confluent: close() during a connection attempt destroys the producer at once: nothing keeps connecting; why it was down stays readable, and no hook is told again", async () => {
  const scheduler = new FakeScheduler();
  const { load, made } = saslBinding(scheduler, { user: false });
  const told: string[] = [];
  const transport = confluentWith(load, { brokers: "127.0.0.1:1", topic: "t", sasl: plain, onError: (f) => told.push(f.code), logger: (level) => told.push(level) });
  transport.start(context(scheduler));
  await scheduler.advance(100);
  assert.equal(made.length, 1);
  assert.equal(transport.state(), "down");
  assert.deepEqual(told, ["SASL_AUTHENTICATION_FAILED", "error"]);
  await scheduler.drive(transport.close(1000));
  assert.ok(made[0]!.disconnected, "the connecting producer was destroyed by close()");
  assert.equal(transport.state(), "closed");
  assert.equal(transport.failure()?.code, "SASL_AUTHENTICATION_FAILED", "why it was down when it closed");
  assert.deepEqual(told, ["SASL_AUTHENTICATION_FAILED", "error"], "closing tells nobody again");
  await scheduler.advance(60_000);
  assert.equal(made.length, 1, "no attempt after close()");
  assert.equal(scheduler.pending, 0, "no timer left");
});

test("verification turned off is told once, as a warning through the logger", () => {
  const logs: string[] = [];
  const t = confluentWith(() => new Promise(() => {}), { ...base, tls: { rejectUnauthorized: false }, logger: (level, m) => logs.push(`${level}: ${m}`) });
  t.start(context(new FakeScheduler()));
  t.start(context(new FakeScheduler()));
  assert.equal(logs.length, 1);
  assert.match(logs[0]!, /^warn: confluent: tls\.rejectUnauthorized is false/);
  void t.close(0);
});

/** A @platformatic/kafka stand-in whose metadata fails with an AuthenticationError until `world.user`. */
function pltSasl(world: { user: boolean; metadata?: number }) {
  const made: Array<{ options: Record<string, unknown> }> = [];
  const authError = () =>
    Object.assign(new Error("SASL authentication failed."), {
      code: "PLT_KFK_AUTHENTICATION",
      cause: Object.assign(new Error("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"), { apiId: "SASL_AUTHENTICATION_FAILED" }),
    });
  class Producer {
    producerId: bigint | undefined = undefined;
    readonly options: Record<string, unknown>;
    constructor(options: Record<string, unknown>) {
      this.options = options;
      made.push(this);
    }
    metadata(): Promise<unknown> {
      world.metadata = (world.metadata ?? 0) + 1;
      if (!world.user) return Promise.reject(authError());
      return Promise.resolve({ topics: new Map([["t", { partitionsCount: 1 }]]) });
    }
    initIdempotentProducer(): Promise<void> {
      this.producerId = 1n;
      return Promise.resolve();
    }
    send(): Promise<unknown> {
      return world.user ? Promise.resolve({}) : Promise.reject(authError());
    }
    close(): Promise<void> {
      return Promise.resolve();
    }
    on(): void {}
  }
  return { load: () => Promise.resolve({ Producer }), made };
}

test("platformatic: an authentication failure holds the records (not rejected), is down with SASL_AUTHENTICATION_FAILED, and delivers once the user exists", async () => {
  if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== "function") return; // Node 20: the client cannot run (tested in platformatic.test.ts)
  const scheduler = new FakeScheduler();
  const world = { user: false, metadata: 0 };
  const { load, made } = pltSasl(world);
  const failures: string[] = [];
  const transport = platformaticWith(load, { ...base, topic: "t", sasl: { mechanism: "SCRAM-SHA-256", username: "u", password: SECRET }, onError: (f) => failures.push(f.code) });
  const sink = createSink({ transport, scheduler, batch: { lingerMs: 1 } });
  try {
    for (let id = 0; id < 5; id++) sink.emit({ id });
    await until(scheduler, () => transport.state() === "down", "down on the SASL error");
    assert.equal(transport.failure()?.code, "SASL_AUTHENTICATION_FAILED");
    const attemptsBefore = world.metadata;
    await scheduler.advance(20_000);
    // Sends no longer connect; the probe backs off (about 1, 2, 4, 8 s apart): at most 5 in 20 s, not 20 or more.
    const attempts = world.metadata - attemptsBefore;
    assert.ok(attempts >= 3 && attempts <= 5, `connection attempts back off while down on credentials: ${attempts} in 20 s`);
    assert.equal(sink.stats().lost.records + sink.stats().refused.records, 0, "held, not rejected");
    assert.deepEqual(failures, ["SASL_AUTHENTICATION_FAILED"]);
    assert.deepEqual(made[0]!.options.sasl, { mechanism: "SCRAM-SHA-256", username: "u", password: SECRET });
    world.user = true;
    await until(scheduler, () => sink.stats().delivered.records === 5, "delivered once the user exists");
    assert.equal(transport.state(), "up");
    assert.equal(sink.stats().lastError, null);
    assert.ok(!JSON.stringify([sink.stats(), sink.metrics()]).includes(SECRET));
  } finally {
    await scheduler.drive(sink.close({ timeoutMs: 1000 }));
    assert.deepEqual(conservationErrors(sink.stats()), []);
  }
});

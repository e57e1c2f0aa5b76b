// TLS and SASL against the secured broker (KAFKA_MODE=secured bash scripts/kafka.sh start:
// SASL_SSL with PLAIN and SCRAM, a CA made at start, ACLs): the same options on every
// runtime (Node: confluent, or platformatic with SHEDSINK_SECURED_CLIENT=platformatic;
// Deno, Bun: platformatic). Each scenario that
// delivers reads the topic back: every delivered id present, no duplicates, conservation
// exact. Misconfigurations are `down` with a typed failure and hold the records; an ACL
// refusal is `rejected`. No output of the sink (errors, stats, metrics, logs, hooks) ever
// holds a password.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { conservationErrors, createSink, type SinkStats, type Transport } from "../../mod.ts";
import { kafkaTransport, type KafkaTransportOptions } from "../../src/transports/kafka.ts";
import { brokerReachable, uniqueTopic } from "../support/kafka.ts";
import { startProxy } from "../support/proxy.ts";
import { SECURED, consumeSecured, scramAdd } from "../support/secured.ts";
import { sleep } from "../support/wait.ts";

const isNode = (globalThis as { Deno?: unknown; Bun?: unknown }).Deno === undefined && (globalThis as { Bun?: unknown }).Bun === undefined;
const asked = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.SHEDSINK_SECURED_CLIENT;
/**
 * Node: confluent (librdkafka), or platformatic with SHEDSINK_SECURED_CLIENT=platformatic
 * (scripts/test.sh runs both, on Node 24 and Node 22); Deno and Bun: platformatic.
 */
const use: "confluent" | "platformatic" = isNode && asked !== "platformatic" ? "confluent" : "platformatic";
const WRONG = "wrong-password-9x";

/** Every line a sink and its transport gave out, searched for passwords at the end. */
const outputs: string[] = [];
/** A measured figure, printed at once (a later failure must not hide it). */
const figure = (line: string) => console.log(`secured-figures ${use}: ${line}`);

interface Rec {
  id: number;
}

function transport(options: Omit<KafkaTransportOptions, "brokers" | "use">): Transport {
  return kafkaTransport({
    brokers: SECURED.bootstrap,
    use,
    onError: (f) => outputs.push(`onError ${f.code} ${f.message}`),
    logger: (level, message) => outputs.push(`${level} ${message}`),
    ...options,
  });
}

function failureOf(t: Transport): { code: string; message: string } | null {
  return t.failure?.() ?? null;
}

async function until(condition: () => boolean, what: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
  return Date.now() - started;
}

function record(stats: SinkStats): void {
  outputs.push(JSON.stringify(stats));
}

/** Reads the topic back and checks the delivered ids against it. */
async function checkTopic(topic: string, delivered: number, ids: number[]): Promise<void> {
  const values = await consumeSecured(topic, delivered);
  const read = values.map((v) => (JSON.parse(v) as Rec).id);
  const seen = new Set<number>();
  const dups = read.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
  assert.deepEqual(dups, [], "no duplicates in the topic");
  const missing = ids.filter((id) => !seen.has(id));
  assert.deepEqual(missing.slice(0, 10), [], `every delivered id in the topic (${missing.length} missing)`);
  assert.equal(read.length, delivered, "the topic holds exactly what was delivered");
}

async function deliver(name: string, options: Omit<KafkaTransportOptions, "brokers" | "use" | "topic">, n: number): Promise<void> {
  assert.ok(await brokerReachable(SECURED.bootstrap), `the secured broker at ${SECURED.bootstrap} (KAFKA_MODE=secured bash scripts/kafka.sh start)`);
  const topic = uniqueTopic(`${SECURED.prefix}-${name}`);
  const t = transport({ ...options, topic });
  const sink = createSink<Rec>({ transport: t, batch: { lingerMs: 5 } });
  const started = Date.now();
  const ids: number[] = [];
  for (let id = 0; id < n; id++) if (sink.emit({ id })) ids.push(id);
  await sink.flush({ timeoutMs: 60_000 });
  const report = await sink.close({ timeoutMs: 10_000 });
  const stats = sink.stats();
  record(stats);
  assert.deepEqual(conservationErrors(stats), []);
  assert.equal(report.delivered.records, n, `all delivered: ${JSON.stringify(stats.lost)} ${stats.lastError}`);
  await checkTopic(topic, n, ids);
  figure(`${name}: delivered=${n} readBack=${n} dups=0 ms=${Date.now() - started}`);
}

test(`secured happy path (${use}): SCRAM-SHA-512 with the CA as a file path`, async () => {
  await deliver("scram512", { tls: { ca: SECURED.caPath }, sasl: { mechanism: "SCRAM-SHA-512", username: SECURED.user, password: SECURED.password } }, 2000);
});

test(`secured happy path (${use}): PLAIN with the CA as PEM text`, async () => {
  await deliver("plain", { tls: { ca: readFileSync(SECURED.caPath, "utf8") }, sasl: { mechanism: "PLAIN", username: SECURED.user, password: SECURED.password } }, 500);
});

test(`secured in a worker, the default without function options (${use} suite): SCRAM-SHA-256 over TLS delivers through @platformatic/kafka in the worker`, async () => {
  assert.ok(await brokerReachable(SECURED.bootstrap), `the secured broker at ${SECURED.bootstrap} (KAFKA_MODE=secured bash scripts/kafka.sh start)`);
  const topic = uniqueTopic(`${SECURED.prefix}-worker`);
  const t = kafkaTransport({ brokers: SECURED.bootstrap, topic, tls: { ca: SECURED.caPath }, sasl: { mechanism: "SCRAM-SHA-256", username: SECURED.user, password: SECURED.password } });
  const sink = createSink<Rec>({ transport: t, batch: { lingerMs: 5 } });
  assert.equal(sink.stats().flusher, "worker");
  const n = 500;
  const ids: number[] = [];
  for (let id = 0; id < n; id++) if (sink.emit({ id })) ids.push(id);
  assert.equal(await sink.flush({ timeoutMs: 60_000 }), true, "flushed");
  const report = await sink.close({ timeoutMs: 10_000 });
  const stats = sink.stats();
  record(stats);
  assert.deepEqual(conservationErrors(stats), []);
  assert.equal(stats.transport.name, "platformatic");
  assert.equal(report.delivered.records, n, `all delivered: ${JSON.stringify(stats.dropped)} ${stats.lastError}`);
  await checkTopic(topic, n, ids);
});

/** An unsecured JWT (`{"alg":"none"}`, no signature) for `sub`, as the secured broker's default validator accepts. */
function unsecuredJwt(sub: string, lifetimeS: number): { value: string; expiresAt: number } {
  const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const now = Math.floor(Date.now() / 1000);
  return { value: `${b64({ alg: "none" })}.${b64({ sub, iat: now, exp: now + lifetimeS })}.`, expiresAt: (now + lifetimeS) * 1000 };
}

test(`secured happy path (${use}): OAUTHBEARER with a token provider function`, async () => {
  let calls = 0;
  const token = () => {
    calls++;
    return { ...unsecuredJwt(SECURED.user, 3600), principal: SECURED.user };
  };
  await deliver("oauth", { tls: { ca: SECURED.caPath }, sasl: { mechanism: "OAUTHBEARER", token } }, 500);
  assert.ok(calls >= 1, "the token provider was called");
});

test(`an unknown user (${use}) is down with SASL_AUTHENTICATION_FAILED and holds the records; created while the sink runs, everything is delivered`, async () => {
  const user = `late-${use}-${Math.floor(Math.random() * 1e9).toString(36)}`;
  const password = `late-secret-${Math.floor(Math.random() * 1e9).toString(36)}`;
  const topic = uniqueTopic(`${SECURED.prefix}-late`);
  const t = transport({ topic, tls: { ca: SECURED.caPath }, sasl: { mechanism: "SCRAM-SHA-256", username: user, password } });
  const sink = createSink<Rec>({ transport: t, batch: { lingerMs: 5 }, maxAgeMs: 120_000 });
  const started = Date.now();
  const ids: number[] = [];
  for (let id = 0; id < 1000; id++) if (sink.emit({ id })) ids.push(id);
  try {
    const downMs = await until(() => t.state() === "down", "down on the authentication failure", 30_000);
    await until(() => failureOf(t)?.code === "SASL_AUTHENTICATION_FAILED", "typed failure", 15_000);
    const held = sink.stats();
    record(held);
    assert.match(held.lastError ?? "", /SASL_AUTHENTICATION_FAILED: check sasl\.username\/password/);
    assert.equal(held.delivered.records, 0);
    assert.equal(held.lost.records + held.refused.records, 0, "held, nothing rejected");
    const provisioning = Date.now();
    // scram-add runs Kafka's tools (a JVM each): note when the transport is up meanwhile.
    let upAfterMs = -1;
    const watch = setInterval(() => {
      if (upAfterMs < 0 && t.state() === "up") upAfterMs = Date.now() - provisioning;
    }, 50);
    await scramAdd(user, password).finally(() => clearInterval(watch));
    const provisionedAt = Date.now();
    await until(() => sink.stats().delivered.records === ids.length, "everything delivered once the user exists", 60_000);
    const upMs = Date.now() - provisionedAt;
    const scramAddMs = provisionedAt - provisioning;
    assert.equal(t.state(), "up");
    assert.equal(sink.stats().lastError, null, "lastError cleared on recovery");
    const report = await sink.close({ timeoutMs: 10_000 });
    record(sink.stats());
    assert.deepEqual(conservationErrors(sink.stats()), []);
    assert.equal(report.delivered.records, ids.length);
    await checkTopic(topic, ids.length, ids);
    outputs.push(password);
    figure(`provisioned-late: delivered=${ids.length} readBack=${ids.length} dups=0 downAfterMs=${downMs} scramAddMs=${scramAddMs} upAfterScramAddStartMs=${upAfterMs} deliveredAfterScramAddMs=${upMs} totalMs=${Date.now() - started}`);
  } finally {
    await sink.close({ timeoutMs: 1000 });
  }
});

/** A misconfiguration: down with `code` within the time, nothing delivered, the records held until close. */
async function misconfigured(name: string, options: Omit<KafkaTransportOptions, "brokers" | "use" | "topic">, code: string, brokers = SECURED.bootstrap, holdMs = 1000): Promise<void> {
  const topic = uniqueTopic(`${SECURED.prefix}-${name}`);
  const t = kafkaTransport({ brokers, use, topic, onError: (f) => outputs.push(`onError ${f.code} ${f.message}`), logger: (l, m) => outputs.push(`${l} ${m}`), ...options });
  const sink = createSink<Rec>({ transport: t, batch: { lingerMs: 5 } });
  for (let id = 0; id < 200; id++) sink.emit({ id });
  const downMs = await until(() => failureOf(t)?.code === code, `${name}: down with ${code} (now ${t.state()} ${JSON.stringify(failureOf(t))})`, 30_000);
  assert.equal(t.state(), "down");
  await sleep(holdMs);
  const stats = sink.stats();
  record(stats);
  assert.equal(stats.delivered.records, 0, "nothing delivered");
  assert.equal(stats.lost.records + stats.refused.records, 0, "held, not rejected");
  assert.ok(stats.lastError?.includes(code), String(stats.lastError));
  const closedAt = Date.now();
  const report = await sink.close({ timeoutMs: 2000 });
  record(sink.stats());
  assert.deepEqual(conservationErrors(sink.stats()), []);
  assert.equal(report.delivered.records, 0);
  assert.equal(report.dropped.shutdown.records, 200, "the held records count as shutdown at close");
  figure(`${name}: code=${code} downAfterMs=${downMs} closeMs=${Date.now() - closedAt}`);
}

test(`a wrong password (${use}) is down with SASL_AUTHENTICATION_FAILED, records held`, async () => {
  await misconfigured("wrongpass", { tls: { ca: SECURED.caPath }, sasl: { mechanism: "PLAIN", username: SECURED.user, password: WRONG } }, "SASL_AUTHENTICATION_FAILED");
});

test(`hooks across the thread boundary (${use} suite): onError and logger of a sink in a worker are called on the application's thread with the worker's real failure (a wrong password), once, and the sink stays in the worker`, async () => {
  assert.ok(await brokerReachable(SECURED.bootstrap), `the secured broker at ${SECURED.bootstrap} (KAFKA_MODE=secured bash scripts/kafka.sh start)`);
  const topic = uniqueTopic(`${SECURED.prefix}-hooks`);
  const errors: string[] = [];
  const logs: string[] = [];
  const t = kafkaTransport({
    brokers: SECURED.bootstrap,
    topic,
    tls: { ca: SECURED.caPath },
    sasl: { mechanism: "PLAIN", username: SECURED.user, password: WRONG },
    onError: (f) => errors.push(`${f.code} ${f.message}`),
    logger: (level, message) => logs.push(`${level} ${message}`),
  });
  const sink = createSink<Rec>({ transport: t, batch: { lingerMs: 5 } });
  assert.equal(sink.stats().flusher, "worker", "function options keep the default worker");
  for (let id = 0; id < 100; id++) sink.emit({ id });
  await until(() => errors.length > 0, `onError called (logs: ${JSON.stringify(logs)})`, 30_000);
  assert.match(errors[0]!, /^SASL_AUTHENTICATION_FAILED /);
  assert.ok(logs.some((l) => l.startsWith("error ") && l.includes("down")), JSON.stringify(logs));
  // The object the application holds says what the worker's client knows.
  await until(() => t.state() === "down" && failureOf(t)?.code === "SASL_AUTHENTICATION_FAILED", `the transport object mirrors the worker (now ${t.state()})`, 10_000);
  await sleep(1500);
  assert.equal(errors.length, 1, `once per change: ${JSON.stringify(errors)}`);
  assert.equal(sink.stats().flusher, "worker");
  assert.ok(sink.stats().lastError?.includes("SASL_AUTHENTICATION_FAILED"), String(sink.stats().lastError));
  outputs.push(...errors, ...logs);
  const report = await sink.close({ timeoutMs: 2000 });
  assert.equal(report.dropped.shutdown.records, 100);
  assert.deepEqual(conservationErrors(sink.stats()), []);
  assert.equal(t.state(), "closed");
});

test(`a wrong CA (${use}) fails verification and never falls back; handshakes are bounded and stop at close()`, async () => {
  // Through a TCP proxy that counts connections (each one a TLS handshake that fails),
  // held down for 10 s: reconnects back off, at most 2 handshakes a second on average.
  const proxy = await startProxy({ listenPort: SECURED.proxyPort, targetHost: "127.0.0.1", targetPort: Number(SECURED.bootstrap.split(":")[1]) });
  try {
    const started = Date.now();
    await misconfigured("wrongca", { tls: { ca: SECURED.otherCaPath }, sasl: { mechanism: "PLAIN", username: SECURED.user, password: SECURED.password } }, "TLS_CERTIFICATE_VERIFY_FAILED", `127.0.0.1:${proxy.port}`, 10_000);
    const during = proxy.stats().accepted;
    const seconds = (Date.now() - started) / 1000;
    // From the moment close() resolved, nothing may connect.
    await sleep(4000);
    const after = proxy.stats().accepted - during;
    figure(`wrongca-handshakes: ${during} in ${seconds.toFixed(1)} s (${(during / seconds).toFixed(2)}/s), ${after} in the 4 s after close()`);
    assert.equal(after, 0, "no connection after close() resolved");
    assert.ok(seconds >= 10, "held down for 10 s at least");
    assert.ok(during / seconds <= 2, `handshakes bounded: ${during} in ${seconds.toFixed(1)} s`);
  } finally {
    await proxy.close();
  }
});

test(`plaintext against the TLS port (${use}) says TLS is expected`, async () => {
  await misconfigured("plaintext", { sasl: { mechanism: "PLAIN", username: SECURED.user, password: SECURED.password } }, "TLS_REQUIRED");
});

test(`a topic the user may not write (${use}) is rejected, each record counted once`, async () => {
  const topic = uniqueTopic("secured-b-denied");
  const t = transport({ topic, tls: { ca: SECURED.caPath }, sasl: { mechanism: "SCRAM-SHA-512", username: SECURED.user, password: SECURED.password } });
  const sink = createSink<Rec>({ transport: t, batch: { lingerMs: 5 } });
  for (let id = 0; id < 100; id++) sink.emit({ id });
  await sink.flush({ timeoutMs: 60_000 });
  const report = await sink.close({ timeoutMs: 5000 });
  const stats = sink.stats();
  record(stats);
  assert.deepEqual(conservationErrors(stats), []);
  assert.equal(report.delivered.records, 0);
  assert.equal(stats.dropped.rejected.records, 100, `rejected once each: ${JSON.stringify(stats.dropped)}`);
  assert.match(stats.lastError ?? "", /authoriz/i);
  figure(`acl-denied: rejected=${stats.dropped.rejected.records} lastError=${JSON.stringify(stats.lastError)}`);
});

test(`no output holds a password (${use})`, () => {
  const everything = outputs.join("\n");
  // The late user's password was added to outputs on purpose above: remove it first.
  const scanned = everything.split("\n").filter((line) => !line.startsWith("late-secret-")).join("\n");
  for (const secret of [SECURED.password, WRONG, SECURED.adminPassword]) assert.ok(!scanned.includes(secret), `a password appeared in the output`);
  assert.ok(!/late-secret-/.test(scanned), "the late user's password never appeared");
  assert.ok(outputs.length > 10, "outputs were collected");
});

// shedsink/pino end to end on the real broker: a pino logger writing through
// shedsinkDestination (on the application's thread) and through pino.transport with
// target shedsink/pino (in pino's worker thread); the topic read back holds the lines
// pino wrote, byte for byte, that parse as pino JSON with their fields intact. Then
// graded shedding by level while the broker is paused (scripts/kafka.sh pause/resume):
// every error kept, debug shed first, counted by class, and no logger call waits.
//
// Prints lines `e2e pino: …` for the CI log.

import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { conservationErrors } from "../../mod.ts";
import { shedsinkDestination } from "../../src/pino.ts";
import { FLUSHER } from "../support/sinks.ts";
import { BOOTSTRAP, consumeRecords, consumeValues, createTopic, kafka, requireBroker, uniqueTopic } from "../support/kafka.ts";
import { kafkaTransportForTests } from "../support/transports.ts";
import { sleep } from "../support/wait.ts";

interface Line {
  level: number;
  time: number;
  pid: number;
  hostname: string;
  msg: string;
  id: number;
  [field: string]: unknown;
}

test("pino + shedsinkDestination: the topic holds each line pino wrote, byte for byte, parsing as pino JSON with bindings, redaction and messages intact", async () => {
  await requireBroker();
  const topic = uniqueTopic("pino-destination");
  await createTopic(topic, 3);
  const destination = shedsinkDestination({ transport: await kafkaTransportForTests({ brokers: BOOTSTRAP, topic }), flusher: FLUSHER, key: "tenant", batch: { lingerMs: 5 } });
  const written: string[] = [];
  const tee = {
    write(line: string) {
      written.push(line);
      destination.write(line);
    },
    flush: (cb: (err?: Error | null) => void) => destination.flush(cb),
  };
  const logger = pino({ redact: ["password"], level: "debug" }, tee);
  const tenants = ["acme", "globex", "initech"];
  for (let id = 0; id < 300; id++) {
    const child = logger.child({ tenant: tenants[id % 3], requestId: `r-${id}` });
    if (id % 50 === 0) child.error({ id, err: new Error(`failure ${id}`) }, "request failed ✗");
    else child[id % 2 === 0 ? "info" : "debug"]({ id, password: "hunter2", route: "/orders/:id" }, `handled ${id} ✓`);
  }
  const flushed = await new Promise((resolve) => logger.flush(resolve));
  assert.equal(flushed, null);
  const report = await destination.close({ timeoutMs: 10_000 });
  assert.deepEqual(conservationErrors(report), []);
  assert.equal(report.delivered.records, 300, `delivered (last error: ${destination.sink.stats().lastError})`);

  const records = await consumeRecords(topic, { expected: 300, timeoutMs: 30_000 });
  assert.equal(records.length, 300);
  const expected = new Map(written.map((line) => [(JSON.parse(line) as Line).id, line.slice(0, -1)]));
  const decoder = new TextDecoder();
  for (const r of records) {
    const value = decoder.decode(r.value!);
    const line = JSON.parse(value) as Line;
    assert.equal(value, expected.get(line.id), `line ${line.id} byte for byte`);
    assert.equal(decoder.decode(r.key!), line.tenant, "keyed by tenant");
    assert.equal(line.requestId, `r-${line.id}`);
    assert.equal(typeof line.time, "number");
    assert.equal(typeof line.pid, "number");
    if (line.id % 50 === 0) {
      assert.equal(line.level, 50);
      assert.equal((line.err as { message: string }).message, `failure ${line.id}`);
    } else {
      assert.equal(line.password, "[Redacted]");
      assert.equal(line.msg, `handled ${line.id} ✓`);
      assert.equal(line.level, line.id % 2 === 0 ? 30 : 20);
    }
  }
  // Each tenant's lines on one partition.
  const partitionsOf = new Map<string, Set<number>>();
  for (const r of records) {
    const tenant = decoder.decode(r.key!);
    partitionsOf.set(tenant, (partitionsOf.get(tenant) ?? new Set()).add(r.partition));
  }
  for (const [tenant, partitions] of partitionsOf) assert.equal(partitions.size, 1, `${tenant} on one partition`);
  console.log(`e2e pino: destination (${destination.sink.stats().flusher}) delivered ${report.delivered.records} lines, read back ${records.length}`);
});

test("pino.transport({ target: shedsink/pino }): the transport in pino's worker builds its sink from the options, delivers every line, and closes the sink when the logger's transport ends", async () => {
  await requireBroker();
  const topic = uniqueTopic("pino-transport");
  await createTopic(topic, 1);
  const target = fileURLToPath(new URL("../../src/pino.ts", import.meta.url));
  const transport = pino.transport({ target, options: { kafka: { brokers: BOOTSTRAP, topic }, batch: { lingerMs: 5 } } });
  const errors: unknown[] = [];
  transport.on("error", (err: unknown) => errors.push(err));
  const logger = pino({ base: { service: "orders" } }, transport);
  for (let id = 0; id < 200; id++) logger[id % 20 === 0 ? "warn" : "info"]({ id }, "from the transport");
  // The worker is unref'd: keep this process alive until it has closed the sink and exited.
  const keepAlive = setInterval(() => {}, 100);
  try {
    const closed = new Promise((resolve) => transport.once("close", resolve));
    transport.end();
    await closed;
  } finally {
    clearInterval(keepAlive);
  }
  assert.deepEqual(errors, []);
  const values = await consumeValues(topic, { expected: 200, timeoutMs: 30_000 });
  const lines = values.map((v) => JSON.parse(v) as Line);
  assert.deepEqual(lines.map((l) => l.id), Array.from({ length: 200 }, (_, i) => i), "every line, in order");
  for (const l of lines) {
    assert.equal(l.service, "orders");
    assert.equal(l.msg, "from the transport");
    assert.equal(l.level, l.id % 20 === 0 ? 40 : 30);
  }
  console.log(`e2e pino: transport delivered ${lines.length} lines`);
});

test("pino + shedsinkDestination through a paused broker: every error kept, debug shed first, counted by class; no logger call waits", async () => {
  await requireBroker();
  const topic = uniqueTopic("pino-shedding");
  await createTopic(topic, 3);
  const capacityBytes = 64 * 1024;
  const destination = shedsinkDestination({
    transport: await kafkaTransportForTests({ brokers: BOOTSTRAP, topic }),
    flusher: FLUSHER,
    capacityBytes,
    whenFull: "drop-oldest",
    batch: { lingerMs: 10, maxRecords: 50 },
  });
  const logger = pino({ level: "debug" }, destination);
  const LEVELS = ["error", "warn", "info", "debug"] as const; // classes 0 to 3
  const offered = [0, 0, 0, 0];
  let next = 0;
  let slowest = 0;
  let maxHeld = 0;
  const pad = "query telemetry ".repeat(3);
  const writer = setInterval(() => {
    for (let k = 0; k < 8; k++) {
      const id = next++;
      // Of every 40 lines: 1 error, 3 warnings, 20 info, 16 debug.
      const r = id % 40;
      const cls = r === 0 ? 0 : r < 4 ? 1 : r < 24 ? 2 : 3;
      offered[cls]!++;
      const t0 = performance.now();
      logger[LEVELS[cls]!]({ id, pad }, "request");
      slowest = Math.max(slowest, performance.now() - t0);
    }
    const s = destination.sink.stats();
    maxHeld = Math.max(maxHeld, s.pending.bytes + s.inFlight.bytes);
  }, 10);
  try {
    await sleep(1000);
    await kafka("pause");
    await sleep(4000);
  } finally {
    await kafka("resume");
  }
  await sleep(1000);
  clearInterval(writer);
  const report = await destination.close({ timeoutMs: 60_000 });
  const stats = destination.sink.stats();
  const shed = stats.shed.map((c) => c.records);
  console.log(
    `e2e pino shedding (${stats.flusher}): offered=${JSON.stringify(offered)} delivered=${stats.delivered.records} shed=${JSON.stringify(shed)}` +
      ` buffer_full=${stats.dropped.buffer_full.records} maxHeldBytes=${maxHeld} slowestCallMs=${slowest.toFixed(2)} closeMs=${report.durationMs}`,
  );
  assert.deepEqual(conservationErrors(report), []);
  assert.equal(report.pending.records + report.inFlight.records, 0);
  assert.equal(report.offered.records, next);
  assert.ok(maxHeld <= capacityBytes, `memory bound: ${maxHeld} <= ${capacityBytes}`);
  assert.equal(shed[0], 0, "no error shed");
  assert.ok(shed[3]! > 0, "debug shed");
  const share = shed.map((n, c) => n / offered[c]!);
  assert.ok(share[3]! >= share[2]! && share[2]! >= share[1]!, `the less important the level, the larger the share shed: ${share.map((x) => x.toFixed(2))}`);
  assert.equal(shed.reduce((a, b) => a + b, 0), stats.dropped.shed.records);
  // A call that waited for the broker would take the pause (4 s); what remains is the
  // machine (a GC pause, a busy core), which this bound leaves room for.
  assert.ok(slowest < 1000, `no logger call waited for the broker: the slowest took ${slowest.toFixed(2)} ms`);

  const values = await consumeValues(topic, { expected: report.delivered.records, timeoutMs: 30_000 });
  const lines = values.map((v) => JSON.parse(v) as Line);
  assert.equal(lines.length, report.delivered.records, "the topic holds exactly the delivered lines");
  const ids = lines.map((l) => l.id);
  assert.equal(new Set(ids).size, ids.length, "no line twice");
  const errorsRead = lines.filter((l) => l.level === 50).length;
  assert.equal(errorsRead, offered[0], "every error line is in the topic");
  const byClass = [0, 0, 0, 0];
  for (const l of lines) byClass[l.level >= 50 ? 0 : l.level >= 40 ? 1 : l.level >= 30 ? 2 : 3]!++;
  const otherDrops = Object.entries(stats.dropped).filter(([reason]) => reason !== "shed").reduce((n, [, d]) => n + d.records, 0);
  assert.equal(otherDrops, 0, `no drop but shed: ${JSON.stringify(stats.dropped)}`);
  for (let c = 0; c < 4; c++) assert.equal(byClass[c]! + shed[c]!, offered[c], `class ${c}: read back + shed = offered`);
});

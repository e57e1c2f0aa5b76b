// The built package's smoke scenarios, shared by smoke.mjs (import) and smoke.cjs
// (require): scripts/check-dist.sh runs both in a project that installed the packed
// package. Each scenario throws on a wrong outcome.
"use strict";
const assert = require("node:assert/strict");

/** A sink in `flusher` mode over the memory transport delivers what it was given. */
async function memory(shedsink, memoryTransport, flusher) {
  const transport = memoryTransport();
  const sink = shedsink.createSink({ transport, flusher });
  for (let i = 0; i < 100; i++) assert.equal(sink.emit({ n: i }), true);
  assert.equal(await sink.flush({ timeoutMs: 10_000 }), true, `${flusher}: flush() settled`);
  const stats = sink.stats();
  assert.equal(stats.flusher, flusher);
  assert.equal(stats.workerRestarts, 0, `${flusher}: no worker restart (${stats.lastError})`);
  assert.equal(stats.lastError, null);
  const report = await sink.close({ timeoutMs: 10_000 });
  assert.equal(report.delivered.records, 100, `${flusher}: delivered`);
  assert.equal(report.flushed, true);
  assert.deepEqual(transport.texts(), Array.from({ length: 100 }, (_, i) => `{"n":${i}}`));
}

/**
 * Worker mode with kafkaTransport and no broker: the worker imports the transport's module
 * and makes the platformatic transport, which fails to connect (not the worker).
 */
async function kafka(shedsink, kafkaTransport) {
  const transport = kafkaTransport({ brokers: "127.0.0.1:1", topic: "smoke" });
  const sink = shedsink.createSink({ transport, flusher: "worker" });
  sink.emit("one");
  assert.equal(await sink.flush({ timeoutMs: 1500 }), false);
  const stats = sink.stats();
  assert.equal(stats.workerRestarts, 0, `kafka: no worker restart (${stats.lastError})`);
  assert.equal(stats.transport.name, "platformatic");
  const report = await sink.abort();
  assert.equal(report.dropped.shutdown.records, 1);
}

async function run(label, shedsink, memoryFromSubpath, kafkaTransport) {
  for (const flusher of ["thread", "worker"]) {
    await memory(shedsink, shedsink.memoryTransport, flusher);
    await memory(shedsink, memoryFromSubpath, flusher);
  }
  await kafka(shedsink, kafkaTransport);
  console.log(`${label}: ok`);
}

module.exports = { run };

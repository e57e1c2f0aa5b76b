import { test } from "node:test";
import assert from "node:assert/strict";
import { createSink, DEFAULTS, InvalidOptionError, memoryTransport, type SinkOptions, ShedsinkError } from "../../mod.ts";

const transport = memoryTransport();

const bad: Array<[string, Record<string, unknown>, string, RegExp]> = [
  ["missing transport", {}, "transport", /a value \(required\)/],
  ["transport without send", { transport: { state() {}, close() {} } }, "transport", /a Transport/],
  ["negative capacity", { transport, capacityBytes: -1 }, "capacityBytes", /integer from 256/],
  ["fractional capacity", { transport, capacityBytes: 1000.5 }, "capacityBytes", /integer/],
  ["capacity as a string", { transport, capacityBytes: "5MB" }, "capacityBytes", /integer/],
  ["unknown whenFull", { transport, whenFull: "block" }, "whenFull", /"drop-newest" or "drop-oldest"/],
  ["zero maxRecords", { transport, batch: { maxRecords: 0 } }, "batch.maxRecords", /integer from 1/],
  ["negative linger", { transport, batch: { lingerMs: -5 } }, "batch.lingerMs", /integer from 0/],
  ["unknown batch key", { transport, batch: { lingerMS: 5 } }, "batch.lingerMS", /no such option/],
  ["unknown option", { transport, capacity: 10 }, "capacity", /no such option/],
  ["batch larger than capacity", { transport, capacityBytes: 1024, batch: { maxBytes: 2048 } }, "batch.maxBytes", /at most capacityBytes/],
  ["record larger than batch", { transport, batch: { maxBytes: 1000 }, maxRecordBytes: 2000 }, "maxRecordBytes", /at most batch.maxBytes/],
  ["encode not recognised", { transport, encode: "avro" }, "encode", /"json", a function, or a schema/],
  ["key not a function", { transport, key: "table" }, "key", /a function/],
  ["headers with numbers", { transport, headers: { a: 1 } }, "headers", /string or Uint8Array/],
  ["retry max below initial", { transport, retry: { initialDelayMs: 500, maxDelayMs: 100 } }, "retry.maxDelayMs", /at least retry.initialDelayMs/],
  ["buffer of the wrong size", { transport, capacityBytes: 1024, buffer: new ArrayBuffer(512) }, "buffer", /exactly capacityBytes/],
  ["zero maxAgeMs", { transport, maxAgeMs: 0 }, "maxAgeMs", /positive integer/],
];

for (const [name, options, option, expected] of bad) {
  test(`createSink() rejects ${name}, naming the option, the value and what was expected`, () => {
    assert.throws(
      () => createSink(options as unknown as SinkOptions),
      (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError);
        assert.ok(err instanceof ShedsinkError);
        assert.equal(err.code, "INVALID_OPTION");
        assert.equal(err.option, option);
        assert.match(err.message, expected);
        assert.match(err.message, new RegExp(`"${option.replace(".", "\\.")}"`));
        assert.match(err.message, /received /);
        return true;
      },
    );
  });
}

test("createSink() rejects a non-object options argument", () => {
  assert.throws(() => createSink(null as unknown as SinkOptions), InvalidOptionError);
});

test("defaults: 5 MiB capacity, drop-newest, 1000 records / 1 MiB / 20 ms batches, 2 min max age", async () => {
  assert.equal(DEFAULTS.capacityBytes, 5 * 1024 * 1024);
  assert.equal(DEFAULTS.whenFull, "drop-newest");
  assert.deepEqual(DEFAULTS.batch, { maxRecords: 1000, maxBytes: 1024 * 1024, lingerMs: 20, maxInFlight: 4 });
  assert.equal(DEFAULTS.maxAgeMs, 120_000);
  const sink = createSink({ transport: memoryTransport() });
  assert.equal(sink.stats().capacityBytes, 5 * 1024 * 1024);
  // A record of exactly 1 MiB (framing included) is the largest accepted by default.
  assert.equal(sink.emit(new Uint8Array(1024 * 1024 - 20)), true);
  assert.equal(sink.emit(new Uint8Array(1024 * 1024 - 19)), false);
  await sink.close({ timeoutMs: 1000 });
});

test("a small capacity lowers the default batch and record limits to fit", async () => {
  const sink = createSink({ transport: memoryTransport(), capacityBytes: 1024 });
  assert.equal(sink.emit(new Uint8Array(1024 - 20)), true);
  await sink.close({ timeoutMs: 1000 });
});

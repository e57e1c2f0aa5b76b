// shedsink/pino with the memory transport: a real pino logger writing into
// shedsinkDestination (and into shedsinkTransport's stream), in both flusher modes
// ("thread", and "worker": the memory transport in a real worker thread). No broker, no
// sleeps: every wait is a flush or a close.
import { test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { conservationErrors, createSink, InvalidOptionError, memoryTransport, type MemoryTransport } from "../../mod.ts";
import { PINO_CLASSES, pinoSinkOptions, type PinoDestination, shedsinkDestination, shedsinkTransport } from "../../src/pino.ts";

type Flusher = "thread" | "worker";
const MODES: ReadonlyArray<Flusher> = ["thread", "worker"];
const utf8 = new TextEncoder();

/** A destination that keeps what pino wrote, and passes it on. */
function tee(destination: PinoDestination): { lines: string[]; write(line: string): void; flush(cb: (err?: Error | null) => void): void } {
  const lines: string[] = [];
  return {
    lines,
    write(line: string) {
      lines.push(line);
      destination.write(line);
    },
    flush: (cb) => destination.flush(cb),
  };
}

function flushed(logger: { flush(cb: (err?: Error) => void): void }): Promise<Error | null | undefined> {
  return new Promise((resolve) => logger.flush((err) => resolve(err)));
}

const classOf = pinoSinkOptions().shedding.classOf;

test("pinoSinkOptions(): fatal and error are class 0, warn 1, info 2, debug and trace 3, read from the numeric level", () => {
  const classes = [10, 20, 30, 40, 50, 60].map((level) => classOf(`{"level":${level},"time":1,"msg":"x"}`));
  assert.deepEqual(classes, [3, 3, 2, 1, 0, 0]);
  assert.deepEqual(PINO_CLASSES, { fatal: 0, error: 0, warn: 1, info: 2, debug: 3, trace: 3 });
});

test("pinoSinkOptions(): a custom level takes the class of the nearest standard level at or below it, unless named in classes", () => {
  assert.equal(classOf('{"level":35,"msg":"audit"}'), 2);
  assert.equal(classOf('{"level":45,"msg":"notice"}'), 1);
  assert.equal(classOf('{"level":99,"msg":"page"}'), 0);
  assert.equal(classOf('{"level":5,"msg":"noise"}'), 3);
  assert.equal(classOf('{"level":1000000,"msg":"big"}'), 0);
  const custom = pinoSinkOptions({ customLevels: { audit: 35 }, classes: { audit: 0, warn: 0 } }).shedding.classOf;
  assert.equal(custom('{"level":35}'), 0);
  assert.equal(custom('{"level":45}'), 0, "45 is above warn, which is now class 0");
  assert.equal(custom('{"level":"audit"}'), 0);
  assert.equal(custom('{"level":30}'), 2);
  assert.equal(pinoSinkOptions({ classes: { "35": 1 } }).shedding.classOf('{"level":35}'), 1);
});

test("pinoSinkOptions(): labels written by formatters.level (any case), a renamed level key, and lines with no readable level", () => {
  assert.equal(classOf('{"level":"error","msg":"x"}'), 0);
  assert.equal(classOf('{"level":"WARN","msg":"x"}'), 1);
  assert.equal(classOf('{"level":"nonsense","msg":"x"}'), 2, "an unknown label: the class of info");
  assert.equal(classOf('{"msg":"no level"}'), 2);
  assert.equal(classOf('{"level":null}'), 2);
  assert.equal(pinoSinkOptions({ unknownClass: 3 }).shedding.classOf('{"msg":"no level"}'), 3);
  const severity = pinoSinkOptions({ levelKey: "severity" }).shedding.classOf;
  assert.equal(severity('{"severity":"ERROR","time":1}'), 0);
  assert.equal(severity('{"severity":"DEBUG","level":50}'), 3);
  // A message that mentions "level": is escaped inside its string, so the level field is what counts.
  assert.equal(classOf(JSON.stringify({ level: 50, msg: 'said "level":10' })), 0);
});

test("pinoSinkOptions(): bad options throw InvalidOptionError naming the option", () => {
  assert.throws(() => pinoSinkOptions({ classes: { warn: 4 } }), (e: unknown) => e instanceof InvalidOptionError && /classes\.warn/.test(e.message));
  assert.throws(() => pinoSinkOptions({ classes: { audit: 1 } }), (e: unknown) => e instanceof InvalidOptionError && /classes\.audit/.test(e.message));
  assert.throws(() => pinoSinkOptions({ unknownClass: -1 }), (e: unknown) => e instanceof InvalidOptionError && /unknownClass/.test(e.message));
  assert.throws(() => pinoSinkOptions({ levelKey: "" }), (e: unknown) => e instanceof InvalidOptionError && /levelKey/.test(e.message));
  assert.throws(() => pinoSinkOptions({ nope: 1 } as never), (e: unknown) => e instanceof InvalidOptionError && /nope/.test(e.message));
  assert.throws(() => pinoSinkOptions({ sheddingLevels: [{ start: 1, full: 1 }], classes: { info: 1 } }), InvalidOptionError);
  assert.throws(() => shedsinkDestination(memoryTransportSink(), { flushTimeoutMs: "soon" } as never), InvalidOptionError);
});

test("shedsinkDestination in pino.multistream: the destination gets the lines at or above its level, as pino wrote them", async () => {
  const transport = memoryTransport();
  const destination = shedsinkDestination({ transport, flusher: "thread" });
  const all: string[] = [];
  const logger = pino({ level: "debug" }, pino.multistream([{ level: "warn", stream: destination }, { level: "debug", stream: { write: (line: string) => all.push(line) } }]));
  logger.debug("d");
  logger.info("i");
  logger.warn("w");
  logger.error("e");
  await destination.sink.flush();
  assert.equal(all.length, 4);
  assert.deepEqual(transport.texts(), all.slice(2).map((line) => line.slice(0, -1)));
  await destination.close();
});

function memoryTransportSink() {
  return createSink<string>({ transport: memoryTransport(), flusher: "thread" });
}

for (const flusher of MODES) {
  test(`shedsinkDestination (${flusher}): each message is the line pino wrote, byte for byte without its line break; child bindings, redaction, messageKey and errors intact`, async () => {
    const transport = memoryTransport();
    const destination = shedsinkDestination({ transport, flusher });
    assert.equal(destination.sink.stats().flusher, flusher);
    const out = tee(destination);
    const logger = pino({ messageKey: "message", redact: ["password", "req.headers.authorization"], customLevels: { audit: 35 } }, out);
    logger.info({ user: "ann", password: "hunter2" }, "signed in");
    const child = logger.child({ tenant: "acme", region: "eu-west" });
    child.warn({ req: { method: "GET", headers: { authorization: "Bearer x", accept: "*/*" } } }, "slow request ✓ héllo 🚀");
    child.child({ requestId: 42 }).error(new Error("disk full"), 'said "level":10');
    (logger as unknown as { audit: (msg: string) => void }).audit("exported");
    assert.equal(await flushed(logger), null);

    assert.equal(out.lines.length, 4);
    assert.equal(transport.received.length, 4);
    for (const [i, line] of out.lines.entries()) {
      assert.ok(line.endsWith("\n"));
      assert.deepEqual(transport.received[i]!.value, utf8.encode(line.slice(0, -1)), `message ${i} is the line`);
      assert.equal(transport.received[i]!.key, null, "no key by default");
    }
    const parsed = transport.texts().map((t) => JSON.parse(t) as Record<string, unknown>);
    assert.equal(parsed[0]!.password, "[Redacted]");
    assert.equal(parsed[0]!.message, "signed in");
    assert.equal(parsed[0]!.msg, undefined);
    assert.deepEqual([parsed[1]!.tenant, parsed[1]!.region, parsed[1]!.message], ["acme", "eu-west", "slow request ✓ héllo 🚀"]);
    assert.deepEqual(parsed[1]!.req, { method: "GET", headers: { authorization: "[Redacted]", accept: "*/*" } });
    assert.deepEqual([parsed[2]!.tenant, parsed[2]!.requestId, parsed[2]!.level], ["acme", 42, 50]);
    assert.equal((parsed[2]!.err as { message: string }).message, "disk full");
    assert.equal(parsed[3]!.level, 35);
    const report = await destination.close();
    assert.equal(report.delivered.records, 4);
    assert.deepEqual(conservationErrors(report), []);
  });

  test(`shedsinkDestination (${flusher}): as the buffer fills, debug gives way first and every error is kept, counted by class`, async () => {
    const transport = memoryTransport();
    const destination = shedsinkDestination({
      transport,
      flusher,
      capacityBytes: 32 * 1024,
      whenFull: "drop-oldest",
      batch: { maxRecords: 10, lingerMs: 1 },
    });
    transport.hang();
    const logger = pino({ level: "trace" }, destination);
    const pad = "x".repeat(60);
    for (let i = 0; i < 100; i++) {
      logger.debug({ i, pad }, "cache miss");
      logger.info({ i, pad }, "request");
      logger.warn({ i, pad }, "slow");
      logger.error({ i, pad }, "failed");
    }
    const during = destination.sink.stats();
    assert.equal(during.shed.length, 4);
    assert.equal(during.shed[0]!.records, 0, "no error shed");
    assert.ok(during.shed[3]!.records > 0, "debug shed");
    assert.ok(during.shed[3]!.records >= during.shed[2]!.records && during.shed[2]!.records >= during.shed[1]!.records, `debug first: ${JSON.stringify(during.shed)}`);
    assert.equal(during.shed.reduce((n, c) => n + c.records, 0), during.dropped.shed.records);
    assert.ok(during.pending.bytes + during.inFlight.bytes <= 32 * 1024);
    transport.release();
    const report = await destination.close({ timeoutMs: 10_000 });
    const levels = transport.texts().map((t) => (JSON.parse(t) as { level: number }).level);
    assert.equal(levels.filter((l) => l === 50).length, 100, "every error delivered");
    assert.equal(report.delivered.records, levels.length);
    assert.deepEqual(conservationErrors(report), []);
  });

  test(`shedsinkDestination (${flusher}): a sink of your own with pinoSinkOptions(): custom levels classed, labels from formatters.level, and the key from the bindings`, async () => {
    const transport = memoryTransport();
    const sink = createSink<string>({
      transport,
      flusher,
      ...pinoSinkOptions({ customLevels: { audit: 35 }, classes: { audit: 0 }, key: (line) => String(line.tenant ?? "") || null }),
    });
    const destination = shedsinkDestination(sink);
    const logger = pino({ customLevels: { audit: 35 }, formatters: { level: (label) => ({ level: label }) } }, destination);
    (logger.child({ tenant: "acme" }) as unknown as { audit: (msg: string) => void }).audit("exported");
    logger.info("no tenant");
    assert.equal(await flushed(logger), null);
    assert.deepEqual(transport.texts().map((t) => (JSON.parse(t) as { level: string }).level), ["audit", "info"]);
    assert.equal(new TextDecoder().decode(transport.received[0]!.key!), "acme");
    assert.equal(transport.received[1]!.key, null);
    assert.equal(pinoSinkOptions({ customLevels: { audit: 35 }, classes: { audit: 0 } }).shedding.classOf(transport.texts()[0]!), 0);
    await sink.close();
  });

  test(`shedsinkDestination (${flusher}): a key named by field; a line the key cannot be read from is counted invalid, not thrown`, async () => {
    const transport = memoryTransport();
    const destination = shedsinkDestination({ transport, flusher, key: "tenant" });
    const logger = pino({ base: null }, destination);
    logger.child({ tenant: "acme" }).info("a");
    logger.child({ tenant: 7 }).info("b");
    logger.info("c");
    assert.equal(destination.write("not json"), false);
    assert.equal(await flushed(logger), null);
    assert.deepEqual(transport.received.map((r) => (r.key === null ? null : new TextDecoder().decode(r.key))), ["acme", "7", null]);
    assert.equal(destination.sink.stats().dropped.invalid.records, 1);
    await destination.close();
  });

  test(`shedsinkDestination (${flusher}): never throws when the sink is full or closed; every refused line is counted`, async () => {
    const transport = memoryTransport();
    const destination = shedsinkDestination({ transport, flusher, capacityBytes: 4096, batch: { maxRecords: 1, lingerMs: 0 } });
    transport.hang();
    const logger = pino({}, destination);
    for (let i = 0; i < 200; i++) logger.info({ i, pad: "y".repeat(100) }, "filling");
    const full = destination.sink.stats();
    assert.ok(full.dropped.buffer_full.records + full.dropped.shed.records > 0, "refused when full");
    assert.equal(full.offered.records, 200);
    transport.release();
    await destination.close({ timeoutMs: 10_000 });
    logger.info("after close");
    logger.error("after close");
    assert.equal(destination.write('{"level":50}'), false);
    const after = destination.sink.stats();
    assert.equal(after.dropped.closed.records, 3);
    assert.deepEqual(conservationErrors(after), []);
    // flush after close calls back at once: nothing pending.
    assert.equal(await flushed(logger), null);
    destination.flushSync();
  });

  test(`shedsinkDestination (${flusher}): logger.flush(cb) calls back once the lines are delivered, and with an error when flushTimeoutMs passes first`, async () => {
    const transport = memoryTransport();
    const sink = createSink<string>({ transport, flusher, ...pinoSinkOptions() });
    const patient = shedsinkDestination(sink);
    const logger = pino({}, patient);
    logger.info("one");
    assert.equal(await flushed(logger), null);
    assert.equal(transport.received.length, 1);
    transport.hang();
    const impatient = pino({}, shedsinkDestination(sink, { flushTimeoutMs: 50 }));
    impatient.info("two");
    const err = await flushed(impatient);
    assert.ok(err instanceof Error, "timed out while the transport hangs");
    transport.release();
    logger.info("three");
    assert.equal(await flushed(logger), null);
    assert.deepEqual(transport.texts().map((t) => (JSON.parse(t) as { msg: string }).msg), ["one", "two", "three"]);
    await sink.close();
  });

  test(`shedsinkTransport (${flusher}): the pino-abstract-transport stream writes each line into the sink and closes it when the stream ends`, async () => {
    const transport: MemoryTransport = memoryTransport();
    const sink = createSink<string>({ transport, flusher, ...pinoSinkOptions() });
    const stream = (await shedsinkTransport(sink, { closeTimeoutMs: 5000 })) as import("node:stream").Duplex;
    const lines: string[] = [];
    const logger = pino({ base: null }, { write: (line: string) => (lines.push(line), stream.write(line)) });
    logger.info({ n: 1 }, "first");
    logger.child({ tenant: "acme" }).error("second ✓");
    const closed = new Promise((resolve) => stream.on("close", resolve));
    stream.end();
    await closed;
    await sink.close(); // the stream's close started it; this waits for it
    assert.equal(sink.stats().state, "closed");
    assert.deepEqual(transport.received.map((r) => r.value), lines.map((l) => utf8.encode(l.slice(0, -1))));
  });
}

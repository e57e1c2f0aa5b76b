import { test } from "node:test";
import assert from "node:assert/strict";
import { conservationErrors, createSink, InvalidLine, InvalidOptionError, memoryTransport, ndjson } from "../../mod.ts";
import type { NdjsonOptions } from "../../mod.ts";
import { FakeScheduler, settle } from "../support/scheduler.ts";

const enc = new TextEncoder();

function streamOf(chunks: ReadonlyArray<Uint8Array | string>): ReadableStream<Uint8Array | string> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else controller.close();
    },
  });
}

async function parse(chunks: ReadonlyArray<Uint8Array | string>, options?: NdjsonOptions): Promise<unknown[]> {
  const out: unknown[] = [];
  await streamOf(chunks).pipeThrough(ndjson(options)).pipeTo(new WritableStream({ write: (v) => void out.push(v) }));
  return out;
}

/** Splits bytes into pieces of `size` (so lines and characters are cut everywhere). */
function pieces(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

test("ndjson parses one value per line, whatever the chunk boundaries, multi-byte characters included", async () => {
  const values = [{ table: "orders", rows: 12 }, { q: "select * from t where name = 'Zoë 🎉'" }, [1, 2, 3], 42, null, true];
  const text = values.map((v) => JSON.stringify(v)).join("\n") + "\n";
  const bytes = enc.encode(text);
  for (const size of [1, 2, 3, 5, 7, 64, bytes.length]) {
    assert.deepEqual(await parse(pieces(bytes, size)), values, `chunks of ${size} bytes`);
  }
  assert.deepEqual(await parse([text]), values, "one string");
  assert.deepEqual(await parse([text.slice(0, 10), bytes.subarray(enc.encode(text.slice(0, 10)).length)]), values, "string then bytes");
});

test("ndjson accepts CRLF, skips blank lines and a leading BOM, and parses a last line without a line break", async () => {
  const out = await parse(["\ufeff", '{"a":1}\r\n', "\r\n", "   \n", "\t\n", '{"b":2}\r', '\n{"c":3}']);
  assert.deepEqual(out, [{ a: 1 }, { b: 2 }, { c: 3 }]);
  const bom = await parse([new Uint8Array([0xef, 0xbb, 0xbf, 0x31, 0x0a, 0x32])]);
  assert.deepEqual(bom, [1, 2]);
});

test("a line that is not JSON comes out as an InvalidLine and the stream goes on", async () => {
  const seen: InvalidLine[] = [];
  const out = await parse(['{"ok":1}\n{"broken":\n\n{"ok":2}\n', "nope"], { onInvalid: (l) => seen.push(l) });
  assert.equal(out.length, 4);
  assert.deepEqual(out[0], { ok: 1 });
  assert.deepEqual(out[2], { ok: 2 });
  for (const [i, line] of [[1, 2], [3, 5]] as const) {
    const bad = out[i];
    assert.ok(bad instanceof InvalidLine);
    assert.equal(bad.line, line, "line numbers count blank lines");
    assert.equal(bad.reason, "syntax");
    assert.ok(bad.error instanceof SyntaxError);
    assert.match(bad.message, new RegExp(`^line ${line}: syntax \\(`));
  }
  assert.equal((out[1] as InvalidLine).preview, '{"broken":');
  assert.equal((out[3] as InvalidLine).bytes, 4);
  assert.deepEqual(seen, [out[1], out[3]], "onInvalid sees each bad line once, before it is forwarded");
  assert.throws(() => JSON.stringify(out[1]), TypeError, "an InvalidLine has no JSON form");
});

test('invalid: "skip" leaves bad lines out; onInvalid still sees them', async () => {
  const seen: number[] = [];
  const out = await parse(['{"a":1}\n', "{x\n", '{"b":2}\n'], { invalid: "skip", onInvalid: (l) => seen.push(l.line) });
  assert.deepEqual(out, [{ a: 1 }, { b: 2 }]);
  assert.deepEqual(seen, [2]);
});

test("a line that is not valid UTF-8 comes out as an InvalidLine with reason encoding", async () => {
  const out = await parse([new Uint8Array([0x22, 0xff, 0xfe, 0x22, 0x0a]), "[1]\n"]);
  assert.ok(out[0] instanceof InvalidLine);
  assert.equal(out[0].reason, "encoding");
  assert.equal(out[0].bytes, 4);
  assert.deepEqual(out[1], [1]);
});

test("maxLineBytes: a line of exactly the limit parses (CRLF or not), one byte more is too_long, and the next line parses", async () => {
  const exact = JSON.stringify({ pad: "x".repeat(20) }); // 30 bytes
  assert.equal(enc.encode(exact).length, 30);
  const longer = JSON.stringify({ pad: "x".repeat(21) });
  const out = await parse([`${exact}\n${exact}\r\n${longer}\n[7]\n`], { maxLineBytes: 30 });
  assert.deepEqual(out.slice(0, 2), [JSON.parse(exact), JSON.parse(exact)]);
  const bad = out[2];
  assert.ok(bad instanceof InvalidLine);
  assert.equal(bad.reason, "too_long");
  assert.equal(bad.line, 3);
  assert.equal(bad.bytes, 31);
  assert.deepEqual(out[3], [7]);
});

test("maxLineBytes: a huge line arriving in many chunks is skipped without being held, and reported with its size", async () => {
  const seen: InvalidLine[] = [];
  const chunks: Uint8Array[] = [enc.encode('{"first":true}\n{"huge":"')];
  const block = enc.encode("y".repeat(4096));
  for (let i = 0; i < 256; i++) chunks.push(block); // 1 MiB in 4 KiB chunks
  chunks.push(enc.encode('"}\r\n{"after":1}\n{"tail":"'), enc.encode("z".repeat(100)), enc.encode('"}'));
  const out = await parse(chunks, { maxLineBytes: 64, onInvalid: (l) => seen.push(l) });
  assert.equal(out.length, 4);
  assert.deepEqual(out[0], { first: true });
  assert.deepEqual(out[2], { after: 1 });
  const huge = out[1] as InvalidLine;
  assert.equal(huge.reason, "too_long");
  assert.equal(huge.bytes, 9 + 256 * 4096 + 2, "every byte of the line counted, the CRLF not");
  assert.ok(huge.preview.startsWith('{"huge":"yyy') && huge.preview.length <= 120);
  const tail = out[3] as InvalidLine;
  assert.equal(tail.reason, "too_long", "a last line without a line break is checked too");
  assert.equal(tail.line, 4);
  assert.equal(tail.bytes, 9 + 100 + 2);
  assert.equal(seen.length, 2);
});

test("a chunk that is neither bytes nor a string errors the stream with a TypeError", async () => {
  const source = new ReadableStream<unknown>({
    start(c) {
      c.enqueue(42);
      c.close();
    },
  });
  await assert.rejects(
    source.pipeThrough(ndjson() as unknown as TransformStream<unknown, unknown>).pipeTo(new WritableStream()),
    TypeError,
  );
});

test("yieldEvery: a large chunk is parsed in slices with event-loop turns between them, in order and complete", async () => {
  const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i }));
  let timerRan = false;
  let valuesWhenTimerRan = -1;
  const out: unknown[] = [];
  // A task queued before the stream starts: it runs at the first turn the stream yields.
  void settle().then(() => {
    timerRan = true;
    valuesWhenTimerRan = out.length;
  });
  await streamOf([lines.join("\n")]).pipeThrough(ndjson({ yieldEvery: 100 })).pipeTo(new WritableStream({ write: (v) => void out.push(v) }));
  assert.equal(out.length, 5000);
  assert.ok(out.every((v, i) => (v as { i: number }).i === i), "in order");
  assert.ok(timerRan && valuesWhenTimerRan > 0 && valuesWhenTimerRan < 5000, `a timer ran mid-stream (after ${valuesWhenTimerRan} values)`);
});

test("bad options throw InvalidOptionError naming the option", () => {
  assert.throws(() => ndjson({ maxLineBytes: 0 }), (e: unknown) => e instanceof InvalidOptionError && e.option === "maxLineBytes");
  assert.throws(() => ndjson({ maxLineBytes: 1.5 }), InvalidOptionError);
  assert.throws(() => ndjson({ invalid: "drop" as "skip" }), (e: unknown) => e instanceof InvalidOptionError && e.option === "invalid");
  assert.throws(() => ndjson({ onInvalid: 1 as unknown as () => void }), (e: unknown) => e instanceof InvalidOptionError && e.option === "onInvalid");
  assert.throws(() => ndjson({ yieldEvery: -1 }), (e: unknown) => e instanceof InvalidOptionError && e.option === "yieldEvery");
});

test("piped into a sink, every line is accounted for: valid lines delivered, bad ones dropped as invalid", async () => {
  const transport = memoryTransport();
  const scheduler = new FakeScheduler();
  const sink = createSink<unknown>({ transport, scheduler, batch: { lingerMs: 1 } });
  const lines: string[] = [];
  for (let i = 0; i < 500; i++) lines.push(i % 50 === 7 ? `{"id":${i},` : JSON.stringify({ id: i, table: "orders" }));
  const bytes = enc.encode(lines.join("\n") + "\n");
  await streamOf(pieces(bytes, 333)).pipeThrough(ndjson()).pipeTo(sink.writableStream());
  assert.equal(sink.stats().state, "open", "the pipe closes its writable, not the sink");
  const report = await scheduler.drive(sink.close({ timeoutMs: 2000 }));
  assert.deepEqual(conservationErrors(report), []);
  assert.equal(report.offered.records, 500);
  assert.equal(report.dropped.invalid.records, 10);
  assert.equal(report.delivered.records, 490);
  assert.deepEqual(JSON.parse(transport.texts()[0]!), { id: 0, table: "orders" });
});

test("the pipe into a sink never waits on a stalled transport: the whole upload is read", async () => {
  const transport = memoryTransport();
  transport.hang();
  const scheduler = new FakeScheduler();
  const sink = createSink<unknown>({ transport, scheduler, capacityBytes: 4096 });
  const body = enc.encode(Array.from({ length: 2000 }, (_, i) => JSON.stringify({ i })).join("\n"));
  await streamOf(pieces(body, 1000)).pipeThrough(ndjson()).pipeTo(sink.writableStream());
  const stats = sink.stats();
  assert.equal(stats.offered.records, 2000);
  assert.ok(stats.dropped.buffer_full.records > 0);
  await scheduler.drive(sink.close({ timeoutMs: 50 }));
});

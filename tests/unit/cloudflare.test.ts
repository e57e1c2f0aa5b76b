import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidOptionError, memoryTransport } from "../../mod.ts";
import { type SinkNamespace, sinkFront, type WaitUntil } from "../../src/cloudflare/front.ts";
import { sinkObject } from "../../src/cloudflare/object.ts";

/** Stands in for `DurableObject` from "cloudflare:workers". */
class DurableObject {
  readonly ctx: unknown;
  readonly env: unknown;
  constructor(ctx: unknown, env: unknown) {
    this.ctx = ctx;
    this.env = env;
  }
}

function objectState() {
  const alarms: number[] = [];
  return { alarms, state: { storage: { setAlarm: (at: number | Date) => void alarms.push(Number(at)) } } };
}

/** A ctx whose waitUntil promises the test awaits. */
function context(): WaitUntil & { settled(): Promise<unknown> } {
  const waits: Promise<unknown>[] = [];
  return { waitUntil: (p) => void waits.push(p), settled: () => Promise.all(waits) };
}

test("sinkObject() ingests records into its sink, sets one alarm, and closes with a report", async () => {
  const transport = memoryTransport();
  const Telemetry = sinkObject(DurableObject, (env: { topic: string }) => ({ transport, batch: { lingerMs: 60_000 }, headers: { topic: env.topic } }));
  const { alarms, state } = objectState();
  const object = new Telemetry(state, { topic: "t" });
  assert.deepEqual(object.ingest([{ a: 1 }, { a: 2 }]), { accepted: 2, refused: 0 });
  assert.equal(object.emit({ a: 3 }), true);
  assert.equal(alarms.length, 1, "one alarm while records are pending");
  assert.equal(object.stats().pending.records, 3);
  assert.equal(object.stats().ingests, 2);
  const report = await object.close(1000);
  assert.equal(report?.delivered.records, 3);
  assert.deepEqual(transport.texts(), ['{"a":1}', '{"a":2}', '{"a":3}']);
  assert.deepEqual(object.ingest([{ a: 4 }]), { accepted: 0, refused: 1 });
  const s = object.stats();
  assert.equal(s.dropped.closed.records, 1);
  assert.deepEqual(s.conservationErrors, []);
});

test("sinkObject()'s alarm flushes what lingers and sets itself again only while records are pending", async () => {
  const transport = memoryTransport();
  const Telemetry = sinkObject(DurableObject, () => ({ transport, batch: { lingerMs: 60_000 } }));
  const { alarms, state } = objectState();
  const object = new Telemetry(state, {});
  object.ingest(["x", "y"]);
  await object.alarm();
  assert.equal(object.stats().delivered.records, 2);
  assert.equal(alarms.length, 1, "not set again: nothing pending");
  object.ingest(["z"]);
  assert.equal(alarms.length, 2, "set again for the next record");
  await object.close(1000);
});

test("sinkObject() before any record: stats are zero, metrics empty, flush and close have nothing to do", async () => {
  const Telemetry = sinkObject(DurableObject, () => ({ transport: memoryTransport() }));
  const object = new Telemetry(objectState().state, {});
  assert.equal(object.stats().offered.records, 0);
  assert.deepEqual(object.stats().conservationErrors, []);
  assert.equal(object.metrics(), "");
  assert.equal(await object.flush(10), true);
  assert.equal(await object.close(10), null);
});

test("sinkObject() refuses a worker flusher and bad alarm options, naming the option", () => {
  const make = (options: Record<string, unknown>) => {
    const Telemetry = sinkObject(DurableObject, () => ({ transport: memoryTransport(), ...options }) as never);
    return new Telemetry(objectState().state, {}).ingest(["x"]);
  };
  assert.throws(() => make({ flusher: "worker" }), (e: unknown) => e instanceof InvalidOptionError && /flusher/.test(e.message));
  assert.throws(() => make({ alarmFlushMs: 0 }), (e: unknown) => e instanceof InvalidOptionError && /alarmFlushMs/.test(e.message));
  assert.throws(() => sinkObject(DurableObject, {} as never), InvalidOptionError);
});

test("sinkFront() hands a request's records over in one call inside waitUntil, after the handler returned", async () => {
  const calls: unknown[][] = [];
  const names: string[] = [];
  const namespace: SinkNamespace = {
    idFromName: (name) => (names.push(name), name),
    get: () => ({ ingest: async (records) => (calls.push(records), { accepted: records.length, refused: 0 }) }),
  };
  const front = sinkFront({ namespace: () => namespace });
  const ctx = context();
  const handler = front.wrap((_request, _env, _ctx, records) => {
    records.emit({ n: 1 });
    records.emit({ n: 2 });
    assert.equal(calls.length, 0, "nothing handed over before the response");
    return new Response("ok");
  });
  const response = await handler(new Request("https://example.com/"), {}, ctx);
  assert.equal(await response.text(), "ok");
  await ctx.settled();
  assert.deepEqual(calls, [[{ n: 1 }, { n: 2 }]]);
  assert.deepEqual(names, ["shedsink"]);
  const s = front.stats();
  assert.deepEqual([s.offered, s.handedOver, s.pending, s.calls, s.failedCalls], [2, 2, 0, 1, 0]);
});

test("sinkFront() counts what it cannot hand over: worker_lost, buffer_full (overloaded, or over maxRecords), invalid, closed", async () => {
  const failures: unknown[] = [
    Object.assign(new Error("Durable Object reset because its code was updated."), {}),
    Object.assign(new Error("Durable Object is overloaded."), { overloaded: true }),
    Object.assign(new Error("could not be cloned"), { name: "DataCloneError" }),
  ];
  let call = 0;
  const namespace: SinkNamespace = {
    idFromName: (name) => name,
    get: () => ({ ingest: () => Promise.reject(failures[call++]) }),
  };
  const front = sinkFront({ namespace: () => namespace, maxRecords: 2 });
  for (let i = 0; i < 3; i++) {
    const ctx = context();
    const records = front.open({}, ctx);
    assert.equal(records.emit("a"), true);
    assert.equal(records.emit("b"), true);
    assert.equal(records.emit("c"), false, "over maxRecords");
    records.send();
    assert.equal(records.emit("d"), false, "after send");
    await ctx.settled();
  }
  const s = front.stats();
  assert.deepEqual(
    [s.dropped.worker_lost, s.dropped.buffer_full, s.dropped.invalid, s.dropped.closed],
    [2, 2 + 3, 2, 3],
  );
  assert.equal(s.offered, 12);
  assert.equal(s.handedOver + s.pending, 0);
  assert.equal(s.failedCalls, 3);
  assert.match(s.lastError ?? "", /DataCloneError/);
});

test("sinkFront() splits records over objects: by colo, or into shards by key", async () => {
  const byName = new Map<string, unknown[]>();
  const namespace: SinkNamespace = {
    idFromName: (name) => name,
    get: (id) => ({ ingest: async (records) => (byName.set(id as unknown as string, records), { accepted: records.length, refused: 0 }) }),
  };
  const colo = sinkFront({ namespace: () => namespace, split: "colo", name: "t" });
  const ctx = context();
  const request = Object.assign(new Request("https://example.com/"), { cf: { colo: "AMS" } });
  const records = colo.open({}, ctx, request);
  records.emit("x");
  records.send();
  await ctx.settled();
  assert.deepEqual(byName.get("t:AMS"), ["x"]);

  byName.clear();
  const sharded = sinkFront<{ user: string }>({ namespace: () => namespace, split: { shards: 4, key: (r) => r.user } });
  const ctx2 = context();
  const r2 = sharded.open({}, ctx2);
  for (const user of ["ann", "bob", "cid", "dee", "ann", "bob"]) r2.emit({ user });
  r2.send();
  await ctx2.settled();
  let total = 0;
  for (const [name, group] of byName) {
    assert.match(name, /^shedsink:[0-3]$/);
    total += group.length;
    // Records of one key stay together.
    for (const r of group as { user: string }[]) for (const [other, g] of byName) if (other !== name) assert.ok(!(g as { user: string }[]).some((x) => x.user === r.user));
  }
  assert.equal(total, 6);
  assert.equal(sharded.stats().calls, byName.size);
});

test("sinkFront() refuses bad options, naming the option", () => {
  assert.throws(() => sinkFront({} as never), (e: unknown) => e instanceof InvalidOptionError && /namespace/.test(e.message));
  assert.throws(() => sinkFront({ namespace: () => ({}) as never, split: "region" as never }), (e: unknown) => e instanceof InvalidOptionError && /split/.test(e.message));
  assert.throws(() => sinkFront({ namespace: () => ({}) as never, maxRecords: 0 }), (e: unknown) => e instanceof InvalidOptionError && /maxRecords/.test(e.message));
  const front = sinkFront({ namespace: () => ({}) as never });
  assert.throws(() => front.open({}, {} as never), InvalidOptionError);
});

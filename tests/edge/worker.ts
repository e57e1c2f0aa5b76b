// The Worker the edge suite runs in workerd: a Durable Object that owns a sink
// (shedsink/cloudflare's sinkObject on edgeKafkaTransport) and a front that hands each
// request's records to it. Its env (text bindings) says where and how.

import { DurableObject } from "cloudflare:workers";
import { edgeKafkaTransport, type Front, sinkFront, type SinkNamespace, sinkObject, type WaitUntil } from "../../src/cloudflare.ts";

interface Env {
  SINK: SinkNamespace;
  BROKERS: string;
  TOPIC: string;
  /** JSON: the sink's options, with `kafka` for edgeKafkaTransport's, and `shards` for the front's split. */
  SINK_OPTIONS: string;
}

interface TestObject {
  stats(): Promise<unknown>;
  flush(timeoutMs?: number): Promise<boolean>;
  close(timeoutMs?: number): Promise<unknown>;
  reset(): Promise<void>;
}

export class Sink extends sinkObject(DurableObject, (env: Env) => {
  const { kafka, shards: _shards, ...options } = JSON.parse(env.SINK_OPTIONS || "{}") as { kafka?: Record<string, unknown>; shards?: number };
  return { ...options, transport: edgeKafkaTransport({ brokers: env.BROKERS, topic: env.TOPIC, ...kafka }) };
}) {
  /** Resets the object as the platform does (its memory is gone; calls under way fail). */
  reset(): void {
    (this as unknown as { ctx: { abort(reason: string): void } }).ctx.abort("reset by the test");
  }
}

interface TestRecord {
  id: string;
  path: string;
}

/** The front, made on first use (its split comes from the env). */
let front: Front<TestRecord, Env> | null = null;
function frontOf(env: Env): Front<TestRecord, Env> {
  if (front === null) {
    const shards = (JSON.parse(env.SINK_OPTIONS || "{}") as { shards?: number }).shards ?? 0;
    front = sinkFront<TestRecord, Env>({ namespace: (e) => e.SINK, split: shards > 0 ? { shards, key: (r) => r.id } : "one" });
  }
  return front;
}
const stub = (env: Env, name = "shedsink") => env.SINK.get(env.SINK.idFromName(name) as never) as unknown as TestObject;

async function records(request: Request, env: Env, ctx: WaitUntil): Promise<Response> {
  const url = new URL(request.url);
  const n = Number(url.searchParams.get("n") ?? 1);
  const id = url.searchParams.get("id") ?? "r";
  const collector = frontOf(env).open(env, ctx, request);
  for (let i = 0; i < n; i++) collector.emit({ id: `${id}-${i}`, path: url.pathname });
  collector.send();
  return new Response("ok");
}

const json = (x: unknown) => new Response(JSON.stringify(x), { headers: { "content-type": "application/json" } });

export default {
  async fetch(request: Request, env: Env, ctx: WaitUntil): Promise<Response> {
    const url = new URL(request.url);
    try {
      switch (url.pathname) {
        case "/records":
          return await records(request, env, ctx);
        case "/plain":
          return new Response("ok");
        case "/stats":
          return json({ object: await stub(env, url.searchParams.get("object") ?? undefined).stats(), front: frontOf(env).stats() });
        case "/flush":
          return json(await stub(env, url.searchParams.get("object") ?? undefined).flush(Number(url.searchParams.get("ms") ?? 10_000)));
        case "/close":
          return json(await stub(env).close(Number(url.searchParams.get("ms") ?? 5000)));
        case "/reset":
          await stub(env).reset().catch(() => {});
          return json(true);
        default:
          return new Response("not found", { status: 404 });
      }
    } catch (error) {
      return new Response(String((error as Error)?.stack ?? error), { status: 500 });
    }
  },
};

// The Worker the edge suite runs in workerd: a Durable Object that owns a sink
// (shedsink/cloudflare's sinkObject on edgeKafkaTransport) and a front that hands each
// request's records to it. Its env (text bindings) says where and how.

import { DurableObject } from "cloudflare:workers";
import { edgeKafkaTransport, sinkFront, type SinkNamespace, sinkObject } from "../../src/cloudflare.ts";

interface Env {
  SINK: SinkNamespace;
  BROKERS: string;
  TOPIC: string;
  /** JSON: the sink's options, with `kafka` for edgeKafkaTransport's. */
  SINK_OPTIONS: string;
}

interface TestObject {
  stats(): Promise<unknown>;
  flush(timeoutMs?: number): Promise<boolean>;
  close(timeoutMs?: number): Promise<unknown>;
  reset(): Promise<void>;
}

export class Sink extends sinkObject(DurableObject, (env: Env) => {
  const { kafka, ...options } = JSON.parse(env.SINK_OPTIONS || "{}") as { kafka?: Record<string, unknown> };
  return { ...options, transport: edgeKafkaTransport({ brokers: env.BROKERS, topic: env.TOPIC, ...kafka }) };
}) {
  /** Resets the object as the platform does (its memory is gone; calls under way fail). */
  reset(): void {
    (this as unknown as { ctx: { abort(reason: string): void } }).ctx.abort("reset by the test");
  }
}

const front = sinkFront({ namespace: (env: Env) => env.SINK });
const stub = (env: Env) => env.SINK.get(env.SINK.idFromName("shedsink") as never) as unknown as TestObject;

const records = front.wrap((request, _env, _ctx, collector) => {
  const url = new URL(request.url);
  const n = Number(url.searchParams.get("n") ?? 1);
  const id = url.searchParams.get("id") ?? "r";
  for (let i = 0; i < n; i++) collector.emit({ id: `${id}-${i}`, path: url.pathname });
  return new Response("ok");
});

const json = (x: unknown) => new Response(JSON.stringify(x), { headers: { "content-type": "application/json" } });

export default {
  async fetch(request: Request, env: Env, ctx: { waitUntil(p: Promise<unknown>): void }): Promise<Response> {
    const url = new URL(request.url);
    try {
      switch (url.pathname) {
        case "/records":
          return await records(request, env, ctx);
        case "/plain":
          return new Response("ok");
        case "/stats":
          return json({ object: await stub(env).stats(), front: front.stats() });
        case "/flush":
          return json(await stub(env).flush(Number(url.searchParams.get("ms") ?? 10_000)));
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

/**
 * A Cloudflare Worker that publishes one telemetry record per request to Kafka: the
 * handler collects its records with shedsink's front, which hands them after the
 * response to a Durable Object that owns the sink (the bounded buffer, the flusher and
 * one Kafka connection). `GET /metrics` serves the object's counters.
 *
 * Build it with `build.ts` (esbuild) and run it with workerd and `config.capnp`, or
 * deploy it with wrangler and `wrangler.jsonc`: see README.md beside it.
 */

// In your project: import { edgeKafkaTransport, sinkFront, sinkObject } from "shedsink/cloudflare";
import { DurableObject } from "cloudflare:workers";
import { edgeKafkaTransport, type SinkNamespace, sinkFront, sinkObject } from "../../src/cloudflare.ts";

interface Env {
  /** The Durable Object namespace of `TelemetrySink`. */
  TELEMETRY: SinkNamespace;
  /** Bootstrap brokers, `host:port,host:port`. */
  KAFKA_BROKERS: string;
  /** The topic. */
  KAFKA_TOPIC: string;
}

/** The telemetry of one request. */
interface RequestRecord {
  ts: number;
  method: string;
  path: string;
  status: number;
  colo: string | null;
}

/** The Durable Object that owns the sink: one per Worker here (see `split` below). */
export class TelemetrySink extends sinkObject(DurableObject, (env: Env) => ({
  transport: edgeKafkaTransport({ brokers: env.KAFKA_BROKERS, topic: env.KAFKA_TOPIC }),
  capacityBytes: 8 * 1024 * 1024,
  batch: { lingerMs: 50 },
})) {}

// One object for the Worker; `split: "colo"` gives one per data centre, and
// `split: { shards: 4, key: (r) => r.path }` spreads records over four by a key.
const front = sinkFront<RequestRecord, Env>({ namespace: (env) => env.TELEMETRY });

interface MetricsStub {
  metrics(): Promise<string>;
}

export default {
  fetch: front.wrap(async (request, env, _ctx, records) => {
    const url = new URL(request.url);
    if (url.pathname === "/metrics") {
      const stub = env.TELEMETRY.get(env.TELEMETRY.idFromName("shedsink") as never) as unknown as MetricsStub;
      return new Response(await stub.metrics(), { headers: { "content-type": "text/plain; version=0.0.4" } });
    }
    const response = new Response(`hello from ${url.pathname}\n`);
    const colo = (request as { cf?: { colo?: string } }).cf?.colo ?? null;
    records.emit({ ts: Date.now(), method: request.method, path: url.pathname, status: response.status, colo });
    return response;
  }),
};

/**
 * shedsink at the edge: Cloudflare Workers publish to Kafka through a Durable Object
 * that owns a sink. A Worker's handler collects its request's records with a
 * {@linkcode sinkFront} and hands them over in one RPC call after the response
 * (`ctx.waitUntil`); the object ({@linkcode sinkObject}) keeps the bounded buffer, the
 * flusher and one Kafka connection ({@linkcode edgeKafkaTransport}) on its own I/O
 * context, and flushes on its alarm when no call comes. Bundle the Worker with
 * `shedsink/cloudflare/build` (esbuild). See docs/edge.md.
 *
 * @example
 * ```ts ignore
 * import { DurableObject } from "cloudflare:workers";
 * import { edgeKafkaTransport, sinkFront, sinkObject } from "shedsink/cloudflare";
 *
 * interface Env { SINK: DurableObjectNamespace; BROKERS: string }
 *
 * export class Telemetry extends sinkObject(DurableObject, (env: Env) => ({
 *   transport: edgeKafkaTransport({ brokers: env.BROKERS, topic: "requests" }),
 * })) {}
 *
 * const front = sinkFront({ namespace: (env: Env) => env.SINK });
 * export default {
 *   fetch: front.wrap((request, _env, _ctx, records) => {
 *     records.emit({ path: new URL(request.url).pathname, at: Date.now() });
 *     return new Response("ok");
 *   }),
 * };
 * ```
 *
 * @module
 */

export { sinkObject } from "./cloudflare/object.ts";
export type { IngestResult, ObjectBase, ObjectState, ObjectStats, SinkObjectClass, SinkObjectMethods, SinkObjectOptions } from "./cloudflare/object.ts";
export { sinkFront } from "./cloudflare/front.ts";
export type { Collector, FetchHandler, Front, FrontOptions, FrontStats, SinkNamespace, SinkStub, Split, WaitUntil } from "./cloudflare/front.ts";
export { edgeKafkaTransport } from "./cloudflare/kafka.ts";


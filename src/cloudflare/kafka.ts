/**
 * The Kafka transport for workerd: {@linkcode edgeKafkaTransport}, the platformatic
 * transport with `@platformatic/kafka` imported statically, so that a bundler puts the
 * client into the Worker (workerd loads no package at run time, and `import()` of a
 * computed name escapes bundling).
 *
 * @module
 */

import * as platformatic from "@platformatic/kafka";
import type { PlatformaticTransport, PlatformaticTransportOptions } from "../transports/platformatic.ts";
import { platformaticWith } from "../transports/platformatic/adapter.ts";

const loaded: Promise<unknown> = Promise.resolve(platformatic);

/**
 * The platformatic transport (see `shedsink/platformatic`) for a Durable Object: the
 * same options, the client bundled in. Connects over `node:net`, which workerd backs with
 * `cloudflare:sockets` under `nodejs_compat`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { edgeKafkaTransport } from "./kafka.ts";
 *
 * const transport = edgeKafkaTransport({ brokers: "127.0.0.1:39092", topic: "requests" });
 * assert.deepEqual([transport.name, transport.topic, transport.state()], ["platformatic", "requests", "connecting"]);
 * ```
 */
export function edgeKafkaTransport(options: PlatformaticTransportOptions): PlatformaticTransport {
  return platformaticWith(() => loaded, options);
}

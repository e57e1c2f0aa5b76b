/**
 * The Kafka transport for workerd: {@linkcode edgeKafkaTransport}, the platformatic
 * transport with `@platformatic/kafka` imported statically, so that a bundler puts the
 * client into the Worker (workerd loads no package at run time, and `import()` of a
 * computed name escapes bundling).
 *
 * @module
 */

import * as platformatic from "@platformatic/kafka";
import type { Batch, SendReport, TransportContext, TransportState } from "../core/contract.ts";
import type { KafkaFailure } from "../transports/kafka/failures.ts";
import type { PlatformaticTransport, PlatformaticTransportOptions } from "../transports/platformatic.ts";
import { platformaticWith } from "../transports/platformatic/adapter.ts";

const loaded: Promise<unknown> = Promise.resolve(platformatic);

/** What workerd's socket proxy says when its network service refuses a connection. */
const REFUSED_BY_NETWORK = "cannot connect to the specified address";
const NETWORK_HINT =
  " (workerd refused the connection: its network does not allow this address, a broker on a private or loopback address needs \"private\" or \"local\" in the network's allow list; or, with tls, the network has no tlsOptions; workerd's log says which)";

/**
 * The platformatic transport (see `shedsink/platformatic`) for a Durable Object: the
 * same options, the client bundled in. Connects over `node:net`, which workerd backs with
 * `cloudflare:sockets` under `nodejs_compat`. When workerd's network refuses the
 * connection, `failure()` (and so the sink's `stats().lastError`) says where to look.
 * With `tls`, the CA that signs the brokers' certificates is trusted by workerd's
 * network (its `tlsOptions`), not by the Worker: see docs/edge.md.
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
  return new EdgeKafka(platformaticWith(() => loaded, options));
}

class EdgeKafka implements PlatformaticTransport {
  readonly name: string;
  readonly topic: string;
  readonly #inner: PlatformaticTransport;

  constructor(inner: PlatformaticTransport) {
    this.#inner = inner;
    this.name = inner.name;
    this.topic = inner.topic;
  }

  start(context: TransportContext): void {
    this.#inner.start?.(context);
  }

  send(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined> {
    return this.#inner.send(batch, signal);
  }

  state(): TransportState {
    return this.#inner.state();
  }

  failure(): KafkaFailure | null {
    const failure = this.#inner.failure();
    if (failure === null || !failure.message.includes(REFUSED_BY_NETWORK)) return failure;
    return { ...failure, message: failure.message + NETWORK_HINT };
  }

  close(timeoutMs: number): Promise<void> {
    return this.#inner.close(timeoutMs);
  }
}

/**
 * `@confluentinc/kafka-javascript` as the confluent transport uses it: the parts of its
 * API, typed structurally so that the public types never depend on the optional package;
 * librdkafka's error codes; the options librdkafka gets and those `config` may not set.
 *
 * @module
 */

import * as v from "valibot";
import type { OutRecord, TransportContext } from "../../core/contract.ts";
import { messageOf } from "../kafka/load.ts";
import type { ClientConfig, ClientOptions } from "../kafka/options.ts";
import { checkLibrdkafkaConfig, securityProperties } from "./security.ts";

/** The package, imported by name when the transport starts (a variable: bundlers leave it alone). */
export const PACKAGE = "@confluentinc/kafka-javascript";

/**
 * A librdkafka configuration value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LibrdkafkaValue } from "./binding.ts";
 *
 * const config: Record<string, LibrdkafkaValue> = { "linger.ms": 20, "security.protocol": "ssl", "enable.ssl.certificate.verification": true };
 * assert.equal(Object.keys(config).length, 3);
 * ```
 */
export type LibrdkafkaValue = string | number | boolean;

/** Imports the package (an optional peer dependency). */
export function importPackage(): Promise<unknown> {
  return import(PACKAGE);
}

export interface RdError {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly isFatal?: unknown;
}

export interface RdDeliveryReport {
  readonly opaque?: unknown;
}

export interface RdProducer {
  connect(options: Record<string, unknown>, callback: (error: RdError | null | undefined) => void): unknown;
  produce(
    topic: string,
    partition: number | null,
    value: Uint8Array,
    key: Uint8Array | null,
    timestamp: number,
    opaque: unknown,
    headers?: Array<Record<string, Uint8Array>>,
  ): unknown;
  setPollInBackground(on: boolean): unknown;
  getMetadata(options: Record<string, unknown>, callback: (error: RdError | null | undefined) => void): unknown;
  disconnect(timeoutMs: number, callback: () => void): unknown;
  isConnected(): boolean;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

export interface RdModule {
  readonly Producer: new (config: Record<string, unknown>) => RdProducer;
  readonly features?: ReadonlyArray<string>;
  readonly CODES?: { readonly ERRORS?: Readonly<Record<string, number>> };
}

// librdkafka error codes (rdkafka.h).
export const ERR_FATAL = -150;
export const ERR_PURGE_QUEUE = -152;
export const ERR_INVALID_DIFFERENT_RECORD = -138;
export const ERR_STATE = -172;
export const ERR_QUEUE_FULL = -184;
export const ERR_ALL_BROKERS_DOWN = -187;
export const ERR_MSG_TIMED_OUT = -192;
export const ERR_MSG_SIZE_TOO_LARGE = 10;
export const ERR_RECORD_LIST_TOO_LARGE = 18;

/**
 * How often librdkafka reports its statistics, read (only while stalled) to notice a
 * producer that has forgotten every broker.
 */
export const STATS_EVERY_MS = 5000;

/** librdkafka's `config`: its schema, and the properties the transport owns. */
export const LIBRDKAFKA_CONFIG: ClientConfig<LibrdkafkaValue> = {
  schema: v.record(
    v.string(),
    v.union([v.string(), v.number(), v.boolean()], "a string, number or boolean"),
    "an object of librdkafka properties (string, number or boolean values)",
  ),
  owned: new Map<string, string>([
    ["bootstrap.servers", "use the brokers option"],
    ["metadata.broker.list", "use the brokers option"],
    ["client.id", "use the clientId option"],
    ["compression.codec", "use the compression option"],
    ["compression.type", "use the compression option"],
    ["enable.idempotence", "always true"],
    ["acks", "always all"],
    ["request.required.acks", "always all"],
    ["queue.buffering.max.kbytes", "derived from the sink's capacityBytes"],
    ["queue.buffering.max.messages", "derived from the sink's capacityBytes"],
    ["transactional.id", "transactions are not supported"],
    ["dr_cb", "delivery reports are always on"],
    ["dr_msg_cb", "delivery reports are always on"],
    ["event_cb", "events are always on"],
  ]),
  check: checkLibrdkafkaConfig,
};

/** The librdkafka configuration of a producer: the transport's guarantees, then `config`. */
export function librdkafkaConfig(o: ClientOptions<LibrdkafkaValue>, context: TransportContext): Record<string, unknown> {
  return {
    "bootstrap.servers": o.brokers.join(","),
    "client.id": o.clientId,
    "enable.idempotence": true,
    "request.required.acks": -1,
    "compression.codec": o.compression,
    // Java's key hashing, as the Deno/Bun transport and Kafka's own clients use, so a key
    // lands on the same partition whichever runtime produced it.
    partitioner: "murmur2_random",
    // librdkafka's queue never holds more than the sink counts in flight.
    "queue.buffering.max.kbytes": Math.max(1, Math.ceil(context.capacityBytes / 1024)),
    "queue.buffering.max.messages": Math.min(2 ** 31 - 1, Math.max(1, Math.ceil(context.capacityBytes / 20))),
    // No local timeout: see the module docs (invariant 4). The flusher enforces maxAgeMs.
    "message.timeout.ms": 0,
    "linger.ms": 5,
    "reconnect.backoff.max.ms": 2000,
    "enable.metrics.push": false,
    // Read while stalled, to notice a producer left without brokers (see onStats).
    "statistics.interval.ms": STATS_EVERY_MS,
    ...securityProperties(o.security),
    ...o.config,
    dr_cb: true,
  };
}

/** Whether librdkafka's statistics (the `event.stats` message) list no broker it could connect to. */
export function listsNoBroker(stats: { message?: unknown }): boolean {
  const text = stats?.message;
  if (typeof text !== "string") return false;
  const brokers = (JSON.parse(text) as { brokers?: unknown }).brokers;
  if (typeof brokers !== "object" || brokers === null) return false;
  // Brokers it could connect to: configured (bootstrap) or learned from metadata, not
  // the internal or logical ones (a coordinator handle).
  for (const broker of Object.values(brokers)) {
    const source = (broker as { source?: unknown } | null)?.source;
    if (source !== "internal" && source !== "logical") return false;
  }
  return true;
}

/** A record's headers as the binding takes them. */
export function headersOf(record: OutRecord): Array<Record<string, Uint8Array>> | undefined {
  const headers = record.headers;
  if (headers === null || headers.length === 0) return undefined;
  const out: Array<Record<string, Uint8Array>> = new Array(headers.length);
  for (let i = 0; i < headers.length; i++) {
    const [name, value] = headers[i]!;
    out[i] = { [name]: value };
  }
  return out;
}

/** librdkafka's error names by code, as the binding lists them. */
export function errorNames(mod: RdModule): Map<number, string> {
  const names = new Map<number, string>();
  for (const [name, code] of Object.entries(mod.CODES?.ERRORS ?? {})) names.set(code, name);
  return names;
}

/** An error's text, with librdkafka's name of its code when `names` knows it. */
export function describeError(error: unknown, names: ReadonlyMap<number, string> | null): string {
  const code = errorCode(error);
  const name = code === undefined ? undefined : names?.get(code);
  const text = messageOf(error);
  return name === undefined ? text : `${text} (${name})`;
}

/** librdkafka's numeric error code, if the error has one. */
export function errorCode(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as RdError).code;
  return typeof code === "number" ? code : undefined;
}

/**
 * What an error in a delivery report means for its record, produced in an isolated group
 * of `group` records (0: with others). librdkafka retries whatever is retriable itself:
 * what reaches a delivery report is final, but for these:
 * - too large in a group of several: perhaps only a neighbour was (`split`);
 * - purged from the queue before transmission, or failed for an invalid neighbour: never
 *   written, safe to send again (`retry`);
 * - timed out, only with a `message.timeout.ms` set through `config` (`expired`).
 */
export function deliveryFailure(error: RdError, group: number): "rejected" | "split" | "retry" | "expired" {
  switch (errorCode(error)) {
    case ERR_MSG_SIZE_TOO_LARGE:
    case ERR_RECORD_LIST_TOO_LARGE:
      return group === 1 ? "rejected" : "split";
    case ERR_PURGE_QUEUE:
    case ERR_INVALID_DIFFERENT_RECORD:
      return "retry";
    case ERR_MSG_TIMED_OUT:
      return "expired";
    default:
      return "rejected";
  }
}

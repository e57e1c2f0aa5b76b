/**
 * `@platformatic/kafka` as the platformatic transport uses it: the parts of its API,
 * typed structurally so that the public types never depend on the optional package; the
 * producer options `config` may not set; records as the client wants them.
 *
 * @module
 */

import * as v from "valibot";
import type { OutRecord } from "../../core/contract.ts";
import type { ClientConfig } from "../kafka/options.ts";
import { checkProducerConfig } from "./security.ts";

/** The package, imported by name when the transport starts (a variable: bundlers leave it alone). */
export const PACKAGE = "@platformatic/kafka";

/** A Node `Buffer` (the client wants those, not plain `Uint8Array`s). */
export type Bytes = Uint8Array & { readonly __buffer?: never };

/** The global `Buffer` of Node, Deno and Bun, as used here. */
interface BufferStatic {
  from(buffer: ArrayBufferLike, byteOffset: number, length: number): Bytes;
  from(text: string, encoding: "utf8"): Bytes;
}

/** Imports the package (an optional peer dependency). */
export function importPackage(): Promise<unknown> {
  return import(PACKAGE);
}

export interface PltMessage {
  topic: string;
  partition: number;
  key?: Bytes;
  value: Bytes;
  headers?: Map<Bytes, Bytes>;
  timestamp: bigint;
}

interface PltTopicMetadata {
  readonly partitionsCount: number;
}

interface PltMetadata {
  readonly topics: ReadonlyMap<string, PltTopicMetadata | undefined>;
}

interface PltConnection {
  readonly socket?: { destroy(): void } | null;
}

export interface PltProducer {
  send(options: { messages: PltMessage[] }): Promise<unknown>;
  metadata(options: { topics: string[]; autocreateTopics?: boolean; forceUpdate?: boolean; retries?: number }): Promise<PltMetadata>;
  initIdempotentProducer(options: Record<string, never>): Promise<unknown>;
  close(force?: boolean): Promise<void>;
  readonly producerId: bigint | undefined;
  readonly connections?: Iterable<[string, PltConnection]>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

export interface PltModule {
  readonly Producer: new (options: Record<string, unknown>) => PltProducer;
}

/** `@platformatic/kafka`'s producer options as `config`: its schema, and those the transport owns. */
export const PRODUCER_CONFIG: ClientConfig<unknown> = {
  schema: v.custom<Record<string, unknown>>((x) => typeof x === "object" && x !== null && !Array.isArray(x), "an object of @platformatic/kafka producer options"),
  owned: new Map<string, string>([
    ["bootstrapBrokers", "use the brokers option"],
    ["clientId", "use the clientId option"],
    ["compression", "use the compression option"],
    ["idempotent", "always true"],
    ["acks", "always all"],
    ["retries", "retriable errors are always retried, idempotently"],
    ["maxInflights", "one request in flight per connection (idempotence)"],
    ["serializers", "records are bytes already"],
    ["beforeSerialization", "records are bytes already"],
    ["registry", "records are bytes already"],
    ["transactionalId", "transactions are not supported"],
    ["partitioner", "the transport picks partitions"],
    ["producerId", "the idempotent producer gets its own"],
    ["producerEpoch", "the idempotent producer gets its own"],
    ["strict", "not supported"],
  ]),
  check: checkProducerConfig,
};

/** Delay before the client's n-th retry of an operation. */
export const retryDelay = (_client: unknown, _operation: unknown, attempt: number): number => Math.min(1000, 50 * 2 ** Math.min(attempt, 10));

/** The global `Buffer`: Node, Deno and Bun all have one (the client needs it anyway). */
function nodeBuffer(): BufferStatic {
  const b = (globalThis as { Buffer?: BufferStatic }).Buffer;
  if (b === undefined) throw new Error("this runtime has no global Buffer (Node, Deno and Bun have one)");
  return b;
}

/** A Buffer view of the same bytes (no copy). */
function bytes(u8: Uint8Array): Bytes {
  return nodeBuffer().from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** The records `indexes` as messages to `topic`'s `partition`. */
export function messagesOf(records: ReadonlyArray<OutRecord>, indexes: ReadonlyArray<number>, topic: string, partition: number): PltMessage[] {
  const messages: PltMessage[] = new Array(indexes.length);
  for (let k = 0; k < indexes.length; k++) {
    const record = records[indexes[k]!]!;
    const message: PltMessage = { topic, partition, value: bytes(record.value), timestamp: BigInt(Math.trunc(record.timestamp)) };
    if (record.key !== null) message.key = bytes(record.key);
    if (record.headers !== null && record.headers.length > 0) {
      const headers = new Map<Bytes, Bytes>();
      // Buffer keys: two headers of the same name stay two entries.
      for (const [name, value] of record.headers) headers.set(nodeBuffer().from(name, "utf8"), bytes(value));
      message.headers = headers;
    }
    messages[k] = message;
  }
  return messages;
}

/** Destroys the sockets of a client that did not close in time. */
export function destroySockets(p: PltProducer): void {
  try {
    const connections = p.connections;
    if (connections === undefined) return;
    for (const [, connection] of connections) {
      try {
        connection.socket?.destroy();
      } catch {
        // already gone
      }
    }
  } catch {
    // nothing more to do
  }
}

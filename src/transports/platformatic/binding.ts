/**
 * `@platformatic/kafka` as the platformatic transport uses it: the parts of its API,
 * typed structurally so that the public types never depend on the optional package; the
 * producer options `config` may not set; records as the client wants them.
 *
 * @module
 */

import { createRequire } from "node:module";
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

/**
 * Whether the package can be found from here (where the worker imports it), without
 * loading it: a Kafka transport prefers a worker only then.
 *
 * @example
 * ```ts
 * import { installed } from "./binding.ts";
 *
 * const here: boolean = installed();
 * if (typeof here !== "boolean") throw new Error("a boolean");
 * ```
 */
export function installed(): boolean {
  try {
    createRequire(import.meta.url).resolve(PACKAGE);
    return true;
  } catch {
    return false;
  }
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

/** A broker's address as the client holds it. */
export interface PltBroker {
  readonly host: string;
  readonly port: number;
}

/** The client's connection pool: its connections, and a connection to the first broker of a list that answers. */
interface PltPool extends Iterable<[string, PltConnection]> {
  getFirstAvailable?(brokers: PltBroker[], callback: (error: unknown, connection?: unknown) => void): unknown;
}

/** Callback of the client's internal "bootstrap connection" method. */
type ConnectionCallback = (error: unknown, connection?: unknown) => void;

export interface PltProducer {
  send(options: { messages: PltMessage[] }): Promise<unknown>;
  metadata(options: { topics: string[]; autocreateTopics?: boolean; forceUpdate?: boolean; retries?: number }): Promise<PltMetadata>;
  initIdempotentProducer(options: Record<string, never>): Promise<unknown>;
  close(force?: boolean): Promise<void>;
  readonly producerId: bigint | undefined;
  readonly connections?: PltPool;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

export interface PltModule {
  readonly Producer: new (options: Record<string, unknown>) => PltProducer;
  /** The symbol of the clients' method that picks a broker for metadata and producer ids. */
  readonly kGetBootstrapConnection?: symbol;
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
    ["maxInflights", "the transport keeps one send per partition under way, so idempotent sequences stay in order"],
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

/** `host`, `host:port`, `[ipv6]` or `[ipv6]:port` (validated already) as the client holds it. */
export function parseBroker(address: string): PltBroker {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (bracketed !== null) return { host: bracketed[1]!, port: bracketed[2] === undefined ? 9092 : Number(bracketed[2]) };
  const colon = address.lastIndexOf(":");
  return colon < 0 ? { host: address, port: 9092 } : { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/**
 * The brokers a transport has learnt from the cluster's metadata, newest first, kept
 * across clients: `@platformatic/kafka` forgets them (see {@linkcode useKnownBrokers}).
 */
export class KnownBrokers {
  readonly #brokers = new Map<string, PltBroker>();
  /** At most this many are kept (a cluster that renames its brokers should not grow the list forever). */
  static readonly LIMIT = 64;

  /** Learns the brokers of a metadata answer (the client's `client:metadata` event). */
  learn(metadata: unknown): void {
    const brokers = (metadata as { brokers?: unknown } | null | undefined)?.brokers;
    if (!(brokers instanceof Map)) return;
    const fresh: PltBroker[] = [];
    for (const b of brokers.values()) {
      const broker = b as Partial<PltBroker> | null | undefined;
      if (typeof broker?.host === "string" && typeof broker.port === "number") fresh.push({ host: broker.host, port: broker.port });
    }
    for (const b of fresh.reverse()) {
      const key = `${b.host}:${b.port}`;
      this.#brokers.delete(key);
      this.#brokers.set(key, b);
    }
    while (this.#brokers.size > KnownBrokers.LIMIT) this.#brokers.delete(this.#brokers.keys().next().value!);
  }

  /** Newest first. */
  list(): PltBroker[] {
    return [...this.#brokers.values()].reverse();
  }
}

/**
 * Works around `@platformatic/kafka` (2.x) losing the cluster when its bootstrap brokers
 * are gone. The client asks for metadata (and producer ids) through the first broker that
 * answers among the bootstrap brokers plus those its metadata lists; but on a stale-leader
 * error (`NOT_LEADER_OR_FOLLOWER`, `LEADER_NOT_AVAILABLE`, `FENCED_LEADER_EPOCH`, a leader
 * missing from its metadata) it clears its metadata (`clearMetadata()`), and from then on
 * asks the bootstrap brokers only, retrying without end: with those dead, it never
 * reaches the brokers that live. This replaces the client's method that picks that broker
 * (`kGetBootstrapConnection`, which the package exports) with the same choice made from
 * the bootstrap brokers and the brokers the transport has learnt (`known`), whether the
 * client still holds its metadata or not. Returns false, changing nothing, when the client
 * lacks what this needs (another version): it then behaves as upstream does.
 */
export function useKnownBrokers(mod: PltModule, producer: PltProducer, bootstrap: ReadonlyArray<PltBroker>, known: KnownBrokers): boolean {
  const symbol = mod.kGetBootstrapConnection;
  const target = producer as unknown as Record<symbol, unknown>;
  if (typeof symbol !== "symbol" || typeof target[symbol] !== "function") return false;
  const pool = producer.connections;
  if (pool === undefined || typeof pool.getFirstAvailable !== "function") return false;
  target[symbol] = (callback: ConnectionCallback, attempt = 0): unknown => {
    const seen = new Set<string>();
    let brokers: PltBroker[] = [];
    for (const b of [...bootstrap, ...known.list()]) {
      const key = `${b.host}:${b.port}`;
      if (!seen.has(key)) brokers.push(b), seen.add(key);
    }
    // As the client does: each retry starts one broker further down the list.
    if (attempt > 0 && brokers.length > 1) {
      const offset = attempt % brokers.length;
      brokers = [...brokers.slice(offset), ...brokers.slice(0, offset)];
    }
    return pool.getFirstAvailable!(brokers, callback);
  };
  return true;
}

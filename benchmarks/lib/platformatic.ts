// @platformatic/kafka helpers for the benchmarks (Node, Deno and Bun): the producer
// options the platformatic transport uses, and topic creation and deletion with the
// client's Admin (librdkafka's admin in lib/kafka.ts loads on Node only).

import { retryDelay } from "../../src/transports/platformatic/binding.ts";

/** The parts of an @platformatic/kafka producer the benchmarks use. */
export interface PltProducer {
  send(options: { messages: ReadonlyArray<PltMessage> }): Promise<unknown>;
  metadata(options: { topics: string[]; autocreateTopics?: boolean }): Promise<unknown>;
  initIdempotentProducer(options: Record<string, never>): Promise<unknown>;
  readonly producerId: bigint | undefined;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  close(): Promise<void>;
}

export interface PltMessage {
  topic: string;
  partition?: number;
  value: Uint8Array;
  timestamp?: bigint;
}

interface PltAdmin {
  createTopics(options: { topics: string[]; partitions: number; replicas: number }): Promise<unknown>;
  deleteTopics(options: { topics: string[] }): Promise<void>;
  close(): Promise<void>;
}

interface PltModule {
  Producer: new (options: Record<string, unknown>) => PltProducer;
  Admin: new (options: Record<string, unknown>) => PltAdmin;
}

export async function platformatic(): Promise<PltModule> {
  return (await import("@platformatic/kafka")) as unknown as PltModule;
}

/**
 * The producer options of `src/transports/platformatic/adapter.ts` (`#currentClient()`)
 * with the transport's defaults (compression lz4), so that a bare loop runs with the
 * same settings as the transport. Topics are created beforehand, so not auto-created.
 */
export function transportPltOptions(brokers: string): Record<string, unknown> {
  return {
    clientId: "shedsink-bench",
    bootstrapBrokers: [brokers],
    autocreateTopics: false,
    retryDelay,
    idempotent: true,
    acks: -1,
    retries: Number.MAX_SAFE_INTEGER,
    compression: "lz4",
  };
}

/**
 * A connected producer with the transport's options: it has fetched the topic's metadata
 * and a producer id, as the transport does before its first send.
 */
export async function connectPltProducer(brokers: string, topic: string): Promise<PltProducer> {
  const { Producer } = await platformatic();
  const producer = new Producer(transportPltOptions(brokers));
  producer.on("error", () => {});
  await producer.metadata({ topics: [topic], autocreateTopics: false });
  if (producer.producerId === undefined) await producer.initIdempotentProducer({});
  return producer;
}

async function withAdmin(brokers: string, use: (admin: PltAdmin) => Promise<unknown>): Promise<void> {
  const { Admin } = await platformatic();
  const admin = new Admin({ clientId: "shedsink-bench-admin", bootstrapBrokers: [brokers] });
  try {
    await use(admin);
  } finally {
    await admin.close();
  }
}

/** Creates topics (3 partitions, like the broker's default) with @platformatic/kafka's Admin. */
export function createTopicsPlt(brokers: string, topics: ReadonlyArray<string>, partitions = 3): Promise<void> {
  return withAdmin(brokers, (admin) => admin.createTopics({ topics: [...topics], partitions, replicas: 1 }));
}

/** Deletes topics with @platformatic/kafka's Admin (the broker removes their logs a little later). */
export function deleteTopicsPlt(brokers: string, topics: ReadonlyArray<string>): Promise<void> {
  return withAdmin(brokers, (admin) => admin.deleteTopics({ topics: [...topics] }));
}

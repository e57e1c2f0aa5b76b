// librdkafka helpers for the benchmarks (Node only): the producer settings the confluent
// transport uses, topic creation, and counting a topic's records with a real consumer.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface RdProducer {
  connect(options: Record<string, unknown>, cb: (error: Error | null) => void): unknown;
  produce(topic: string, partition: number | null, value: Uint8Array, key: Uint8Array | null, timestamp: number, opaque?: unknown): unknown;
  setPollInBackground(on: boolean): unknown;
  flush(timeoutMs: number, cb: (error?: Error) => void): unknown;
  disconnect(timeoutMs: number, cb: () => void): unknown;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

interface RdModule {
  Producer: new (config: Record<string, unknown>) => RdProducer;
  AdminClient: {
    create(config: Record<string, unknown>): {
      createTopic(t: { topic: string; num_partitions: number; replication_factor: number }, timeoutMs: number, cb: (e?: Error) => void): void;
      deleteTopic(topic: string, timeoutMs: number, cb: (e?: Error) => void): void;
      disconnect(): void;
    };
  };
  CODES: { ERRORS: Record<string, number> };
}

export async function librdkafka(): Promise<RdModule> {
  const mod = (await import("@confluentinc/kafka-javascript")) as unknown as { default?: RdModule } & RdModule;
  return typeof mod.Producer === "function" ? mod : mod.default!;
}

/**
 * The producer configuration of `src/transports/confluent.ts` (`#config()`) for a sink of
 * `capacityBytes`, with its defaults (compression lz4), so that a bare librdkafka loop
 * runs with the same settings as the transport.
 */
export function transportProducerConfig(brokers: string, capacityBytes: number): Record<string, unknown> {
  return {
    "bootstrap.servers": brokers,
    "client.id": "shedsink-bench",
    "enable.idempotence": true,
    "request.required.acks": -1,
    "compression.codec": "lz4",
    "queue.buffering.max.kbytes": Math.max(1, Math.ceil(capacityBytes / 1024)),
    "queue.buffering.max.messages": Math.min(2 ** 31 - 1, Math.max(1, Math.ceil(capacityBytes / 20))),
    "message.timeout.ms": 0,
    "linger.ms": 5,
    "reconnect.backoff.max.ms": 2000,
    "enable.metrics.push": false,
    "statistics.interval.ms": 5000,
    dr_cb: true,
  };
}

export const ERR_QUEUE_FULL = -184;

/** Connects a producer with background polling (as the transport does). */
export async function connectProducer(config: Record<string, unknown>): Promise<RdProducer> {
  const Kafka = await librdkafka();
  const p = new Kafka.Producer(config);
  p.on("event.error", () => {});
  p.on("error", () => {});
  await new Promise<void>((resolve, reject) => p.connect({ timeout: 10_000 }, (e) => (e ? reject(e) : resolve())));
  p.setPollInBackground(true);
  return p;
}

export function disconnect(p: RdProducer, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve) => p.disconnect(timeoutMs, () => resolve()));
}

/** Creates topics (3 partitions, like the broker's default) before anything is timed. */
export async function createTopics(brokers: string, topics: ReadonlyArray<string>, partitions = 3): Promise<void> {
  const Kafka = await librdkafka();
  const admin = Kafka.AdminClient.create({ "bootstrap.servers": brokers });
  try {
    for (const topic of topics) {
      await new Promise<void>((resolve, reject) =>
        admin.createTopic({ topic, num_partitions: partitions, replication_factor: 1 }, 10_000, (e) => (e ? reject(e) : resolve()))
      );
    }
  } finally {
    admin.disconnect();
  }
}

/** Deletes topics (the broker removes their logs a little later). */
export async function deleteTopics(brokers: string, topics: ReadonlyArray<string>): Promise<void> {
  const Kafka = await librdkafka();
  const admin = Kafka.AdminClient.create({ "bootstrap.servers": brokers });
  try {
    for (const topic of topics) {
      await new Promise<void>((resolve, reject) => admin.deleteTopic(topic, 10_000, (e) => (e ? reject(e) : resolve())));
    }
  } finally {
    admin.disconnect();
  }
}

/**
 * Reads a topic from the beginning to its end with a consumer (kcat) and counts its
 * records, and the distinct values of the JSON field `"id"` in them.
 */
export function consumeCount(brokers: string, topic: string, timeoutMs = 120_000): Promise<{ records: number; distinctIds: number; seconds: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("kcat", ["-C", "-b", brokers, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\\n"], { stdio: ["ignore", "pipe", "pipe"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    let records = 0;
    const ids = new Set<number>();
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      if (line.length === 0) return;
      records++;
      const at = line.indexOf('"id":');
      if (at >= 0) ids.add(parseInt(line.slice(at + 5), 10));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`kcat exited ${code}: ${stderr}`));
      else resolve({ records, distinctIds: ids.size, seconds: (performance.now() - started) / 1000 });
    });
  });
}

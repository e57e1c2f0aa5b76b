/**
 * The platformatic transport: the Kafka skeleton (`../kafka/base.ts`) on
 * `@platformatic/kafka`'s producer. How it sends is told in `../platformatic.ts`.
 *
 * @module
 */

import type { Batch, SendReport } from "../../core/contract.ts";
import type { TransportError } from "../../core/errors.ts";
import { ABORTED as DEADLINE_ABORTED, TIMED_OUT, withDeadline } from "../../core/scheduler.ts";
import { Client as BaseClient, KafkaBase } from "../kafka/base.ts";
import { failure, nodeFailure } from "../kafka/failures.ts";
import { optionalPackage } from "../kafka/load.ts";
import { type ClientOptions, type KafkaOptions, resolveClientOptions } from "../kafka/options.ts";
import { ABORTED, DELIVERED, Outcomes, RETRY } from "../kafka/outcomes.ts";
import { groupByPartition } from "../kafka/partition.ts";
import * as plt from "./binding.ts";
import { classifyError, describeError } from "./errors.ts";
import { securityOptions } from "./security.ts";

/** How long a send waits for metadata and a producer id before failing retriably. */
const READY_WAIT_MS = 2000;
/**
 * How long a topic the client asked the broker to create may stay unknown: creating it
 * takes the broker a moment, longer on a loaded one (librdkafka waits as long, its
 * `topic.metadata.propagation.max.ms`). Until then sends fail retriably; after, for good.
 */
const TOPIC_CREATION_MS = 30_000;
/** After close() asks the client to close: how long before its sockets are destroyed. */
const CLOSE_GRACE_MS = 1000;

/**
 * The platformatic transport with `load` standing for `import("@platformatic/kafka")`:
 * `platformaticTransport()` passes the real import, tests may pass another.
 */
export function platformaticWith(load: () => Promise<unknown>, options: KafkaOptions & { config?: Readonly<Record<string, unknown>> }): Platformatic {
  return new Platformatic(resolveClientOptions(plt.PRODUCER_CONFIG, options), load);
}

/** One client instance and the sends under way on it. */
class Client extends BaseClient<plt.PltProducer> {
  /** Wakes the sends waiting on this client when it dies. */
  readonly onDeath: Set<() => void> = new Set();
}

type Outcome = { ok: true } | { ok: false; error: unknown } | { ok: false; dead: true } | { ok: false; unsent: true };

/** The records were not handed to the client: its send was aborted or its client closed first. */
const UNSENT: Outcome = { ok: false, unsent: true };

/** The platformatic transport (`PlatformaticTransport`). */
export class Platformatic extends KafkaBase<unknown, plt.PltModule> {
  readonly name = "platformatic";
  #client: Client | null = null;
  /** Produce calls in progress, for the stall watch. */
  #sending = 0;
  /** Partition for the next batch's unkeyed records. */
  #sticky = Math.floor(Math.random() * 1024);
  #closing: Promise<void> | null = null;
  /** The bootstrap brokers, as the client holds them. */
  readonly #bootstrap: ReadonlyArray<plt.PltBroker>;
  /** Brokers learnt from metadata, kept across clients (see `plt.useKnownBrokers`). */
  readonly #known = new plt.KnownBrokers();
  /**
   * Per partition, the end of the chain of sends to it. The client numbers an idempotent
   * producer's records per partition when `send()` is called, and retries each request on
   * its own: two requests to one partition in flight at once may reach a new leader out of
   * order (`OUT_OF_ORDER_SEQUENCE_NUMBER`), and the client then takes a new producer id,
   * which ends the broker's protection against duplicates. So each partition has at most
   * one `send()` under way; the flusher's other batches go to other partitions or wait.
   */
  readonly #partitionTails = new Map<number, Promise<void>>();
  /** When the topic was first found unknown while the client may create it, or -1. */
  #unknownSince = -1;

  constructor(options: ClientOptions<unknown>, load: () => Promise<unknown>) {
    super(options, optionalPackage<plt.PltModule>("platformatic", plt.PACKAGE, load));
    this.#bootstrap = options.brokers.map(plt.parseBroker);
  }

  protected waiting(): number {
    return this.#sending;
  }

  /** Connects early: loads the package, fetches metadata and a producer id. */
  protected connect(): void {
    void this.#ready(new AbortController().signal).catch(() => {});
  }

  protected async transmit(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined> {
    const job = new Outcomes(batch.records);
    const { client, partitions } = await this.#ready(signal);
    if (signal.aborted) return job.report(signal);
    const sticky = this.#idlePartition(partitions);
    const groups = groupByPartition(job.records, partitions, sticky);
    const onAbort = () => this.#kill(client);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.all([...groups].map(([partition, indexes]) => this.#sendGroup(client, job, partition, indexes, signal)));
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    return job.report(signal);
  }

  protected shutdown(timeoutMs: number): Promise<void> {
    if (this.#closing === null) {
      const client = this.#client;
      this.#client = null;
      this.#closing = client === null ? Promise.resolve() : this.#shutClient(client, timeoutMs);
    }
    return this.#closing;
  }

  /** While down: fresh metadata; an answer means up unless the client changed meanwhile. */
  protected probe(): Promise<boolean> | null {
    const client = this.#client;
    if (client === null) return null;
    const metadata = client.producer.metadata({ topics: [this.options.topic], forceUpdate: true, autocreateTopics: false, retries: 0 });
    // A topic not created yet (the first sends failed on credentials) is a broker's answer too.
    const answered = (error: unknown) => /unknown topic/i.test(describeError(error)) && nodeFailure(error, this.options.security.tls !== null) === null;
    return metadata.then(() => true, answered).then((ok) => ok && client === this.#client && !client.dead);
  }

  // ---------------------------------------------------------------- sending

  /** The next partition for unkeyed records, preferring one with no send under way. */
  #idlePartition(partitions: number): number {
    const first = this.#sticky++ % partitions;
    for (let k = 0; k < partitions; k++) {
      const p = (first + k) % partitions;
      if (!this.#partitionTails.has(p)) {
        this.#sticky += k;
        return p;
      }
    }
    return first;
  }

  /** Runs `produce` once every send to `partition` started before it has settled. */
  async #inTurn<T>(partition: number, produce: () => Promise<T>): Promise<T> {
    const before = this.#partitionTails.get(partition);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = before === undefined ? mine : before.then(() => mine);
    this.#partitionTails.set(partition, tail);
    try {
      if (before !== undefined) await before;
      return await produce();
    } finally {
      done();
      if (this.#partitionTails.get(partition) === tail) this.#partitionTails.delete(partition);
    }
  }

  /** Sends one partition's records; halves the group when the broker refuses its content. */
  async #sendGroup(client: Client, job: Outcomes, partition: number, indexes: ReadonlyArray<number>, signal: AbortSignal): Promise<void> {
    // Waiting for its turn, the send may be aborted or its client closed: then it never left.
    const result = await this.#inTurn(partition, () => (signal.aborted ? Promise.resolve(UNSENT) : this.#produce(client, job, partition, indexes)));
    if ("unsent" in result) {
      // Still PENDING: reported as `retry`, aborted or not (nothing of them is in doubt).
      job.retryError ??= this.error("the send was aborted before these records were handed to the client", true);
      return;
    }
    if (result.ok) {
      for (const i of indexes) job.codes[i] = DELIVERED;
      this.health.markUp();
      return;
    }
    if ("dead" in result || signal.aborted || client.dead) {
      for (const i of indexes) job.codes[i] = signal.aborted || this.health.closed ? ABORTED : RETRY;
      job.retryError ??= this.error("the client was closed with these records in flight", true);
      return;
    }
    const error = result.error;
    // A connection failure (authentication, TLS, unreachable) is retried, whatever its class.
    const why = nodeFailure(error, this.options.security.tls !== null);
    switch (why === null ? classifyError(error) : "retry") {
      case "records":
        if (indexes.length === 1) {
          job.reject(indexes[0]!, this.error(describeError(error), false, error));
          return;
        }
        {
          // The broker refused the whole group: find the records it refuses on their own.
          const half = Math.ceil(indexes.length / 2);
          await this.#sendGroup(client, job, partition, indexes.slice(0, half), signal);
          await this.#sendGroup(client, job, partition, indexes.slice(half), signal);
        }
        return;
      case "rejected": {
        const rejected = this.error(describeError(error), false, error);
        for (const i of indexes) job.reject(i, rejected);
        return;
      }
      default:
        job.retry(indexes, this.error(describeError(error), true, error));
        this.health.down(why);
    }
  }

  /** One call of the client's `send()`, cut short if the client dies meanwhile. */
  #produce(client: Client, job: Outcomes, partition: number, indexes: ReadonlyArray<number>): Promise<Outcome> {
    if (client.dead) return Promise.resolve(UNSENT);
    const messages = plt.messagesOf(job.records, indexes, this.options.topic, partition);
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const onDeath = () => finish({ ok: false, dead: true });
      const finish = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        this.#sending--;
        this.health.answered();
        client.onDeath.delete(onDeath);
        resolve(outcome);
      };
      this.#sending++;
      client.onDeath.add(onDeath);
      let sent: Promise<unknown>;
      try {
        sent = client.producer.send({ messages });
      } catch (error) {
        finish({ ok: false, error });
        return;
      }
      sent.then(
        () => finish(client.dead ? { ok: false, dead: true } : { ok: true }),
        (error: unknown) => finish(client.dead ? { ok: false, dead: true } : { ok: false, error }),
      );
    });
  }

  // ---------------------------------------------------------------- connecting

  /** The current client, created on first use. Throws a setup error (final). */
  async #currentClient(): Promise<Client> {
    if (this.setupError !== null) throw this.setupError;
    let mod: plt.PltModule;
    try {
      mod = await this.load();
    } catch (error) {
      throw (this.setupError = error as TransportError);
    }
    if (this.health.closed) throw this.closedError();
    if (this.#client !== null) return this.#client;
    if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== "function") {
      throw this.setupFailed(`${plt.PACKAGE} needs Promise.withResolvers (Node >= 22, Deno, Bun); on older Node use the confluent transport`);
    }
    if ((globalThis as { Buffer?: unknown }).Buffer === undefined) {
      throw this.setupFailed(`${plt.PACKAGE} needs a runtime with a global Buffer (Node, Deno, Bun)`);
    }
    const o = this.options;
    let producer: plt.PltProducer;
    try {
      producer = new mod.Producer({
        autocreateTopics: true,
        retryDelay: plt.retryDelay,
        ...securityOptions(o.security),
        ...o.config,
        clientId: o.clientId,
        bootstrapBrokers: [...o.brokers],
        idempotent: true,
        acks: -1,
        retries: Number.MAX_SAFE_INTEGER,
        compression: o.compression,
      });
    } catch (error) {
      throw this.setupFailed(`${plt.PACKAGE} refused the options: ${describeError(error)}`, error);
    }
    const client = new Client(producer);
    const down = () => {
      if (!client.dead && client === this.#client) this.health.down();
    };
    producer.on("client:broker:failed", down);
    producer.on("client:broker:disconnect", down);
    producer.on("client:metadata", (metadata: unknown) => this.#known.learn(metadata));
    plt.useKnownBrokers(mod, producer, this.#bootstrap, this.#known);
    // An 'error' event without a listener would throw.
    producer.on("error", () => {});
    this.#client = client;
    return client;
  }

  /**
   * Makes sure the client has the topic's metadata and a producer id, waiting at most
   * READY_WAIT_MS. Throws a retriable TransportError when it cannot, a final one when the
   * topic does not exist (and may not be created) or the setup failed.
   */
  async #ready(signal: AbortSignal): Promise<{ client: Client; partitions: number }> {
    const client = await this.#currentClient();
    // Down on credentials or TLS: only the probe reconnects, backing off (see Health).
    const known = this.health.backingOff ? this.health.failure : null;
    if (known !== null) throw this.error(known.message, true);
    const p = client.producer;
    const topic = this.options.topic;
    const auto = this.options.config.autocreateTopics;
    const work = (async () => {
      const metadata = await p.metadata({ topics: [topic], autocreateTopics: auto === undefined || auto === true, retries: 1 });
      this.#known.learn(metadata);
      const partitions = metadata.topics.get(topic)?.partitionsCount ?? 0;
      if (!(partitions > 0)) throw new Error(`no partitions in the metadata of topic "${topic}"`);
      if (p.producerId === undefined) await p.initIdempotentProducer({});
      return partitions;
    })();
    let partitions: number | typeof TIMED_OUT | typeof DEADLINE_ABORTED;
    try {
      partitions = await withDeadline(this.scheduler, work, READY_WAIT_MS, { signal });
    } catch (error) {
      const text = describeError(error);
      if (/unknown topic/i.test(text)) {
        const now = this.scheduler.now();
        if (this.#unknownSince < 0) this.#unknownSince = now;
        if ((auto === undefined || auto === true) && now - this.#unknownSince < TOPIC_CREATION_MS) {
          throw this.error(`unknown topic "${topic}": waiting for the broker to create it`, true, error);
        }
        throw this.error(`unknown topic "${topic}": it does not exist, and the client may not create it (autocreateTopics) or the broker does not`, false, error);
      }
      // Authentication and TLS failures are retriable: an operator can fix them while the records wait.
      const why = nodeFailure(error, this.options.security.tls !== null);
      if (why === null && classifyError(error) === "rejected") throw this.error(text, false, error);
      this.health.down(why ?? failure("BROKERS_UNREACHABLE", text));
      throw this.error(why?.message ?? text, true, error);
    }
    if (partitions === TIMED_OUT) {
      const text = `no answer from ${this.options.brokers.join(",")} within ${READY_WAIT_MS} ms`;
      this.health.down(this.health.failure ?? failure("BROKERS_UNREACHABLE", text));
      throw this.error(this.health.failure?.message ?? text, true);
    }
    if (partitions === DEADLINE_ABORTED) return { client, partitions: 1 };
    this.#unknownSince = -1;
    // Metadata may come from the client's cache: it proves nothing while sends get no answer.
    if (!this.health.stalled) this.health.markUp();
    return { client, partitions };
  }

  // ---------------------------------------------------------------- shutting down

  /** Closes a client whose sends were aborted: nothing it holds may be delivered later. */
  #kill(client: Client): void {
    if (client.dead) return;
    if (this.#client === client) this.#client = null;
    void this.#shutClient(client, 0);
  }

  /** Closes a client; after `graceMs` (at least CLOSE_GRACE_MS) destroys its sockets. Never rejects. */
  async #shutClient(client: Client, graceMs: number): Promise<void> {
    client.dead = true;
    for (const wake of [...client.onDeath]) wake();
    client.onDeath.clear();
    const p = client.producer;
    let closing: Promise<void>;
    try {
      closing = p.close(true);
    } catch {
      plt.destroySockets(p);
      return;
    }
    const closed = await withDeadline(this.scheduler, closing, Math.max(CLOSE_GRACE_MS, graceMs)).catch(() => undefined);
    if (closed === TIMED_OUT) plt.destroySockets(p);
  }
}

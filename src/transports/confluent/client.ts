/**
 * A librdkafka producer as the confluent transport holds it (the records it holds, its
 * connection and destruction), and what a send keeps per record.
 *
 * @module
 */

import type { OutRecord } from "../../core/contract.ts";
import { Client as BaseClient } from "../kafka/base.ts";
import { messageOf } from "../kafka/load.ts";
import { Outcomes } from "../kafka/outcomes.ts";
import type { RdError, RdModule, RdProducer } from "./binding.ts";

/** A new producer, or an Error whose `cause` is why librdkafka refused the configuration. */
export function openProducer(mod: RdModule, config: Record<string, unknown>): RdProducer | Error {
  try {
    return new mod.Producer(config);
  } catch (error) {
    return new Error("refused", { cause: error });
  }
}

/** One librdkafka producer instance and the records it holds. */
export class Client extends BaseClient<RdProducer> {
  /** Records produced on it whose delivery report has not arrived. */
  outstanding = 0;
  /** Sends with records on this client. */
  readonly jobs: Set<Job> = new Set();
  #destroying: Promise<void> | null = null;

  /** Connects (metadata from a bootstrap broker, within `timeoutMs`): null, or the error. */
  connect(timeoutMs: number): Promise<RdError | null> {
    const producer = this.producer;
    return new Promise<RdError | null>((resolve) => {
      const done = (error: RdError | null | undefined) => {
        if (error) {
          resolve(error);
          return;
        }
        try {
          producer.setPollInBackground(true);
        } catch {
          // older bindings poll on their own interval
        }
        resolve(null);
      };
      try {
        producer.connect({ allTopics: false, timeout: timeoutMs }, done);
      } catch (error) {
        done({ message: messageOf(error) });
      }
    });
  }

  /** Listens to the producer's `event`; nothing once it is dead, and nothing thrown into the event loop. */
  on<A extends unknown[]>(event: string, handle: (...args: A) => void): void {
    this.producer.on(event, ((...args: A) => {
      try {
        if (!this.dead) handle(...args);
      } catch {
        // never let a producer's event throw into the event loop
      }
    }) as unknown as (...args: never[]) => void);
  }

  /** Flushes for up to `flushMs`, then destroys the native producer. Never rejects; idempotent. */
  destroy(flushMs: number): Promise<void> {
    this.#destroying ??= new Promise<void>((resolve) => {
      try {
        if (!this.producer.isConnected()) resolve();
        else this.producer.disconnect(flushMs, () => resolve());
      } catch {
        resolve();
      }
    });
    return this.#destroying;
  }
}

/** The opaque handed to `produce()` for one record. */
export class Token {
  readonly job: Job;
  readonly index: number;
  readonly client: Client;
  /** Size of the isolated group it was produced in, or 0 when produced normally. */
  readonly group: number;
  constructor(job: Job, index: number, client: Client, group: number) {
    this.job = job;
    this.index = index;
    this.client = client;
    this.group = group;
  }
}

/** One call of `send`. */
export class Job extends Outcomes {
  readonly tokens: Array<Token | undefined>;
  /** Records produced whose delivery report has not arrived. */
  waiting = 0;
  /** Called when `waiting` drops to 0 (or the wait is cut short). */
  wake: (() => void) | null = null;
  /** No more outcomes are taken: late delivery reports are ignored. */
  finished = false;
  constructor(records: ReadonlyArray<OutRecord>) {
    super(records);
    this.tokens = new Array(records.length);
  }
}

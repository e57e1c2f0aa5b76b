/**
 * The Durable Object that owns a sink: {@linkcode sinkObject}. One object holds one sink
 * (thread mode: the flusher and the Kafka client run on the object's own I/O context,
 * which every call to the object shares), takes records over RPC and keeps an alarm
 * set while records are pending, so that the object flushes them even when no call
 * comes to it.
 *
 * @module
 */

import * as v from "valibot";
import { conservationErrors } from "../core/accounting.ts";
import { InvalidOptionError } from "../core/errors.ts";
import type { MetricsOptions } from "../metrics.ts";
import type { SinkOptions } from "../options.ts";
import { type CloseReport, createSink, type Sink, type SinkStats } from "../sink.ts";
import { integer, parseOptions } from "../validate.ts";
import { systemScheduler } from "../runtime.ts";

/** The part of a Durable Object's state (`ctx`) the object uses. */
export interface ObjectState {
  /** The object's storage: its alarm. */
  readonly storage: {
    setAlarm(scheduledTime: number | Date): Promise<void> | void;
    deleteAlarm?(): Promise<void> | void;
  };
}

/** The Durable Object base class (`DurableObject` from `cloudflare:workers`), as the object extends it. */
// deno-lint-ignore no-explicit-any
export type ObjectBase = abstract new (ctx: any, env: any) => object;

/** What {@linkcode SinkObjectMethods.ingest} reports. */
export interface IngestResult {
  /** Records the sink buffered. */
  readonly accepted: number;
  /** Records the sink refused on arrival (counted in its stats by reason). */
  readonly refused: number;
}

/** A sink's stats, with the conservation check run where the counters are. */
export interface ObjectStats extends SinkStats {
  /** `conservationErrors()` of these counters: empty while the books balance. */
  readonly conservationErrors: string[];
  /** Calls of `ingest` so far. */
  readonly ingests: number;
}

/** The RPC methods of the object {@linkcode sinkObject} makes. */
export interface SinkObjectMethods {
  /** Offers the records to the sink, in order. Never waits for Kafka. */
  ingest(records: ReadonlyArray<unknown>): IngestResult;
  /** Offers one record. */
  emit(record: unknown): boolean;
  /** The sink's stats (no sink yet: all zero, state `"open"`). */
  stats(): ObjectStats;
  /** The sink's counters in Prometheus text format. */
  metrics(options?: MetricsOptions): string;
  /** Waits until what was accepted so far is settled, at most `timeoutMs`. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Closes the sink and returns its report (null when no record came yet); records after it are refused as `closed`. */
  close(timeoutMs?: number): Promise<CloseReport | null>;
  /** The alarm: flushes, and sets itself again while records are pending. */
  alarm(): Promise<void>;
}

/** Options of {@linkcode sinkObject}, made from the object's `env` by the function it is given. */
export interface SinkObjectOptions<T = unknown> extends Omit<SinkOptions<T>, "flusher"> {
  /**
   * Thread mode: the only mode a Durable Object has (it has no worker threads).
   * @default "thread"
   */
  flusher?: "thread";
  /**
   * How long the alarm waits for a flush before it sets itself again, in milliseconds.
   * @default 10000
   */
  alarmFlushMs?: number;
  /**
   * How long after a record arrives the alarm first fires, in milliseconds: the backstop
   * for the sink's own linger timer, which runs only while the object is in memory.
   * @default 1000
   */
  alarmDelayMs?: number;
}

const ObjectOptionsSchema = v.looseObject(
  {
    flusher: v.optional(v.literal("thread", '"thread" (a Durable Object has no worker threads)')),
    alarmFlushMs: v.optional(integer(1, 900_000, "an integer from 1 to 900000")),
    alarmDelayMs: v.optional(integer(0, 3_600_000, "an integer from 0 to 3600000")),
  },
  "an options object",
);

/** The class {@linkcode sinkObject} returns: `Base`'s instances with {@linkcode SinkObjectMethods}. */
export type SinkObjectClass<B extends ObjectBase, E> = new (ctx: ObjectState, env: E) => InstanceType<B> & SinkObjectMethods;

const ZERO = { records: 0, bytes: 0 };

/**
 * Makes a Durable Object class that owns one sink, to export from a Worker and bind as a
 * Durable Object namespace. `options(env)` gives the sink's options (with
 * {@linkcode edgeKafkaTransport} as its transport) when the first record arrives; the
 * flusher runs on the object's thread. The class keeps an alarm set while records are
 * pending (a subclass that needs the alarm for itself should call `super.alarm()`).
 *
 * `Base` is `DurableObject` from `cloudflare:workers`: passed in, so that this module
 * imports nothing only workerd has.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memoryTransport } from "../../mod.ts";
 * import { sinkObject } from "./object.ts";
 *
 * // In a Worker: `class DurableObject` comes from "cloudflare:workers".
 * class DurableObject {
 *   constructor(_ctx: unknown, _env: unknown) {}
 * }
 * const transport = memoryTransport();
 * const Telemetry = sinkObject(DurableObject, () => ({ transport, batch: { lingerMs: 1 } }));
 * const object = new Telemetry({ storage: { setAlarm() {} } }, {});
 * assert.deepEqual(object.ingest([{ path: "/" }, { path: "/about" }]), { accepted: 2, refused: 0 });
 * const report = await object.close(1000);
 * assert.equal(report?.delivered.records, 2);
 * assert.deepEqual(object.stats().conservationErrors, []);
 * ```
 */
export function sinkObject<B extends ObjectBase, T = unknown, E = unknown>(
  Base: B,
  options: (env: E) => SinkObjectOptions<T>,
): SinkObjectClass<B, E> {
  if (typeof Base !== "function") throw new InvalidOptionError("INVALID_OPTION", "Base", Base, 'a class (DurableObject from "cloudflare:workers")');
  if (typeof options !== "function") throw new InvalidOptionError("INVALID_OPTION", "options", options, "a function of the object's env returning the sink's options");
  // deno-lint-ignore no-explicit-any
  const Derived = class extends (Base as any) implements SinkObjectMethods {
    #sink: Sink<T> | null = null;
    #alarmSet = false;
    #ingests = 0;
    #alarmFlushMs = 10_000;
    #alarmDelayMs = 1000;
    readonly #state: ObjectState;
    readonly #env: E;

    constructor(ctx: ObjectState, env: E) {
      super(ctx, env);
      this.#state = ctx;
      this.#env = env;
    }

    ingest(records: ReadonlyArray<unknown>): IngestResult {
      if (!Array.isArray(records)) throw new InvalidOptionError("INVALID_ARGUMENT", "ingest.records", records, "an array of records");
      const sink = this.#open();
      this.#ingests++;
      let accepted = 0;
      for (let i = 0; i < records.length; i++) if (sink.emit(records[i] as T)) accepted++;
      this.#arm();
      return { accepted, refused: records.length - accepted };
    }

    emit(record: unknown): boolean {
      return this.ingest([record]).accepted === 1;
    }

    stats(): ObjectStats {
      const stats = this.#sink === null ? emptyStats() : this.#sink.stats();
      return { ...stats, conservationErrors: conservationErrors(stats), ingests: this.#ingests };
    }

    metrics(metricsOptions?: MetricsOptions): string {
      return this.#sink === null ? "" : this.#sink.metrics(metricsOptions);
    }

    flush(timeoutMs?: number): Promise<boolean> {
      return this.#sink === null ? Promise.resolve(true) : this.#sink.flush(timeoutMs === undefined ? {} : { timeoutMs });
    }

    async close(timeoutMs?: number): Promise<CloseReport | null> {
      const sink = this.#sink;
      if (sink === null) return null;
      return await sink.close(timeoutMs === undefined ? {} : { timeoutMs });
    }

    async alarm(): Promise<void> {
      this.#alarmSet = false;
      const sink = this.#sink;
      if (sink === null) return;
      await sink.flush({ timeoutMs: this.#alarmFlushMs });
      const s = sink.stats();
      if (s.pending.records + s.inFlight.records > 0) this.#arm(0);
    }

    #open(): Sink<T> {
      if (this.#sink !== null) return this.#sink;
      const o = options(this.#env);
      parseOptions(ObjectOptionsSchema, o);
      const { alarmFlushMs, alarmDelayMs, ...sinkOptions } = o;
      this.#alarmFlushMs = alarmFlushMs ?? 10_000;
      this.#alarmDelayMs = alarmDelayMs ?? 1000;
      this.#sink = createSink<T>({ ...sinkOptions, flusher: "thread" });
      return this.#sink;
    }

    /** Sets the alarm unless it is set: it keeps the object flushing while records are pending. */
    #arm(delayMs: number = this.#alarmDelayMs): void {
      if (this.#alarmSet) return;
      this.#alarmSet = true;
      try {
        const set = this.#state.storage.setAlarm(systemScheduler.now() + delayMs);
        if (set instanceof Promise) set.catch(() => (this.#alarmSet = false));
      } catch {
        this.#alarmSet = false;
      }
    }
  };
  return Derived as unknown as SinkObjectClass<B, E>;
}

function emptyStats(): SinkStats {
  const dropped = {
    buffer_full: ZERO,
    oversize: ZERO,
    invalid: ZERO,
    closed: ZERO,
    expired: ZERO,
    rejected: ZERO,
    shutdown: ZERO,
    shed: ZERO,
    worker_lost: ZERO,
  };
  return {
    offered: ZERO,
    accepted: ZERO,
    delivered: ZERO,
    pending: ZERO,
    inFlight: ZERO,
    refused: ZERO,
    lost: ZERO,
    dropped,
    shed: [],
    state: "open",
    capacityBytes: 0,
    transport: { name: "none", state: "connecting" },
    sends: 0,
    retries: 0,
    lastError: null,
    flusher: "thread",
    workerRestarts: 0,
    workerHeapBytes: 0,
  };
}

/**
 * The front for Worker handlers: {@linkcode sinkFront}. A Worker's I/O objects belong to
 * the request that made them, so a Worker cannot keep a Kafka connection of its own
 * across requests; the front collects a request's records in memory and hands them to
 * the sink's Durable Object in one RPC call, inside `ctx.waitUntil`, after the response.
 * What it cannot hand over is counted under the sink's drop reasons.
 *
 * @module
 */

import * as v from "valibot";
import { DROP_REASONS, type DropReason } from "../core/accounting.ts";
import { InvalidOptionError } from "../core/errors.ts";
import { integer, parseOptions } from "../validate.ts";
import type { IngestResult } from "./object.ts";

/** The object's stub as the front calls it (a `DurableObjectStub` of a {@linkcode sinkObject} class). */
export interface SinkStub {
  /** The object's `ingest` (see `SinkObjectMethods`). */
  ingest(records: unknown[]): Promise<IngestResult>;
}

/** The Durable Object namespace binding of the sink's objects, as the front uses it. */
export interface SinkNamespace {
  /** The id of the object of this name. */
  idFromName(name: string): unknown;
  /** The stub of the object of this id. */
  get(id: never): SinkStub;
}

/** `ctx` of a Worker's handler, as the front uses it. */
export interface WaitUntil {
  /** Keeps the invocation alive until the promise settles, after the response. */
  waitUntil(promise: Promise<unknown>): void;
}

/** How records are spread over objects: see {@linkcode FrontOptions.split}. */
export type Split<T> = "one" | "colo" | { readonly shards: number; readonly key: (record: T) => string };

/** Options of {@linkcode sinkFront}. */
export interface FrontOptions<T = unknown, E = unknown> {
  /** The Durable Object namespace of the sink's class, from the handler's `env`. Required. */
  namespace: (env: E) => SinkNamespace;
  /**
   * Which object a record goes to: one for the whole Worker (`"one"`), one per data
   * centre (`"colo"`, from `request.cf.colo`), or one of `shards` by a key of the record
   * (a request's records then go out in up to `shards` calls).
   * @default "one"
   */
  split?: Split<T>;
  /**
   * The objects' name (`name`, `name:colo`, `name:shard`).
   * @default "shedsink"
   */
  name?: string;
  /**
   * Most records one request may collect; more are dropped as `buffer_full`.
   * @default 1000
   */
  maxRecords?: number;
}

/** What a front counts, in records, in this isolate. */
export interface FrontStats {
  /** Records given to a collector's `emit()`. */
  readonly offered: number;
  /** Records the objects received (they count what they then refused). */
  readonly handedOver: number;
  /** Records collected or in a call not yet answered. */
  readonly pending: number;
  /** Records not handed over, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** RPC calls made. */
  readonly calls: number;
  /** RPC calls that failed (their records are counted in `dropped`). */
  readonly failedCalls: number;
  /** The last failed call's error, as text, or null. */
  readonly lastError: string | null;
}

/** A request's records, until `send()`. */
export interface Collector<T> {
  /** Keeps the record for this request's call; false (and counted) when it is dropped. */
  emit(record: T): boolean;
  /** Hands the records over in `ctx.waitUntil` (after the response); later records are dropped as `closed`. */
  send(): void;
  /** Records collected so far. */
  readonly size: number;
}

/** A Worker's fetch handler. */
export type FetchHandler<E, T> = (request: Request, env: E, ctx: WaitUntil, records: Collector<T>) => Response | Promise<Response>;

/** What {@linkcode sinkFront} returns. */
export interface Front<T, E> {
  /** A collector for one request. */
  open(env: E, ctx: WaitUntil, request?: Request): Collector<T>;
  /** A fetch handler that gets a collector, sent when the handler returns or throws. */
  wrap(handler: FetchHandler<E, T>): (request: Request, env: E, ctx: WaitUntil) => Promise<Response>;
  /** This isolate's counters. */
  stats(): FrontStats;
}

const FrontSchema = v.strictObject(
  {
    namespace: v.custom<(env: unknown) => SinkNamespace>((x) => typeof x === "function", "a function of env returning the Durable Object namespace"),
    split: v.optional(
      v.union(
        [
          v.picklist(["one", "colo"]),
          v.strictObject({
            shards: integer(1, 1024, "an integer from 1 to 1024"),
            key: v.custom<(record: unknown) => string>((x) => typeof x === "function", "a function"),
          }),
        ],
        '"one", "colo" or { shards, key }',
      ),
    ),
    name: v.optional(v.pipe(v.string(), v.minLength(1, "a non-empty string"))),
    maxRecords: v.optional(integer(1, 1_000_000, "an integer from 1 to 1000000")),
  },
  "an options object",
);

/**
 * Makes a front for Worker handlers: collect a request's records, then hand them to the
 * sink's Durable Object (see {@linkcode sinkObject}) in one call that the response does
 * not wait for. A failed call's records are counted as `worker_lost` (the object was
 * unreachable or reset), `buffer_full` (it said it was overloaded) or `invalid` (the
 * records could not be serialized); those over `maxRecords` as `buffer_full`; those
 * emitted after `send()` as `closed`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sinkFront, type SinkNamespace } from "./front.ts";
 *
 * const received: unknown[][] = [];
 * const namespace: SinkNamespace = {
 *   idFromName: (name) => name,
 *   get: () => ({ ingest: async (records) => (received.push(records), { accepted: records.length, refused: 0 }) }),
 * };
 * const front = sinkFront({ namespace: (env: { SINK: SinkNamespace }) => env.SINK });
 * const waits: Promise<unknown>[] = [];
 * const handler = front.wrap((_request, _env, _ctx, records) => {
 *   records.emit({ path: "/" });
 *   return new Response("ok");
 * });
 * await handler(new Request("https://example.com/"), { SINK: namespace }, { waitUntil: (p) => waits.push(p) });
 * await Promise.all(waits);
 * assert.deepEqual(received, [[{ path: "/" }]]);
 * assert.equal(front.stats().handedOver, 1);
 * ```
 */
export function sinkFront<T = unknown, E = unknown>(options: FrontOptions<T, E>): Front<T, E> {
  parseOptions(FrontSchema, options, { whole: { split: '"one", "colo" or { shards, key }' } });
  return new SinkFront<T, E>(options);
}

class SinkFront<T, E> implements Front<T, E> {
  readonly #namespace: (env: E) => SinkNamespace;
  readonly #split: Split<T>;
  readonly #name: string;
  readonly #maxRecords: number;
  #offered = 0;
  #handedOver = 0;
  #pending = 0;
  #calls = 0;
  #failedCalls = 0;
  #lastError: string | null = null;
  readonly #dropped: Record<DropReason, number> = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;

  constructor(options: FrontOptions<T, E>) {
    this.#namespace = options.namespace;
    this.#split = options.split ?? "one";
    this.#name = options.name ?? "shedsink";
    this.#maxRecords = options.maxRecords ?? 1000;
  }

  open(env: E, ctx: WaitUntil, request?: Request): Collector<T> {
    if (typeof ctx?.waitUntil !== "function") throw new InvalidOptionError("INVALID_ARGUMENT", "open.ctx", ctx, "the handler's ctx (with waitUntil)");
    return new RequestRecords<T, E>(this, env, ctx, request);
  }

  wrap(handler: FetchHandler<E, T>): (request: Request, env: E, ctx: WaitUntil) => Promise<Response> {
    return async (request, env, ctx) => {
      const records = this.open(env, ctx, request);
      try {
        return await handler(request, env, ctx, records);
      } finally {
        records.send();
      }
    };
  }

  stats(): FrontStats {
    return {
      offered: this.#offered,
      handedOver: this.#handedOver,
      pending: this.#pending,
      dropped: { ...this.#dropped },
      calls: this.#calls,
      failedCalls: this.#failedCalls,
      lastError: this.#lastError,
    };
  }

  /** A record offered: kept (pending) or dropped for `reason`. */
  offer(reason: DropReason | null): void {
    this.#offered++;
    if (reason === null) this.#pending++;
    else this.#dropped[reason]++;
  }

  /** Hands a request's records over, in one call per object. */
  send(env: E, ctx: WaitUntil, request: Request | undefined, records: T[]): void {
    if (records.length === 0) return;
    for (const [name, group] of this.#groups(request, records)) {
      ctx.waitUntil(this.#call(env, name, group));
    }
  }

  async #call(env: E, name: string, records: T[]): Promise<void> {
    this.#calls++;
    try {
      const namespace = this.#namespace(env);
      const stub = namespace.get(namespace.idFromName(name) as never);
      await stub.ingest(records);
      this.#pending -= records.length;
      this.#handedOver += records.length;
    } catch (error) {
      this.#pending -= records.length;
      this.#failedCalls++;
      this.#dropped[reasonOf(error)] += records.length;
      this.#lastError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
  }

  #groups(request: Request | undefined, records: T[]): Map<string, T[]> {
    const split = this.#split;
    if (split === "one") return new Map([[this.#name, records]]);
    if (split === "colo") {
      const colo = (request as { cf?: { colo?: unknown } } | undefined)?.cf?.colo;
      return new Map([[typeof colo === "string" ? `${this.#name}:${colo}` : this.#name, records]]);
    }
    const groups = new Map<string, T[]>();
    for (const record of records) {
      const name = `${this.#name}:${shardOf(split.key(record), split.shards)}`;
      let group = groups.get(name);
      if (group === undefined) groups.set(name, (group = []));
      group.push(record);
    }
    return groups;
  }

  get maxRecords(): number {
    return this.#maxRecords;
  }
}

class RequestRecords<T, E> implements Collector<T> {
  readonly #front: SinkFront<T, E>;
  readonly #env: E;
  readonly #ctx: WaitUntil;
  readonly #request: Request | undefined;
  #records: T[] = [];
  #sent = false;

  constructor(front: SinkFront<T, E>, env: E, ctx: WaitUntil, request: Request | undefined) {
    this.#front = front;
    this.#env = env;
    this.#ctx = ctx;
    this.#request = request;
  }

  get size(): number {
    return this.#records.length;
  }

  emit(record: T): boolean {
    if (this.#sent) return this.#front.offer("closed"), false;
    if (this.#records.length >= this.#front.maxRecords) return this.#front.offer("buffer_full"), false;
    this.#records.push(record);
    this.#front.offer(null);
    return true;
  }

  send(): void {
    if (this.#sent) return;
    this.#sent = true;
    const records = this.#records;
    this.#records = [];
    this.#front.send(this.#env, this.#ctx, this.#request, records);
  }
}

/** Why a call's records were not handed over. */
function reasonOf(error: unknown): DropReason {
  const e = error as { overloaded?: unknown; name?: unknown } | null;
  if (e?.overloaded === true) return "buffer_full";
  if (e?.name === "DataCloneError") return "invalid";
  return "worker_lost";
}

/** FNV-1a of the key, modulo `shards`. */
function shardOf(key: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/**
 * pino integration (`shedsink/pino`): a pino destination that writes each log line into
 * a sink on the application's thread, and a pino transport (`pino.transport({ target:
 * "shedsink/pino", options })`) that does the same in pino's worker thread.
 *
 * Each Kafka message is the line pino serialized, byte for byte, without its line break:
 * nothing is parsed or encoded again. Its class for graded shedding comes from the
 * line's level, found by scanning for `"level":` (numeric, or a label written by
 * `formatters.level`): fatal and error are class 0, warn 1, info 2, debug and trace 3.
 * `pino` and `pino-abstract-transport` (the transport only) are optional peer
 * dependencies; this module imports neither until the transport is started.
 *
 * @module
 */

import * as v from "valibot";
import { DEFAULT_SHED_LEVELS, type ShedLevel } from "./shedding.ts";
import { InvalidOptionError } from "./core/errors.ts";
import { integer, parseOptions } from "./validate.ts";
import { createSink, type CloseReport, type Sink } from "./sink.ts";
import type { FlusherMode, SinkOptions } from "./options.ts";
import { kafkaTransport, type KafkaTransportOptions } from "./transports/kafka.ts";

/** pino's standard levels, by name. */
export const PINO_LEVELS: Readonly<Record<string, number>> = Object.freeze({ trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 });

/**
 * The class of each standard level when none is given: fatal and error 0, warn 1, info 2,
 * debug and trace 3 (the four classes of `DEFAULT_SHED_LEVELS`).
 */
export const PINO_CLASSES: Readonly<Record<string, number>> = Object.freeze({ fatal: 0, error: 0, warn: 1, info: 2, debug: 3, trace: 3 });

/** The partition key of a line: a top-level field's name, or a function of the parsed line. */
export type PinoKey = string | ((line: Record<string, unknown>) => string | Uint8Array | null | undefined);

/** How lines are classed and keyed: see {@linkcode pinoSinkOptions}. */
export interface PinoLevelOptions {
  /**
   * Class by level, as a level number (`"35"`) or a name (`"warn"`, a custom level's
   * name), overriding {@linkcode PINO_CLASSES}. A level not named takes the class of the
   * nearest level at or below it that is (`{ warn: 0 }` makes a custom level 45 class 0
   * too); below trace, trace's.
   * @default PINO_CLASSES
   */
  classes?: Readonly<Record<string, number>>;
  /**
   * The custom levels of the logger (its `customLevels` option): needed only to read
   * their names when `formatters.level` writes labels instead of numbers.
   * @default {}
   */
  customLevels?: Readonly<Record<string, number>>;
  /**
   * The field that holds the level, when `formatters.level` renames it
   * (`(label) => ({ severity: label })`: `"severity"`).
   * @default "level"
   */
  levelKey?: string;
  /**
   * The class of a line whose level cannot be read (no such field, an unknown label).
   * @default the class of info
   */
  unknownClass?: number;
  /**
   * Fill levels of each class (the sink's `shedding.levels`), class 0 first.
   * @default DEFAULT_SHED_LEVELS
   */
  sheddingLevels?: ReadonlyArray<ShedLevel>;
  /**
   * The partition key: none by default. A string names a top-level field of the line
   * (a child logger's binding such as `"tenant"`); a function is given the line parsed
   * (`JSON.parse`), bindings and logged fields together. Either way each line is parsed
   * once more, which only this option costs.
   * @default none
   */
  key?: PinoKey;
}

/** What {@linkcode pinoSinkOptions} returns: the options to spread into `createSink`. */
export interface PinoSinkSettings {
  /** Graded shedding by the line's level. */
  readonly shedding: { readonly classOf: (line: string) => number; readonly levels: ReadonlyArray<ShedLevel> };
  /** The partition key, when `key` was given. */
  readonly key?: (line: string) => string | Uint8Array | null | undefined;
}

const fraction = v.pipe(v.number(), v.minValue(0), v.maxValue(1));
const LevelOptionEntries = {
  classes: v.optional(v.record(v.string(), v.number(), "an object of classes by level name or number")),
  customLevels: v.optional(v.record(v.string(), integer(0, Number.MAX_SAFE_INTEGER, "an integer level"), "an object of level numbers by name")),
  levelKey: v.optional(v.pipe(v.string("a field name"), v.minLength(1, "a field name"))),
  unknownClass: v.optional(v.number("a class number")),
  sheddingLevels: v.optional(v.array(v.strictObject({ start: fraction, full: fraction }), "an array of { start, full }")),
  key: v.optional(v.union([v.pipe(v.string(), v.minLength(1)), v.custom<(line: Record<string, unknown>) => string>((x) => typeof x === "function")], "a field name or a function")),
};
const LevelOptionsSchema = v.strictObject(LevelOptionEntries, "an object of pino options");

/** Reads the class of a line from its level without parsing the line. */
class LevelClassifier {
  readonly #needle: string;
  /** Classes of levels 0 to 127 by number; other levels go through #classOfNumber. */
  readonly #small: Int8Array = new Int8Array(128);
  /** Levels named in `classes` or standard, highest first, with their classes. */
  readonly #steps: Array<[number, number]>;
  readonly #exact: Map<number, number>;
  readonly #labels: Map<string, number>;
  readonly #unknown: number;

  constructor(o: PinoLevelOptions, classCount: number) {
    this.#needle = `"${o.levelKey ?? "level"}":`;
    const names: Record<string, number> = { ...PINO_LEVELS, ...(o.customLevels ?? {}) };
    const checkClass = (path: string, c: unknown): number => {
      if (typeof c !== "number" || !Number.isInteger(c) || c < 0 || c >= classCount) {
        throw new InvalidOptionError("INVALID_OPTION", path, c, `a class from 0 to ${classCount - 1} (one per shedding level)`);
      }
      return c;
    };
    const exact = new Map<number, number>();
    for (const [name, c] of Object.entries(PINO_CLASSES)) exact.set(PINO_LEVELS[name]!, c);
    for (const [name, c] of Object.entries(o.classes ?? {})) {
      const level = /^\d+$/.test(name) ? Number(name) : names[name];
      if (level === undefined) {
        throw new InvalidOptionError("INVALID_OPTION", `classes.${name}`, c, "a class for a level number, a standard level or one of customLevels");
      }
      exact.set(level, checkClass(`classes.${name}`, c));
    }
    this.#exact = exact;
    this.#steps = [...exact.entries()].sort((a, b) => b[0] - a[0]);
    this.#unknown = o.unknownClass === undefined ? this.#classOfNumber(PINO_LEVELS.info!) : checkClass("unknownClass", o.unknownClass);
    for (let n = 0; n < 128; n++) this.#small[n] = this.#classOfNumber(n);
    this.#labels = new Map();
    for (const [name, level] of Object.entries(names)) this.#labels.set(name, this.classOfLevel(level));
  }

  classOfLevel(level: number): number {
    return level >= 0 && level < 128 && (level | 0) === level ? this.#small[level]! : this.#classOfNumber(level);
  }

  #classOfNumber(level: number): number {
    const c = this.#exact.get(level);
    if (c !== undefined) return c;
    for (const [at, cls] of this.#steps) if (level >= at) return cls;
    return this.#steps[this.#steps.length - 1]![1];
  }

  /** The class of a serialized line. */
  classOf(line: string): number {
    const at = line.indexOf(this.#needle);
    if (at < 0) return this.#unknown;
    let i = at + this.#needle.length;
    let ch = line.charCodeAt(i);
    if (ch >= 48 && ch <= 57) {
      let level = 0;
      do {
        level = level * 10 + (ch - 48);
        ch = line.charCodeAt(++i);
      } while (ch >= 48 && ch <= 57);
      return this.classOfLevel(level);
    }
    if (ch !== 34) return this.#unknown; // not a number, not a string
    const end = line.indexOf('"', i + 1);
    if (end < 0) return this.#unknown;
    const label = line.slice(i + 1, end);
    return this.#labels.get(label) ?? this.#labels.get(label.toLowerCase()) ?? this.#unknown;
  }
}

function keyFunction(key: PinoKey): (line: string) => string | Uint8Array | null | undefined {
  if (typeof key === "function") return (line) => key(JSON.parse(line) as Record<string, unknown>);
  return (line) => {
    const value = (JSON.parse(line) as Record<string, unknown>)[key];
    return value === undefined || value === null ? null : typeof value === "string" ? value : JSON.stringify(value);
  };
}

/**
 * The options that make a sink class and key pino lines: spread them into `createSink`
 * to use a sink of your own with {@linkcode shedsinkDestination}. Throws
 * `InvalidOptionError` for a bad option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSink, memoryTransport } from "../mod.ts";
 * import { pinoSinkOptions } from "./pino.ts";
 *
 * const { shedding } = pinoSinkOptions({ classes: { warn: 0 }, customLevels: { audit: 55 } });
 * assert.equal(shedding.classOf('{"level":40,"msg":"slow"}'), 0);
 * assert.equal(shedding.classOf('{"level":"audit","msg":"login"}'), 0);
 * assert.equal(shedding.classOf('{"level":20,"msg":"cache miss"}'), 3);
 * const sink = createSink<string>({ transport: memoryTransport(), ...pinoSinkOptions() });
 * await sink.close();
 * ```
 */
export function pinoSinkOptions(options: PinoLevelOptions = {}): PinoSinkSettings {
  const o = parseOptions(LevelOptionsSchema, options);
  const levels = o.sheddingLevels ?? DEFAULT_SHED_LEVELS;
  const classifier = new LevelClassifier(options, levels.length);
  const classOf = (line: string): number => classifier.classOf(line);
  const shedding = { classOf, levels };
  return options.key === undefined ? { shedding } : { shedding, key: keyFunction(options.key) };
}

/** Options of {@linkcode shedsinkDestination} given a sink. */
export interface DestinationOptions {
  /**
   * How long `flush(cb)` (`logger.flush(cb)`) waits for the lines written so far to be
   * settled (delivered or dropped) before it calls back with an error; they stay buffered.
   * @default Infinity (records not delivered within the sink's `maxAgeMs` expire)
   */
  flushTimeoutMs?: number;
}

/**
 * The options of a sink that {@linkcode shedsinkDestination} creates itself: those of
 * `createSink` (not `shedding`, `key`, `encode`: the pino options decide them; `whenFull`
 * defaults to `"drop-oldest"` here) and the pino options.
 */
export interface PinoSinkOptions extends Omit<SinkOptions<string>, "shedding" | "key" | "encode">, PinoLevelOptions, DestinationOptions {}

/** A pino destination: `pino(options, destination)`. */
export interface PinoDestination {
  /**
   * Writes one serialized line into the sink. Never blocks and never throws: a line the
   * sink refuses is counted there (`sink.stats()`).
   */
  write(line: string): boolean;
  /** `logger.flush(cb)`: calls back once the lines written so far are settled. */
  flush(cb?: (err?: Error | null) => void): void;
  /**
   * Does nothing: every line is in the sink's buffer once `write` returns. Its delivery
   * cannot be waited for synchronously (that would block); see `close()`.
   */
  flushSync(): void;
  /** The sink lines go to. */
  readonly sink: Sink<string>;
  /** Closes the sink (see `Sink.close`): at shutdown, after the last line. */
  close(options?: { timeoutMs?: number }): Promise<CloseReport>;
}

const DestinationSchema = v.strictObject({ flushTimeoutMs: v.optional(v.number("a number of milliseconds")) }, "an object with flushTimeoutMs");

class Destination implements PinoDestination {
  readonly sink: Sink<string>;
  readonly #flushTimeoutMs: number;

  constructor(sink: Sink<string>, flushTimeoutMs: number) {
    this.sink = sink;
    this.#flushTimeoutMs = flushTimeoutMs;
  }

  write(line: string): boolean {
    // pino ends every line with "\n": the message is the line without it.
    return this.sink.emit(line.charCodeAt(line.length - 1) === 10 ? line.slice(0, -1) : line);
  }

  flush(cb?: (err?: Error | null) => void): void {
    const timeoutMs = this.#flushTimeoutMs;
    const done = typeof cb === "function" ? cb : () => {};
    // A closed sink holds nothing (in worker mode its flush() would wait for a worker that is gone).
    if (this.sink.stats().state === "closed") {
      queueMicrotask(() => done(null));
      return;
    }
    this.sink.flush(timeoutMs === Infinity ? undefined : { timeoutMs }).then(
      (settled) => done(settled ? null : new Error(`shedsink: lines still buffered after ${timeoutMs} ms`)),
      (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
    );
  }

  flushSync(): void {}

  close(options?: { timeoutMs?: number }): Promise<CloseReport> {
    return this.sink.close(options);
  }
}

function isSink(x: unknown): x is Sink<string> {
  return typeof x === "object" && x !== null && typeof (x as Sink<string>).emit === "function" && typeof (x as Sink<string>).stats === "function";
}

/**
 * A pino destination that writes each log line into a sink, on the application's thread:
 * synchronous, never blocking, never throwing. Give it a sink's options (with
 * `transport`), and it creates the sink with graded shedding by level; or give it a sink
 * you created (with `...pinoSinkOptions()` for shedding by level).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import pino from "pino";
 * import { memoryTransport } from "../mod.ts";
 * import { shedsinkDestination } from "./pino.ts";
 *
 * const transport = memoryTransport();
 * const destination = shedsinkDestination({ transport });
 * const logger = pino({ base: null, timestamp: false }, destination);
 * logger.child({ tenant: "acme" }).error("disk full");
 * await new Promise((resolve) => logger.flush(resolve));
 * assert.deepEqual(transport.texts(), ['{"level":50,"tenant":"acme","msg":"disk full"}']);
 * assert.equal(destination.sink.stats().delivered.records, 1);
 * await destination.close();
 * ```
 */
export function shedsinkDestination(sink: Sink<string>, options?: DestinationOptions): PinoDestination;
/** A destination that creates its sink from `options`, with graded shedding by level (see {@linkcode PinoSinkOptions}). */
export function shedsinkDestination(options: PinoSinkOptions): PinoDestination;
export function shedsinkDestination(target: Sink<string> | PinoSinkOptions, options: DestinationOptions = {}): PinoDestination {
  if (isSink(target)) {
    const o = parseOptions(DestinationSchema, options);
    return new Destination(target, o.flushTimeoutMs ?? Infinity);
  }
  if (typeof target !== "object" || target === null) {
    throw new InvalidOptionError("INVALID_OPTION", "sink", target, "a sink, or the options of one (with transport)");
  }
  const { classes, customLevels, levelKey, unknownClass, sheddingLevels, key, flushTimeoutMs, ...sinkOptions } = target;
  const flush = parseOptions(DestinationSchema, flushTimeoutMs === undefined ? {} : { flushTimeoutMs });
  const settings = pinoSinkOptions(dropUndefined({ classes, customLevels, levelKey, unknownClass, sheddingLevels, key }));
  // Logs: a new line matters more than an old one, and an error evicts a debug line.
  return new Destination(createSink<string>({ whenFull: "drop-oldest", ...sinkOptions, ...settings }), flush.flushTimeoutMs ?? Infinity);
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
}

// ------------------------------------------------------------------------ transport

/** A source of lines, as `pino-abstract-transport` hands them with `parse: "lines"`. */
type LineSource = AsyncIterable<string>;

/** The stream a pino transport returns (a Node `Writable`, made by `pino-abstract-transport`). */
export type PinoTransportStream = object;

/** Options of {@linkcode shedsinkTransport}. */
export interface TransportStreamOptions {
  /**
   * How long closing the transport (the logger's end, process exit) flushes before the
   * rest is dropped as `shutdown`.
   * @default 5000
   */
  closeTimeoutMs?: number;
}

/** The sink options a transport takes: all of `createSink`'s that survive a structured clone. */
export type PinoTransportSinkOptions = Omit<PinoSinkOptions, "transport" | "key" | "headers" | "scheduler" | "buffer" | "flushTimeoutMs"> & {
  /** A top-level field of the line as the partition key (functions cannot cross to pino's worker). */
  key?: string;
};

/** Options of the transport: `pino.transport({ target: "shedsink/pino", options })`. */
export interface PinoTransportOptions extends PinoTransportSinkOptions, TransportStreamOptions {
  /**
   * The Kafka transport's options (`kafkaTransport`). In pino's worker thread the client
   * is `@platformatic/kafka` (librdkafka's addon cannot run in a worker thread).
   */
  kafka: KafkaTransportOptions;
  /**
   * Where the sink's flusher runs. pino's transport is already a worker thread.
   * @default "thread"
   */
  flusher?: FlusherMode;
}

const TransportStreamSchema = v.strictObject({ closeTimeoutMs: v.optional(integer(0, 3_600_000, "an integer number of milliseconds")) }, "an object with closeTimeoutMs");

/**
 * A `pino-abstract-transport` stream that writes each line into `sink` and closes it
 * when pino closes the transport: for a transport module of your own, when the sink needs
 * options that cannot cross to pino's worker (functions).
 *
 * @example
 * ```ts ignore
 * // my-transport.mjs, then pino.transport({ target: "./my-transport.mjs" })
 * import { createSink } from "shedsink";
 * import { kafkaTransport } from "shedsink/kafka";
 * import { pinoSinkOptions, shedsinkTransport } from "shedsink/pino";
 *
 * export default () => shedsinkTransport(createSink({
 *   transport: kafkaTransport({ brokers: "127.0.0.1:39092", topic: "logs", use: "platformatic" }),
 *   ...pinoSinkOptions({ key: (line) => String(line.tenant) }),
 * }));
 * ```
 */
export async function shedsinkTransport(sink: Sink<string>, options: TransportStreamOptions = {}): Promise<PinoTransportStream> {
  const o = parseOptions(TransportStreamSchema, options);
  const closeTimeoutMs = o.closeTimeoutMs ?? 5000;
  const build = await importAbstractTransport();
  return build(
    async (source: LineSource) => {
      for await (const line of source) sink.emit(line);
    },
    {
      parse: "lines",
      close: async () => {
        await sink.close({ timeoutMs: closeTimeoutMs });
      },
    },
  );
}

type Build = (fn: (source: LineSource) => Promise<void>, opts: { parse: "lines"; close: (err: unknown) => Promise<void> }) => object;

async function importAbstractTransport(): Promise<Build> {
  const name = "pino-abstract-transport";
  const mod = (await import(name)) as { default?: Build } | Build;
  return typeof mod === "function" ? mod : mod.default!;
}

const TransportSchema = v.looseObject({ kafka: v.record(v.string(), v.unknown(), "the options of kafkaTransport (brokers, topic, …)") }, "an object with kafka");

/**
 * The pino transport: `pino.transport({ target: "shedsink/pino", options })` runs it in
 * pino's worker thread, where it creates a sink from the options (graded shedding by
 * level, as {@linkcode shedsinkDestination}) and closes it when pino closes the
 * transport. Lines pino's thread writes go through `thread-stream` first: see the
 * integration docs for what that costs, and when the destination is the better choice.
 *
 * @example
 * ```ts ignore
 * import pino from "pino";
 *
 * const logger = pino(pino.transport({
 *   target: "shedsink/pino",
 *   options: { kafka: { brokers: "127.0.0.1:39092", topic: "logs" }, capacityBytes: 8 << 20 },
 * }));
 * ```
 */
export default async function pinoTransport(options: PinoTransportOptions): Promise<PinoTransportStream> {
  parseOptions(TransportSchema, options);
  // pino adds `$context` (the logger's) and `pinoWillSendConfig`: not sink options.
  const { kafka, closeTimeoutMs, flusher, $context: _c, pinoWillSendConfig: _p, ...rest } = options as PinoTransportOptions & { $context?: unknown; pinoWillSendConfig?: unknown };
  if (kafka.use === "confluent") {
    throw new InvalidOptionError("INVALID_OPTION", "kafka.use", kafka.use, '"platformatic" or none (pino runs a transport in a worker thread, where librdkafka\'s addon aborts the process)');
  }
  const destination = shedsinkDestination({ ...rest, flusher: flusher ?? "thread", transport: kafkaTransport({ ...kafka, use: "platformatic" }) });
  return shedsinkTransport(destination.sink, closeTimeoutMs === undefined ? {} : { closeTimeoutMs });
}

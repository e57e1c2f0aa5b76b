/**
 * The `shedding` option of `createSink`: its type, and its validation into the settings
 * the core runs by (`src/core/shedding.ts` holds the policy itself).
 *
 * @module
 */

import * as v from "valibot";
import { InvalidOptionError } from "./core/errors.ts";
import { DEFAULT_SHED_LEVELS, MAX_CLASSES, type ShedLevel, type ShedSettings } from "./core/shedding.ts";
import { parseOptions } from "./validate.ts";

export { DEFAULT_SHED_LEVELS, MAX_CLASSES, type ShedLevel } from "./core/shedding.ts";

/**
 * Graded shedding: as the buffer fills, records of less important classes give way
 * first, a growing share of each class between its two fill levels, so that what
 * matters most is what stays. Refused records are counted as `shed`, by class.
 *
 * Give the class of each record with `classOf` or `field` (one of the two): an integer
 * from 0 (the most important) to `levels.length - 1`. A record whose class cannot be
 * told (the function throws, the field is missing, the value is no class) is dropped as
 * `invalid`; `emit()` never throws.
 *
 * Under `whenFull: "drop-oldest"`, a record that does not fit evicts pending records
 * of the least important class held that is less important than itself (counted as
 * `shed`), oldest first; failing that, the oldest of its own class (`buffer_full`); it
 * never evicts a more important record.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSink, memoryTransport } from "../mod.ts";
 *
 * const sink = createSink<{ level: string; msg: string }>({
 *   transport: memoryTransport(),
 *   shedding: { field: "level", names: { error: 0, info: 1, debug: 3 } },
 * });
 * assert.equal(sink.emit({ level: "error", msg: "disk full" }), true);
 * assert.equal(sink.emit({ level: "trace", msg: "no such class" }), false); // dropped as invalid
 * assert.equal(sink.stats().dropped.invalid.records, 1);
 * assert.equal(sink.stats().shed.length, 4); // counted by class, 0 to 3
 * await sink.close();
 * ```
 */
export interface SheddingOptions<T> {
  /** The class of a record: an integer from 0 (the most important) to `levels.length - 1`. */
  classOf?: (record: T) => number;
  /**
   * Or: the record's field that holds its class, as a class number or as a name that
   * `names` gives the number of.
   */
  field?: string;
  /** With `field`: class numbers by name, such as `{ error: 0, info: 1, debug: 3 }`. */
  names?: Readonly<Record<string, number>>;
  /**
   * Where each class starts to give way and where all of it does, as fractions of
   * `capacityBytes` (pending and in-flight bytes together), class 0 first, at most 8.
   * `start: 1` means never: only when the record does not fit.
   * @default DEFAULT_SHED_LEVELS: class 0 never; 1 from 85% to 100%; 2 from 70% to 90%; 3 from 50% to 75%
   */
  levels?: ReadonlyArray<ShedLevel>;
}

const fraction = (what: string) => v.pipe(v.number(what), v.minValue(0, what), v.maxValue(1, what));

const SheddingSchema = v.strictObject(
  {
    classOf: v.optional(v.custom<(record: unknown) => number>((x) => typeof x === "function", "a function")),
    field: v.optional(v.pipe(v.string("a field name"), v.minLength(1, "a field name"))),
    names: v.optional(v.record(v.string(), v.number(), "an object of class numbers by name")),
    levels: v.optional(
      v.pipe(
        v.array(
          v.strictObject({ start: fraction("a fraction from 0 to 1"), full: fraction("a fraction from 0 to 1") }, "an object with start and full"),
          `an array of 1 to ${MAX_CLASSES} levels`,
        ),
        v.minLength(1, `an array of 1 to ${MAX_CLASSES} levels`),
        v.maxLength(MAX_CLASSES, `an array of 1 to ${MAX_CLASSES} levels (at most ${MAX_CLASSES} classes)`),
      ),
    ),
  },
  "an object with classOf or field, and optionally names and levels",
);

/** Validates the `shedding` option into the core's settings. Throws {@linkcode InvalidOptionError} naming what is wrong. */
export function resolveShedding<T>(options: SheddingOptions<T>): ShedSettings<T> {
  const o = parseOptions(SheddingSchema, options, { prefix: "shedding" });
  const levels = o.levels ?? DEFAULT_SHED_LEVELS;
  levels.forEach(({ start, full }, c) => {
    if (start > full) {
      throw new InvalidOptionError("INVALID_OPTION", `shedding.levels.${c}`, { start, full }, "start at most full");
    }
    const before = levels[c - 1];
    if (before !== undefined && (start > before.start || full > before.full)) {
      throw new InvalidOptionError(
        "INVALID_OPTION",
        `shedding.levels.${c}`,
        { start, full },
        `levels in order: class ${c} is less important than class ${c - 1}, so it gives way no later (start at most ${before.start}, full at most ${before.full})`,
      );
    }
  });
  if ((o.classOf === undefined) === (o.field === undefined)) {
    throw new InvalidOptionError("INVALID_OPTION", "shedding", options, "exactly one of classOf and field");
  }
  if (o.names !== undefined && o.field === undefined) {
    throw new InvalidOptionError("INVALID_OPTION", "shedding.names", o.names, "names only with field");
  }
  const names = new Map<string, number>();
  for (const [name, c] of Object.entries(o.names ?? {})) {
    if (!Number.isInteger(c) || c < 0 || c >= levels.length) {
      throw new InvalidOptionError("INVALID_OPTION", `shedding.names.${name}`, c, `a class from 0 to ${levels.length - 1} (one per level)`);
    }
    names.set(name, c);
  }
  const frozen = Object.freeze(levels.map(({ start, full }) => Object.freeze({ start, full })));
  if (o.classOf !== undefined) return { classOf: o.classOf as (record: T) => number, levels: frozen };
  const field = o.field!;
  const classOf = (record: T): unknown => {
    const value = (record as Record<string, unknown> | null)?.[field];
    return typeof value === "string" ? names.get(value) : value;
  };
  return { classOf, levels: frozen };
}

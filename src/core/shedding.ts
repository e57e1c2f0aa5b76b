/**
 * Graded shedding: which records give way first as the buffer fills.
 *
 * Every record has a class, 0 (the most important) to at most 7. Each class has two fill
 * levels, as fractions of `capacityBytes` (pending and in-flight bytes together): at
 * `start` the sink begins to refuse a share of that class, and the share grows in a
 * straight line to all of it at `full`. A class whose `start` is 1 is never refused
 * this way: its records are dropped only when they do not fit (`buffer_full`).
 *
 * Which records make up the share is decided by a counter per class, not at random
 * (error diffusion): each record of the class adds the share at the current fill to
 * the counter, and a record that brings it to 1 or more is refused and takes 1 off. So
 * at a steady fill of 70% with a share of 0.4, exactly 2 records in 5 are refused, the
 * same 2 in every run.
 *
 * @module
 */

/** The most classes a sink can have. */
export const MAX_CLASSES = 8;

/** Where a class starts to be shed and where it is shed entirely, as fractions of the capacity. */
export interface ShedLevel {
  /** Fill (0 to 1) from which a share of the class is refused; 1: never (only when full). */
  readonly start: number;
  /** Fill (`start` to 1) at which all of it is refused. */
  readonly full: number;
}

/**
 * The levels used when none are given, by class: 0 is only ever dropped when the buffer
 * is full; 1 gives way from 85% to 100%, 2 from 70% to 90%, 3 from 50% to 75%.
 *
 * @example
 * ```ts
 * import { DEFAULT_SHED_LEVELS } from "./shedding.ts";
 *
 * const [errors, , , debug] = DEFAULT_SHED_LEVELS;
 * if (errors!.start !== 1) throw new Error("class 0: full only");
 * if (debug!.start !== 0.5 || debug!.full !== 0.75) throw new Error("class 3: from half full");
 * ```
 */
export const DEFAULT_SHED_LEVELS: ReadonlyArray<ShedLevel> = Object.freeze([
  Object.freeze({ start: 1, full: 1 }),
  Object.freeze({ start: 0.85, full: 1 }),
  Object.freeze({ start: 0.7, full: 0.9 }),
  Object.freeze({ start: 0.5, full: 0.75 }),
]);

/** The shedding settings the core runs by: classes resolved to one function. */
export interface ShedSettings<T> {
  /**
   * The class of a record: an integer from 0 to `levels.length - 1`. Anything else, or a
   * throw, drops the record as `invalid`.
   */
  readonly classOf: (record: T) => unknown;
  /** The levels of each class, class 0 first. */
  readonly levels: ReadonlyArray<ShedLevel>;
}

/**
 * Decides, per record, whether its class gives way at the current fill.
 *
 * @example
 * ```ts
 * import { DEFAULT_SHED_LEVELS, ShedPolicy } from "./shedding.ts";
 *
 * // 1000 bytes of capacity; class 3 starts giving way at 500 bytes, all of it at 750.
 * const policy = new ShedPolicy({ classOf: (r: { level: number }) => r.level, levels: DEFAULT_SHED_LEVELS }, 1000);
 * if (policy.classify({ level: 3 }) !== 3 || policy.classify({ level: 9 }) !== -1) throw new Error("classes 0 to 3");
 * if (policy.shed(3, 499)) throw new Error("below its start: kept");
 * let refused = 0;
 * for (let i = 0; i < 100; i++) if (policy.shed(3, 625)) refused++; // halfway: half of them
 * if (refused !== 50) throw new Error(`refused ${refused}`);
 * if (policy.shed(0, 999)) throw new Error("class 0 is never shed");
 * ```
 */
export class ShedPolicy<T> {
  /** Number of classes. */
  readonly classes: number;
  readonly #classOf: (record: T) => unknown;
  /** Bytes used (pending and in flight) from which each class gives way; Infinity: never. */
  readonly #startBytes: Float64Array;
  /** The share refused per byte above the start. */
  readonly #slope: Float64Array;
  /** The error-diffusion counter of each class, in [0, 1). */
  readonly #debt: Float64Array;
  /** The lowest start over all classes, in bytes: below it nothing is shed. */
  readonly lowestStartBytes: number;

  constructor(settings: ShedSettings<T>, capacityBytes: number) {
    const levels = settings.levels;
    const n = levels.length;
    this.#classOf = settings.classOf;
    this.classes = n;
    this.#startBytes = new Float64Array(n);
    this.#slope = new Float64Array(n);
    this.#debt = new Float64Array(n);
    let lowest = Infinity;
    for (let c = 0; c < n; c++) {
      const { start, full } = levels[c]!;
      const startBytes = start >= 1 ? Infinity : start * capacityBytes;
      this.#startBytes[c] = startBytes;
      // A class shed entirely from its start (start == full) has an infinite slope.
      this.#slope[c] = full > start ? 1 / ((full - start) * capacityBytes) : Infinity;
      if (startBytes < lowest) lowest = startBytes;
    }
    this.lowestStartBytes = lowest;
  }

  /** The class of `record`, or -1 when its class function throws or gives no class. */
  classify(record: T): number {
    let c: unknown;
    try {
      c = this.#classOf(record);
    } catch {
      return -1;
    }
    // An integer in range: NaN fails the comparisons, a fraction the `| 0`.
    return typeof c === "number" && c >= 0 && c < this.classes && (c | 0) === c ? c : -1;
  }

  /** The share of class `cls` refused when `used` bytes are held: 0 to 1. */
  share(cls: number, used: number): number {
    const above = used - this.#startBytes[cls]!;
    if (!(above >= 0)) return 0; // below the start, or a class never shed (Infinity)
    const share = above * this.#slope[cls]!; // NaN at the start of a class with start == full
    return share < 1 ? share : 1;
  }

  /** Whether this record of class `cls` gives way, with `used` bytes held. */
  shed(cls: number, used: number): boolean {
    if (used < this.#startBytes[cls]!) return false;
    const debt = this.#debt[cls]! + this.share(cls, used);
    if (debt >= 1) {
      this.#debt[cls] = debt - 1;
      return true;
    }
    this.#debt[cls] = debt;
    return false;
  }
}

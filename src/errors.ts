/**
 * Typed errors. Every error shedsink throws carries a `code` from a closed union, so
 * callers can `switch (err.code)`; the original error, if any, is passed as `cause`.
 *
 * shedsink throws only for programmer errors that no retry could fix: a bad option at
 * construction, a bad argument to `close()` or `flush()`. Load, Kafka outages and bad
 * records never throw; they are counted.
 *
 * @module
 */

/** Every code a {@linkcode ShedsinkError} can carry. */
export const ERROR_CODES = ["INVALID_OPTION", "INVALID_ARGUMENT"] as const;

/** One of {@linkcode ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The base of the errors shedsink throws.
 *
 * @example
 * ```ts
 * import { createSink, ShedsinkError } from "./mod.ts";
 * import { memoryTransport } from "./src/transports/memory.ts";
 * try {
 *   createSink({ transport: memoryTransport(), capacityBytes: -1 });
 * } catch (err) {
 *   if (err instanceof ShedsinkError && err.code === "INVALID_OPTION") console.log(err.message);
 * }
 * ```
 */
export class ShedsinkError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A constructor option (or a call argument) that is missing, of the wrong type or out
 * of range. `option` is its dotted path (`"batch.lingerMs"`), `value` what was given and
 * `expected` what would have been accepted.
 */
export class InvalidOptionError extends ShedsinkError {
  readonly option: string;
  readonly value: unknown;
  readonly expected: string;
  constructor(
    code: "INVALID_OPTION" | "INVALID_ARGUMENT",
    option: string,
    value: unknown,
    expected: string,
    options?: { cause?: unknown },
  ) {
    super(code, `Invalid ${code === "INVALID_OPTION" ? "option" : "argument"} "${option}": expected ${expected}, received ${describe(value)}`, options);
    this.option = option;
    this.value = value;
    this.expected = expected;
  }
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value)) return "an array";
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return "an object";
  }
}

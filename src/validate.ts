/**
 * Turning a valibot failure into the one error shedsink throws for bad options:
 * {@linkcode InvalidOptionError}, naming the option's dotted path, the value given and
 * what was expected. Shared by the sink's and the transports' options.
 *
 * @module
 */

import * as v from "valibot";
import { InvalidOptionError } from "./core/errors.ts";

/** An integer from `min` to `max`; `expected` is what an error says was expected. */
export function integer(min: number, max: number, expected: string): v.GenericSchema<unknown, number> {
  return v.pipe(v.number(expected), v.integer(expected), v.minValue(min, expected), v.maxValue(max, expected));
}

/** Options of {@linkcode parseOptions}. */
export interface ParseOptions {
  /**
   * Top-level options whose nested failures are reported as the option itself, with
   * this text as what was expected (for unions whose inner checks carry no message).
   */
  readonly whole?: Readonly<Record<string, string>>;
  /**
   * The error's code: a constructor's options, or a method's argument.
   * @default "INVALID_OPTION"
   */
  readonly code?: "INVALID_OPTION" | "INVALID_ARGUMENT";
  /** Put before every option's path in the error (`"close"` gives `"close.timeoutMs"`). */
  readonly prefix?: string;
}

/**
 * Validates `input` against `schema` (a `strictObject`). Returns it typed, or throws
 * {@linkcode InvalidOptionError} for the first issue: an unknown key is "no such option",
 * a missing required one "a value (required)".
 */
export function parseOptions<const S extends v.GenericSchema>(schema: S, input: unknown, options: ParseOptions = {}): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  const code = options.code ?? "INVALID_OPTION";
  const named = (p: string) => (options.prefix === undefined ? p : `${options.prefix}.${p}`);
  const issue = result.issues[0];
  const path = v.getDotPath(issue) ?? "options";
  if (issue.kind === "schema" && issue.type === "strict_object" && issue.path !== undefined) {
    if (issue.expected === "never") {
      throw new InvalidOptionError(code, named(path), issue.input, "no such option (check its spelling)");
    }
    if (issue.received === "undefined") {
      throw new InvalidOptionError(code, named(path), undefined, "a value (required)");
    }
  }
  const top = path.split(".")[0]!;
  const whole = options.whole?.[top];
  if (whole !== undefined) {
    throw new InvalidOptionError(code, named(top), (input as Record<string, unknown>)[top], whole);
  }
  throw new InvalidOptionError(code, issue.path === undefined ? (options.prefix ?? path) : named(path), issue.path === undefined ? input : issue.input, issue.message);
}

/**
 * Throws {@linkcode InvalidOptionError} for the first key of a pass-through `config`
 * that the caller owns (`owned` maps the key to why it cannot be set), naming it
 * `<name>.<key>`.
 */
export function rejectOwned(config: Readonly<Record<string, unknown>>, owned: ReadonlyMap<string, string>, name = "config"): void {
  for (const key of Object.keys(config)) {
    const why = owned.get(key);
    if (why !== undefined) {
      throw new InvalidOptionError("INVALID_OPTION", `${name}.${key}`, config[key], `not set here (${why})`);
    }
  }
}

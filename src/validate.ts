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
  /** Top-level options (unions) whose failures are reported at their deepest nested issue. */
  readonly deep?: ReadonlyArray<string>;
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
  let issue = result.issues[0];
  // A union none of whose options matched, for the options in `deep`: report the deepest
  // issue of the option that went furthest (`tls.rejectUnauthorized`, not `tls`).
  while (issue.issues !== undefined && issue.issues.length > 0 && options.deep?.includes(v.getDotPath(issue)?.split(".")[0] ?? "") === true) {
    // The options' issues have paths relative to the union.
    const deeper = issue.issues.reduce((a, b) => ((b.path?.length ?? 0) > (a.path?.length ?? 0) ? b : a));
    if ((deeper.path?.length ?? 0) === 0) break;
    issue = { ...deeper, path: [...(issue.path ?? []), ...deeper.path!] } as typeof issue;
  }
  const path = v.getDotPath(issue) ?? "options";
  if (issue.kind === "schema" && issue.type === "strict_object" && issue.path !== undefined) {
    if (issue.expected === "never") {
      throw new InvalidOptionError(code, named(path), isSecretOption(path) ? REDACTED : issue.input, "no such option (check its spelling)");
    }
    if (issue.received === "undefined") {
      throw new InvalidOptionError(code, named(path), undefined, "a value (required)");
    }
  }
  if (isSecretOption(path)) {
    // Never echo a secret, even a malformed one.
    throw new InvalidOptionError(code, named(path), REDACTED, issue.message === "" ? "a valid value" : issue.message);
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

/** What an error shows instead of a secret value. */
export const REDACTED = "[redacted]";

/**
 * Whether the option at dotted `path` holds a secret (a password, a key, a token,
 * anything under `sasl` but its mechanism): errors show it as {@linkcode REDACTED}.
 */
export function isSecretOption(path: string): boolean {
  if (/(?:^|\.)mechanisms?$/.test(path)) return false;
  return /(?:^|\.)(?:sasl|tls\.key)(?:\.|$)|password|secret|token|key\.pem|private/i.test(path);
}

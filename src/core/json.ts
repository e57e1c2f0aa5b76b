/**
 * `JSON.stringify` written straight into bytes: the UTF-8 encoding of exactly the text
 * `JSON.stringify(value)` returns, produced without building that string first.
 *
 * Building the string and then encoding it costs a string allocation per record, and in
 * V8 `JSON.stringify` returns a rope that `TextEncoder` must flatten (copy) before it can
 * encode it. Writing the bytes directly skips both. The direct path takes plain objects,
 * arrays, strings, finite and non-finite numbers, booleans, null, and objects with a
 * `toJSON` method (called with the property key, as the specification says, so dates
 * work). For anything else (class instances, boxed primitives, BigInt, cycles, …) it
 * gives up with {@linkcode NOT_PLAIN} and the caller uses `JSON.stringify` for the whole
 * record, so the result is always the same; getters and `toJSON` methods of such a
 * record run twice.
 *
 * @module
 */

/** Thrown (one shared instance) when the output does not fit in the space given. */
const NO_ROOM: Error = new RangeError("JSON output does not fit");

/** Returned by {@linkcode JsonWriter.write} when the value needs `JSON.stringify`. */
export const NOT_PLAIN = -3;
/** `JsonWriter.write` found no room for the value. */
export const NO_ROOM_LEFT = -1;
/** `JsonWriter.write` found a value `JSON.stringify` gives no text for (a function, a symbol, undefined). */
export const NO_JSON = -2;
const GIVE_UP: Error = new TypeError("not plain data");

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const objectProto: object = Object.prototype;
const hasOwn: (this: object, key: string) => boolean = Object.prototype.hasOwnProperty;
const arrayProto: object = Array.prototype;
const isRawJSON: ((value: unknown) => boolean) | undefined = (JSON as { isRawJSON?: (value: unknown) => boolean }).isRawJSON;
const EMPTY = new Uint8Array(0);

/** From this length on, strings are encoded by `encodeInto` rather than a loop. */
const LONG_STRING = 32;

const wellFormed: (() => boolean) | undefined = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;
const SURROGATE = /[\ud800-\udfff]/;
/**
 * True when `s` certainly has no lone surrogates (which JSON escapes and UTF-8 cannot
 * carry). Without `isWellFormed`, any surrogate sends the string the slow way.
 */
function isWellFormed(s: string): boolean {
  return wellFormed !== undefined ? wellFormed.call(s) : !SURROGATE.test(s);
}

/** True when bytes[from, to) holds a byte below 0x20 (a control character JSON escapes). */
function hasControl(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i]! < 0x20) return true;
  return false;
}

/**
 * Writes JSON as UTF-8 into a caller's buffer. One instance is reused for every record;
 * it is not reentrant.
 *
 * @example
 * ```ts
 * import { JsonWriter } from "./json.ts";
 *
 * const out = new Uint8Array(64);
 * const end = new JsonWriter().write({ a: [1, "é"], b: null }, out, 0, out.length);
 * const text = new TextDecoder().decode(out.subarray(0, end));
 * if (text !== '{"a":[1,"é"],"b":null}') throw new Error(text);
 * ```
 */
export class JsonWriter {
  readonly #encoder = new TextEncoder();
  #out: Uint8Array = EMPTY;
  #at = 0;
  #limit = 0;
  readonly #stack: object[] = [];

  /**
   * Writes `JSON.stringify(value)` as UTF-8 into `out[at, limit)` and returns where it
   * ends. Returns {@linkcode NO_ROOM_LEFT} when it does not fit, {@linkcode NO_JSON}
   * when `JSON.stringify` would return undefined (a function, a symbol, undefined), and
   * {@linkcode NOT_PLAIN} when the value holds something only `JSON.stringify` handles;
   * in those cases what was written is garbage. Throws what a getter or `toJSON` throws.
   */
  write(value: unknown, out: Uint8Array, at: number, limit: number): number {
    this.#out = out;
    this.#at = at;
    this.#limit = limit;
    try {
      return this.#value(value, "", true) ? this.#at : NO_JSON;
    } catch (e) {
      if (e === NO_ROOM) return NO_ROOM_LEFT;
      if (e === GIVE_UP) return NOT_PLAIN;
      throw e;
    } finally {
      this.#out = EMPTY;
      this.#stack.length = 0;
    }
  }

  /** Writes one value; false when it serializes to nothing (undefined, function, symbol). */
  /** `key` is the property name, or the index in an array (made a string only for `toJSON`). */
  #value(value: unknown, key: string | number, toJSON: boolean): boolean {
    if (typeof value === "string") this.#string(value);
    else if (typeof value === "number") this.#number(value);
    else if (typeof value === "object") {
      if (value === null) this.#ascii("null");
      else return this.#object(value, key, toJSON);
    } else if (typeof value === "boolean") this.#ascii(value ? "true" : "false");
    else if (typeof value === "bigint") throw GIVE_UP;
    else return false;
    return true;
  }

  #object(value: object, key: string | number, toJSON: boolean): boolean {
    if (toJSON) {
      const fn = (value as { toJSON?: unknown }).toJSON;
      // The replacement is serialized as it is: its own toJSON is not called.
      if (typeof fn === "function") return this.#value(fn.call(value, String(key)), key, false);
    }
    const proto = Object.getPrototypeOf(value);
    if (proto === objectProto || (proto === null && (isRawJSON === undefined || !isRawJSON(value)))) {
      this.#enter(value);
      this.#byte(OPEN_BRACE);
      let first = true;
      for (const k in value) {
        if (!hasOwn.call(value, k)) continue;
        const mark = this.#at;
        if (!first) this.#byte(COMMA);
        this.#string(k);
        this.#byte(COLON);
        // A value that serializes to nothing is skipped with its key.
        if (this.#value((value as Record<string, unknown>)[k], k, true)) first = false;
        else this.#at = mark;
      }
      this.#byte(CLOSE_BRACE);
      this.#stack.pop();
      return true;
    }
    if (proto === arrayProto && Array.isArray(value)) {
      this.#enter(value);
      this.#byte(OPEN_BRACKET);
      for (let i = 0; i < value.length; i++) {
        if (i > 0) this.#byte(COMMA);
        if (!this.#value(value[i], i, true)) this.#ascii("null");
      }
      this.#byte(CLOSE_BRACKET);
      this.#stack.pop();
      return true;
    }
    throw GIVE_UP;
  }

  /** Cycles are left to JSON.stringify, which throws the error users know. */
  #enter(value: object): void {
    const stack = this.#stack;
    for (let i = 0; i < stack.length; i++) if (stack[i] === value) throw GIVE_UP;
    stack.push(value);
  }

  #byte(b: number): void {
    if (this.#at >= this.#limit) throw NO_ROOM;
    this.#out[this.#at++] = b;
  }

  /** A JSON string literal, quotes included. */
  #string(s: string): void {
    const n = s.length;
    let at = this.#at;
    if (at + n + 2 > this.#limit) throw NO_ROOM;
    const out = this.#out;
    out[at++] = QUOTE;
    if (n >= LONG_STRING) {
      // Long strings: encodeInto, then make sure nothing needed escaping.
      if (s.indexOf('"') === -1 && s.indexOf("\\") === -1 && isWellFormed(s)) {
        const r = this.#encoder.encodeInto(s, out.subarray(at, this.#limit - 1));
        const end = at + r.written;
        if (r.read === n && !hasControl(out, at, end)) {
          out[end] = QUOTE;
          this.#at = end + 1;
          return;
        }
      }
    } else {
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c < 0x20 || c === QUOTE || c === 0x5c || c > 0x7e) break;
        out[at++] = c;
      }
      if (at === this.#at + n + 1) {
        out[at] = QUOTE;
        this.#at = at + 1;
        return;
      }
    }
    // Something to escape, or non-ASCII: JSON.stringify quotes it, encodeInto encodes it.
    this.#text(JSON.stringify(s));
  }

  #number(n: number): void {
    if ((n | 0) === n) this.#int(n);
    else if (Number.isSafeInteger(n)) this.#safeInt(n);
    else this.#ascii(Number.isFinite(n) ? String(n) : "null");
  }

  /**
   * An integer beyond int32 within ±2^53 (a timestamp in ms, say): JSON writes all its
   * digits. Written as two int32 halves, the high digits and nine low ones.
   */
  #safeInt(n: number): void {
    if (this.#at + 17 > this.#limit) {
      this.#ascii(String(n));
      return;
    }
    // |high| >= 2 here and below 2^53 / 1e9 < 2^31: #int writes the sign with it.
    const high = Math.trunc(n / 1e9);
    let low = Math.abs(n - high * 1e9) | 0;
    this.#int(high);
    const out = this.#out;
    let at = this.#at + 9;
    this.#at = at;
    for (let i = 0; i < 9; i++) {
      const q = (low / 10) | 0;
      out[--at] = 0x30 + low - q * 10;
      low = q;
    }
  }

  /** An int32 (negative zero included, which JSON writes as 0). */
  #int(n: number): void {
    let at = this.#at;
    if (at + 11 > this.#limit) {
      this.#ascii(String(n));
      return;
    }
    const out = this.#out;
    if (n < 0) {
      out[at++] = 0x2d;
      n = -n; // 2^31 for -2^31: the divisions below are unsigned
    }
    let end = at + 1;
    for (let m = n; m >= 10; m = (m / 10) >>> 0) end++;
    this.#at = end;
    // Integer steps (no floating-point remainder): q = n / 10 rounded down, digit n - 10q.
    do {
      const q = (n / 10) >>> 0;
      out[--end] = 0x30 + n - q * 10;
      n = q;
    } while (n > 0);
  }

  /** Text known to be ASCII with nothing to escape (keywords, number literals). */
  #ascii(s: string): void {
    const n = s.length;
    let at = this.#at;
    if (at + n > this.#limit) throw NO_ROOM;
    const out = this.#out;
    for (let i = 0; i < n; i++) out[at++] = s.charCodeAt(i);
    this.#at = at;
  }

  /** Any JSON text, encoded as UTF-8. */
  #text(s: string): void {
    if (s.length > this.#limit - this.#at) throw NO_ROOM;
    const r = this.#encoder.encodeInto(s, this.#out.subarray(this.#at, this.#limit));
    if (r.read < s.length) throw NO_ROOM;
    this.#at += r.written;
  }
}

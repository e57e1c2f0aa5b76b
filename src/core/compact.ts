/**
 * Closing up a ring's frames around victims: the work of `evictWhere` (graded shedding
 * under drop-oldest), shared by the in-thread ring (`ring.ts`) and the shared one
 * (`shared-ring.ts`), which differ only in how they hold their oldest frame and
 * write position.
 *
 * @module
 */

import { LENGTH_BYTES } from "./ring-layout.ts";

/**
 * Removes frames of a ring for which `victim(at)` is true, oldest first, until at least
 * `want` bytes are freed or none is left, and keeps every other frame, in its order.
 * `removed(at, size)` is called for each victim before it goes. Reusable: it keeps its
 * scratch space from call to call, and leaves its results in its fields.
 *
 * The held frames form at most two runs: from the oldest to the end of the buffer (or
 * to the write position), and, when the ring has wrapped, from 0 to the write position.
 * Victims in the first run are closed up by moving the frames before them forward, so
 * the oldest frame moves forward and the room appears where the write position wraps
 * to; victims in the second run by moving the frames after them back, so the write
 * position moves back. Either way the freed bytes join the room at the write position,
 * and what moves is the frames between the oldest (or newest) and the victims: cheap
 * when the victims are old, as evicted records are. Nothing is written outside the held
 * frames.
 *
 * @example
 * ```ts
 * import { Compactor } from "./compact.ts";
 *
 * // Three 8-byte frames at 0, 8 and 16; the middle one goes.
 * const bytes = new Uint8Array(32);
 * const view = new DataView(bytes.buffer);
 * for (const at of [0, 8, 16]) { view.setUint32(at, 8, true); bytes[at + 4] = at; }
 * const c = new Compactor();
 * c.run(bytes, view, 0, 24, (at) => at === 8, 8, () => {});
 * if (c.freed !== 8 || c.victims !== 1 || c.tail !== 8 || bytes[12] !== 0) throw new Error("the first frame moved up");
 * ```
 */
export class Compactor {
  /** Bytes freed by the last run. */
  freed = 0;
  /** Frames removed by the last run. */
  victims = 0;
  /** The oldest frame's offset after the last run. */
  tail = 0;
  /** The write position after the last run. */
  head = 0;
  /** Kept runs met, as [start, end) pairs, reused from call to call. */
  #runs: Float64Array = new Float64Array(0);

  /**
   * Compacts the frames from `tail` (the oldest, not padding) to `head` (the write
   * position) of a ring that holds at least one frame, in `bytes`/`view`.
   */
  run(
    bytes: Uint8Array,
    view: DataView,
    tail: number,
    head: number,
    victim: (at: number) => boolean,
    want: number,
    removed: (at: number, size: number) => void,
  ): void {
    const capacity = bytes.length;
    const wrapped = head <= tail;
    // The first run: frames from the oldest up to the write position, or to the padding.
    const end1 = wrapped ? capacity : head;
    let freed = 0;
    let victims = 0;
    let runs = 0; // kept runs before the last victim
    let runStart = tail;
    let lastVictimEnd = -1;
    let at = tail;
    while (freed < want && at < end1 && !(wrapped && (capacity - at < LENGTH_BYTES || view.getUint32(at, true) === 0))) {
      const size = view.getUint32(at, true);
      if (victim(at)) {
        removed(at, size);
        if (at > runStart) this.#pushRun(runs++, runStart, at);
        freed += size;
        victims++;
        runStart = lastVictimEnd = at + size;
      }
      at += size;
    }
    if (lastVictimEnd >= 0) {
      // Move the kept runs before the last victim forward, the newest first, so that
      // they end where it ended.
      let cursor = lastVictimEnd;
      const r = this.#runs;
      for (let i = runs - 1; i >= 0; i--) {
        const start = r[2 * i]!;
        const stop = r[2 * i + 1]!;
        cursor -= stop - start;
        bytes.copyWithin(cursor, start, stop);
      }
      tail = cursor === capacity ? 0 : cursor;
    }
    if (freed < want && wrapped) {
      // The second run, from 0: close up the victims by moving what follows them back.
      let cursor = -1; // where the next kept frame goes, once a victim was found
      at = 0;
      while (at < head) {
        const size = view.getUint32(at, true);
        if (freed < want && victim(at)) {
          removed(at, size);
          if (cursor < 0) cursor = at;
          freed += size;
          victims++;
        } else if (cursor >= 0) {
          if (freed >= want) {
            // Enough: the rest moves back in one piece.
            bytes.copyWithin(cursor, at, head);
            cursor += head - at;
            break;
          }
          bytes.copyWithin(cursor, at, at + size);
          cursor += size;
        }
        at += size;
      }
      if (cursor >= 0) head = cursor;
    }
    this.freed = freed;
    this.victims = victims;
    this.tail = tail;
    this.head = head;
  }

  #pushRun(i: number, start: number, stop: number): void {
    if (this.#runs.length < 2 * i + 2) {
      const grown = new Float64Array(Math.max(64, this.#runs.length * 2));
      grown.set(this.#runs);
      this.#runs = grown;
    }
    this.#runs[2 * i] = start;
    this.#runs[2 * i + 1] = stop;
  }
}

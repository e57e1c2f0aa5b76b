// Helpers for the shared ring's tests (tests/unit/shared-ring*.test.ts): frames that
// carry their own id and a body derived from it, so that a frame read back can be
// checked intact, and the producer's and consumer's objects wired over one ring.
import { Accounting, BUFFER_FULL, SHED } from "../../src/core/accounting.ts";
import { Backlog } from "../../src/core/backlog.ts";
import { FRAME_HEADER_BYTES, writeFrameHeader } from "../../src/core/frame.ts";
import { RingConsumer } from "../../src/core/ring-consumer.ts";
import { controlBlock } from "../../src/core/ring-control.ts";
import { COUNTER_BYTES, mergeCounts, readWorkerCounts, WorkerLedger } from "../../src/core/shared-counts.ts";
import { SharedRing } from "../../src/core/shared-ring.ts";
import type { Counts } from "../../src/core/accounting.ts";

export { BUFFER_FULL, SHED };

/** The producer's side: the shared ring, its ledger and backlog (evictions). */
export interface Producer {
  readonly ring: SharedRing;
  readonly ledger: Accounting;
  readonly backlog: Backlog;
}

export const CLASSES = 4;

export function producer(data: SharedArrayBuffer, control: SharedArrayBuffer, maxAgeMs = 1000): Producer {
  const ring = new SharedRing(data, control);
  const ledger = new Accounting(ring, CLASSES);
  const backlog = new Backlog(ring, ledger, maxAgeMs, 64, null, CLASSES);
  return { ring, ledger, backlog };
}

export function newRing(capacity: number): { data: SharedArrayBuffer; control: SharedArrayBuffer } {
  return { data: new SharedArrayBuffer(capacity), control: controlBlock(COUNTER_BYTES) };
}

export function consumer(data: SharedArrayBuffer, control: SharedArrayBuffer, maxAgeMs = 1000): { consumer: RingConsumer; ledger: WorkerLedger } {
  const ledger = new WorkerLedger(control);
  return { consumer: new RingConsumer(data, control, ledger, { maxAgeMs, maxRecords: 64, classes: CLASSES }), ledger };
}

/** The byte at `i` of the value of frame `id`. */
export function bodyByte(id: number, i: number): number {
  return (id * 7 + i * 13) & 0xff;
}

/**
 * Writes frame `id` (value of `valueBytes` bytes, the id in its first four, class `cls`,
 * timestamp `ts`); true when it fits. Through the fast path when it can, as the writer does.
 */
export function put(p: Producer, id: number, valueBytes: number, ts: number, cls: number): boolean {
  const size = FRAME_HEADER_BYTES + Math.max(4, valueBytes);
  let at = p.ring.tryReserve(size);
  const fast = at >= 0;
  if (!fast) at = p.ring.reserve(size);
  if (at < 0) return false;
  writeFrameHeader(p.ring.view, at, size, ts, -1, 0, cls);
  const start = at + FRAME_HEADER_BYTES;
  p.ring.view.setUint32(start, id, true);
  for (let i = 4; i < size - FRAME_HEADER_BYTES; i++) p.ring.bytes[start + i] = bodyByte(id, i);
  if (fast) p.ring.append(at, size);
  else p.ring.commit(at, size);
  p.backlog.held![cls]!++;
  return true;
}

/** The id of a value written by `put`, after checking that its body is intact. */
export function idOf(value: Uint8Array): number {
  const id = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0, true);
  for (let i = 4; i < value.length; i++) {
    if (value[i] !== bodyByte(id, i)) throw new Error(`frame ${id} corrupted at byte ${i}`);
  }
  return id;
}

/** The id of the frame at `at` in the producer's ring. */
export function idAt(p: Producer, at: number): number {
  return p.ring.view.getUint32(at + FRAME_HEADER_BYTES, true);
}

/** The sink's counters as the application's thread sees them. */
export function snapshot(p: Producer, control: SharedArrayBuffer): Counts {
  return mergeCounts(p.ledger.snapshot(), readWorkerCounts(control));
}

/** A small seeded random source (mulberry32): the same sequence on every runtime. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** An integer from `min` to `max`, both included. */
  nextInt(min: number, max: number): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return min + Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * (max - min + 1));
  }
  nextBoolean(): boolean {
    return this.nextInt(0, 1) === 1;
  }
}

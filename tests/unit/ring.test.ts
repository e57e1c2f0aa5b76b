import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteRing } from "../../src/core/ring.ts";

/** Writes a frame of `size` bytes whose body repeats `fill`; returns false when it does not fit. */
function put(ring: ByteRing, size: number, fill: number): boolean {
  const at = ring.reserve(size);
  if (at < 0) return false;
  ring.view.setUint32(at, size, true);
  ring.bytes.fill(fill, at + 4, at + size);
  ring.commit(at, size);
  return true;
}

/**
 * Bytes of the buffer taken, frames and padding together: what is not free at the head
 * nor at the start (the free space is at most those two runs).
 */
function occupied(ring: ByteRing): number {
  return ring.capacity - ring.freeAtHead() - ring.freeAtStart();
}

/** Reads the oldest frame as [size, fill] and removes it. */
function take(ring: ByteRing): [number, number] | null {
  const at = ring.peek();
  if (at < 0) return null;
  const size = ring.view.getUint32(at, true);
  const fill = size > 4 ? ring.bytes[at + 4]! : -1;
  for (let i = at + 4; i < at + size; i++) assert.equal(ring.bytes[i], fill, "frame body corrupted");
  assert.equal(ring.shift(), size);
  return [size, fill];
}

test("ByteRing keeps frames in FIFO order across wrap-around", () => {
  const ring = new ByteRing(new ArrayBuffer(64));
  assert.ok(put(ring, 24, 1));
  assert.ok(put(ring, 24, 2));
  assert.deepEqual(take(ring), [24, 1]);
  // 16 bytes left at the end: a 20-byte frame wraps to offset 0 and the end becomes padding.
  assert.ok(put(ring, 20, 3));
  assert.equal(occupied(ring), 24 + 16 + 20, "the frames and the padding at the end");
  assert.equal(ring.frameBytes, 24 + 20);
  assert.deepEqual(take(ring), [24, 2]);
  assert.deepEqual(take(ring), [20, 3]);
  assert.equal(ring.count, 0);
  assert.equal(occupied(ring), 0);
  assert.equal(ring.freeAtHead(), 64, "an empty ring starts again at 0");
  assert.equal(take(ring), null);
});

test("ByteRing.reserve refuses a frame one byte over the free space and takes one that fills it exactly", () => {
  const ring = new ByteRing(new ArrayBuffer(64));
  assert.equal(ring.reserve(65), -1);
  assert.ok(put(ring, 32, 1));
  assert.equal(ring.reserve(33), -1);
  assert.ok(put(ring, 32, 2));
  assert.equal(occupied(ring), 64);
  assert.equal(ring.frameBytes, 64);
  assert.equal(ring.reserve(4), -1, "a full ring has no room");
  assert.deepEqual(take(ring), [32, 1]);
  assert.ok(put(ring, 32, 3), "the freed front is reused");
  assert.deepEqual(take(ring), [32, 2]);
  assert.deepEqual(take(ring), [32, 3]);
});

test("ByteRing wraps with fewer than four bytes left at the end (no room for a padding marker)", () => {
  const ring = new ByteRing(new ArrayBuffer(50));
  assert.ok(put(ring, 24, 1));
  assert.ok(put(ring, 24, 2)); // 2 bytes left at the end
  assert.deepEqual(take(ring), [24, 1]);
  assert.ok(put(ring, 20, 3)); // wraps to 0
  assert.deepEqual(take(ring), [24, 2]);
  assert.deepEqual(take(ring), [20, 3]);
});

test("ByteRing counts appended and removed frames as sequence numbers", () => {
  const ring = new ByteRing(new ArrayBuffer(64));
  put(ring, 8, 1);
  put(ring, 8, 2);
  take(ring);
  assert.equal(ring.appended, 2);
  assert.equal(ring.removed, 1);
  put(ring, 8, 3);
  while (ring.shift() > 0);
  assert.equal(ring.appended, 3);
  assert.equal(ring.removed, 3);
  assert.equal(ring.appendedBytes, 24);
  assert.equal(ring.count, 0);
  assert.equal(ring.shift(), 0, "shifting an empty ring removes nothing");
  assert.equal(ring.removed, 3);
});

test("ByteRing rejects a buffer too small to hold a frame", () => {
  assert.throws(() => new ByteRing(new ArrayBuffer(4)), RangeError);
});

for (const kind of ["ArrayBuffer", "SharedArrayBuffer"] as const) {
  test(`ByteRing matches a FIFO model under random appends, takes and wrap-around (${kind})`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 300 }),
        fc.array(fc.oneof(fc.integer({ min: 5, max: 120 }), fc.constant(0)), { maxLength: 400 }),
        (capacity, ops) => {
          const buffer = kind === "ArrayBuffer" ? new ArrayBuffer(capacity) : new SharedArrayBuffer(capacity);
          const ring = new ByteRing(buffer);
          const model: Array<[number, number]> = [];
          let fill = 0;
          for (const op of ops) {
            if (op === 0) {
              const expected = model.shift() ?? null;
              assert.deepEqual(take(ring), expected);
            } else {
              fill = (fill + 1) % 250;
              const modelUsed = model.reduce((sum, [size]) => sum + size, 0);
              const ok = put(ring, op, fill);
              if (ok) model.push([op, fill]);
              // It never accepts more than fits, and always accepts into an empty ring.
              if (model.length === 1 && ok) assert.ok(op <= capacity);
              if (modelUsed === 0 && op <= capacity) assert.ok(ok, "an empty ring takes any frame up to its capacity");
            }
            assert.equal(ring.count, model.length);
            assert.equal(ring.frameBytes, model.reduce((sum, [size]) => sum + size, 0));
            assert.ok(occupied(ring) <= capacity, "what is taken never exceeds capacity");
            assert.ok(occupied(ring) >= ring.frameBytes, "the frames are within what is taken");
            assert.ok(ring.freeAtHead() >= 0 && ring.freeAtStart() >= 0);
          }
          while (model.length > 0) assert.deepEqual(take(ring), model.shift());
          assert.equal(occupied(ring), 0);
        },
      ),
      { numRuns: 300 },
    );
  });
}

test("ByteRing keeps frames held plus the bytes held outside within capacity", () => {
  const ring = new ByteRing(new ArrayBuffer(64));
  assert.ok(put(ring, 32, 1));
  assert.ok(put(ring, 24, 2));
  // The first frame leaves the ring but stays counted outside (a record in flight):
  // 24 held + 32 outside leave 8 bytes of budget, although 40 bytes of the ring are free.
  assert.deepEqual(take(ring), [32, 1]);
  ring.outside = 32;
  assert.equal(ring.reserve(9), -1);
  assert.ok(put(ring, 8, 3));
  assert.equal(ring.reserve(4), -1);
  ring.outside = 0; // delivered
  assert.ok(put(ring, 24, 4), "room comes back when the bytes outside are released");
});

test("ByteRing.tryReserve succeeds only up to the attention mark, and never where reserve would refuse", () => {
  const ring = new ByteRing(new ArrayBuffer(100));
  assert.equal(ring.tryReserve(10), -1, "no fast path before attendAfter");
  ring.attendAfter(25);
  assert.equal(ring.tryReserve(10), 0);
  ring.append(0, 10);
  ring.view.setUint32(0, 10, true);
  assert.equal(ring.tryReserve(10), 10);
  ring.view.setUint32(10, 10, true);
  ring.append(10, 10);
  assert.equal(ring.tryReserve(10), -1, "the mark (25 bytes) is reached");
  assert.equal(ring.reserve(10), 20, "reserve ignores the mark");
  ring.attendAfter(1000);
  assert.equal(ring.tryReserve(80), 20, "the mark is capped by the room: 80 bytes fit exactly");
  assert.equal(ring.tryReserve(81), -1);
  ring.attendNow();
  assert.equal(ring.tryReserve(4), -1);
});

test("ByteRing.tryReserve also stops after the number of frames attendAfter allows", () => {
  const ring = new ByteRing(new ArrayBuffer(1000));
  ring.attendAfter(500, 2);
  for (const at of [0, 10]) {
    assert.equal(ring.tryReserve(10), at);
    ring.view.setUint32(at, 10, true);
    ring.append(at, 10);
  }
  assert.equal(ring.tryReserve(10), -1, "two frames, with bytes to spare");
  ring.attendAfter(500, 0);
  assert.equal(ring.tryReserve(10), -1, "no frame allowed");
  ring.attendAfter(500);
  assert.equal(ring.tryReserve(10), 20, "frames unbounded by default");
});

for (const kind of ["ArrayBuffer", "SharedArrayBuffer"] as const) {
  test(`ByteRing's fast path agrees with reserve and keeps the budget under random appends, takes, marks and bytes outside (${kind})`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 300 }),
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant("put" as const), size: fc.integer({ min: 5, max: 120 }) }),
            fc.record({ op: fc.constant("take" as const), out: fc.boolean() }),
            fc.record({ op: fc.constant("release" as const), bytes: fc.integer({ min: 0, max: 200 }) }),
            fc.record({ op: fc.constant("mark" as const), bytes: fc.integer({ min: -10, max: 400 }), frames: fc.option(fc.integer({ min: -1, max: 6 }), { nil: undefined }) }),
            fc.record({ op: fc.constant("now" as const) }),
          ),
          { maxLength: 300 },
        ),
        (capacity, ops) => {
          const buffer = kind === "ArrayBuffer" ? new ArrayBuffer(capacity) : new SharedArrayBuffer(capacity);
          const ring = new ByteRing(buffer);
          const model: Array<[number, number]> = [];
          let fastLeft = 0; // frames tryReserve may still give since the last mark
          let fill = 0;
          for (const step of ops) {
            const held = model.reduce((sum, [size]) => sum + size, 0);
            const outside = ring.outside;
            if (step.op === "put") {
              fill = (fill + 1) % 250;
              const fast = ring.tryReserve(step.size);
              const slow = ring.reserve(step.size);
              if (fast >= 0) {
                assert.equal(fast, slow, "tryReserve gives the offset reserve gives");
                assert.ok(fastLeft > 0, "tryReserve stops after the frames the mark allows");
                fastLeft--;
                ring.view.setUint32(fast, step.size, true);
                ring.bytes.fill(fill, fast + 4, fast + step.size);
                ring.append(fast, step.size);
                model.push([step.size, fill]);
              } else if (put(ring, step.size, fill)) {
                model.push([step.size, fill]);
              } else {
                assert.ok(held + outside + step.size > capacity || held > 0, "an empty ring refuses only what exceeds the budget");
              }
            } else if (step.op === "take") {
              const expected = model.shift() ?? null;
              assert.deepEqual(take(ring), expected);
              // Bytes that leave the ring may stay counted outside (in flight), in the same step.
              if (expected !== null && step.out) ring.outside += expected[0];
            } else if (step.op === "release") {
              ring.outside = Math.max(0, ring.outside - step.bytes);
            } else if (step.op === "mark") {
              ring.attendAfter(step.bytes, step.frames);
              fastLeft = step.frames ?? Infinity;
            } else {
              ring.attendNow();
            }
            const now = model.reduce((sum, [size]) => sum + size, 0);
            assert.equal(ring.count, model.length);
            assert.equal(ring.frameBytes, now);
            assert.ok(now <= capacity && occupied(ring) <= capacity);
            assert.ok(occupied(ring) >= now);
            if (step.op === "put" && ring.frameBytes > held) assert.ok(now + outside <= capacity, `budget kept: ${now} held + ${outside} outside > ${capacity}`);
          }
          while (model.length > 0) assert.deepEqual(take(ring), model.shift());
          assert.equal(occupied(ring), 0);
        },
      ),
      { numRuns: 300 },
    );
  });
}

test("a new ring writes to every 4 KiB page of its buffer, so that no emit() takes the page fault later", () => {
  const buffer = new ArrayBuffer(16 * 4096 + 100);
  new Uint8Array(buffer).fill(0xff);
  const ring = new ByteRing(buffer);
  for (let at = 0; at < buffer.byteLength; at += 4096) assert.equal(ring.bytes[at], 0, `page at ${at}`);
  assert.equal(ring.bytes[1], 0xff, "one byte per page, no more");
});

/** Like `put`, with a body that differs byte by byte (its first byte is `fill`), so a frame moved short or misplaced shows. */
function putPattern(ring: ByteRing, size: number, fill: number): boolean {
  const at = ring.reserve(size);
  if (at < 0) return false;
  ring.view.setUint32(at, size, true);
  for (let i = 4; i < size; i++) ring.bytes[at + i] = (fill + (i - 4) * 31) & 255;
  ring.commit(at, size);
  return true;
}

/** Like `take`, for frames written by `putPattern`. */
function takePattern(ring: ByteRing): [number, number] | null {
  const at = ring.peek();
  if (at < 0) return null;
  const size = ring.view.getUint32(at, true);
  const fill = ring.bytes[at + 4]!;
  for (let i = 4; i < size; i++) assert.equal(ring.bytes[at + i], (fill + (i - 4) * 31) & 255, "frame body corrupted");
  assert.equal(ring.shift(), size);
  return [size, fill];
}

test("ByteRing.evictWhere removes the oldest matching frames until enough is freed, keeps the rest in order, and the freed bytes are room at the write position", () => {
  // A frame's class is its first body byte modulo 4; a victim is a frame of the class asked for.
  fc.assert(
    fc.property(
      fc.integer({ min: 64, max: 300 }),
      fc.array(
        fc.oneof(
          {
            weight: 4,
            arbitrary: fc.record({
              op: fc.constant("put" as const),
              size: fc.integer({ min: 5, max: 60 }),
              // Classes in long runs (mostly 0), so that some stretches hold no victim.
              cls: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
              salt: fc.integer({ min: 0, max: 61 }),
            }),
          },
          { weight: 2, arbitrary: fc.record({ op: fc.constant("take" as const) }) },
          { weight: 1, arbitrary: fc.record({ op: fc.constant("evict" as const), cls: fc.integer({ min: 0, max: 3 }), want: fc.integer({ min: 1, max: 120 }) }) },
        ),
        { minLength: 100, maxLength: 400 },
      ),
      (capacity, ops) => {
        const ring = new ByteRing(new ArrayBuffer(capacity));
        const model: Array<[number, number]> = [];
        for (const step of ops) {
          if (step.op === "put") {
            const fill = step.salt * 4 + step.cls;
            if (putPattern(ring, step.size, fill)) model.push([step.size, fill]);
          } else if (step.op === "take") {
            assert.deepEqual(takePattern(ring), model.shift() ?? null);
          } else {
            const seen: Array<[number, number]> = [];
            const freed = ring.evictWhere(
              (at) => ring.bytes[at + 4]! % 4 === step.cls,
              step.want,
              (at, size) => seen.push([size, ring.bytes[at + 4]!]),
            );
            // The model: the oldest frames of the class, until `want` is reached.
            const expected: Array<[number, number]> = [];
            let modelFreed = 0;
            for (let i = 0; i < model.length && modelFreed < step.want; i++) {
              if (model[i]![1] % 4 === step.cls) {
                expected.push(model[i]!);
                modelFreed += model[i]![0];
                model.splice(i--, 1);
              }
            }
            assert.deepEqual(seen, expected, "the oldest frames of the class, in order");
            assert.equal(freed, modelFreed);
            if (freed > 0) assert.ok(ring.reserve(freed) >= 0, "a frame of the freed size fits at once");
          }
          assert.equal(ring.count, model.length);
          assert.equal(ring.frameBytes, model.reduce((sum, [size]) => sum + size, 0));
          assert.ok(occupied(ring) <= capacity);
        }
        // What is left comes out intact and in order.
        while (model.length > 0) assert.deepEqual(takePattern(ring), model.shift());
        assert.equal(ring.count, 0);
      },
    ),
    { numRuns: 1000 },
  );
});

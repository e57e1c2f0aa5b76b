// The consumer's thread of tests/unit/shared-ring-threads.test.ts: takes batches and
// expires records from a shared ring at random until told to stop, checks every frame
// it takes, then drains the ring and reports the ids it took, in order.
import { parentPort, workerData } from "node:worker_threads";
import { consumer, idOf, Rng } from "./shared-ring.ts";

const { data, control, flags, seed } = workerData as { data: SharedArrayBuffer; control: SharedArrayBuffer; flags: SharedArrayBuffer; seed: number };
const STOP = 0;
const NOW = 1;
const state = new Int32Array(flags);
const { consumer: c, ledger } = consumer(data, control, 50);
const random = new Rng(seed);
const taken: number[] = [];
let error: string | null = null;

function takeOnce(most: number, bytes: number): number {
  const shipment = c.take(most, bytes);
  if (shipment === null) return 0;
  for (const record of shipment.batch.records) taken.push(idOf(record.value));
  ledger.deliver(shipment.batch.records.length, shipment.batch.bytes);
  return shipment.batch.records.length;
}

let takenWhileRunning = 0;
Atomics.store(state, 2, 1); // started
Atomics.notify(state, 2);
try {
  while (Atomics.load(state, STOP) === 0) {
    const roll = random.nextInt(0, 9);
    if (roll < 7) takeOnce(random.nextInt(1, 16), random.nextInt(1, 600));
    else if (roll === 7) c.expire(Atomics.load(state, NOW));
    else for (let i = random.nextInt(0, 200); i > 0; i--) void c.count;
  }
  takenWhileRunning = taken.length;
  while (takeOnce(64, 1 << 20) > 0);
} catch (e) {
  error = String((e as Error)?.stack ?? e);
}
parentPort!.postMessage({ taken, takenWhileRunning, error });

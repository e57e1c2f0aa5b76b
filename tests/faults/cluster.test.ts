// A sink writing to the local 3-node cluster (`scripts/kafka.sh cluster`: replication
// factor 3, min.insync.replicas 2, acks=all) while nodes die, restart and come back:
//
//   (a) the node that leads most partitions killed mid-stream, restarted later;
//   (b) a rolling restart: each node stopped gracefully and started again, one by one;
//   (c) the only bootstrap broker killed while the two others live, and then another
//       node restarted gracefully (a rolling restart with a broker lost);
//   (d) two of the three nodes down (one killed, one stopped): the survivor refuses
//       acks=all writes (NOT_ENOUGH_REPLICAS); records are held, and delivered once the
//       nodes return.
//
// Each test reads the topic back and checks that every record the sink kept is there
// exactly once (the outages fit in the buffer, so nothing may be lost), that nothing
// else is, and that the sink's accounting balances. Each prints one line
// `cluster SCENARIO …` with its figures: delivered vs read back, duplicates, the longest
// time records waited with none delivered (maxGapMs), and, counted from the first fault,
// when the transport first said `down` and when it was `up` again after its last `down`
// (-1: never down).
//
// The tests share the cluster and run one after another; each puts it back together in a
// `finally`. The cluster is started by scripts/test.sh, separately from the single broker.

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { conservationErrors, createSink, type Sink, type SinkStats, type Transport } from "../../mod.ts";
import {
  busiestLeader,
  cluster,
  CLUSTER_BOOTSTRAP,
  createClusterTopic,
  nodeAddress,
  partitionStates,
  requireCluster,
  restoreCluster,
  serverLogSince,
  serverLogSize,
} from "../support/cluster.ts";
import { consumeValues, uniqueTopic } from "../support/kafka.ts";
import { kafkaTransportForTests } from "../support/transports.ts";
import { sleep, until } from "../support/wait.ts";

interface Rec {
  id: number;
  pad: string;
}

const PAD = "telemetry ".repeat(6);
const g = globalThis as { Deno?: unknown; Bun?: unknown };
/** Node >= 22: the platformatic transport runs there too (it needs Promise.withResolvers). */
const nodeWithPlatformatic = g.Deno === undefined && g.Bun === undefined && typeof (Promise as { withResolvers?: unknown }).withResolvers === "function";

/**
 * SHEDSINK_CLUSTER_SCENARIOS: the scenarios to run, e.g. "a,c" (default: all; "c-platformatic"
 * is (c) with the platformatic transport on Node >= 22). scripts/test.sh spreads them over
 * the runtimes to stay within the CI time budget.
 */
const chosen = process.env.SHEDSINK_CLUSTER_SCENARIOS?.split(",").map((s) => s.trim());
function scenario(id: string, name: string, body: () => Promise<void>): void {
  if (chosen === undefined || chosen.includes(id)) test(name, body);
}

/** Writes records with increasing ids on a timer and watches deliveries and the transport's state. */
class Load {
  readonly sink: Sink<Rec>;
  readonly kept: number[] = [];
  readonly refused: number[] = [];
  /** Longest time in which records were waiting and none was delivered. */
  maxGapMs = 0;
  #next = 0;
  #writer: ReturnType<typeof setInterval> | null = null;
  readonly #probe: ReturnType<typeof setInterval>;
  #lastDelivered = 0;
  #lastProgress = Date.now();
  #faultAt = -1;
  #upAgainAt = -1;
  /** From the fault to the first `down` (-1: never down). */
  downAfterMs = -1;

  constructor(sink: Sink<Rec>) {
    this.sink = sink;
    this.#probe = setInterval(() => this.#watch(), 20);
  }

  #watch(): void {
    const now = Date.now();
    const s = this.sink.stats();
    const waiting = s.pending.records + s.inFlight.records > 0;
    if (s.delivered.records > this.#lastDelivered || !waiting) {
      this.#lastDelivered = s.delivered.records;
      this.#lastProgress = now;
    } else {
      this.maxGapMs = Math.max(this.maxGapMs, now - this.#lastProgress);
    }
    const state = s.transport.state;
    if (this.#faultAt < 0) return;
    if (state === "down") {
      if (this.downAfterMs < 0) this.downAfterMs = now - this.#faultAt;
      this.#upAgainAt = -1;
    } else if (state === "up" && this.downAfterMs >= 0 && this.#upAgainAt < 0) {
      this.#upAgainAt = now;
    }
  }

  /** From the fault to `up` after the last `down` (-1: never down, or not up again). */
  get upAgainAfterMs(): number {
    return this.#upAgainAt < 0 ? -1 : this.#upAgainAt - this.#faultAt;
  }

  start(perTick: number, everyMs = 10): void {
    this.#writer = setInterval(() => {
      for (let k = 0; k < perTick; k++) {
        const id = this.#next++;
        (this.sink.emit({ id, pad: PAD }) ? this.kept : this.refused).push(id);
      }
    }, everyMs);
  }

  /** The fault begins now. */
  fault(): void {
    this.#faultAt = Date.now();
  }

  get written(): number {
    return this.#next;
  }

  stop(): void {
    if (this.#writer !== null) clearInterval(this.#writer);
    this.#writer = null;
  }

  dispose(): void {
    this.stop();
    clearInterval(this.#probe);
  }
}

function dropsOf(stats: SinkStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [reason, count] of Object.entries(stats.dropped)) if (count.records > 0) out[reason] = count.records;
  return out;
}

function duplicates(ids: number[]): number[] {
  const seen = new Set<number>();
  return ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
}

/**
 * Closes the sink, reads the topic back, prints the figures and checks them: conservation,
 * no duplicates, nothing in the topic that was not kept, nothing dropped in the topic
 * beyond the close report's `inDoubt`, and (the outage fitting in the buffer) every kept
 * record delivered.
 */
async function closeAndCheck(name: string, topic: string, load: Load, transport: Transport): Promise<void> {
  load.stop();
  const report = await load.sink.close({ timeoutMs: 60_000 });
  const stats = load.sink.stats();
  const values = await consumeValues(topic, { expected: stats.delivered.records, timeoutMs: 30_000, bootstrap: CLUSTER_BOOTSTRAP });
  const ids = values.map((v) => (JSON.parse(v) as Rec).id);
  const dups = duplicates(ids);
  const unique = new Set(ids);
  console.log(
    `cluster ${name} transport=${transport.name}: written=${load.written} delivered=${stats.delivered.records} readBack=${ids.length}` +
      ` duplicates=${dups.length} maxGapMs=${load.maxGapMs} downAfterMs=${load.downAfterMs} upAgainAfterMs=${load.upAgainAfterMs}` +
      ` inDoubt=${report.inDoubt.records} dropped=${JSON.stringify(dropsOf(stats))} sends=${stats.sends} retries=${stats.retries}` +
      ` lastError=${JSON.stringify(stats.lastError)?.slice(0, 200)}`,
  );
  assert.deepEqual(conservationErrors(stats), [], "conservation holds");
  assert.equal(stats.pending.records + stats.inFlight.records, 0, "nothing pending or in flight after close");
  assert.equal(stats.accepted.records, load.kept.length, "accepted = emits that returned true");
  assert.equal(stats.accepted.records, stats.delivered.records + stats.lost.records, "accepted = delivered + lost after close");
  assert.deepEqual(dups.slice(0, 20), [], "no id twice");
  const kept = new Set(load.kept);
  assert.deepEqual(ids.filter((id) => !kept.has(id)).slice(0, 20), [], "every id in the topic was kept");
  assert.ok(unique.size >= stats.delivered.records, `every delivered record is in the topic (${unique.size} read, ${stats.delivered.records} delivered)`);
  assert.ok(unique.size <= stats.delivered.records + report.inDoubt.records, `no dropped record in the topic beyond inDoubt (${unique.size} > ${stats.delivered.records} + ${report.inDoubt.records})`);
  assert.deepEqual(load.refused, [], "no record refused: the outage fits in the buffer");
  assert.deepEqual(dropsOf(stats), {}, "nothing dropped");
  const missing = load.kept.filter((id) => !unique.has(id));
  assert.deepEqual({ count: missing.length, first: missing.slice(0, 10) }, { count: 0, first: [] }, "every kept record arrived");
}

/** A sink on a fresh RF-3 topic of 6 partitions, writing 300 records a second. */
async function begin(prefix: string, brokers: string, make: (o: { brokers: string; topic: string }) => Promise<Transport>) {
  await requireCluster();
  const topic = uniqueTopic(prefix);
  await createClusterTopic(topic, 6);
  const transport = await make({ brokers, topic });
  // Thread mode, as chosen: the suite follows the transport objects it made.
  const sink = createSink<Rec>({ transport, flusher: "thread", batch: { lingerMs: 10 } });
  const load = new Load(sink);
  load.start(3);
  await until(() => sink.stats().transport.state === "up", "the transport up", 30_000);
  await sleep(500);
  return { topic, transport, sink, load };
}

const defaultTransport = (o: { brokers: string; topic: string }) => kafkaTransportForTests(o);

async function platformatic(o: { brokers: string; topic: string }): Promise<Transport> {
  const { platformaticTransport } = await import("../../src/transports/platformatic.ts");
  return platformaticTransport(o);
}

/** Waits until at least `more` records beyond `from` are delivered. */
async function delivering(sink: Sink<Rec>, more: number, what: string): Promise<void> {
  const from = sink.stats().delivered.records;
  await until(() => sink.stats().delivered.records >= from + more, what, 30_000);
}

scenario("a", "(a) the node leading most partitions is killed mid-stream: every record arrives once", async () => {
  const { topic, transport, sink, load } = await begin("cluster-leader", CLUSTER_BOOTSTRAP, defaultTransport);
  try {
    const victim = await busiestLeader(topic);
    await cluster(`kill ${victim}`);
    load.fault();
    await delivering(sink, 300, `deliveries resumed on the two nodes left after node ${victim} was killed`);
    await sleep(2000);
    await cluster(`restart ${victim}`);
    await until(() => sink.stats().transport.state === "up", "the transport up", 30_000);
    await sleep(500);
    await closeAndCheck(`leader-killed(node${victim})`, topic, load, transport);
  } finally {
    load.dispose();
    await sink.close({ timeoutMs: 1000 });
    await restoreCluster();
  }
});

scenario("b", "(b) a rolling restart of the three nodes, one by one: every record arrives once", async () => {
  const { topic, transport, sink, load } = await begin("cluster-rolling", CLUSTER_BOOTSTRAP, defaultTransport);
  try {
    load.fault();
    for (const n of [1, 2, 3]) {
      await cluster(`restart ${n}`);
      await delivering(sink, 100, `deliveries after node ${n} restarted`);
    }
    await until(() => sink.stats().transport.state === "up", "the transport up", 30_000);
    await sleep(500);
    await closeAndCheck("rolling-restart", topic, load, transport);
  } finally {
    load.dispose();
    await sink.close({ timeoutMs: 1000 });
    await restoreCluster();
  }
});

async function bootstrapKilled(name: string, make: (o: { brokers: string; topic: string }) => Promise<Transport>): Promise<void> {
  // The client knows one node from its options, the others from metadata only.
  const { topic, transport, sink, load } = await begin("cluster-bootstrap", nodeAddress(1), make);
  try {
    await cluster("kill 1");
    load.fault();
    await delivering(sink, 300, "deliveries with the bootstrap node dead");
    // A graceful restart moves leaders: sends meet NOT_LEADER_OR_FOLLOWER.
    await cluster("restart 2");
    await delivering(sink, 300, "deliveries with the bootstrap node dead, after node 2 restarted");
    await cluster("restart 1");
    await until(() => sink.stats().transport.state === "up", "the transport up", 30_000);
    await sleep(500);
    await closeAndCheck(name, topic, load, transport);
  } finally {
    load.dispose();
    await sink.close({ timeoutMs: 1000 });
    await restoreCluster();
  }
}

scenario("c", "(c) the only bootstrap node is killed, then another restarts: deliveries go on, every record arrives once", async () => {
  await bootstrapKilled("bootstrap-killed", defaultTransport);
});

if (nodeWithPlatformatic) {
  scenario("c-platformatic", "(c) on Node with the platformatic transport: the only bootstrap node killed, another restarted: every record arrives once", async () => {
    await bootstrapKilled("bootstrap-killed", platformatic);
  });
}

scenario("d", "(d) two of three nodes down, acks=all cannot be met: records are held, then all delivered once the nodes return", async () => {
  const { topic, transport, sink, load } = await begin("cluster-two-down", CLUSTER_BOOTSTRAP, defaultTransport);
  try {
    // Node 1 crashes; once the controllers have taken it out of every ISR, node 2 stops
    // (gracefully: it leaves the ISRs first, while a controller quorum still stands). Node 3
    // leads every partition alone, below min.insync.replicas: it refuses acks=all writes.
    await cluster("kill 1");
    load.fault();
    const shrunk = Date.now() + 30_000;
    while ((await partitionStates(topic)).some((p) => p.isr.includes(1))) {
      assert.ok(Date.now() < shrunk, "node 1 left the ISRs within 30 s");
      await sleep(250);
    }
    const logFrom = serverLogSize(3);
    await cluster("stop 2");
    const stuckAt = sink.stats().delivered.records;
    await sleep(6000);
    const held = sink.stats();
    // Requests already on the wire may have been acknowledged just before the second kill.
    assert.ok(held.delivered.records - stuckAt < 500, `deliveries stopped (${held.delivered.records - stuckAt} after the kills)`);
    assert.ok(held.pending.records + held.inFlight.records > 0, "records are held");
    const refusals = (serverLogSince(3, logFrom).match(/NotEnoughReplicasException/g) ?? []).length;
    // Whether node 3 answers NOT_ENOUGH_REPLICAS or not at all depends on whether node 2
    // left the ISRs before the controller quorum was lost with it: both hold the records.
    console.log(`cluster two-of-three-down: node 3 refused ${refusals} appends with NOT_ENOUGH_REPLICAS while alone; state=${held.transport.state} lastError=${JSON.stringify(held.lastError)?.slice(0, 200)}`);
    await cluster("restart 1");
    await cluster("restart 2");
    await until(() => sink.stats().transport.state === "up", "the transport up", 60_000);
    await sleep(500);
    await closeAndCheck("two-of-three-down", topic, load, transport);
  } finally {
    load.dispose();
    await sink.close({ timeoutMs: 1000 });
    await restoreCluster();
  }
});

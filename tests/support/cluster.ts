// Helpers for tests against the local 3-node Kafka cluster (`scripts/kafka.sh cluster`):
// its addresses, its commands (kill, pause, resume, restart one node; the leader of each
// partition), topics with replication factor 3, and putting it back together after a test.
//
// Runs unchanged on Node 22, 24 and 26, Deno and Bun. A missing cluster is a test
// failure, never a skip: call `await requireCluster()`.

import { spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { brokerReachable, REPO_ROOT } from "./kafka.ts";

/** Node N's address (PLAINTEXT listener): 127.0.0.1:3960N. */
export function nodeAddress(n: number): string {
  return process.env[`KAFKA_CLUSTER_NODE${n}`] ?? `127.0.0.1:${39600 + n}`;
}

/** The cluster's node numbers. */
export const NODES: ReadonlyArray<number> = [1, 2, 3];

/** All three nodes, as a bootstrap list. */
export const CLUSTER_BOOTSTRAP: string = process.env.KAFKA_CLUSTER_BOOTSTRAP ?? NODES.map(nodeAddress).join(",");

/**
 * Runs `bash scripts/kafka.sh cluster <command>` and returns its standard output, e.g.
 * `cluster("kill 2")`, `cluster("restart 2")`, `cluster("leader t")`. Rejects with the
 * script's output when it exits non-zero or runs longer than `timeoutMs`.
 */
export function cluster(command: string, timeoutMs = 120_000): Promise<string> {
  const args = [join(REPO_ROOT, "scripts", "kafka.sh"), "cluster", ...command.trim().split(/\s+/)];
  return new Promise((resolve, reject) => {
    const child = spawn("bash", args, { cwd: REPO_ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout!.on("data", (c: Uint8Array) => (out += new TextDecoder().decode(c)));
    child.stderr!.on("data", (c: Uint8Array) => (err += new TextDecoder().decode(c)));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run scripts/kafka.sh cluster ${command}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`scripts/kafka.sh cluster ${command} failed (${code ?? signal}):\n${out}${err}`));
    });
  });
}

/** Throws unless all three nodes accept connections: tests that need the cluster fail, never skip. */
export async function requireCluster(): Promise<void> {
  for (const n of NODES) {
    if (!(await brokerReachable(nodeAddress(n)))) {
      throw new Error(`Kafka cluster node ${n} not reachable at ${nodeAddress(n)}; start the cluster with \`bash scripts/kafka.sh cluster start\``);
    }
  }
}

/** Creates `topic` with replication factor 3 and waits until every partition has a leader. */
export async function createClusterTopic(topic: string, partitions = 6): Promise<void> {
  await cluster(`topic ${topic} ${partitions}`);
}

/** One partition of a topic: its leader node (-1: none) and in-sync replicas. */
export interface PartitionState {
  partition: number;
  leader: number;
  isr: number[];
}

/** The leader and in-sync replicas of each partition of `topic`. */
export async function partitionStates(topic: string): Promise<PartitionState[]> {
  const out: PartitionState[] = [];
  for (const line of (await cluster(`leader ${topic}`)).split("\n")) {
    const [partition, leader, isr] = line.trim().split(/\s+/);
    if (partition === undefined || leader === undefined || isr === undefined) continue;
    out.push({ partition: Number(partition), leader: Number(leader), isr: isr === "-" ? [] : isr.split(",").map(Number) });
  }
  return out;
}

/** The leader node of each partition of `topic` (-1: none). */
export async function leaders(topic: string): Promise<Map<number, number>> {
  return new Map((await partitionStates(topic)).map((p) => [p.partition, p.leader]));
}

/** The node that leads most partitions of `topic`. */
export async function busiestLeader(topic: string): Promise<number> {
  const counts = new Map<number, number>();
  for (const leader of (await leaders(topic)).values()) if (leader > 0) counts.set(leader, (counts.get(leader) ?? 0) + 1);
  let best = 1;
  for (const [node, count] of counts) if (count > (counts.get(best) ?? 0)) best = node;
  return best;
}

/** Resumes paused nodes and restarts stopped ones, each back in sync: the cluster as a test found it. */
export async function restoreCluster(): Promise<void> {
  const status = await cluster("status");
  for (const n of NODES) {
    const line = status.split("\n").find((l) => l.startsWith(`node ${n} `)) ?? "";
    if (line.includes(" paused ")) await cluster(`resume ${n}`);
    if (line.includes(" stopped ")) await cluster(`restart ${n}`);
  }
  await requireCluster();
}

const CLUSTER_DIR = resolve(REPO_ROOT, process.env.KAFKA_CLUSTER_DIR ?? ".kafka/cluster");

/** The size of node N's server log now: where {@linkcode serverLogSince} starts. */
export function serverLogSize(n: number): number {
  try {
    return statSync(join(CLUSTER_DIR, `node${n}`, "server.log")).size;
  } catch {
    return 0;
  }
}

/** What node N's server log gained after `offset` (from {@linkcode serverLogSize}). */
export function serverLogSince(n: number, offset: number): string {
  const all = readFileSync(join(CLUSTER_DIR, `node${n}`, "server.log"));
  return new TextDecoder().decode(all.subarray(offset));
}

// The edge: records per second through one Durable Object, and what the front adds to a
// request's latency, measured in workerd (from npm) on this machine. Node drives it.
//
//   node benchmarks/edge.ts            -> benchmarks/results/edge.json
//
// The test Worker (tests/edge/worker.ts, bundled with shedsink/cloudflare/build's
// options) runs in one workerd process; its Durable Object's sink writes to the
// benchmarks' broker (lib/broker.ts) with the default options (5 MiB, lingerMs 20).
// Records are small JSON objects (`{"id":"t12-34","path":"/records"}`, ~40 bytes).
//
// throughput   requests of `perRequest` records, 8 at a time, until `records` have been
//              sent; then /flush waits until the object has settled them all. Per
//              round: records/s accepted (until the last request was answered and its
//              records handed over) and delivered (until the flush returned). The
//              baseline in the same run: /plain requests (no records, no front), 8 at a
//              time: workerd's own request rate here, the ceiling for any front.
// latency      one request at a time from this process, interleaved: /plain (the
//              baseline: a Worker that only answers), /records?n=1 and ?n=10 (the
//              front collects 1 or 10 records and hands them over in waitUntil, after
//              the response). Client-side round trip, p50 and p99.

import { performance } from "node:perf_hooks";
import { distribution, hostInfo, median, round, runtimeInfo, writeResult } from "./lib/common.ts";
import { ensureBroker } from "./lib/broker.ts";
import { Workerd, WORKERD } from "../tests/support/workerd.ts";

const brokers = ensureBroker();
const topic = `bench-edge-${Date.now()}`;
const w = await Workerd.start({ topic, brokers });

async function get(path: string): Promise<Response> {
  const r = await fetch(`${w.url}${path}`);
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
  return r;
}

async function parallel(requests: number, concurrency: number, path: (i: number) => string): Promise<void> {
  let next = 0;
  const loop = async () => {
    for (let i = next++; i < requests; i = next++) await get(path(i));
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
}

interface Stats {
  object: { delivered: { records: number }; conservationErrors: string[] };
  front: { pending: number; handedOver: number };
}
const stats = async (): Promise<Stats> => (await (await fetch(`${w.url}/stats`)).json()) as Stats;

try {
  // Warm up: the object, its Kafka connection, the topic.
  await parallel(50, 4, (i) => `/records?n=10&id=w${i}`);
  await get("/flush?ms=30000");

  const records = 30_000;
  const throughput: Record<string, unknown>[] = [];
  for (const perRequest of [10, 100, 1000]) {
    const rounds: { acceptedPerSec: number; deliveredPerSec: number; plainRequestsPerSec: number }[] = [];
    for (let round_ = 0; round_ < 3; round_++) {
      const before = (await stats()).object.delivered.records;
      const t0 = performance.now();
      await parallel(records / perRequest, 8, (i) => `/records?n=${perRequest}&id=t${perRequest}-${round_}-${i}`);
      while ((await stats()).front.pending > 0) await new Promise((r) => setTimeout(r, 1));
      const t1 = performance.now();
      await get("/flush?ms=60000");
      const t2 = performance.now();
      const s = await stats();
      if (s.object.delivered.records - before !== records) throw new Error(`delivered ${s.object.delivered.records - before} of ${records}`);
      if (s.object.conservationErrors.length > 0) throw new Error(s.object.conservationErrors.join("; "));
      const plainRequests = Math.min(records / perRequest, 1000);
      const p0 = performance.now();
      await parallel(plainRequests, 8, () => "/plain");
      const p1 = performance.now();
      rounds.push({
        acceptedPerSec: Math.round(records / ((t1 - t0) / 1000)),
        deliveredPerSec: Math.round(records / ((t2 - t0) / 1000)),
        plainRequestsPerSec: Math.round(plainRequests / ((p1 - p0) / 1000)),
      });
    }
    throughput.push({
      perRequest,
      records,
      concurrency: 8,
      rounds,
      medianAcceptedPerSec: median(rounds.map((r) => r.acceptedPerSec)),
      medianDeliveredPerSec: median(rounds.map((r) => r.deliveredPerSec)),
      medianRequestsPerSec: Math.round(median(rounds.map((r) => r.deliveredPerSec)) / perRequest),
      medianPlainRequestsPerSec: median(rounds.map((r) => r.plainRequestsPerSec)),
    });
  }

  const samples: Record<string, number[]> = { plain: [], front1: [], front10: [] };
  const paths: Record<string, string> = { plain: "/plain", front1: "/records?n=1&id=l", front10: "/records?n=10&id=m" };
  for (let i = 0; i < 1500; i++) {
    for (const k of Object.keys(paths)) {
      const t = performance.now();
      await get(`${paths[k]}${k === "plain" ? "" : i}`);
      if (i >= 100) samples[k]!.push(performance.now() - t);
    }
  }
  await get("/flush?ms=30000");
  const latency = Object.fromEntries(Object.entries(samples).map(([k, xs]) => {
    const d = distribution(Float64Array.from(xs).sort());
    return [k, { n: d.n, p50Ms: round(d.p50, 3), p99Ms: round(d.p99, 3), meanMs: round(d.mean, 3) }];
  }));
  const final = await stats();
  const result = {
    benchmark: "edge",
    date: new Date().toISOString(),
    ...runtimeInfo(),
    host: hostInfo(),
    workerd: WORKERD.version,
    command: "node benchmarks/edge.ts",
    throughput,
    latency: {
      ...latency,
      addedP50Ms: { front1: round(latency.front1!.p50Ms - latency.plain!.p50Ms, 3), front10: round(latency.front10!.p50Ms - latency.plain!.p50Ms, 3) },
      addedP99Ms: { front1: round(latency.front1!.p99Ms - latency.plain!.p99Ms, 3), front10: round(latency.front10!.p99Ms - latency.plain!.p99Ms, 3) },
    },
    conservationErrors: final.object.conservationErrors,
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`wrote ${writeResult("edge", result)}`);
} finally {
  await w.stop();
}

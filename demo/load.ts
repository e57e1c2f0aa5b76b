// The demo's load generator, a process of its own so that it never shares the server's
// event loop. Open loop: it sends GET /query at a fixed rate over a bounded pool of
// keep-alive connections, whether or not earlier requests have been answered, and
// measures each request's latency as the client sees it (send to last byte). When
// `maxInFlight` requests are outstanding it does not queue more: the request is counted
// as skipped, so a stalled server shows up as skips instead of a growing backlog.
//
// Configuration: the DEMO_LOAD environment variable, JSON: { port, rate, connections, maxInFlight }.
// Commands (stdin): {cmd:"phase",name} {cmd:"run",on} {cmd:"sample",seq} {cmd:"stop"}.
// Replies (stdout): {type:"ready"} {type:"sample",...} {type:"final",...}.

import http from "node:http";
import process from "node:process";
import { PhaseLatencies, readCommands, reply } from "./common.ts";

interface LoadConfig {
  port: number;
  rate: number;
  connections: number;
  maxInFlight: number;
}

const config = JSON.parse(process.env.DEMO_LOAD ?? "{}") as LoadConfig;
const agent = new http.Agent({ keepAlive: true, maxSockets: config.connections, maxFreeSockets: config.connections });

let phase = "warmup";
const latencies = new PhaseLatencies(phase);
let running = false;
let startedAt = 0;
let due = 0;
let inFlight = 0;
const totals = { sent: 0, ok: 0, errors: 0, skipped: 0 };
const skippedByPhase: Record<string, number> = {};
const interval = { sent: 0, ok: 0, errors: 0, skipped: 0 };
let seq = 0;

function send(): void {
  if (inFlight >= config.maxInFlight) {
    totals.skipped++;
    interval.skipped++;
    skippedByPhase[phase] = (skippedByPhase[phase] ?? 0) + 1;
    return;
  }
  inFlight++;
  totals.sent++;
  interval.sent++;
  seq++;
  const started = performance.now();
  const req = http.get(
    { agent, host: "127.0.0.1", port: config.port, path: `/query?q=${seq % 8}&id=${(seq * 2654435761) % 1_000_003}` },
    (res) => {
      res.on("data", () => {});
      res.on("end", () => {
        inFlight--;
        if (res.statusCode === 200) {
          latencies.record(performance.now() - started);
          totals.ok++;
          interval.ok++;
        } else {
          totals.errors++;
          interval.errors++;
        }
      });
    },
  );
  req.on("error", () => {
    inFlight--;
    totals.errors++;
    interval.errors++;
  });
}

// Every millisecond, send what the rate says is due by now.
const ticker = setInterval(() => {
  if (!running) return;
  const target = Math.floor(((performance.now() - startedAt) * config.rate) / 1000);
  while (due < target) {
    due++;
    send();
  }
}, 1);

readCommands((c) => {
  switch (c.cmd) {
    case "phase":
      phase = String(c.name);
      latencies.setPhase(phase);
      break;
    case "run":
      if (c.on === true && !running) {
        running = true;
        startedAt = performance.now();
        due = 0;
      } else if (c.on !== true) {
        running = false;
      }
      break;
    case "sample":
      reply({ type: "sample", seq: c.seq, t: Date.now(), phase, ...interval, inFlight, lat: latencies.take() });
      interval.sent = interval.ok = interval.errors = interval.skipped = 0;
      break;
    case "stop":
      void stop();
      break;
  }
});

async function stop(): Promise<void> {
  running = false;
  clearInterval(ticker);
  const deadline = Date.now() + 5000;
  while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  reply({ type: "final", ...totals, skippedByPhase, unanswered: inFlight, latency: latencies.phases({ on: ["before", "outage", "after"], baseline: ["baseline-before", "baseline-after"] }) });
  agent.destroy();
  setTimeout(() => process.exit(0), 50);
}

reply({ type: "ready" });

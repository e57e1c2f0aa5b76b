// The packed package in workerd: a Worker that imports "shedsink/cloudflare" from it,
// bundled with "shedsink/cloudflare/build"'s esbuild options, served by workerd (both
// from this repository's node_modules, SHEDSINK_REPO). No broker: the object takes the
// records (the Kafka client loaded at the Worker's global scope, its transport
// connecting) and its books balance. Run by scripts/check-dist.sh.

import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";

const repo = process.env.SHEDSINK_REPO;
if (!repo) throw new Error("SHEDSINK_REPO: the repository, for esbuild and workerd");
const fromRepo = createRequire(join(repo, "package.json"));
const esbuild = fromRepo("esbuild");
const workerd = fromRepo("workerd").default;
const { workerdBuildOptions } = await import("shedsink/cloudflare/build");

const dir = join(process.cwd(), "edge");
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, "worker.mjs"), `
import { DurableObject } from "cloudflare:workers";
import { edgeKafkaTransport, sinkFront, sinkObject } from "shedsink/cloudflare";
export class Sink extends sinkObject(DurableObject, () => ({ transport: edgeKafkaTransport({ brokers: "127.0.0.1:9", topic: "t" }) })) {}
const front = sinkFront({ namespace: (env) => env.SINK });
const records = front.wrap((request, env, ctx, collector) => (collector.emit({ path: new URL(request.url).pathname }), new Response("ok")));
export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname !== "/stats") return records(request, env, ctx);
    return Response.json({ object: await env.SINK.get(env.SINK.idFromName("shedsink")).stats(), front: front.stats() });
  },
};
`);
await esbuild.build({ ...workerdBuildOptions(), entryPoints: [join(dir, "worker.mjs")], outfile: join(dir, "bundle.js"), logLevel: "error" });

const port = await new Promise((resolve, reject) => {
  const server = createServer();
  server.once("error", reject);
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});
writeFileSync(join(dir, "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .edge), (name = "internet", network = (allow = ["public", "private", "local"])) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const edge :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "bundle.js") ],
  compatibilityDate = "2026-11-01",
  bindings = [ (name = "SINK", durableObjectNamespace = "Sink") ],
  durableObjectNamespaces = [ (className = "Sink", uniqueKey = "shedsink-dist") ],
  durableObjectStorage = (inMemory = void),
);
`);
let output = "";
const child = spawn(workerd, ["serve", "config.capnp"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
child.stdout.on("data", (b) => (output += b));
child.stderr.on("data", (b) => (output += b));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const base = `http://127.0.0.1:${port}`;
let problem = null;
try {
  for (let i = 0; ; i++) {
    try {
      await (await fetch(`${base}/a`)).text();
      break;
    } catch {
      if (i > 200 || child.exitCode !== null) throw new Error(`workerd did not serve:\n${output}`);
      await sleep(50);
    }
  }
  await (await fetch(`${base}/b`)).text();
  await (await fetch(`${base}/c`)).text();
  let stats;
  for (let i = 0; i < 100; i++) {
    stats = await (await fetch(`${base}/stats`)).json();
    if (stats.object.accepted.records === 3) break;
    await sleep(50);
  }
  if (stats.object.accepted.records !== 3) problem = `the object accepted ${stats.object.accepted.records} of 3: ${JSON.stringify(stats)}\n${output}`;
  else if (stats.object.conservationErrors.length > 0) problem = `conservation: ${stats.object.conservationErrors.join("; ")}`;
  else if (stats.front.handedOver !== 3) problem = `the front handed over ${stats.front.handedOver} of 3`;
} catch (error) {
  problem = String(error);
} finally {
  child.kill("SIGKILL");
}
if (problem !== null) {
  console.error(`workerd: FAILED: ${problem}`);
  process.exit(1);
}
console.log("workerd: the packed shedsink/cloudflare bundled and ran in workerd: 3 records taken by the Durable Object, books balanced");

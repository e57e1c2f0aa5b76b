// Starting a worker thread on a TypeScript module, on every runtime the tests run on:
// Node >= 22, Deno and Bun load it as it is; Node 20 (through tsx) needs tsx registered
// in the worker first, which its --import does not do for workers.
import { Worker } from "node:worker_threads";
import process from "node:process";

interface RuntimeGlobals {
  Deno?: unknown;
  Bun?: unknown;
}

export function startWorker(url: URL, workerData: unknown): Worker {
  const g = globalThis as RuntimeGlobals;
  const major = Number(process.versions.node?.split(".")[0] ?? 0);
  if (g.Deno === undefined && g.Bun === undefined && major < 22) {
    const boot = `import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })` +
      `.catch((e) => { console.error(e); process.exit(1); });`;
    return new Worker(boot, { eval: true, workerData });
  }
  return new Worker(url, { workerData });
}

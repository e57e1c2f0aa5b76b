// workerd for the edge suite: the test Worker (tests/edge/worker.ts) bundled with
// esbuild and shedsink/cloudflare/build's options, a generated workerd config (a Durable
// Object namespace, the network the test allows), and workerd from npm run as a child
// process on a free port. Node only (esbuild and workerd's binary are npm packages).

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { workerdBuildOptions } from "../../src/cloudflare/build.ts";
import { BOOTSTRAP, REPO_ROOT } from "./kafka.ts";
import { freePortRange } from "./ports.ts";
import { sleep } from "./wait.ts";

const require = createRequire(import.meta.url);

/** The workerd binary the npm package installed, and its version. */
export const WORKERD: { readonly bin: string; readonly version: string; readonly compatibilityDate: string } = (() => {
  const m = require("workerd") as { default: string; version: string; compatibilityDate: string };
  return { bin: m.default, version: m.version, compatibilityDate: m.compatibilityDate };
})();

let bundled: Promise<string> | null = null;

/** Bundles `tests/edge/worker.ts` once per process; resolves to the directory holding `worker.js`. */
export function bundleWorker(): Promise<string> {
  bundled ??= (async () => {
    const esbuild = (await import("esbuild")) as { build(options: Record<string, unknown>): Promise<unknown> };
    const dir = mkdtempSync(join(tmpdir(), "shedsink-edge-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    await esbuild.build({
      ...workerdBuildOptions(),
      entryPoints: [join(REPO_ROOT, "tests/edge/worker.ts")],
      outfile: join(dir, "worker.js"),
      logLevel: "error",
    });
    return dir;
  })();
  return bundled;
}

/** What a workerd run is made of. */
export interface WorkerdOptions {
  /** The topic the object's sink writes to. */
  readonly topic: string;
  readonly brokers?: string;
  /** The sink's options (JSON), with `kafka` for edgeKafkaTransport's. */
  readonly sink?: Record<string, unknown>;
  /** @default the installed workerd's own date */
  readonly compatibilityDate?: string;
  /** @default [] (nodejs_compat is on by default from 2026-08-04) */
  readonly compatibilityFlags?: ReadonlyArray<string>;
  /** The outbound network's `allow` list; null leaves workerd's default (public addresses only). */
  readonly allow?: ReadonlyArray<string> | null;
  /** PEM certificates the network trusts for TLS (workerd's own TLS, not the Worker's options). @default none: no TLS */
  readonly trustedCertificates?: ReadonlyArray<string>;
}

/** A workerd process serving the test Worker on 127.0.0.1. */
export class Workerd {
  readonly url: string;
  readonly #dir: string;
  readonly #config: string;
  #child: ChildProcess | null = null;
  #output = "";
  #exited: Promise<number | null> = Promise.resolve(null);

  private constructor(dir: string, config: string, port: number) {
    this.#dir = dir;
    this.#config = config;
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Writes the config and starts workerd; resolves once it serves requests. */
  static async start(options: WorkerdOptions): Promise<Workerd> {
    const dir = await bundleWorker();
    const port = await freePortRange(1);
    const config = join(dir, `config-${port}.capnp`);
    writeFileSync(config, configText(options, port));
    const w = new Workerd(dir, config, port);
    await w.#launch();
    return w;
  }

  /** stdout and stderr so far. */
  get output(): string {
    return this.#output;
  }

  async #launch(): Promise<void> {
    const child = spawn(WORKERD.bin, ["serve", this.#config, "--experimental"], { cwd: this.#dir, stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    child.stdout!.on("data", (b: Uint8Array) => (this.#output += new TextDecoder().decode(b)));
    child.stderr!.on("data", (b: Uint8Array) => (this.#output += new TextDecoder().decode(b)));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}) before serving:\n${this.#output}`);
      try {
        const r = await fetch(`${this.url}/plain`);
        await r.arrayBuffer();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`workerd not serving after 20 s:\n${this.#output}`);
        await sleep(50);
      }
    }
  }

  /** Kills workerd (SIGKILL: everything in its memory is gone). */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === null || child.exitCode !== null) return;
    child.kill("SIGKILL");
    await this.#exited;
  }

  /** Starts workerd again on the same port and config. */
  async restart(): Promise<void> {
    await this.kill();
    await this.#launch();
  }

  /** GET (or POST) a path; the body parsed as JSON when it is. */
  async call(path: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
    const r = await fetch(`${this.url}${path}`, init);
    const text = await r.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // plain text
    }
    return { status: r.status, body };
  }

  /** Stops workerd and removes its config. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.#config, { force: true });
  }
}

/** The config: one Worker with the sink's Durable Object namespace, and the network the test allows. */
export function configText(o: WorkerdOptions, port: number): string {
  const allow = o.allow === undefined ? ["public", "private", "local"] : o.allow;
  const flags = o.compatibilityFlags ?? [];
  const text = (s: string) => JSON.stringify(s);
  const tls = o.trustedCertificates === undefined ? "" : `, tlsOptions = (trustBrowserCas = true, trustedCertificates = [${o.trustedCertificates.map(text).join(", ")}])`;
  const network = allow === null ? "" : `\n    (name = "internet", network = (allow = [${allow.map(text).join(", ")}]${tls})),`;
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .edge),${network}
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);

const edge :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js") ],
  compatibilityDate = ${text(o.compatibilityDate ?? WORKERD.compatibilityDate)},
  compatibilityFlags = [${flags.map(text).join(", ")}],
  bindings = [
    (name = "BROKERS", text = ${text(o.brokers ?? BOOTSTRAP)}),
    (name = "TOPIC", text = ${text(o.topic)}),
    (name = "SINK_OPTIONS", text = ${text(JSON.stringify(o.sink ?? {}))}),
    (name = "SINK", durableObjectNamespace = "Sink"),
  ],
  durableObjectNamespaces = [ (className = "Sink", uniqueKey = "shedsink-edge-test") ],
  durableObjectStorage = (inMemory = void),
);
`;
}

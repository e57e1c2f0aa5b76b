// A full GC of a sink's worker, for benchmarks that read memory in worker mode
// (benchmarks/memory.ts). A worker has its own heap, and the sink keeps its worker to
// itself: the only code the benchmark can run there is the transport. So the transport
// is wrapped: withWorkerGc(memoryTransport()) or withWorkerGc(kafkaTransport(...)) makes,
// in the worker, the same transport from the same spec (memoryTransport or kafkaTransport
// with its options, as the worker's entry would) and passes every call on to it; besides,
// it answers one message from the application's thread, "collect", with a full GC of the
// worker's heap and the worker's heap figures after it. The wrapped transport's own
// messages between its twins pass through unchanged.
//
// The GC needs the runtime's flag, which workers share with their process: Node
// --expose-gc, Deno --v8-flags=--expose-gc (globalThis.gc), Bun none (Bun.gc(true)).

import type { Batch, SendReport, Transport, TransportContext, TransportSpec, TransportState } from "../../mod.ts";
import { kafkaTransport } from "../../src/transports/kafka.ts";
import { memoryTransport } from "../../src/transports/memory.ts";

/** The worker's heap after its GC, as its runtime tells it (null when it tells none). */
export interface WorkerHeap {
  readonly heapUsed: number | null;
  readonly heapTotal: number | null;
  readonly external: number | null;
  readonly arrayBuffers: number | null;
  /** Whether a full GC ran (false: the runtime has no GC function exposed). */
  readonly collected: boolean;
}

/** A transport wrapped by {@linkcode withWorkerGc}. */
export interface WorkerGcTransport extends Transport {
  /** Runs a full GC in the sink's worker; resolves with its heap after it (null in thread mode, or after `timeoutMs`). */
  collectWorker(timeoutMs?: number): Promise<WorkerHeap | null>;
}

const FACTORIES: Record<string, (options: never) => Transport> = {
  memoryTransport: memoryTransport as (options: never) => Transport,
  kafkaTransport: kafkaTransport as (options: never) => Transport,
};

interface Message {
  readonly inner?: unknown;
  readonly collect?: number;
  readonly collected?: number;
  readonly heap?: WorkerHeap;
}

/** Wraps `inner` so that a benchmark can run a full GC in the worker that runs it. */
export function withWorkerGc(inner: Transport): WorkerGcTransport {
  return new WorkerGc(inner);
}

/** The worker's side: the factory the worker calls with the spec made by `toWorker()`. */
export function workerGcTransport(options: { spec: TransportSpec }): Transport {
  const factory = FACTORIES[options.spec.factory];
  if (factory === undefined) throw new TypeError(`withWorkerGc: no factory ${options.spec.factory}`);
  return new WorkerGc(factory(options.spec.options as never));
}

class WorkerGc implements WorkerGcTransport {
  readonly #inner: Transport;
  #post: ((message: unknown) => void) | null = null;
  #side: "host" | "worker" | null = null;
  #ids = 0;
  readonly #waiting = new Map<number, (heap: WorkerHeap) => void>();

  constructor(inner: Transport) {
    this.#inner = inner;
  }

  get name(): string {
    return this.#inner.name;
  }
  start(context: TransportContext): void {
    this.#inner.start?.(context);
  }
  send(batch: Batch, signal: AbortSignal): Promise<SendReport | undefined> {
    return this.#inner.send(batch, signal);
  }
  state(): TransportState {
    return this.#inner.state();
  }
  failure(): { readonly code: string; readonly message: string } | null {
    return this.#inner.failure?.() ?? null;
  }
  close(timeoutMs: number): Promise<void> {
    return this.#inner.close(timeoutMs);
  }
  toWorker(): TransportSpec {
    const spec = this.#inner.toWorker!();
    return { module: import.meta.url, factory: "workerGcTransport", options: { spec } };
  }

  remote(post: (message: unknown) => void, side: "host" | "worker"): (message: unknown) => void {
    this.#post = post;
    this.#side = side;
    const toInner = this.#inner.remote?.((message) => post({ inner: message } satisfies Message), side) ?? null;
    return (raw) => {
      const message = raw as Message;
      if (message.collect !== undefined) post({ collected: message.collect, heap: fullGc() } satisfies Message);
      else if (message.collected !== undefined) this.#waiting.get(message.collected)?.(message.heap!);
      else toInner?.(message.inner);
    };
  }

  collectWorker(timeoutMs = 5000): Promise<WorkerHeap | null> {
    if (this.#side !== "host") return Promise.resolve(null);
    const id = ++this.#ids;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(null);
      }, timeoutMs);
      this.#waiting.set(id, (heap) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(heap);
      });
      this.#post!({ collect: id } satisfies Message);
    });
  }
}

interface GcGlobals {
  gc?: () => void;
  Bun?: { gc(force: boolean): void };
  process?: { memoryUsage(): { heapUsed: number; heapTotal: number; external: number; arrayBuffers?: number } };
}

/** A full GC of this thread's heap (twice: what the first frees can free more), and the heap after it. */
export function fullGc(): WorkerHeap {
  const g = globalThis as GcGlobals;
  let collected = true;
  if (g.Bun !== undefined) {
    g.Bun.gc(true);
    g.Bun.gc(true);
  } else if (typeof g.gc === "function") {
    g.gc();
    g.gc();
  } else collected = false;
  let m: { heapUsed: number; heapTotal: number; external: number; arrayBuffers?: number } | null = null;
  try {
    m = g.process?.memoryUsage() ?? null;
  } catch {
    m = null;
  }
  return { heapUsed: m?.heapUsed ?? null, heapTotal: m?.heapTotal ?? null, external: m?.external ?? null, arrayBuffers: m?.arrayBuffers ?? null, collected };
}

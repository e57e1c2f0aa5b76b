// A small TCP proxy for fault tests, between a Kafka client and the broker.
//
// Runs on Node, Deno and Bun (node:net only). Point it at the broker's PROXIED
// listener and bootstrap the client at the proxy: the broker advertises the proxy's
// address there, so every connection the client opens goes through the proxy.
//
//   const proxy = await startProxy({ listenPort: PROXIED_PROXY_PORT,
//                                    targetHost: "127.0.0.1", targetPort: PROXIED_TARGET_PORT });
//   proxy.mode("blackhole");   // a network partition: nothing gets through, nothing closes
//   proxy.mode("delay", 300);  // 300 ms added to every chunk, each direction
//   proxy.mode("reset");       // every connection reset, new ones refused with a reset
//   proxy.mode("pass");
//   await proxy.close();
//
// A mode applies at once to the connections already open as well as to new ones.
// Bytes dropped by "blackhole" are gone: a connection that lived through a blackhole
// has lost part of its stream, so when traffic passes again the client has to give up
// on it (request timeout) and reconnect, as after a real partition that outlived the
// TCP retransmission time.

import { createConnection, createServer, type Server, type Socket } from "node:net";

export type ProxyMode = "pass" | "blackhole" | "delay" | "reset";

export interface ProxyOptions {
  /** Port to listen on; 0 (default) picks a free one (see `port`). */
  listenPort?: number;
  /** Default 127.0.0.1. */
  listenHost?: string;
  targetHost: string;
  targetPort: number;
  /** Initial mode, default "pass". */
  mode?: ProxyMode;
  /** Latency for "delay" mode when `mode("delay")` is called without one; default 100 ms. */
  delayMs?: number;
}

export interface ProxyStats {
  /** Connections accepted since start (including those reset on arrival). */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Bytes forwarded client -> target and target -> client. */
  bytesUp: number;
  bytesDown: number;
  /** Bytes read and thrown away ("blackhole"). */
  bytesDropped: number;
  /** Connections reset by "reset" mode (open ones and refused new ones). */
  resets: number;
}

export interface Proxy {
  /** The port the proxy listens on. */
  readonly port: number;
  /** Switches mode for existing and new connections; `delayMs` applies to "delay". */
  mode(m: ProxyMode, delayMs?: number): void;
  readonly currentMode: ProxyMode;
  stats(): ProxyStats;
  /** Stops listening and closes every connection. */
  close(): Promise<void>;
}

interface Pending {
  at: number;
  chunk: Uint8Array;
}

/** One direction of one connection: from `src` to `dst`. */
class Lane {
  queue: Pending[] = [];
  timer: ReturnType<typeof setTimeout> | undefined;
  srcEnded = false;
  readonly src: Socket;
  readonly dst: Socket;
  readonly count: (n: number) => void;

  constructor(src: Socket, dst: Socket, count: (n: number) => void) {
    this.src = src;
    this.dst = dst;
    this.count = count;
  }

  write(chunk: Uint8Array): void {
    if (this.dst.destroyed) return;
    this.count(chunk.byteLength);
    if (!this.dst.write(chunk) && !this.src.isPaused()) {
      // backpressure from a slow side, in "pass" and "delay" modes
      this.src.pause();
      this.dst.once("drain", () => this.src.resume());
    }
  }

  /** Chunks are written in order: a chunk is never overtaken by a later one. */
  push(chunk: Uint8Array, delayMs: number): void {
    if (delayMs <= 0 && this.queue.length === 0) {
      this.write(chunk);
      return;
    }
    this.queue.push({ at: Date.now() + delayMs, chunk });
    this.schedule();
  }

  schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0]!.at - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      while (this.queue.length > 0 && this.queue[0]!.at <= now) this.write(this.queue.shift()!.chunk);
      if (this.queue.length > 0) this.schedule();
      else if (this.srcEnded) this.dst.end();
    }, wait);
  }

  /** Forgets everything queued (blackhole, reset, close). */
  drop(): number {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    let n = 0;
    for (const p of this.queue) n += p.chunk.byteLength;
    this.queue = [];
    return n;
  }

  /** The source half-closed: pass the end on once everything before it is written. */
  end(): void {
    this.srcEnded = true;
    if (this.queue.length === 0) this.dst.end();
  }
}

function hardClose(socket: Socket): void {
  if (socket.destroyed) return;
  // RST instead of FIN where the runtime can (Node >= 16.17, some Bun versions)
  const s = socket as Socket & { resetAndDestroy?: () => Socket };
  if (typeof s.resetAndDestroy === "function") {
    try {
      s.resetAndDestroy();
      return;
    } catch {
      // not connected yet, or unsupported: plain destroy below
    }
  }
  socket.destroy();
}

class Connection {
  readonly up: Lane;
  readonly down: Lane;
  targetGone = false;
  closed = false;
  readonly client: Socket;
  readonly target: Socket;
  readonly proxy: ProxyImpl;

  constructor(client: Socket, target: Socket, proxy: ProxyImpl) {
    this.client = client;
    this.target = target;
    this.proxy = proxy;
    this.up = new Lane(client, target, (n) => (proxy.s.bytesUp += n));
    this.down = new Lane(target, client, (n) => (proxy.s.bytesDown += n));
    client.setNoDelay(true);
    target.setNoDelay(true);

    client.on("data", (c: Uint8Array) => this.onData(this.up, c));
    target.on("data", (c: Uint8Array) => this.onData(this.down, c));

    client.on("end", () => {
      if (this.proxy.current === "blackhole") this.destroy();
      else this.up.end();
    });
    target.on("end", () => {
      // hidden while blackholed: the client must see nothing at all
      if (this.proxy.current === "blackhole") this.targetGone = true;
      else this.down.end();
    });
    client.on("close", () => this.destroy());
    target.on("close", () => {
      if (this.proxy.current === "blackhole") this.targetGone = true;
      else this.destroy();
    });
    client.on("error", () => this.destroy());
    target.on("error", () => {
      if (this.proxy.current === "blackhole") this.targetGone = true;
      else this.reset();
    });
  }

  onData(lane: Lane, chunk: Uint8Array): void {
    switch (this.proxy.current) {
      case "pass":
        lane.push(chunk, 0);
        break;
      case "delay":
        lane.push(chunk, this.proxy.delayMs);
        break;
      case "blackhole":
        this.proxy.s.bytesDropped += chunk.byteLength;
        break;
      case "reset":
        this.reset();
        break;
    }
  }

  /** Applies a new mode to this open connection. */
  apply(mode: ProxyMode): void {
    if (mode === "reset") {
      this.reset();
      return;
    }
    if (mode === "blackhole") {
      this.proxy.s.bytesDropped += this.up.drop() + this.down.drop();
      // keep reading (and discarding) even if a side was paused for backpressure
      this.client.resume();
      this.target.resume();
      return;
    }
    if (this.targetGone) {
      // the broker closed this connection during the blackhole: show it now
      this.destroy();
    }
  }

  reset(): void {
    if (this.closed) return;
    this.proxy.s.resets++;
    this.closed = true;
    this.up.drop();
    this.down.drop();
    hardClose(this.client);
    hardClose(this.target);
    this.proxy.conns.delete(this);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.up.drop();
    this.down.drop();
    this.client.destroy();
    this.target.destroy();
    this.proxy.conns.delete(this);
  }
}

class ProxyImpl implements Proxy {
  current: ProxyMode;
  delayMs: number;
  readonly conns = new Set<Connection>();
  readonly s: ProxyStats = { accepted: 0, open: 0, bytesUp: 0, bytesDown: 0, bytesDropped: 0, resets: 0 };
  port = 0;
  readonly server: Server;
  readonly opts: ProxyOptions;

  constructor(opts: ProxyOptions) {
    this.opts = opts;
    this.current = opts.mode ?? "pass";
    this.delayMs = opts.delayMs ?? 100;
    this.server = createServer((client) => this.accept(client));
  }

  accept(client: Socket): void {
    this.s.accepted++;
    if (this.current === "reset") {
      this.s.resets++;
      client.on("error", () => {});
      hardClose(client);
      return;
    }
    const target = createConnection({ host: this.opts.targetHost, port: this.opts.targetPort });
    this.conns.add(new Connection(client, target, this));
  }

  mode(m: ProxyMode, delayMs?: number): void {
    if (delayMs !== undefined) this.delayMs = delayMs;
    this.current = m;
    for (const c of [...this.conns]) c.apply(m);
  }

  get currentMode(): ProxyMode {
    return this.current;
  }

  stats(): ProxyStats {
    return { ...this.s, open: this.conns.size };
  }

  close(): Promise<void> {
    for (const c of [...this.conns]) c.destroy();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
    });
  }
}

/** Starts a proxy; resolves once it listens. */
export function startProxy(opts: ProxyOptions): Promise<Proxy> {
  const proxy = new ProxyImpl(opts);
  return new Promise((resolve, reject) => {
    proxy.server.once("error", reject);
    proxy.server.listen(opts.listenPort ?? 0, opts.listenHost ?? "127.0.0.1", () => {
      proxy.server.off("error", reject);
      const addr = proxy.server.address();
      proxy.port = typeof addr === "object" && addr !== null ? addr.port : (opts.listenPort ?? 0);
      resolve(proxy);
    });
  });
}

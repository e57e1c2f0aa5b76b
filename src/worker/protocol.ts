/**
 * Worker mode: what the application's thread (`host.ts`) and the worker (`entry.ts`)
 * tell each other. The records never travel as messages: they are in the shared ring,
 * and the counters in its control block. Messages carry requests (flush, close), their
 * answers, and the worker's status (its last error, the transport's name and state).
 *
 * @module
 */

import type { Header } from "../core/frame.ts";
import type { FlusherSettings } from "../core/flusher.ts";
import type { TransportSpec, TransportState } from "../core/contract.ts";

/** What a worker is started with (its `workerData`). */
export interface WorkerStart {
  readonly data: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  readonly settings: FlusherSettings & {
    readonly capacityBytes: number;
    readonly classes: number;
    readonly staticHeaders: ReadonlyArray<Header> | null;
  };
  readonly spec: TransportSpec;
  /** Frames committed so far (the ring holds the count mod 2^32). */
  readonly appended: number;
  /** Messages for the transport sent before the worker started, to apply before anything else. */
  readonly early: ReadonlyArray<unknown>;
}

/** From the application's thread to the worker. */
export type HostMessage =
  | { readonly type: "flush"; readonly id: number; readonly timeoutMs: number }
  | { readonly type: "close"; readonly timeoutMs: number }
  | { readonly type: "transport"; readonly message: unknown }
  | { readonly type: "hookResult"; readonly id: number; readonly value?: unknown; readonly error?: string };

/** From the worker to the application's thread. */
export type WorkerMessage =
  | { readonly type: "ready" }
  | { readonly type: "flushed"; readonly id: number; readonly settled: boolean }
  | { readonly type: "closed"; readonly flushed: boolean; readonly inDoubt: { records: number; bytes: number } }
  | { readonly type: "status"; readonly name: string; readonly lastError: string | null; readonly state: TransportState }
  | { readonly type: "transport"; readonly message: unknown }
  | { readonly type: "hook"; readonly id: number; readonly path: string; readonly args: ReadonlyArray<unknown> };

/**
 * Loading a Kafka client package that is an optional peer dependency: imported when the
 * sink starts the transport (never at the import of shedsink), once, and when it cannot
 * be, one final error that says what to install.
 *
 * @module
 */

import { TransportError } from "../../core/errors.ts";

/** What a client package must export: a `Producer` class. */
export interface ProducerModule {
  readonly Producer: new (...args: never[]) => unknown;
}

/**
 * The module `load()` gives (or its default export, as CommonJS packages load on some
 * runtimes), once. Rejects with a final `TransportError` naming the package when it does
 * not load or has no `Producer`; `note` is appended to "install it next to shedsink".
 */
export function optionalPackage<M extends ProducerModule>(transport: string, name: string, load: () => Promise<unknown>, note = ""): () => Promise<M> {
  let loading: Promise<M> | null = null;
  return () => {
    loading ??= load().then(
      (loaded) => {
        const m = loaded as { default?: unknown } | null | undefined;
        const mod = (typeof (m as ProducerModule | null | undefined)?.Producer === "function" ? m : m?.default) as M | null | undefined;
        if (mod === undefined || mod === null || typeof mod.Producer !== "function") {
          throw cannotLoad(transport, name, note, new Error(`${name} did not load as expected (no Producer)`));
        }
        return mod;
      },
      (error: unknown) => {
        throw cannotLoad(transport, name, note, error);
      },
    );
    return loading;
  };
}

function cannotLoad(transport: string, name: string, note: string, error: unknown): TransportError {
  return new TransportError("TRANSPORT_UNAVAILABLE", `${transport} transport: cannot load ${name} (install it next to shedsink${note}): ${messageOf(error)}`, {
    retriable: false,
    cause: error,
  });
}

/** An error's message, or the thing itself as text. */
export function messageOf(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const text = (error as { message?: unknown }).message;
    if (typeof text === "string" && text.length > 0) return text;
  }
  return String(error);
}

/**
 * Cancellation by AbortSignal, the same on every host. The client is type-checked without DOM or
 * Node types, so it names the signal by the little it uses; any host's AbortSignal fits.
 */
import { AbortedError } from "../core/errors.js";

export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** The error an aborted operation rejects with: an AbortedError naming what, keeping the signal's reason as its cause. */
export function abortedError(what: string, signal: AbortSignalLike): AbortedError {
  return new AbortedError(`${what} was aborted by its signal`, { cause: signal.reason });
}

/** Throws at once if `signal` is already aborted: nothing is sent for an operation aborted before it starts. */
export function throwIfAborted(what: string, signal: AbortSignalLike | undefined): void {
  if (signal?.aborted) throw abortedError(what, signal);
}

/** Runs `onAbort` when `signal` aborts while `work` runs; the listener is removed when it settles. */
export async function whileListening<T>(signal: AbortSignalLike | undefined, onAbort: () => void, work: Promise<T>): Promise<T> {
  if (signal === undefined) return work;
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await work;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

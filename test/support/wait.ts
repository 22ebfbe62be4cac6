/** Polling with a deadline, for peers whose readiness can only be observed from outside. */
import { sleep } from "../../src/bench/process.js";
import { HarnessError } from "./errors.js";

export { sleep };

export interface PollOptions {
  /** Give up after this long (10 s unless told). */
  readonly timeoutMs?: number;
  /** Time between probes (50 ms unless told). */
  readonly intervalMs?: number;
  /** What is awaited, for the timeout message ("tgtd listening on 127.0.0.1:40000"). */
  readonly what: string;
}

/**
 * Calls `probe` until it returns something other than `undefined` or `false`, and returns that.
 * A probe that throws ends the wait with its error: it knows the state can no longer be reached.
 * On timeout the error names `what` and, if `describe` is given, what was seen last.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: PollOptions,
  describe?: () => string,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() >= deadline) {
      const seen = describe === undefined ? "" : `; last seen: ${describe()}`;
      throw new HarnessError("PEER_ERR_TIMEOUT", `timed out after ${timeoutMs} ms waiting for ${options.what}${seen}`);
    }
    await sleep(options.intervalMs ?? 50);
  }
}

/** `promise`'s value, or undefined if it has not settled within `ms` (the timer does not outlive it). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

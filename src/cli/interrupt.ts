/**
 * SIGINT and SIGTERM. The first one aborts the command's AbortSignal: the command stops issuing
 * work, removes what it must not leave behind (a partial output file), logs out, and the tool
 * exits 130. A second one exits 130 at once, after the synchronous clean-ups.
 */
import { CliError } from "./errors.js";
import { TimeoutError } from "../core/index.js";

export class Interrupts {
  private readonly controller = new AbortController();
  private readonly cleanups = new Set<() => void>();
  private installed: (() => void) | undefined;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Aborts as a signal would (for tests, and for `target`'s own shutdown). */
  abort(reason: string): void {
    if (!this.controller.signal.aborted) this.controller.abort(new CliError("ISCSI_CLI_INTERRUPTED", reason));
  }

  /** A synchronous clean-up run if the tool is made to exit at once; returns its remover. */
  addCleanup(fn: () => void): () => void {
    this.cleanups.add(fn);
    return () => this.cleanups.delete(fn);
  }

  runCleanups(): void {
    for (const fn of [...this.cleanups]) {
      this.cleanups.delete(fn);
      try {
        fn();
      } catch {
        // Best effort: the tool is exiting.
      }
    }
  }

  /** Listens for SIGINT/SIGTERM on `proc` until `uninstall()`. */
  install(proc: NodeJS.Process): void {
    const on = (signal: NodeJS.Signals): void => {
      if (this.controller.signal.aborted) {
        this.runCleanups();
        proc.exit(130);
      }
      this.abort(`interrupted by ${signal}`);
    };
    const onInt = (): void => on("SIGINT");
    const onTerm = (): void => on("SIGTERM");
    proc.on("SIGINT", onInt);
    proc.on("SIGTERM", onTerm);
    this.installed = () => {
      proc.off("SIGINT", onInt);
      proc.off("SIGTERM", onTerm);
    };
  }

  uninstall(): void {
    this.installed?.();
    this.installed = undefined;
  }
}

/** Rejects with the signal's reason as soon as it aborts; else settles as `promise` does. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e as Error);
      },
    );
  });
}

/** Rejects with a TimeoutError naming `what` after `ms`; else settles as `promise` does. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // Not unref'd: when nothing else is pending, this timer is what ends a hung wait.
    const timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${formatMs(ms)}`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e as Error);
      },
    );
  });
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** Sleeps `ms`, waking early (with the abort reason) on abort. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

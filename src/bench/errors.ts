/**
 * Errors of the benchmark suite. They are about the machine the suite runs on (a peer missing or
 * failing, output that cannot be read, a bad command line), not about iSCSI, so they are kept apart
 * from the protocol tree in src/core/errors.ts; like it, each carries a stable `code`.
 */

export type BenchErrorCode =
  /** The command line or a workload description is wrong. */
  | "BENCH_ERR_USAGE"
  /** A peer (tgtd, tgtadm, iscsi-perf, qemu-img, fio) could not be started or exited with an error. */
  | "BENCH_ERR_PEER"
  /** A peer or our worker printed something the suite cannot read. */
  | "BENCH_ERR_PARSE"
  /** Our worker process failed. */
  | "BENCH_ERR_WORKER"
  /** /proc could not be read for a process (it exited before it was sampled). */
  | "BENCH_ERR_PROC"
  /** A peer did not reach the awaited state in time. */
  | "BENCH_ERR_TIMEOUT";

export class BenchError extends Error {
  readonly code: BenchErrorCode;
  constructor(code: BenchErrorCode, message: string, options?: { readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = "BenchError";
  }
}

/** The last `max` characters of a peer's output, for error messages. */
export function tail(text: string, max = 400): string {
  const trimmed = text.trim();
  return trimmed.length <= max ? trimmed : `...${trimmed.slice(trimmed.length - max)}`;
}

/**
 * Errors of the real-peer test harness. They are about the machine the tests run on (a peer
 * missing, a port taken, a command failing), not about iSCSI, so they are kept apart from the
 * protocol error tree in src/core/errors.ts; like it, each carries a stable `code` that a test
 * can match on, and no message ever contains a secret (callers redact before constructing).
 */

export type HarnessErrorCode =
  /** A peer command (tgtadm, tshark -r, ss, ...) exited non-zero or could not be run. */
  | "PEER_ERR_COMMAND"
  /** A long-running peer (tgtd, tshark) exited or failed while starting. */
  | "PEER_ERR_START"
  /** tgtd could not bind the requested portal and fell back to another address. */
  | "PEER_ERR_PORTAL"
  /** A peer did not reach the awaited state in time. */
  | "PEER_ERR_TIMEOUT"
  /** A peer printed something the harness cannot parse. */
  | "PEER_ERR_PARSE"
  /** The harness was called wrongly (bad argument, method called in the wrong state). */
  | "PEER_ERR_USAGE";

export class HarnessError extends Error {
  readonly code: HarnessErrorCode;
  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

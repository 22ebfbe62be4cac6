/**
 * Failures only the command-line tool has: a verification mismatch, a range past the end of a
 * LUN found before anything is sent, an input file that is too short, an interrupt. The library's
 * errors (src/core/errors.ts) cover everything protocol; its code union has no place for these,
 * so they live here, with stable codes of their own that the exit-code table maps like any other.
 */

export type CliErrorCode =
  /** The command line is wrong in a way commander does not see (conflicting options, ...). */
  | "ISCSI_CLI_USAGE"
  /** A local file could not be opened, read or written. */
  | "ISCSI_CLI_FILE"
  /** The input holds fewer bytes than asked, or not a whole number of blocks. */
  | "ISCSI_CLI_SHORT_INPUT"
  /** A transfer would reach past the last block of a LUN (checked before anything is sent). */
  | "ISCSI_CLI_OUT_OF_RANGE"
  /** The LUN cannot do what was asked (UNMAP on a LUN without LBPU, ...), found before anything is sent. */
  | "ISCSI_CLI_UNSUPPORTED"
  /** The LUN in the URL does not exist on the target (INQUIRY peripheral qualifier 011b). */
  | "ISCSI_CLI_NO_SUCH_LUN"
  /** `compare`: the two sides hold different bytes. */
  | "ISCSI_CLI_DIFFERENT"
  /** `cp --verify` read back something other than what was written. */
  | "ISCSI_CLI_VERIFY_MISMATCH"
  /** SIGINT or SIGTERM stopped the command. */
  | "ISCSI_CLI_INTERRUPTED";

export class CliError extends Error {
  readonly code: CliErrorCode;
  constructor(code: CliErrorCode, message: string, options?: { readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = "CliError";
  }
}

export function isCliError(value: unknown): value is CliError {
  return value instanceof CliError;
}

/** Turns a Node file-system error into a CliError naming the file and what went wrong. */
export function fileError(error: unknown, path: string, doing: string): CliError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === "ENOENT"
      ? "no such file or directory"
      : code === "EACCES" || code === "EPERM"
        ? "permission denied"
        : code === "EISDIR"
          ? "is a directory"
          : code === "ENOSPC"
            ? "no space left on the device"
            : code === "ENOTDIR"
              ? "a component of the path is not a directory"
              : code === "EEXIST"
                ? "already exists"
                : code === "EROFS"
                  ? "read-only file system"
                  : ((error as Error | undefined)?.message ?? String(error));
  return new CliError("ISCSI_CLI_FILE", `cannot ${doing} ${path}: ${why}`, { cause: error });
}

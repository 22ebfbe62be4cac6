/**
 * The tool's exit status, from the stable `code` of the error that ended it (never from its
 * message): scripts branch on these, so they are part of the interface and listed in `--help`.
 */
import type { IscsiErrorCode } from "../core/index.js";
import type { CliErrorCode } from "./errors.js";

export const ExitCode = {
  Ok: 0,
  /** Bad command line or input: URL, option, missing file, short input. */
  Usage: 1,
  /** Login refused: authentication, unknown target, negotiation. */
  Login: 2,
  /** The target answered a SCSI command with an error, or the LUN/range does not exist. */
  Scsi: 3,
  /** No connection, a lost connection, a timeout, or a target that broke the protocol. */
  Connection: 4,
  /** `cp --verify` found a difference. */
  Verify: 5,
  /** A bug in iscsi-ts itself (sysexits EX_SOFTWARE). */
  Internal: 70,
  /** SIGINT/SIGTERM (128 + SIGINT, as shells report it). */
  Interrupted: 130,
  /** Standard output's reader went away (128 + SIGPIPE, as for tools SIGPIPE kills). */
  BrokenPipe: 141,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Every code either error tree can carry: the compiler checks that each has an exit status. */
const BY_CODE: Readonly<Record<IscsiErrorCode | CliErrorCode, ExitCode>> = {
  ISCSI_ERR_CONFIG: ExitCode.Usage,
  ISCSI_CLI_USAGE: ExitCode.Usage,
  ISCSI_CLI_FILE: ExitCode.Usage,
  ISCSI_CLI_SHORT_INPUT: ExitCode.Usage,

  ISCSI_ERR_LOGIN: ExitCode.Login,
  ISCSI_ERR_AUTH: ExitCode.Login,
  ISCSI_ERR_MUTUAL_AUTH: ExitCode.Login,
  ISCSI_ERR_NEGOTIATION: ExitCode.Login,

  ISCSI_ERR_SCSI: ExitCode.Scsi,
  ISCSI_ERR_TARGET_FAILURE: ExitCode.Scsi,
  ISCSI_ERR_SHORT_TRANSFER: ExitCode.Scsi,
  ISCSI_ERR_TMF: ExitCode.Scsi,
  ISCSI_CLI_OUT_OF_RANGE: ExitCode.Scsi,
  ISCSI_CLI_NO_SUCH_LUN: ExitCode.Scsi,
  ISCSI_CLI_UNSUPPORTED: ExitCode.Scsi,

  ISCSI_ERR_TRANSPORT: ExitCode.Connection,
  ISCSI_ERR_TIMEOUT: ExitCode.Connection,
  ISCSI_ERR_SESSION_CLOSED: ExitCode.Connection,
  ISCSI_ERR_ABORTED: ExitCode.Connection,
  ISCSI_ERR_NOT_RETRYABLE: ExitCode.Connection,
  ISCSI_ERR_REMOTE_PROTOCOL: ExitCode.Connection,
  ISCSI_ERR_DIGEST: ExitCode.Connection,
  ISCSI_ERR_REJECT: ExitCode.Connection,

  ISCSI_CLI_VERIFY_MISMATCH: ExitCode.Verify,
  ISCSI_CLI_DIFFERENT: ExitCode.Verify,
  ISCSI_CLI_INTERRUPTED: ExitCode.Interrupted,

  // Our own state machine refused a call: that is a bug here, not the user's input.
  ISCSI_ERR_LOCAL_PROTOCOL: ExitCode.Internal,
};

/** The exit status for anything thrown; unknown errors are internal (70). */
export function exitCodeFor(error: unknown): ExitCode {
  const code = errorCode(error);
  if (code === undefined) return ExitCode.Internal;
  if (code.startsWith("commander.")) return code === "commander.helpDisplayed" || code === "commander.version" ? ExitCode.Ok : ExitCode.Usage;
  return (BY_CODE as Readonly<Record<string, ExitCode>>)[code] ?? ExitCode.Internal;
}

/** The stable `code` of an error, when it carries a string one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const code = (error as { code: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** True for errors that are ours to know (library, CLI, commander); anything else is a bug. */
export function isExpectedError(error: unknown): boolean {
  return exitCodeFor(error) !== ExitCode.Internal;
}

/** The footer of `--help`: the statuses above, in words. */
export const EXIT_CODES_HELP = `Exit status:
  0    success
  1    bad command line or input (URL, option, file not found, input too short)
  2    login failed (authentication, missing secret, unknown target,
       negotiation)
  3    SCSI error (LUN missing, LBA out of range, target refused the command)
  4    connection failed, lost or timed out (unknown host, refused port,
       timeout)
  5    verification mismatch (cp --verify)
  70   internal error in iscsi-ts (run with -v for the stack)
  130  interrupted (SIGINT/SIGTERM)
  141  standard output closed by its reader (broken pipe)`;

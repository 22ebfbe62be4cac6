/**
 * The error tree of iscsi-ts. Every error carries a stable string `code`; callers and the CLI
 * match on `code` (or `instanceof`), never on the message. Messages name what failed and where,
 * and never contain a secret: secrets are not passed into any error constructor.
 */

export type IscsiErrorCode =
  /** The caller misused the API or asked for something illegal in the current state. */
  | "ISCSI_ERR_LOCAL_PROTOCOL"
  /** The peer sent something that violates RFC 7143 (malformed PDU, bad sequence number, ...). */
  | "ISCSI_ERR_REMOTE_PROTOCOL"
  /** A header or data digest did not match (RFC 7143 §7.8). */
  | "ISCSI_ERR_DIGEST"
  /** The target refused the login (status class/detail from the Login Response). */
  | "ISCSI_ERR_LOGIN"
  /** Authentication failed: wrong secret, unknown user, or no common method. */
  | "ISCSI_ERR_AUTH"
  /** The target failed mutual CHAP: its response did not match our secret for it. */
  | "ISCSI_ERR_MUTUAL_AUTH"
  /** Operational negotiation failed (irreconcilable or out-of-range values). */
  | "ISCSI_ERR_NEGOTIATION"
  /** A SCSI command completed with a status other than GOOD. */
  | "ISCSI_ERR_SCSI"
  /**
   * A READ or WRITE ended GOOD although fewer bytes moved than its CDB asks for: Data-In missing,
   * a residual underflow, or write data the target never took.
   */
  | "ISCSI_ERR_SHORT_TRANSFER"
  /** The target reported an iSCSI-level failure for a command (Response != 0x00). */
  | "ISCSI_ERR_TARGET_FAILURE"
  /** A task management function was not performed. */
  | "ISCSI_ERR_TMF"
  /** The target rejected a PDU (RFC 7143 §11.17). */
  | "ISCSI_ERR_REJECT"
  /** The TCP connection could not be made or was lost. */
  | "ISCSI_ERR_TRANSPORT"
  /** An operation did not complete in time. */
  | "ISCSI_ERR_TIMEOUT"
  /** The command was aborted (by task management, logout or session close). */
  | "ISCSI_ERR_ABORTED"
  /** The command could not be retried safely after a connection loss (RFC 7143 §7.1.1). */
  | "ISCSI_ERR_NOT_RETRYABLE"
  /** The session is closed or failed; nothing more can be sent on it. */
  | "ISCSI_ERR_SESSION_CLOSED"
  /** A URL, portal or option supplied by the user is invalid. */
  | "ISCSI_ERR_CONFIG";

export interface IscsiErrorOptions {
  readonly cause?: unknown;
}

export class IscsiError extends Error {
  readonly code: IscsiErrorCode;
  constructor(code: IscsiErrorCode, message: string, options?: IscsiErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** The local side (the caller, or our own state machine) did something illegal. */
export class LocalProtocolError extends IscsiError {
  constructor(message: string, options?: IscsiErrorOptions) {
    super("ISCSI_ERR_LOCAL_PROTOCOL", message, options);
  }
}

/** The peer violated the protocol. The connection that carried it must be dropped. */
export class RemoteProtocolError extends IscsiError {
  constructor(message: string, options?: IscsiErrorOptions) {
    super("ISCSI_ERR_REMOTE_PROTOCOL", message, options);
  }
}

export class DigestError extends IscsiError {
  readonly which: "header" | "data";
  constructor(which: "header" | "data", message: string) {
    super("ISCSI_ERR_DIGEST", message);
    this.which = which;
  }
}

/** RFC 7143 §11.13.5: Status-Class and Status-Detail of a failed login. */
export class LoginError extends IscsiError {
  readonly statusClass: number;
  readonly statusDetail: number;
  constructor(
    statusClass: number,
    statusDetail: number,
    message: string,
    options?: IscsiErrorOptions & { code?: "ISCSI_ERR_LOGIN" | "ISCSI_ERR_AUTH" | "ISCSI_ERR_MUTUAL_AUTH" },
  ) {
    super(options?.code ?? "ISCSI_ERR_LOGIN", message, options);
    this.statusClass = statusClass;
    this.statusDetail = statusDetail;
  }
}

/** Authentication failed (the target refused our credentials, or we refused the target's). */
export class AuthenticationError extends LoginError {
  constructor(
    message: string,
    options?: IscsiErrorOptions & { statusClass?: number; statusDetail?: number; mutual?: boolean },
  ) {
    super(options?.statusClass ?? 0x02, options?.statusDetail ?? 0x01, message, {
      ...options,
      code: options?.mutual ? "ISCSI_ERR_MUTUAL_AUTH" : "ISCSI_ERR_AUTH",
    });
  }
}

export class NegotiationError extends IscsiError {
  readonly key: string | undefined;
  constructor(message: string, key?: string, options?: IscsiErrorOptions) {
    super("ISCSI_ERR_NEGOTIATION", message, options);
    this.key = key;
  }
}

/** Decoded sense, as carried by a ScsiError. Kept structural so core/scsi need not be imported here. */
export interface SenseSummary {
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
  readonly description: string;
}

/** A SCSI command ended with a status other than GOOD (SAM-5 §5.3). */
export class ScsiError extends IscsiError {
  readonly status: number;
  readonly sense: SenseSummary | undefined;
  readonly senseData: Uint8Array | undefined;
  constructor(status: number, message: string, sense?: SenseSummary, senseData?: Uint8Array) {
    super("ISCSI_ERR_SCSI", message);
    this.status = status;
    this.sense = sense;
    this.senseData = senseData;
  }
}

/**
 * A command whose CDB names the blocks to move (READ, WRITE, ...) completed GOOD with fewer bytes
 * moved than it asks for. The data is not used: a short READ's buffer is partly stale, and a short
 * WRITE left blocks unwritten. Not retried: a target that does it once may do it again, and the
 * caller decides (Linux's sd retries the remainder; we report it).
 */
export class ShortTransferError extends IscsiError {
  readonly direction: "in" | "out";
  /** Bytes the command asks for (its Expected Data Transfer Length). */
  readonly expected: number;
  /** Bytes that moved: Data-In placed, or Data-Out sent. */
  readonly transferred: number;
  /** The residual the target stated, if it set the U bit. */
  readonly residualUnderflow: number | undefined;
  constructor(direction: "in" | "out", expected: number, transferred: number, residualUnderflow: number | undefined, message: string) {
    super("ISCSI_ERR_SHORT_TRANSFER", message);
    this.direction = direction;
    this.expected = expected;
    this.transferred = transferred;
    this.residualUnderflow = residualUnderflow;
  }
}

/** RFC 7143 §11.4.3: the target could not deliver the command (Response field != 0). */
export class TargetFailureError extends IscsiError {
  readonly response: number;
  constructor(response: number, message: string) {
    super("ISCSI_ERR_TARGET_FAILURE", message);
    this.response = response;
  }
}

/** RFC 7143 §11.6.1: a task management function response other than "Function complete". */
export class TaskManagementError extends IscsiError {
  readonly response: number;
  constructor(response: number, message: string) {
    super("ISCSI_ERR_TMF", message);
    this.response = response;
  }
}

/** RFC 7143 §11.17.1: the target rejected one of our PDUs. */
export class RejectError extends IscsiError {
  readonly reason: number;
  constructor(reason: number, message: string) {
    super("ISCSI_ERR_REJECT", message);
    this.reason = reason;
  }
}

export class TransportError extends IscsiError {
  constructor(message: string, options?: IscsiErrorOptions) {
    super("ISCSI_ERR_TRANSPORT", message, options);
  }
}

/**
 * What did not complete in time. Every timeout keeps the one code ISCSI_ERR_TIMEOUT (exit codes,
 * retry checks and users already match on it); `kind` tells them apart, as undici's distinct
 * timeout codes do:
 * - "connect": the transport connection was not made;
 * - "login": the login did not complete;
 * - "logout": the Logout Response did not come;
 * - "keep-alive": nothing was received for the keep-alive timeout after a NOP-Out;
 * - "command": a SCSI command passed its timeout or its budget;
 * - "request": a ping or a text exchange got no answer;
 * - "operation": anything else (a caller's own deadline, a stop that took too long).
 */
export type TimeoutKind = "connect" | "login" | "logout" | "keep-alive" | "command" | "request" | "operation";

export class TimeoutError extends IscsiError {
  readonly kind: TimeoutKind;
  constructor(message: string, options?: IscsiErrorOptions & { readonly kind?: TimeoutKind }) {
    super("ISCSI_ERR_TIMEOUT", message, options);
    this.kind = options?.kind ?? "operation";
  }
}

export class AbortedError extends IscsiError {
  constructor(message: string, options?: IscsiErrorOptions) {
    super("ISCSI_ERR_ABORTED", message, options);
  }
}

export class NotRetryableError extends IscsiError {
  constructor(message: string, options?: IscsiErrorOptions) {
    super("ISCSI_ERR_NOT_RETRYABLE", message, options);
  }
}

export class SessionClosedError extends IscsiError {
  constructor(message: string, options?: IscsiErrorOptions) {
    super("ISCSI_ERR_SESSION_CLOSED", message, options);
  }
}

/** A URL, portal or option given by the user is not valid. */
export class ConfigError extends IscsiError {
  constructor(message: string, options?: IscsiErrorOptions) {
    super("ISCSI_ERR_CONFIG", message, options);
  }
}

export function isIscsiError(value: unknown): value is IscsiError {
  return value instanceof IscsiError;
}

import type { IscsiError } from "../errors.js";
import type { TaskAttribute } from "../pdu/opcodes.js";
import type { RecoveryRecord } from "./recovery.js";

/**
 * What the caller asks the session to carry: one SCSI command. The data buffers are the caller's:
 * Data-In is placed straight into `dataIn` and Data-Out is sent as views of `dataOut` (no copy).
 * The caller must not touch them until the command completes.
 */
export interface CommandRequest<C> {
  readonly lun: number;
  readonly cdb: Uint8Array;
  /** Destination of Data-In; its length is the Expected Data Transfer Length of a read. */
  readonly dataIn?: Uint8Array;
  /** Data to write; its length is the Expected Data Transfer Length of a write. */
  readonly dataOut?: Uint8Array;
  /** Defaults to SIMPLE. */
  readonly attribute?: TaskAttribute;
  /**
   * Whether the command may be issued again after the connection carrying it is lost (RFC 7143
   * §7.1.1 leaves this to the initiator). READ and WRITE are idempotent and safe; COMPARE AND WRITE
   * and reservations are not. Defaults to "never": only a caller that knows the command says "safe".
   */
  readonly retry?: "safe" | "never";
  /**
   * What a GOOD status with fewer bytes moved than the Expected Data Transfer Length means:
   * "fail" (a ShortTransferError) or "allow" (the result says how many moved). Defaults to
   * "fail" for commands whose CDB names the data to move (READ, WRITE, ...: demandsWholeTransfer)
   * and "allow" for the rest (INQUIRY and other allocation-length commands).
   */
  readonly shortTransfer?: "fail" | "allow";
  /**
   * Milliseconds after which the command is escalated (abort, reset, reconnect); none if absent.
   * Each attempt gets this long: a command re-issued after a reconnect starts again.
   */
  readonly timeoutMs?: number;
  /**
   * The whole time the command may take from `submit`, across escalation, reconnects and
   * re-issues; none if absent. When it passes the command fails with a TimeoutError: at once if
   * it is waiting to be sent or held for a reconnect, else after its connection is dropped (the
   * only way to be sure the target writes no more into `dataIn`).
   */
  readonly budgetMs?: number;
  /** Echoed back in the command's completion event. */
  readonly context: C;
}

/** The outcome of a command the target completed (whatever its SCSI status). */
export interface CommandResult {
  /** SAM status byte (0 = GOOD). */
  readonly status: number;
  /** Sense data (a copy: it outlives the receive buffer), empty when none was sent. */
  readonly sense: Uint8Array;
  /** Bytes of Data-In the target delivered into `dataIn`. */
  readonly bytesIn: number;
  /** RFC 7143 §11.4.5: residual count with the U or O flag that qualifies it. */
  readonly residualCount: number;
  readonly residualUnderflow: boolean;
  readonly residualOverflow: boolean;
}

/** A NOP-Out ping's outcome. */
export interface PingResult {
  readonly roundTripMs: number;
  readonly data: Uint8Array;
}

export type TaskManagementOutcome = { readonly response: number };

export interface AsyncEventInfo {
  readonly asyncEvent: number;
  readonly asyncVCode: number;
  readonly lun: number;
  readonly parameter1: number;
  readonly parameter2: number;
  readonly parameter3: number;
  /** Sense data of a SCSI asynchronous event (AsyncEvent 0), a copy. */
  readonly sense: Uint8Array;
}

/** Events the session emits; the host drains them with `nextEvent()`. */
export type SessionEvent<C> =
  | { readonly type: "command-complete"; readonly context: C; readonly result: CommandResult }
  | { readonly type: "command-failed"; readonly context: C; readonly error: IscsiError }
  | { readonly type: "ping-complete"; readonly context: C; readonly result: PingResult }
  | { readonly type: "tmf-complete"; readonly context: C; readonly result: TaskManagementOutcome }
  | { readonly type: "text-complete"; readonly context: C; readonly pairs: ReadonlyArray<readonly [string, string]> }
  | { readonly type: "request-failed"; readonly context: C; readonly error: IscsiError }
  | { readonly type: "login-complete"; readonly cid: number }
  | {
      readonly type: "login-redirect";
      readonly cid: number;
      readonly host: string;
      readonly port: number;
      readonly permanent: boolean;
    }
  | { readonly type: "login-retry"; readonly cid: number; readonly reason: string }
  | { readonly type: "login-failed"; readonly cid: number; readonly error: IscsiError }
  | { readonly type: "logout-complete"; readonly cid: number; readonly time2Wait: number; readonly time2Retain: number }
  | { readonly type: "async-event"; readonly cid: number; readonly event: AsyncEventInfo }
  /** The host must close this connection's transport now (after writing what pollTransmit gives). */
  | { readonly type: "connection-closed"; readonly cid: number; readonly error?: IscsiError }
  /** Session recovery needs a new connection now: the host opens one (openConnection, connect). */
  | {
      readonly type: "reconnect";
      readonly attempt: number;
      /**
       * ERL 2 connection recovery: the CID of the lost connection the new one replaces, in the
       * same session (same ISID and TSIH, RFC 7143 §7.1.4); absent for session reinstatement.
       */
      readonly cid?: number;
    }
  /** ERL 2: a lost connection's recovery started, moved its tasks, or gave way to reinstatement. */
  | { readonly type: "connection-recovery"; readonly phase: "started" | "recovered" | "fell-back"; readonly cid: number; readonly detail: string }
  /** A recovery episode started, ended with the session back, or was given up. */
  | { readonly type: "recovery"; readonly phase: "started" | "recovered" | "gave-up"; readonly record: RecoveryRecord }
  /** The session can no longer carry commands (every connection gone, or logged out). */
  | { readonly type: "session-closed"; readonly error?: IscsiError };

/**
 * What the engine tells its host: storage to perform, connections to close, and what happened
 * (sessions, logins, protocol errors), for the host's counters, logs and tests.
 */
import type { IscsiError } from "../../core/errors.js";
import type { StorageRequest } from "./storage.js";

/** Where a connection came from and arrived at, as the host's transport reports it. */
export interface ConnectionEndpoint {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

export interface SessionSummary {
  readonly tsih: number;
  readonly isid: number;
  readonly initiatorName: string;
  /** Undefined for a discovery session. */
  readonly targetName: string | undefined;
  readonly type: "Normal" | "Discovery";
}

export type SessionCloseReason = "logout" | "connections-lost" | "reinstated" | "reset" | "shutdown" | "dropped";

export type EngineEvent =
  /** Perform this and call `completeStorage(request.id, outcome, now)`. */
  | { readonly type: "storage"; readonly request: StorageRequest }
  /**
   * The host must close this connection's transport, after writing what `pollTransmit` still
   * gives (a final Logout Response or Reject). `error` is undefined for an orderly close.
   */
  | { readonly type: "connection-closed"; readonly connectionId: number; readonly error?: IscsiError }
  | { readonly type: "login-complete"; readonly connectionId: number; readonly cid: number; readonly session: SessionSummary; readonly leading: boolean }
  | { readonly type: "login-failed"; readonly connectionId: number; readonly error: IscsiError }
  | { readonly type: "session-created"; readonly session: SessionSummary }
  | { readonly type: "session-closed"; readonly session: SessionSummary; readonly reason: SessionCloseReason }
  /** The initiator broke the protocol; the engine answered with a Reject or dropped the connection. */
  | { readonly type: "protocol-error"; readonly connectionId: number; readonly error: IscsiError }
  /** A bug of ours surfaced while running a command; it ended with HARDWARE ERROR. */
  | { readonly type: "internal-error"; readonly connectionId: number; readonly error: IscsiError }
  /**
   * ErrorRecoveryLevel 1 could not be honoured: the session's retention budget was full, so data
   * was not kept for SNACKs, or a SNACK asked for such data and the connection is dropped as at
   * ERL 0. Said once per run of data not kept, and for each such drop.
   */
  | { readonly type: "erl-fallback"; readonly connectionId: number; readonly detail: string };

/** Running totals, for tests and the benchmark. */
export interface EngineStats {
  connectionsAccepted: number;
  connectionsOpen: number;
  sessionsCreated: number;
  sessionsOpen: number;
  loginFailures: number;
  commands: number;
  bytesRead: number;
  bytesWritten: number;
  r2ts: number;
  rejects: number;
  taskManagement: number;
  nopInPings: number;
  /** ERL 1: data digest errors in PDUs from initiators, recovered without dropping a connection. */
  dataDigestErrors: number;
  /** ERL 1: Data, R2T and Status SNACKs answered (PDUs sent again). */
  snacks: number;
  /** ERL 1: DataACK SNACKs taken (read data freed before its status was acknowledged). */
  dataAcks: number;
  /** ERL 1: PDUs sent again for SNACKs. */
  retransmissions: number;
  /** ERL 1: R2Ts asking again for Data-Out that arrived damaged. */
  recoveryR2Ts: number;
  /** ERL 1: read data or responses not kept for want of retention budget. */
  retentionSkips: number;
}

/**
 * The protocol core as a package entry point (`iscsi-ts/core`), for hosts other than Node's: a
 * sans-I/O session driven by bytes in (`Connection.receive`), bytes out (`pollTransmit`), events
 * (`Session.nextEvent`) and time passed in (`handleTimeout(now)`, `pollTimeout()`), plus the codec,
 * negotiation, CHAP, login, discovery and SCSI layers it is built from. Nothing here imports
 * `node:` or owns a timer.
 */
export * from "./errors.js";
export * from "./serial.js";
export * from "./url.js";
export { hex, hexOf } from "./hex.js";
export { crc32c, type Crc32c } from "./digest/crc32c.js";
export * from "./pdu/index.js";
export * from "./text/index.js";
export * from "./auth/index.js";
export * from "./login/index.js";
export * from "./discovery/index.js";
export * from "./scsi/index.js";
export { Session, type KeepAliveSettings, type SessionConfig, type SessionDeps } from "./session/session.js";
export { Connection, type ConnectionOwner } from "./session/connection.js";
export { CONNECTION_POLICIES, ConnectionCounters, type ConnectionPolicy, DEFAULT_CONNECTION_POLICY, isConnectionPolicy } from "./session/policy.js";
export { ConnectionState, SessionState } from "./session/states.js";
export { DEFAULT_RECOVERY, type RecoveryCause, type RecoveryRecord, type RecoverySettings } from "./session/recovery.js";
export type { AsyncEventInfo, CommandRequest, CommandResult, PingResult, SessionEvent, TaskManagementOutcome } from "./session/command.js";
export { checkIscsiName, type IscsiNameCheck, MAX_ISCSI_NAME_BYTES } from "./iscsi-name.js";
export * from "./isns/index.js";

import { LocalProtocolError } from "../errors.js";

/**
 * RFC 7143 §8.1.3: the initiator's connection states. (S3, XPT_UP, is a target state.)
 * Every change goes through `connectionTransition`, which refuses what the table does not allow.
 */
export const ConnectionState = {
  /** S1 FREE: no transport, or its cleanup is done. */
  Free: "FREE",
  /** S2 XPT_WAIT: the transport connection is being made. */
  XptWait: "XPT_WAIT",
  /** S4 IN_LOGIN: Login Requests are being exchanged. */
  InLogin: "IN_LOGIN",
  /** S5 LOGGED_IN: full feature phase. */
  LoggedIn: "LOGGED_IN",
  /** S6 IN_LOGOUT: a Logout Request was sent. */
  InLogout: "IN_LOGOUT",
  /** S7 LOGOUT_REQUESTED: the target asked us to log out (Async Message). */
  LogoutRequested: "LOGOUT_REQUESTED",
  /** S8 CLEANUP_WAIT: the connection failed; its tasks await recovery or cleanup. */
  CleanupWait: "CLEANUP_WAIT",
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

const S = ConnectionState;

/** RFC 7143 §8.1.3 (initiator column), named by the transition numbers of the RFC. */
const CONNECTION_TRANSITIONS: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  // T1: transport connect requested.
  [S.Free]: [S.XptWait],
  // T4: transport up, Login Request sent. T2: connect failed or timed out.
  [S.XptWait]: [S.InLogin, S.Free],
  // T5: final Login Response with success. T7: login failed, or transport lost.
  [S.InLogin]: [S.LoggedIn, S.Free],
  // T9: internal logout. T10: async logout request. T15: connection failure (ERL >= 1 keeps
  // tasks for recovery). T8: transport reset with ERL 0 (session cleans up at once).
  [S.LoggedIn]: [S.InLogout, S.LogoutRequested, S.CleanupWait, S.Free],
  // T13: logout response received. T14: logout response says "cleanup failed" or the transport
  // breaks: CLEANUP_WAIT. T8 likewise at ERL 0.
  [S.InLogout]: [S.Free, S.CleanupWait],
  // T11: we send the Logout Request. T12: the transport breaks.
  [S.LogoutRequested]: [S.InLogout, S.CleanupWait, S.Free],
  // T16/T17: cleanup done, or Time2Retain elapsed.
  [S.CleanupWait]: [S.Free],
};

export function connectionTransition(from: ConnectionState, to: ConnectionState, cid: number): ConnectionState {
  if (!CONNECTION_TRANSITIONS[from].includes(to)) {
    throw new LocalProtocolError(`connection ${cid}: illegal state transition ${from} -> ${to} (RFC 7143 §8.1.3)`);
  }
  return to;
}

/** RFC 7143 §8.3.1: the initiator's session states. */
export const SessionState = {
  /** Q1 FREE: no connection logged in yet. */
  Free: "FREE",
  /** Q3 LOGGED_IN: at least one connection in full feature phase. */
  LoggedIn: "LOGGED_IN",
  /** Q4 FAILED: the last connection failed; tasks wait for reinstatement until Time2Retain. */
  Failed: "FAILED",
  /** Q5 IN_CONTINUE: a connection is logging in to continue the failed session. */
  InContinue: "IN_CONTINUE",
  /** Terminal: logged out or given up. Not an RFC state; it marks that nothing more will happen. */
  Closed: "CLOSED",
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

const Q = SessionState;
const SESSION_TRANSITIONS: Readonly<Record<SessionState, readonly SessionState[]>> = {
  // N1: the leading connection logged in. Closed: the leading login failed.
  [Q.Free]: [Q.LoggedIn, Q.Closed],
  // N3: last connection closed by logout. N6: last connection failed.
  [Q.LoggedIn]: [Q.Free, Q.Failed, Q.Closed],
  // N5: a login to continue the session started. N9: Time2Retain expired (give up).
  [Q.Failed]: [Q.InContinue, Q.Closed],
  // N10: the continuing login succeeded. N11: it failed.
  [Q.InContinue]: [Q.LoggedIn, Q.Failed, Q.Closed],
  [Q.Closed]: [],
};

export function sessionTransition(from: SessionState, to: SessionState): SessionState {
  if (!SESSION_TRANSITIONS[from].includes(to)) {
    throw new LocalProtocolError(`session: illegal state transition ${from} -> ${to} (RFC 7143 §8.3)`);
  }
  return to;
}

/**
 * RFC 7143 §8.1.3: the initiator's connection states. (S3, XPT_UP, is a target state.)
 * What moves them is one table, CONNECTION_TABLE in machine.ts.
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

/**
 * RFC 7143 §8.3.1: the initiator's session states, as `Session.state` reports them. The session's
 * machine (machine.ts) splits LOGGED_IN by what it is doing about a logout.
 */
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

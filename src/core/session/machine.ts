/**
 * The session and its connections as state machines, each state and each event that moves it in
 * one table (h11's `_state.py`): a change of state happens only through `SessionMachine.handle`
 * or `connectionNext`, which refuse an event the table does not list for the current state with
 * a `LocalProtocolError` (our own state machine misused, never the peer's fault). The tables are
 * data, so the state diagram in docs/ARCHITECTURE.md is drawn from them (diagram.ts,
 * scripts/state-diagram.mjs) and cannot drift from the code.
 *
 * Connections follow RFC 7143 §8.1.3 (the initiator's column, transitions named T1..T17). The
 * session follows §8.3 (Q1, Q3, Q4, Q5) with the sub-states of Q3 LOGGED_IN that a session
 * driving its own logout needs made explicit: where the old session kept flags (draining,
 * logging out), the table has states.
 */
import { LocalProtocolError } from "../errors.js";
import type { RecoveryCause } from "./recovery.js";
import { ConnectionState, SessionState } from "./states.js";

// ---------------------------------------------------------------------------------- connection

/** What moves a connection (RFC 7143 §8.1.3, initiator side). */
export const ConnectionTrigger = {
  /** The host is asked for a transport connection. */
  Connect: "connect",
  /** The transport is up; the first Login Request goes out. */
  TransportUp: "transport-up",
  /** The transport could not be made, or timed out. */
  TransportFailed: "transport-failed",
  /** The final Login Response accepted us. */
  LoginAccepted: "login-accepted",
  /** The login was refused, redirected, timed out, or its transport was lost. */
  LoginFailed: "login-failed",
  /** The target asked for a logout (Async Message, AsyncEvent 1). */
  LogoutRequested: "logout-requested",
  /** We sent a Logout Request. */
  LogoutSent: "logout-sent",
  /** The Logout Response came and the connection closed cleanly. */
  LogoutAccepted: "logout-accepted",
  /** The transport broke, a timeout or a protocol error ended a logged-in connection. */
  Failed: "failed",
  /** The failed connection's tasks are dealt with (at ERL 0, at once: the session takes them). */
  CleanedUp: "cleaned-up",
} as const;
export type ConnectionTrigger = (typeof ConnectionTrigger)[keyof typeof ConnectionTrigger];

/** One entry of a table: the next state, and the RFC's name for the transition when it has one. */
export interface Transition<S> {
  readonly to: S;
  readonly rfc?: string;
}

export type MachineTable<S extends string, E extends string> = Readonly<Record<S, Readonly<Partial<Record<E, Transition<S>>>>>>;

const S = ConnectionState;
const CE = ConnectionTrigger;

/** RFC 7143 §8.1.3, the initiator's column. (S3 XPT_UP is a target state.) */
export const CONNECTION_TABLE: MachineTable<ConnectionState, ConnectionTrigger> = {
  [S.Free]: {
    [CE.Connect]: { to: S.XptWait, rfc: "T1" },
  },
  [S.XptWait]: {
    [CE.TransportUp]: { to: S.InLogin, rfc: "T4" },
    [CE.TransportFailed]: { to: S.Free, rfc: "T2" },
  },
  [S.InLogin]: {
    [CE.LoginAccepted]: { to: S.LoggedIn, rfc: "T5" },
    [CE.LoginFailed]: { to: S.Free, rfc: "T7" },
  },
  [S.LoggedIn]: {
    [CE.LogoutSent]: { to: S.InLogout, rfc: "T9" },
    [CE.LogoutRequested]: { to: S.LogoutRequested, rfc: "T10" },
    [CE.Failed]: { to: S.CleanupWait, rfc: "T15" },
  },
  [S.LogoutRequested]: {
    [CE.LogoutSent]: { to: S.InLogout, rfc: "T11" },
    [CE.Failed]: { to: S.CleanupWait, rfc: "T12" },
  },
  [S.InLogout]: {
    [CE.LogoutAccepted]: { to: S.Free, rfc: "T13" },
    [CE.Failed]: { to: S.CleanupWait, rfc: "T14" },
  },
  [S.CleanupWait]: {
    // T16 (cleanup done) and T17 (Time2Retain passed) end alike for the initiator at ERL 0.
    [CE.CleanedUp]: { to: S.Free, rfc: "T16" },
  },
};

/** The state `event` moves a connection in `from` to; a LocalProtocolError if the table has none. */
export function connectionNext(from: ConnectionState, event: ConnectionTrigger, cid: number): ConnectionState {
  const next = CONNECTION_TABLE[from][event];
  if (next === undefined) throw new LocalProtocolError(`connection ${cid}: no transition for ${event} in ${from} (RFC 7143 §8.1.3)`);
  return next.to;
}

/**
 * How a connection that closes leaves its state: what the closing means depends on where it was.
 * `clean` is an orderly close (the Logout Response, a redirect), not a failure.
 */
export function closingEvents(state: ConnectionState, clean: boolean): readonly ConnectionTrigger[] {
  switch (state) {
    case S.XptWait:
      return [CE.TransportFailed];
    case S.InLogin:
      return [CE.LoginFailed];
    case S.InLogout:
      return clean ? [CE.LogoutAccepted] : [CE.Failed, CE.CleanedUp];
    case S.LoggedIn:
    case S.LogoutRequested:
      return [CE.Failed, CE.CleanedUp];
    case S.CleanupWait:
      return [CE.CleanedUp];
    case S.Free:
      return [];
  }
}

// ---------------------------------------------------------------------------------- session

/**
 * Where a session is: the RFC 7143 §8.3 states, with Q3 LOGGED_IN split by what the session is
 * doing about a logout. `SessionMachine.rfcState` folds them back into the RFC's states.
 */
export const SessionPhase = {
  /** Q1 FREE: the leading login has not completed. */
  Free: "FREE",
  /** Q3 LOGGED_IN: carrying commands. */
  LoggedIn: "LOGGED_IN",
  /**
   * Q3: the target asked for a logout (AsyncEvent 1, RFC 7143 §11.9.1). Commands in flight may
   * finish; none is started; the logout goes out when they are done or its time is up.
   */
  Draining: "DRAINING",
  /** Q3: logging out for good (the caller's logout, or the target's without recovery). */
  LoggingOut: "LOGGING_OUT",
  /**
   * Q3: logging out because the target asked, to log in again after Time2Wait (session
   * recovery on): the connection's end is a loss to recover from, not the session's end.
   */
  LoggingOutToReturn: "LOGGING_OUT_TO_RETURN",
  /**
   * Q4 FAILED at ERL 2: every connection is gone, but the session and its tasks live on at the
   * target for Time2Retain; a connection logging in with the TSIH continues it (RFC 7143 §7.1.4,
   * §8.3 N6) and TASK REASSIGN moves the tasks over.
   */
  ConnectionRecovery: "CONNECTION_RECOVERY",
  /** Q4 FAILED: every connection is gone; held commands wait for reinstatement. */
  Failed: "FAILED",
  /** Q5 IN_CONTINUE: a login to reinstate the session is under way. */
  InContinue: "IN_CONTINUE",
  /** Logged out or given up: nothing more will happen. Not an RFC state. */
  Closed: "CLOSED",
} as const;
export type SessionPhase = (typeof SessionPhase)[keyof typeof SessionPhase];

/** What moves a session. */
export const SessionTrigger = {
  /** A connection completed its login (the leading one, one joining, or a reinstatement). */
  LoggedIn: "logged-in",
  /** The target asked us to log out (AsyncEvent 1). */
  TargetLogoutRequest: "target-logout-request",
  /** We log the session out for good. */
  Logout: "logout",
  /** We log out as the target asked, to come back (session recovery on). */
  LogoutToReturn: "logout-to-return",
  /** Our session logout was answered. */
  LoggedOut: "logged-out",
  /** A connection was lost and the session is to be reinstated (ERL 0, RFC 7143 §6.3.5). */
  ConnectionLost: "connection-lost",
  /** A connection for the reinstating login is up (TSIH 0, same ISID). */
  Reinstating: "reinstating",
  /** The session ends: closed by the caller, a failure nothing mends, or recovery gave up. */
  GiveUp: "give-up",
  /** ERL 2: the last connection was lost (or a login replacing it failed); its tasks wait for reassignment. */
  ConnectionRecovering: "connection-recovering",
  /** ERL 2: a connection logging in with the session's TSIH is up (RFC 7143 §8.3 N6). */
  Continuing: "continuing",
} as const;
export type SessionTrigger = (typeof SessionTrigger)[keyof typeof SessionTrigger];

const P = SessionPhase;
const E = SessionTrigger;

/**
 * RFC 7143 §8.3 (initiator). A connection lost at ERL 0 fails the whole session, from Q3 or Q5;
 * a loss while logging out for good ends it instead (no `connection-lost` from LOGGING_OUT: the
 * table refuses it). Only N1 is labelled: our phases split Q3 and add CLOSED, so the RFC's other
 * transitions do not map one to one.
 */
export const SESSION_TABLE: MachineTable<SessionPhase, SessionTrigger> = {
  [P.Free]: {
    [E.LoggedIn]: { to: P.LoggedIn, rfc: "N1" },
    [E.GiveUp]: { to: P.Closed },
  },
  [P.LoggedIn]: {
    // MC/S: a connection joining a running session changes nothing.
    [E.LoggedIn]: { to: P.LoggedIn },
    [E.TargetLogoutRequest]: { to: P.Draining },
    [E.Logout]: { to: P.LoggingOut },
    [E.ConnectionLost]: { to: P.Failed },
    [E.ConnectionRecovering]: { to: P.ConnectionRecovery },
    [E.GiveUp]: { to: P.Closed },
  },
  [P.Draining]: {
    [E.LoggedIn]: { to: P.Draining },
    [E.TargetLogoutRequest]: { to: P.Draining },
    [E.Logout]: { to: P.LoggingOut },
    [E.LogoutToReturn]: { to: P.LoggingOutToReturn },
    [E.ConnectionLost]: { to: P.Failed },
    [E.GiveUp]: { to: P.Closed },
  },
  [P.LoggingOut]: {
    [E.LoggedIn]: { to: P.LoggingOut },
    [E.TargetLogoutRequest]: { to: P.LoggingOut },
    [E.Logout]: { to: P.LoggingOut },
    [E.LoggedOut]: { to: P.Closed },
    [E.GiveUp]: { to: P.Closed },
  },
  [P.LoggingOutToReturn]: {
    [E.LoggedIn]: { to: P.LoggingOutToReturn },
    [E.TargetLogoutRequest]: { to: P.LoggingOutToReturn },
    [E.Logout]: { to: P.LoggingOut },
    [E.ConnectionLost]: { to: P.Failed },
    [E.GiveUp]: { to: P.Closed },
  },
  [P.ConnectionRecovery]: {
    [E.ConnectionRecovering]: { to: P.ConnectionRecovery },
    [E.Continuing]: { to: P.InContinue, rfc: "N6" },
    // Past Time2Retain, or a reassignment refused: session reinstatement as at ERL 0.
    [E.ConnectionLost]: { to: P.Failed },
    [E.GiveUp]: { to: P.Closed },
  },
  [P.Failed]: {
    // A login attempt that failed before it began: the session stays failed, the next is scheduled.
    [E.ConnectionLost]: { to: P.Failed },
    [E.Reinstating]: { to: P.InContinue },
    [E.GiveUp]: { to: P.Closed },
  },
  [P.InContinue]: {
    [E.LoggedIn]: { to: P.LoggedIn, rfc: "N7" },
    [E.ConnectionRecovering]: { to: P.ConnectionRecovery },
    [E.ConnectionLost]: { to: P.Failed },
    [E.GiveUp]: { to: P.Closed },
  },
  [P.Closed]: {},
};

/** The RFC 7143 §8.3 state each phase is. */
const RFC_STATE: Readonly<Record<SessionPhase, SessionState>> = {
  [P.Free]: SessionState.Free,
  [P.LoggedIn]: SessionState.LoggedIn,
  [P.Draining]: SessionState.LoggedIn,
  [P.LoggingOut]: SessionState.LoggedIn,
  [P.LoggingOutToReturn]: SessionState.LoggedIn,
  [P.ConnectionRecovery]: SessionState.Failed,
  [P.Failed]: SessionState.Failed,
  [P.InContinue]: SessionState.InContinue,
  [P.Closed]: SessionState.Closed,
};

/** Why the next connection loss happens, when we know before it does, and the Time2Wait it asks. */
export interface ExpectedLoss {
  readonly cause: RecoveryCause;
  readonly time2WaitMs: number;
}

/**
 * The session's state and the one datum beside it (h11 keeps two flags beside its table; we keep
 * one): the cause of a connection loss the target announced before it happens (AsyncEvent 1,
 * 2 or 3, or the Time2Wait of a Logout Response), taken by the recovery that follows. Our own
 * timeouts need no such datum: their error's kind names them (recovery.ts lossCause).
 */
export class SessionMachine {
  private current: SessionPhase = P.Free;
  /** The loss the target announced and that has not happened yet. */
  expectedLoss: ExpectedLoss | undefined;

  get phase(): SessionPhase {
    return this.current;
  }

  /** The RFC 7143 §8.3 state (the sub-states of LOGGED_IN folded). */
  get state(): SessionState {
    return RFC_STATE[this.current];
  }

  get closed(): boolean {
    return this.current === P.Closed;
  }

  /** Q3: logged in, whatever is under way about a logout. */
  get loggedIn(): boolean {
    return RFC_STATE[this.current] === SessionState.LoggedIn;
  }

  /** A target-requested logout is waiting for the commands in flight: none is started meanwhile. */
  get draining(): boolean {
    return this.current === P.Draining;
  }

  /** Whether `event` is legal now. */
  can(event: SessionTrigger): boolean {
    return SESSION_TABLE[this.current][event] !== undefined;
  }

  /** Moves the session; a LocalProtocolError when the table has no such transition. */
  handle(event: SessionTrigger): SessionPhase {
    const next = SESSION_TABLE[this.current][event];
    if (next === undefined) throw new LocalProtocolError(`session: no transition for ${event} in ${this.current} (RFC 7143 §8.3)`);
    this.current = next.to;
    return next.to;
  }

  /** Takes the expected loss (the recovery it caused has begun). */
  takeExpectedLoss(): ExpectedLoss | undefined {
    const loss = this.expectedLoss;
    this.expectedLoss = undefined;
    return loss;
  }
}

/**
 * Asynchronous messages and logout (RFC 7143 §11.9, §11.14, §11.15): what the target announces
 * (a SCSI event, a logout it asks for, connections it will drop, a renegotiation it wants) and
 * the logouts the session sends, for the caller or for the target. The session's phases for a
 * logout (DRAINING, LOGGING_OUT, LOGGING_OUT_TO_RETURN) are moved here, through the machine.
 */
import { type IscsiError, RemoteProtocolError, SessionClosedError, TransportError } from "../errors.js";
import { AsyncEvent, LogoutReason, Opcode } from "../pdu/opcodes.js";
import type { AsyncMessagePdu, LogoutResponsePdu } from "../pdu/types.js";
import type { AsyncEventInfo } from "./command.js";
import type { Connection } from "./connection.js";
import { EMPTY, type SessionContext } from "./context.js";
import { ConnectionTrigger, SessionPhase, SessionTrigger } from "./machine.js";
import { ConnectionState, SessionState } from "./states.js";
import { renegotiating, startRenegotiation } from "./renegotiate.js";
import { ConnectionTimer, SessionTimer } from "./timers.js";

/** Longest we let commands in flight finish before the logout a target asked for. */
const MAX_LOGOUT_DRAIN_MS = 10_000;
const DEFAULT_LOGOUT_TIMEOUT_MS = 10_000;

export interface LogoutHooks {
  /** Ends the session without a logout (recovery.ts). */
  readonly giveUp: (error: IscsiError, now: number) => void;
  /** The session's logout was answered: it is closed (recovery.ts). */
  readonly loggedOut: () => void;
  /** ERL 2: the answer to a Logout reason 2 removing another connection for recovery (erl2.ts). */
  readonly recoveryLogout?: (connection: Connection, pdu: LogoutResponsePdu, now: number) => void;
}

export class LogoutControl<C> {
  constructor(
    private readonly ctx: SessionContext<C>,
    private readonly recoveryEnabled: boolean,
    private readonly hooks: LogoutHooks,
  ) {}

  /**
   * Logs out (RFC 7143 §11.14): the whole session by default, or one connection. Commands the
   * target has are completed by it first; queued ones fail with SessionClosedError.
   */
  logout(now: number, reason: LogoutReason, cid: number | undefined): void {
    const state = this.ctx.machine.state;
    if (state === SessionState.Failed || state === SessionState.InContinue) {
      // Nothing to log out of while the session is down: stop recovering instead.
      this.hooks.giveUp(new SessionClosedError("the session was closed while it was being re-established"), now);
      return;
    }
    this.send(now, reason, cid, false);
  }

  /** `forTarget`: the target asked (AsyncEvent 1) and recovery brings the session back after it. */
  private send(now: number, reason: LogoutReason, cid: number | undefined, forTarget: boolean): void {
    const ctx = this.ctx;
    const connection = cid === undefined ? ctx.pickConnection() : ctx.connections.get(cid);
    if (connection === undefined || (!connection.usable && connection.state !== ConnectionState.LogoutRequested)) {
      throw new SessionClosedError("no connection is logged in to log out");
    }
    if (reason === LogoutReason.CloseSession) ctx.machine.handle(forTarget ? SessionTrigger.LogoutToReturn : SessionTrigger.Logout);
    const itt = ctx.tasks.allocate();
    ctx.tasks.add({ kind: "logout", itt, cid: connection.cid, reason });
    connection.handle(ConnectionTrigger.LogoutSent);
    // RFC 7143 §8.1.3: IN_LOGOUT is not full feature phase any more; the logout has its own bound.
    ctx.timers.setFor(connection.cid, ConnectionTimer.KeepAliveInterval, undefined);
    ctx.timers.setFor(connection.cid, ConnectionTimer.KeepAliveTimeout, undefined);
    ctx.timers.setFor(connection.cid, ConnectionTimer.Logout, now + (ctx.config.logoutTimeoutMs ?? DEFAULT_LOGOUT_TIMEOUT_MS));
    if (reason === LogoutReason.CloseSession && !forTarget) {
      const error = new SessionClosedError("the session is logging out");
      for (const task of ctx.drainQueue()) ctx.failTask(task, error);
    }
    connection.send({
      opcode: Opcode.LogoutRequest,
      immediate: true,
      reason,
      initiatorTaskTag: itt,
      cid: cid ?? connection.cid,
      cmdSN: ctx.window.cmdSN,
      expStatSN: connection.expStatSN,
    });
  }

  onLogoutResponse(connection: Connection, pdu: LogoutResponsePdu, now: number): void {
    const ctx = this.ctx;
    const task = ctx.tasks.get(pdu.initiatorTaskTag);
    if (task === undefined || task.kind !== "logout") {
      throw new RemoteProtocolError(`Logout Response for unknown Initiator Task Tag 0x${pdu.initiatorTaskTag.toString(16)}`);
    }
    ctx.forget(task);
    if (task.reason === LogoutReason.RemoveConnectionForRecovery) {
      // ERL 2 (erl2.ts): another connection was removed for recovery; this one carries on.
      this.hooks.recoveryLogout?.(connection, pdu, now);
      return;
    }
    ctx.emit({ type: "logout-complete", cid: connection.cid, time2Wait: pdu.time2Wait, time2Retain: pdu.time2Retain });
    if (ctx.machine.phase === SessionPhase.LoggingOutToReturn) {
      // We logged out because the target asked: come back after Time2Wait (RFC 7143 §11.15.2).
      ctx.machine.expectedLoss = { cause: "target-logout-request", time2WaitMs: pdu.time2Wait * 1000 };
      connection.fail(new TransportError(`the target at connection ${connection.cid} asked us to log out`), now);
      return;
    }
    if (task.reason === LogoutReason.CloseSession) {
      this.hooks.loggedOut();
      const error = new SessionClosedError("the session was logged out");
      ctx.failAll(error);
      for (const other of ctx.connections.values()) if (other !== connection) other.fail(error, now);
    }
    connection.fail(undefined, now);
  }

  onAsyncMessage(connection: Connection, pdu: AsyncMessagePdu, now: number): void {
    const ctx = this.ctx;
    let sense = EMPTY;
    if (pdu.asyncEvent === AsyncEvent.ScsiAsyncEvent && pdu.data.length >= 2) {
      const senseLength = ((pdu.data[0] as number) << 8) | (pdu.data[1] as number);
      if (senseLength + 2 > pdu.data.length) throw new RemoteProtocolError("Async Message SenseLength beyond its data segment");
      sense = pdu.data.slice(2, 2 + senseLength);
    }
    const event: AsyncEventInfo = {
      asyncEvent: pdu.asyncEvent,
      asyncVCode: pdu.asyncVCode,
      lun: pdu.lun,
      parameter1: pdu.parameter1,
      parameter2: pdu.parameter2,
      parameter3: pdu.parameter3,
      sense,
    };
    ctx.emit({ type: "async-event", cid: connection.cid, event });
    switch (pdu.asyncEvent) {
      case AsyncEvent.LogoutRequest:
        // RFC 7143 §11.9.1: log out within Parameter3 seconds. Let what is in flight finish
        // first (no new commands meanwhile), then log out and, with recovery on, come back.
        if (connection.state === ConnectionState.LoggedIn) connection.handle(ConnectionTrigger.LogoutRequested);
        // Already logging out (ours, or an earlier request's): the logout under way answers it.
        if (ctx.machine.handle(SessionTrigger.TargetLogoutRequest) !== SessionPhase.Draining) break;
        ctx.machine.expectedLoss = { cause: "target-logout-request", time2WaitMs: 0 };
        // Parameter3 is only the target's upper limit; commands in flight get at most 10 s.
        ctx.timers.set(SessionTimer.LogoutDrain, now + Math.min(Math.max(1, pdu.parameter3 || 5) * 1000 - 500, MAX_LOGOUT_DRAIN_MS));
        this.drained(now);
        break;
      case AsyncEvent.DropConnection:
      case AsyncEvent.DropAllConnections:
        // The target will drop; Parameter2 is the Time2Wait before we may reconnect.
        ctx.machine.expectedLoss = { cause: "target-drop", time2WaitMs: pdu.parameter2 * 1000 };
        break;
      case AsyncEvent.Renegotiate:
        this.renegotiate(connection, now);
        break;
      default:
        break;
    }
  }

  /**
   * RFC 7143 §11.9.1 AsyncEvent 4: the target asks for parameter negotiation on this connection,
   * to start within Parameter3 seconds. We open it with a Text Request that declares again what
   * we accept (MaxRecvDataSegmentLength, the one operational key both sides may change in full
   * feature phase, §6.2), which lets the target declare its own anew in the answer.
   */
  private renegotiate(connection: Connection, now: number): void {
    const ctx = this.ctx;
    if (connection.state !== ConnectionState.LoggedIn || !ctx.machine.loggedIn || renegotiating(ctx, connection.cid)) return;
    const change = { maxRecvDataSegmentLength: connection.params.maxRecvDataSegmentLength };
    startRenegotiation(ctx, connection, change, { internal: true, context: undefined as C }, now);
  }

  /** After each PDU: a drain for the target's logout is over when no command is in flight. */
  drained(now: number): void {
    if (!this.ctx.machine.draining) return;
    for (const t of this.ctx.tasks.values()) if (t.kind === "scsi" && t.phase === "issued") return;
    this.forTarget(now);
  }

  /**
   * Sends the logout the target asked for (AsyncEvent 1), once: when the commands in flight are
   * done, or when the time the target gave runs out (the LogoutDrain timer). With recovery on,
   * the session comes back.
   */
  forTarget(now: number): void {
    const ctx = this.ctx;
    ctx.timers.set(SessionTimer.LogoutDrain, undefined);
    if (!ctx.machine.draining) return;
    for (const connection of ctx.connections.values()) {
      if (connection.state === ConnectionState.LogoutRequested || connection.usable) {
        // Without recovery this logout is the session's end, not a loss to recover from.
        if (!this.recoveryEnabled) ctx.machine.expectedLoss = undefined;
        this.send(now, LogoutReason.CloseSession, connection.cid, this.recoveryEnabled);
        return;
      }
    }
  }
}

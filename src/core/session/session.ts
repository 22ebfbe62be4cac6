import { readU32 } from "../bytes.js";
import { DigestError, type IscsiError, LocalProtocolError, RemoteProtocolError, SessionClosedError, TimeoutError, TransportError } from "../errors.js";
import { makeIsid } from "../login/isid.js";
import type { Frame } from "../pdu/framer.js";
import { LogoutReason, Opcode, opcodeName, RejectReason, RESERVED_TAG, type TaskManagementFunction } from "../pdu/opcodes.js";
import type { RejectPdu, TargetPdu } from "../pdu/types.js";
import { serialAdd, serialGt, serialLt } from "../serial.js";
import { encodeText, type TextPair } from "../text/codec.js";
import type { SessionParameters } from "../text/parameters.js";
import type { RenegotiationChange } from "../text/renegotiation.js";
import type { CommandRequest, SessionEvent } from "./command.js";
import { type Connection, type ConnectionOwner, consumesStatSN } from "./connection.js";
import { DEFAULT_KEEPALIVE, EMPTY, type KeepAliveSettings, type SessionConfig, SessionContext, type SessionDeps } from "./context.js";
import { onNopIn, onReject, onTaskManagementResponse, onTextResponse, sendPing, sendTaskManagement, sendText } from "./control.js";
import { issue, onDataIn, onR2T, onScsiResponse, placeData, reissueSame, requestStatusAgain } from "./datapath.js";
import { onTaskTimer } from "./escalation.js";
import { Logins } from "./login.js";
import { LogoutControl } from "./logout.js";
import { SessionPhase, SessionTrigger } from "./machine.js";
import { ConnectionRecovery } from "./erl2.js";
import { DEFAULT_RECOVERY, type RecoveryRecord, SessionRecovery } from "./recovery.js";
import { renegotiating, startRenegotiation } from "./renegotiate.js";
import { ConnectionState, type SessionState } from "./states.js";
import type { ScsiTask, Task, TextTask } from "./task.js";
import { ConnectionTimer, type Fired, SessionTimer, TaskTimer } from "./timers.js";

export type { KeepAliveSettings, SessionConfig, SessionDeps } from "./context.js";

/**
 * Whether a connection is still in full feature phase and worth keeping alive: logged in, or
 * asked by the target to log out but not yet logging out (RFC 7143 §8.1.3, S7 still carries
 * commands and NOP-Outs), so a target that dies then is noticed.
 */
function alive(connection: Connection): boolean {
  return !connection.closed && (connection.state === ConnectionState.LoggedIn || connection.state === ConnectionState.LogoutRequested);
}

/**
 * An initiator session, sans I/O (RFC 7143 §3.4): the command window, the task table, the data
 * path, task management, NOP, text, logout and recovery, over one or more `Connection`s. The
 * host opens connections (`openConnection`), feeds their bytes, writes what they transmit, and
 * drains `nextEvent()`; time comes in as `now` and through `handleTimeout`.
 *
 * This class is the public face and the receive path; the rest is in modules of their own, each
 * over the shared `SessionContext` (or a narrow view of it): login.ts (connections to LOGGED_IN),
 * logout.ts (async messages and logout), recovery.ts (a lost connection: reinstatement or the
 * end), datapath.ts, control.ts and escalation.ts (commands and requests), timers.ts and
 * machine.ts (the deadlines and the states, each in one table).
 */
export class Session<C = unknown> {
  readonly isid: number;
  private readonly ctx: SessionContext<C>;
  private readonly keepAlive: KeepAliveSettings | false;
  private readonly logins: Logins<C>;
  private readonly logoutControl: LogoutControl<C>;
  private readonly recovery: SessionRecovery<C>;
  private readonly connectionRecovery: ConnectionRecovery<C>;

  constructor(config: SessionConfig, deps: SessionDeps) {
    if (config.sessionType !== "Discovery" && !config.targetName) {
      throw new LocalProtocolError("a Normal session needs a target name");
    }
    this.isid = config.isid ?? makeIsid(deps.randomBytes);
    this.keepAlive = config.keepAlive === undefined ? DEFAULT_KEEPALIVE : config.keepAlive;
    // RFC 7143 §11.12.8: the leading login carries the session's initial CmdSN; any value works.
    const ctx = new SessionContext<C>(config, deps, readU32(deps.randomBytes(4), 0));
    this.ctx = ctx;
    const settings = { ...DEFAULT_RECOVERY, ...config.recovery };
    const recoveryEnabled = settings.enabled && config.sessionType === "Normal";
    this.connectionRecovery = new ConnectionRecovery(ctx, {
      fallBack: (error, now) => this.recovery.reinstate(error, now),
      flushPending: (now) => this.flushPending(now),
    });
    this.recovery = new SessionRecovery(ctx, settings, () => readU32(deps.randomBytes(4), 0) / 0x1_0000_0000, recoveryEnabled, {
      flushPending: (now) => this.flushPending(now),
      forgetLogins: (cid) => (cid === undefined ? this.logins.clear() : this.logins.forget(cid)),
      connectionRecovery: (connection, error, wasLoggedIn, now) => this.recoverConnection(connection, error, wasLoggedIn, now),
    });
    const owner: ConnectionOwner = {
      onPdu: (connection, pdu, frame, now) => this.onPdu(connection, pdu, frame, now),
      onClosed: (connection, error, now) => this.recovery.onConnectionClosed(connection, error, now),
      placeData: (bhs, _ahs, length) => placeData(ctx, bhs, length),
      trace: config.trace,
    };
    this.logins = new Logins(ctx, this.isid, owner, this.keepAlive, {
      attempt: () => this.recovery.attempt(),
      loggedIn: (connection, now) => {
        this.recovery.loggedIn(now);
        this.connectionRecovery.loggedIn(connection, now);
        this.flushPending(now);
      },
      replacementCid: () => this.connectionRecovery.takeCid(),
      continuing: () => this.connectionRecovery.continuing(),
    });
    this.logoutControl = new LogoutControl(ctx, recoveryEnabled, {
      giveUp: (error, now) => this.recovery.giveUp(error, now),
      loggedOut: () => this.recovery.close(SessionTrigger.LoggedOut, undefined),
      recoveryLogout: (connection, pdu, now) => this.connectionRecovery.onRecoveryLogout(connection, pdu, now),
    });
  }

  // ------------------------------------------------------------------ state

  /** The RFC 7143 §8.3 state (machine.ts keeps the finer phase). */
  get state(): SessionState {
    return this.ctx.machine.state;
  }
  get tsih(): number {
    return this.ctx.tsih;
  }
  /** The negotiated session-wide parameters (RFC defaults until the leading login completes). */
  get params(): SessionParameters {
    return this.ctx.params;
  }
  /** Commands and requests sent and not completed, plus those waiting for the window. */
  get outstanding(): number {
    return this.ctx.tasks.size;
  }
  get commandWindow(): { readonly cmdSN: number; readonly expCmdSN: number; readonly maxCmdSN: number } {
    return { cmdSN: this.ctx.window.cmdSN, expCmdSN: this.ctx.window.expected, maxCmdSN: this.ctx.window.max };
  }
  connection(cid: number): Connection | undefined {
    return this.ctx.connections.get(cid);
  }
  get connectionList(): readonly Connection[] {
    return [...this.ctx.connections.values()];
  }
  /**
   * True while what every connection has queued may wait (Connection.mayWait, batching.ts), and
   * something does. The host writes all connections' queues or none: the commands written are
   * then always all those below some CmdSN, so none at the target waits behind one held here
   * (the target orders commands by CmdSN across the session's connections, RFC 7143 §3.2.2.1).
   */
  get transmitMayWait(): boolean {
    let waiting = false;
    for (const connection of this.ctx.connections.values()) {
      if (connection.pendingBytes === 0) continue;
      if (!connection.mayWait) return false;
      waiting = true;
    }
    return waiting;
  }
  /** The connections without making an array (the host's hot loop). */
  connectionValues(): IterableIterator<Connection> {
    return this.ctx.connections.values();
  }
  /** Every recovery episode so far (cause, duration, commands retried and failed). */
  get recoveries(): readonly RecoveryRecord[] {
    return this.recovery.tracker.records;
  }
  /** True while the session is down and being re-established. */
  get recovering(): boolean {
    return this.recovery.tracker.active !== undefined;
  }

  /** ERL 2: lost connections being recovered inside the session (erl2.ts). */
  get recoveringConnections(): number {
    return this.connectionRecovery.active;
  }

  // ------------------------------------------------------------------ connections and login

  /** Creates a connection in XPT_WAIT: the host now makes the TCP connection. */
  openConnection(now: number): Connection {
    return this.logins.open(now);
  }

  /** The host's transport is up: the login starts (RFC 7143 §8.1.3 T4). */
  transportConnected(connection: Connection, now: number): void {
    this.logins.transportConnected(connection, now);
  }

  /** The host's transport closed or failed. */
  transportClosed(connection: Connection, error: IscsiError | undefined, now: number): void {
    connection.fail(error ?? new TransportError(`connection ${connection.cid} closed by the target`), now);
  }

  // ------------------------------------------------------------------ commands

  /**
   * Queues a SCSI command. It is sent at once if a connection is logged in and the window is
   * open, else when they are (or, while the session recovers, when it is back). Returns its ITT.
   */
  submit(request: CommandRequest<C>, now: number): number {
    this.assertOpen();
    const ctx = this.ctx;
    if (ctx.config.sessionType === "Discovery") {
      throw new LocalProtocolError("a discovery session carries no SCSI commands (RFC 7143 §4.3)");
    }
    if (request.dataIn !== undefined && request.dataOut !== undefined) {
      // Bidirectional commands need the Bidi AHS and two residuals; none of our commands uses them.
      throw new LocalProtocolError("bidirectional commands are not supported");
    }
    const task: ScsiTask<C> = {
      kind: "scsi",
      itt: ctx.tasks.allocate(),
      request,
      phase: "queued",
      cid: -1,
      load: undefined,
      cmdSN: 0,
      transferLength: request.dataIn?.length ?? request.dataOut?.length ?? 0,
      dataInBytes: 0,
      nextDataSN: 0,
      dataOutBytes: 0,
      nextR2TSN: 0,
      attempts: 0,
      deadline: request.timeoutMs === undefined ? undefined : now + request.timeoutMs,
      expiresAt: request.budgetMs === undefined ? undefined : now + request.budgetMs,
      lostBecause: undefined,
      issuedAt: now,
      escalation: 0,
      nextOffset: 0,
      missingDataSN: undefined,
      pendingStatus: undefined,
      attemptTimer: undefined,
      budgetTimer: undefined,
    };
    ctx.tasks.add(task);
    // The timeout runs from submission while the command waits to be sent; the budget throughout.
    if (task.deadline !== undefined) ctx.arm(task, TaskTimer.Attempt, task.deadline);
    if (task.expiresAt !== undefined) ctx.arm(task, TaskTimer.Budget, task.expiresAt);
    if (!ctx.hasPending && !ctx.machine.draining && ctx.window.open) {
      const connection = ctx.pickConnection();
      if (connection !== undefined) {
        issue(ctx, task, connection, now);
        return task.itt;
      }
    }
    ctx.enqueue(task);
    return task.itt;
  }

  /** Sends what waits for the window, in order, while it is open. */
  private flushPending(now: number): void {
    const ctx = this.ctx;
    if (ctx.machine.draining) return;
    while (ctx.hasPending && ctx.window.open) {
      const connection = ctx.pickConnection();
      if (connection === undefined) return;
      const task = ctx.dequeue();
      if (task === undefined) return;
      if (task.kind === "scsi") issue(ctx, task, connection, now);
      else if (task.renegotiation === undefined) sendText(ctx, task, connection, RESERVED_TAG);
      else {
        // A renegotiation belongs to the connection the target asked on.
        const own = ctx.connections.get(task.renegotiation.cid);
        if (own !== undefined && own.state === ConnectionState.LoggedIn) sendText(ctx, task, own, RESERVED_TAG);
        else ctx.failTask(task, new SessionClosedError(`connection ${task.renegotiation.cid} ended before its renegotiation`));
      }
    }
  }

  // ------------------------------------------------------------------ other requests

  /** NOP-Out ping (RFC 7143 §11.18), answered by a NOP-In with the same ITT. */
  ping(context: C, now: number, data: Uint8Array = EMPTY): number {
    this.assertOpen();
    const connection = this.ctx.pickConnection();
    if (connection === undefined) throw new SessionClosedError("no connection is logged in");
    return sendPing(this.ctx, connection, context, false, now, data);
  }

  /**
   * Task management (RFC 7143 §11.5), sent as an immediate command. For ABORT TASK give the
   * ITT of the task to abort; for the LUN-wide functions, the LUN.
   */
  taskManagement(
    fn: TaskManagementFunction,
    target: { readonly lun?: number; readonly referencedTaskTag?: number },
    context: C,
    now: number,
  ): number {
    this.assertOpen();
    void now;
    return sendTaskManagement(this.ctx, fn, target, { context });
  }

  /** A Text Request exchange (SendTargets, renegotiation); answered by a text-complete event. */
  text(pairs: readonly TextPair[], context: C, now: number): number {
    this.assertOpen();
    const ctx = this.ctx;
    const task: TextTask<C> = {
      kind: "text",
      itt: ctx.tasks.allocate(),
      cid: -1,
      context,
      chunks: [],
      receivedBytes: 0,
      deadline: now + (ctx.config.requestTimeoutMs ?? 30_000),
      request: encodeText(pairs),
    };
    ctx.tasks.add(task);
    ctx.arm(task, TaskTimer.Request, task.deadline as number);
    const connection = ctx.pickConnection();
    if (connection !== undefined && ctx.window.open && !ctx.hasPending) sendText(ctx, task, connection, RESERVED_TAG);
    else ctx.enqueue(task);
    return task.itt;
  }

  /**
   * Renegotiates operational keys on a connection in full feature phase (RFC 7143 §6.2): a Text
   * Request declaring `change` (our MaxRecvDataSegmentLength, §13.12; X- keys), on connection
   * `cid` or one the connection policy picks. When the target answers, the connection takes the
   * new values (what we accept, and what the target declares it accepts) and a text-complete
   * event carries the target's pairs; otherwise request-failed. Returns its ITT. Refused with a
   * LocalProtocolError for a value out of range, nothing to change, an unknown connection, or one
   * already renegotiating.
   */
  renegotiate(change: RenegotiationChange, context: C, now: number, cid?: number): number {
    this.assertOpen();
    const ctx = this.ctx;
    const connection = cid === undefined ? ctx.pickConnection() : ctx.connections.get(cid);
    if (connection === undefined) {
      if (cid !== undefined) throw new LocalProtocolError(`the session has no connection ${cid}`);
      throw new SessionClosedError("no connection is logged in");
    }
    if (connection.state !== ConnectionState.LoggedIn || connection.closed) {
      throw new LocalProtocolError(`connection ${connection.cid} is ${connection.state}, not in full feature phase: nothing to renegotiate on`);
    }
    if (renegotiating(ctx, connection.cid)) {
      throw new LocalProtocolError(`connection ${connection.cid} is already renegotiating: one exchange at a time, or the answers of the two would cross`);
    }
    return startRenegotiation(ctx, connection, change, { internal: false, context }, now);
  }

  /**
   * Logs out (RFC 7143 §11.14): the whole session by default, or one connection. Commands the
   * target has are completed by it first; queued ones fail with SessionClosedError.
   */
  logout(now: number, reason: LogoutReason = LogoutReason.CloseSession, cid?: number): void {
    this.logoutControl.logout(now, reason, cid);
  }

  /** Gives up on everything without a logout: every task fails, every connection closes. */
  close(error: IscsiError, now: number): void {
    this.recovery.giveUp(error, now);
  }

  private assertOpen(): void {
    if (this.ctx.machine.closed) throw new SessionClosedError("the session is closed");
  }

  // ------------------------------------------------------------------ events and time

  nextEvent(): SessionEvent<C> | undefined {
    return this.ctx.nextEvent();
  }

  /** The earliest time `handleTimeout` has work to do, or undefined: the timer table's first entry. */
  pollTimeout(): number | undefined {
    return this.ctx.timers.pollTimeout();
  }

  /** Fires every timer due at `now` (timers.ts), earliest first. */
  handleTimeout(now: number): void {
    const timers = this.ctx.timers;
    for (let fired = timers.expire(now); fired !== undefined; fired = timers.expire(now)) this.onTimer(fired, now);
  }

  /**
   * ERL 2 (erl2.ts): a logged-in connection lost, or a login replacing one failed, is recovered
   * inside the session when ERL 2 was negotiated and the session is carrying commands; otherwise
   * (false) recovery.ts reinstates the session as at ERL 0.
   */
  private recoverConnection(connection: Connection, error: IscsiError, wasLoggedIn: boolean, now: number): boolean {
    const erl2 = this.connectionRecovery;
    if (!erl2.applies) return false;
    if (!wasLoggedIn) return erl2.attemptFailed(connection, now);
    const phase = this.ctx.machine.phase;
    if (phase !== SessionPhase.LoggedIn && phase !== SessionPhase.ConnectionRecovery && phase !== SessionPhase.InContinue) return false;
    erl2.onLost(connection, error, now);
    return true;
  }

  private onTimer(fired: Fired<Task<C>>, now: number): void {
    const ctx = this.ctx;
    switch (fired.timer) {
      case ConnectionTimer.Connect:
      case ConnectionTimer.Login:
      case ConnectionTimer.Logout: {
        const connection = ctx.connections.get(fired.cid);
        if (connection === undefined || connection.closed) return;
        const kind = fired.timer === ConnectionTimer.Connect ? "connect" : fired.timer;
        const what = fired.timer === ConnectionTimer.Connect ? "connecting" : fired.timer;
        connection.fail(new TimeoutError(`connection ${connection.cid}: ${what} timed out`, { kind }), now);
        return;
      }
      case ConnectionTimer.KeepAliveInterval:
      case ConnectionTimer.KeepAliveTimeout: {
        const connection = ctx.connections.get(fired.cid);
        if (connection !== undefined && this.keepAlive && alive(connection)) this.keepAliveTimer(connection, fired.timer, this.keepAlive, now);
        return;
      }
      case SessionTimer.LogoutDrain:
        this.logoutControl.forTarget(now);
        return;
      case SessionTimer.Time2Retain:
        this.recovery.replacementTimedOut(now);
        return;
      case SessionTimer.RecoveryBackoff:
        this.recovery.backoffElapsed(now);
        return;
      case SessionTimer.ConnectionWait:
      case SessionTimer.ConnectionRetain:
        if (ctx.machine.closed) this.connectionRecovery.clear();
        else this.connectionRecovery.onTimer(now);
        return;
      case TaskTimer.Attempt:
      case TaskTimer.Budget:
      case TaskTimer.Request:
        onTaskTimer(ctx, fired, now, ctx.config.taskManagementTimeoutMs ?? 10_000, {
          dropConnection: (cid, error) => {
            // Only a drop that happens names the cause: one asked for a connection already gone
            // (the command is held for a reconnect) must not be taken for the next loss's cause.
            // The error's kind ("command") names the cause of the loss (recovery.ts).
            ctx.connections.get(cid)?.fail(error, now);
          },
          requeue: (task) => this.requeue(task as ScsiTask<C>, now),
        });
        return;
    }
  }

  /**
   * The keep-alive (RFC 7143 §11.18): a NOP-Out when nothing was received for the interval, and
   * the connection declared dead when nothing at all comes for the timeout after it. Receiving
   * arms no timer (it is the hot path): a timer that fires early, because something arrived
   * since it was armed, moves itself to the interval after the last PDU received.
   */
  private keepAliveTimer(connection: Connection, timer: ConnectionTimer, keepAlive: KeepAliveSettings, now: number): void {
    const timers = this.ctx.timers;
    if (timer === ConnectionTimer.KeepAliveTimeout) {
      if (connection.pingOutstanding === undefined) return;
      // Any PDU received counts as a sign of life, so a busy connection is not declared dead
      // because the NOP-In queued behind a large read.
      const last = Math.max(connection.lastReceivedAt, connection.pingSentAt);
      if (now - last < keepAlive.timeoutMs) {
        timers.setFor(connection.cid, ConnectionTimer.KeepAliveTimeout, last + keepAlive.timeoutMs);
        return;
      }
      // The error's kind ("keep-alive") names the cause of the loss (recovery.ts).
      const error = new TimeoutError(`connection ${connection.cid}: nothing received for ${keepAlive.timeoutMs} ms after a NOP-Out ping`, { kind: "keep-alive" });
      connection.fail(error, now);
      return;
    }
    if (connection.pingOutstanding !== undefined) return;
    if (now - connection.lastReceivedAt < keepAlive.intervalMs) {
      timers.setFor(connection.cid, ConnectionTimer.KeepAliveInterval, connection.lastReceivedAt + keepAlive.intervalMs);
      return;
    }
    connection.pingOutstanding = sendPing(this.ctx, connection, undefined, true, now, EMPTY);
    connection.pingSentAt = now;
    timers.setFor(connection.cid, ConnectionTimer.KeepAliveTimeout, now + keepAlive.timeoutMs);
  }

  private requeue(task: ScsiTask<C>, now: number): void {
    this.ctx.detach(task);
    task.phase = "queued";
    task.cid = -1;
    this.ctx.enqueue(task);
    this.flushPending(now);
  }

  // ------------------------------------------------------------------ receive path

  /**
   * RFC 7143 §4.2.2.1: a MaxCmdSN below ExpCmdSN - 1 means "ignore these fields", and a MaxCmdSN
   * below the one already held is ignored, "because updates may arrive out of order (e.g., the
   * updates are sent on different TCP connections)". Not only on different connections: istgt
   * sends R2Ts whose MaxCmdSN is below one the same connection has already carried (stamped
   * before, sent after). So a lower MaxCmdSN is, as a rule, an older update, taken quietly: the
   * window keeps its highest (`CommandWindow.update`). A target's ExpCmdSN only moves forward,
   * though, so a PDU whose ExpCmdSN is beyond every one received was stamped after all of them:
   * if its MaxCmdSN is lower, the target did shrink its window. When that shuts out a command
   * already sent and not yet received by the target (this PDU's ExpCmdSN says which), the target
   * will drop that command silently on arrival, a hang: that alone is refused, whatever
   * connection carries it.
   */
  private checkMaxCmdSN(connection: Connection, pdu: TargetPdu & { readonly expCmdSN: number; readonly maxCmdSN: number }): void {
    const window = this.ctx.window;
    const lastSent = (window.cmdSN - 1) >>> 0;
    if (
      !serialLt(pdu.maxCmdSN, (pdu.expCmdSN - 1) >>> 0) &&
      serialGt(pdu.expCmdSN, window.expected) &&
      serialLt(pdu.maxCmdSN, window.max) &&
      serialLt(pdu.maxCmdSN, lastSent) &&
      !serialLt(lastSent, pdu.expCmdSN)
    ) {
      throw new RemoteProtocolError(
        `connection ${connection.cid}: MaxCmdSN went back to ${pdu.maxCmdSN} (from ${window.max}) in a PDU newer than any before (ExpCmdSN ${pdu.expCmdSN}), below CmdSN ${lastSent} already sent (${opcodeName(pdu.opcode)})`,
      );
    }
  }

  private onPdu(connection: Connection, pdu: TargetPdu, frame: Frame, now: number): void {
    if (pdu.opcode === Opcode.LoginResponse) {
      this.logins.onLoginResponse(connection, pdu, now);
      return;
    }
    if (connection.state === ConnectionState.InLogin || connection.state === ConnectionState.XptWait) {
      throw new RemoteProtocolError(`connection ${connection.cid}: ${opcodeName(pdu.opcode)} received during login`);
    }
    const ctx = this.ctx;
    if (frame.dataDigestError && !this.recoverDigestError(connection, pdu)) {
      // RFC 7143 §7.8: without ERL >= 1 (or for this PDU) the connection cannot go on.
      throw new DigestError("data", `connection ${connection.cid}: data digest error in ${opcodeName(pdu.opcode)}`);
    }
    // A status PDU whose data is damaged is asked for again (ERL 1): its StatSN is not
    // acknowledged until the retransmission arrives (RFC 7143 §4.2.2.2, §11.16.1).
    if (!frame.dataDigestError) this.acceptStatSN(connection, pdu);
    if ("maxCmdSN" in pdu) {
      this.checkMaxCmdSN(connection, pdu);
      if (ctx.window.update(pdu.expCmdSN, pdu.maxCmdSN)) this.flushPending(now);
    }
    switch (pdu.opcode) {
      case Opcode.DataIn:
        onDataIn(ctx, connection, pdu, frame);
        break;
      case Opcode.ScsiResponse:
        if (frame.dataDigestError) requestStatusAgain(ctx, connection, pdu);
        else onScsiResponse(ctx, connection, pdu);
        break;
      case Opcode.R2T:
        onR2T(ctx, connection, pdu);
        break;
      case Opcode.NopIn:
        if (frame.dataDigestError) break; // a ping answer with damaged data: the ping times out or is repeated
        onNopIn(ctx, connection, pdu, now, this.keepAlive ? this.keepAlive.intervalMs : undefined);
        break;
      case Opcode.TaskManagementResponse:
        onTaskManagementResponse(ctx, pdu);
        break;
      case Opcode.TextResponse:
        onTextResponse(ctx, connection, pdu);
        break;
      case Opcode.LogoutResponse:
        this.logoutControl.onLogoutResponse(connection, pdu, now);
        break;
      case Opcode.AsyncMessage:
        this.logoutControl.onAsyncMessage(connection, pdu, now);
        break;
      case Opcode.Reject:
        if (pdu.reason === RejectReason.DataDigestError) this.onDigestReject(connection, pdu, now);
        else onReject(ctx, pdu);
        break;
    }
    this.logoutControl.drained(now);
  }

  /**
   * The target found a data digest error in one of our PDUs (RFC 7143 §7.8). At ERL 0 the target
   * drops the connection: we drop it first, so the commands go again after reinstatement instead
   * of failing. At ERL 1: a Data-Out is asked for again by a recovery R2T (nothing to do); a
   * command with immediate data was discarded whole, so we send it again with the same ITT and
   * CmdSN (§6.2.1 retry, plugging the hole in the target's window); other requests fail.
   */
  private onDigestReject(connection: Connection, pdu: RejectPdu, now: number): void {
    const ctx = this.ctx;
    const opcode = pdu.data.length >= 48 ? (pdu.data[0] as number) & 0x3f : -1;
    if (ctx.params.errorRecoveryLevel < 1) {
      throw new DigestError("data", `connection ${connection.cid}: the target reports a data digest error in our ${opcodeName(opcode)}`);
    }
    if (opcode === Opcode.DataOut) return;
    if (opcode === Opcode.ScsiCommand) {
      const task = ctx.tasks.get(readU32(pdu.data, 16));
      if (task !== undefined && task.kind === "scsi" && task.phase === "issued" && task.cid === connection.cid) {
        reissueSame(ctx, task, connection, now);
        return;
      }
    }
    onReject(ctx, pdu);
  }

  /** ERL >= 1 recovers data digest errors in Data-In, SCSI Response and NOP-In (RFC 7143 §7.3). */
  private recoverDigestError(connection: Connection, pdu: TargetPdu): boolean {
    if (this.ctx.params.errorRecoveryLevel < 1) return false;
    void connection;
    return pdu.opcode === Opcode.DataIn || pdu.opcode === Opcode.ScsiResponse || pdu.opcode === Opcode.NopIn;
  }

  /** RFC 7143 §4.2.2.2: StatSN advances by one per status PDU on a connection. */
  private acceptStatSN(connection: Connection, pdu: TargetPdu): void {
    if (!consumesStatSN(pdu)) return;
    const statSN = (pdu as { statSN: number }).statSN;
    if (statSN === connection.expStatSN) {
      connection.expStatSN = serialAdd(statSN, 1);
      // ERL 1: statuses that arrived past a hole are acknowledged once the hole is filled.
      connection.advanceOverHeld();
      return;
    }
    if (serialLt(statSN, connection.expStatSN)) return; // a retransmission: already counted
    if (this.ctx.params.errorRecoveryLevel > 0 && connection.statusHeld(statSN)) return;
    // A jump means status was lost; without ERL >= 1 (status SNACK) nothing can recover it.
    throw new RemoteProtocolError(
      `connection ${connection.cid}: StatSN jumped from ${connection.expStatSN} to ${statSN} in ${opcodeName(pdu.opcode)}`,
    );
  }
}

import type { ChapAlgorithm } from "../auth/hash.js";
import {
  DigestError,
  type IscsiError,
  LocalProtocolError,
  LoginError,
  NotRetryableError,
  RemoteProtocolError,
  SessionClosedError,
  TimeoutError,
  TransportError,
} from "../errors.js";
import { readU32 } from "../bytes.js";
import type { Frame } from "../pdu/framer.js";
import { AsyncEvent, LogoutReason, Opcode, opcodeName, RejectReason, RESERVED_TAG, type TaskManagementFunction } from "../pdu/opcodes.js";
import type { AsyncMessagePdu, LoginResponsePdu, LogoutResponsePdu, RejectPdu, TargetPdu } from "../pdu/types.js";
import { InitiatorLogin, type LoginStep } from "../login/initiator.js";
import { makeIsid } from "../login/isid.js";
import { serialAdd, serialGt, serialLt } from "../serial.js";
import { encodeText, type TextPair } from "../text/codec.js";
import type { SessionParameters } from "../text/parameters.js";
import { InitiatorRenegotiation } from "../text/renegotiation.js";
import type { AsyncEventInfo, CommandRequest, SessionEvent } from "./command.js";
import { Connection, type ConnectionOwner, consumesStatSN } from "./connection.js";
import { DEFAULT_KEEPALIVE, EMPTY, type KeepAliveSettings, type SessionConfig, SessionContext, type SessionDeps } from "./context.js";
import { onNopIn, onReject, onTaskManagementResponse, onTextResponse, sendPing, sendTaskManagement, sendText } from "./control.js";
import { issue, onDataIn, onR2T, onScsiResponse, placeData, reissueSame, requestStatusAgain } from "./datapath.js";
import { onTaskTimer } from "./escalation.js";
import { DEFAULT_RECOVERY, type RecoveryCause, type RecoveryRecord, RecoveryTracker, retryLimitError } from "./recovery.js";
import { closingEvents, ConnectionTrigger, SessionPhase, SessionTrigger } from "./machine.js";
import { ConnectionState, SessionState } from "./states.js";
import type { ScsiTask, Task, TextTask } from "./task.js";
import { ConnectionTimer, type Fired, SessionTimer, TaskTimer } from "./timers.js";

export type { KeepAliveSettings, SessionConfig, SessionDeps } from "./context.js";

/** Failures a new login cannot mend: the session ends with them instead of being re-established. */
const FINAL_CODES: ReadonlySet<string> = new Set(["ISCSI_ERR_AUTH", "ISCSI_ERR_MUTUAL_AUTH", "ISCSI_ERR_NEGOTIATION", "ISCSI_ERR_CONFIG"]);

/** Longest we let commands in flight finish before the logout a target asked for. */
const MAX_LOGOUT_DRAIN_MS = 10_000;

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
 */
export class Session<C = unknown> {
  readonly isid: number;
  private readonly ctx: SessionContext<C>;
  private readonly logins = new Map<number, InitiatorLogin>();
  /** Set when a target could not use our CHAP algorithm list: later logins offer only these. */
  private chapFallback: readonly ChapAlgorithm[] | undefined;
  /** Mutual CHAP challenges we sent on this session's logins: a target may not hand one back. */
  private readonly sentChallenges: Uint8Array[] = [];
  private nextCid = 0;
  private readonly keepAlive: KeepAliveSettings | false;
  private readonly owner: ConnectionOwner;
  private readonly recovery: RecoveryTracker;
  private readonly recoveryEnabled: boolean;

  constructor(config: SessionConfig, deps: SessionDeps) {
    if (config.sessionType !== "Discovery" && !config.targetName) {
      throw new LocalProtocolError("a Normal session needs a target name");
    }
    this.isid = config.isid ?? makeIsid(deps.randomBytes);
    this.keepAlive = config.keepAlive === undefined ? DEFAULT_KEEPALIVE : config.keepAlive;
    // RFC 7143 §11.12.8: the leading login carries the session's initial CmdSN; any value works.
    this.ctx = new SessionContext<C>(config, deps, readU32(deps.randomBytes(4), 0));
    const settings = { ...DEFAULT_RECOVERY, ...config.recovery };
    this.recoveryEnabled = settings.enabled && config.sessionType === "Normal";
    this.recovery = new RecoveryTracker(settings, () => readU32(deps.randomBytes(4), 0) / 0x1_0000_0000, this.ctx.timers);
    this.owner = {
      onPdu: (connection, pdu, frame, now) => this.onPdu(connection, pdu, frame, now),
      onClosed: (connection, error, now) => this.onConnectionClosed(connection, error, now),
      placeData: (bhs, _ahs, length) => placeData(this.ctx, bhs, length),
      trace: config.trace,
    };
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
  /** The connections without making an array (the host's hot loop). */
  connectionValues(): IterableIterator<Connection> {
    return this.ctx.connections.values();
  }
  /** Every recovery episode so far (cause, duration, commands retried and failed). */
  get recoveries(): readonly RecoveryRecord[] {
    return this.recovery.records;
  }
  /** True while the session is down and being re-established. */
  get recovering(): boolean {
    return this.recovery.active !== undefined;
  }

  // ------------------------------------------------------------------ connections and login

  /** Creates a connection in XPT_WAIT: the host now makes the TCP connection. */
  openConnection(now: number): Connection {
    if (this.ctx.machine.closed) throw new SessionClosedError("the session is closed");
    const max = this.ctx.params.maxConnections;
    if (this.ctx.machine.loggedIn && this.ctx.liveConnections() >= max) {
      throw new LocalProtocolError(`the session allows ${max} connection(s) (MaxConnections)`);
    }
    if (this.recovery.active !== undefined) this.recovery.attempt();
    const cid = this.nextCid;
    this.nextCid = (this.nextCid + 1) & 0xffff;
    const connection = new Connection(cid, this.owner, this.ctx.deps.crc32c);
    connection.handle(ConnectionTrigger.Connect);
    this.ctx.timers.setFor(cid, ConnectionTimer.Connect, now + (this.ctx.config.loginTimeoutMs ?? 15_000));
    this.ctx.connections.set(cid, connection);
    return connection;
  }

  /** The host's transport is up: the login starts (RFC 7143 §8.1.3 T4). */
  transportConnected(connection: Connection, now: number): void {
    connection.handle(ConnectionTrigger.TransportUp);
    connection.lastReceivedAt = now;
    this.ctx.timers.setFor(connection.cid, ConnectionTimer.Connect, undefined);
    this.ctx.timers.setFor(connection.cid, ConnectionTimer.Login, now + (this.ctx.config.loginTimeoutMs ?? 15_000));
    if (this.ctx.machine.phase === SessionPhase.Failed) {
      this.ctx.machine.handle(SessionTrigger.Reinstating);
      // RFC 7143 §6.3.5: session reinstatement is a leading login with the same ISID and TSIH 0.
      this.ctx.tsih = 0;
    }
    const config = this.ctx.config;
    const chap = config.chap;
    const leading = this.ctx.tsih === 0;
    const login = new InitiatorLogin({
      initiatorName: config.initiatorName,
      ...(config.initiatorAlias === undefined ? {} : { initiatorAlias: config.initiatorAlias }),
      ...(config.targetName === undefined ? {} : { targetName: config.targetName }),
      sessionType: config.sessionType,
      isid: this.isid,
      tsih: this.ctx.tsih,
      cid: connection.cid,
      cmdSN: this.ctx.window.cmdSN,
      initiatorTaskTag: this.ctx.tasks.allocate(),
      ...(chap === undefined ? {} : { chap: this.chapFallback === undefined ? chap : { ...chap, algorithms: this.chapFallback } }),
      ...(config.proposal === undefined ? {} : { proposal: config.proposal }),
      ...(leading ? {} : { session: this.ctx.params }),
      hash: this.ctx.deps.hash,
      randomBytes: this.ctx.deps.randomBytes,
      sentChallenges: this.sentChallenges,
    });
    this.logins.set(connection.cid, login);
    connection.send(login.start());
  }

  /** The host's transport closed or failed. */
  transportClosed(connection: Connection, error: IscsiError | undefined, now: number): void {
    connection.fail(error ?? new TransportError(`connection ${connection.cid} closed by the target`), now);
  }

  private onLoginResponse(connection: Connection, pdu: LoginResponsePdu, now: number): void {
    const login = this.logins.get(connection.cid);
    if (login === undefined || connection.state !== ConnectionState.InLogin) {
      throw new RemoteProtocolError(`connection ${connection.cid}: unexpected Login Response in state ${connection.state}`);
    }
    let step: LoginStep;
    try {
      step = login.receive(pdu);
    } catch (error) {
      this.logins.delete(connection.cid);
      if (error instanceof Error && "code" in error) {
        this.ctx.emit({ type: "login-failed", cid: connection.cid, error: error as IscsiError });
        connection.fail(error as IscsiError, now);
        return;
      }
      throw error;
    }
    switch (step.kind) {
      case "send":
        connection.send(step.pdu);
        return;
      case "redirect":
        this.logins.delete(connection.cid);
        this.ctx.emit({
          type: "login-redirect",
          cid: connection.cid,
          host: step.address.host,
          port: step.address.port,
          permanent: step.permanent,
        });
        connection.fail(undefined, now);
        return;
      case "retry":
        this.logins.delete(connection.cid);
        this.chapFallback = step.chapAlgorithms;
        this.ctx.emit({ type: "login-retry", cid: connection.cid, reason: step.reason });
        connection.fail(undefined, now);
        return;
      case "complete":
        this.logins.delete(connection.cid);
        this.onLoggedIn(connection, step, now);
        return;
    }
  }

  private onLoggedIn(connection: Connection, step: Extract<LoginStep, { kind: "complete" }>, now: number): void {
    const result = step.result;
    const ctx = this.ctx;
    if (ctx.tsih === 0) {
      ctx.tsih = result.tsih;
      ctx.params = result.session;
      ctx.window.reset(ctx.window.cmdSN, result.expCmdSN, result.maxCmdSN);
    } else {
      ctx.window.update(result.expCmdSN, result.maxCmdSN);
    }
    connection.expStatSN = serialAdd(result.statSN, 1);
    connection.applyParameters(result.connection);
    connection.handle(ConnectionTrigger.LoginAccepted);
    ctx.timers.setFor(connection.cid, ConnectionTimer.Login, undefined);
    connection.lastReceivedAt = now;
    if (this.keepAlive) ctx.timers.setFor(connection.cid, ConnectionTimer.KeepAliveInterval, now + this.keepAlive.intervalMs);
    ctx.machine.handle(SessionTrigger.LoggedIn);
    ctx.emit({ type: "login-complete", cid: connection.cid });
    const record = this.recovery.active;
    if (record !== undefined) {
      this.reissueHeld(record);
      this.recovery.succeeded(now);
      ctx.emit({ type: "recovery", phase: "recovered", record });
    }
    this.flushPending(now);
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
   * Logs out (RFC 7143 §11.14): the whole session by default, or one connection. Commands the
   * target has are completed by it first; queued ones fail with SessionClosedError.
   */
  logout(now: number, reason: LogoutReason = LogoutReason.CloseSession, cid?: number): void {
    const state = this.ctx.machine.state;
    if (state === SessionState.Failed || state === SessionState.InContinue) {
      // Nothing to log out of while the session is down: stop recovering instead.
      this.giveUp(new SessionClosedError("the session was closed while it was being re-established"), now);
      return;
    }
    this.sendLogout(now, reason, cid, false);
  }

  private sendLogout(now: number, reason: LogoutReason, cid: number | undefined, forRecovery: boolean): void {
    const ctx = this.ctx;
    const connection = cid === undefined ? ctx.pickConnection() : ctx.connections.get(cid);
    if (connection === undefined || (!connection.usable && connection.state !== ConnectionState.LogoutRequested)) {
      throw new SessionClosedError("no connection is logged in to log out");
    }
    if (reason === LogoutReason.CloseSession) ctx.machine.handle(forRecovery ? SessionTrigger.LogoutToReturn : SessionTrigger.Logout);
    const itt = ctx.tasks.allocate();
    ctx.tasks.add({ kind: "logout", itt, cid: connection.cid, reason });
    connection.handle(ConnectionTrigger.LogoutSent);
    // RFC 7143 §8.1.3: IN_LOGOUT is not full feature phase any more; the logout has its own bound.
    ctx.timers.setFor(connection.cid, ConnectionTimer.KeepAliveInterval, undefined);
    ctx.timers.setFor(connection.cid, ConnectionTimer.KeepAliveTimeout, undefined);
    ctx.timers.setFor(connection.cid, ConnectionTimer.Logout, now + (ctx.config.logoutTimeoutMs ?? 10_000));
    if (reason === LogoutReason.CloseSession && !forRecovery) {
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

  /** Gives up on everything without a logout: every task fails, every connection closes. */
  close(error: IscsiError, now: number): void {
    this.giveUp(error, now);
  }

  private giveUp(error: IscsiError, now: number): void {
    if (this.ctx.machine.closed) return;
    const record = this.recovery.active;
    if (record !== undefined) {
      for (const task of this.ctx.tasks.values()) if (task.kind === "scsi") record.failed++;
      this.recovery.gaveUp(now);
      this.ctx.emit({ type: "recovery", phase: "gave-up", record });
    }
    this.enterClosed(SessionTrigger.GiveUp, error);
    for (const connection of [...this.ctx.connections.values()]) connection.fail(error, now);
    this.ctx.failAll(error);
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

  private onTimer(fired: Fired<Task<C>>, now: number): void {
    const ctx = this.ctx;
    switch (fired.timer) {
      case ConnectionTimer.Connect:
      case ConnectionTimer.Login:
      case ConnectionTimer.Logout: {
        const connection = ctx.connections.get(fired.cid);
        if (connection === undefined || connection.closed) return;
        const what = fired.timer === ConnectionTimer.Connect ? "connecting" : fired.timer;
        connection.fail(new TimeoutError(`connection ${connection.cid}: ${what} timed out`), now);
        return;
      }
      case ConnectionTimer.KeepAliveInterval:
      case ConnectionTimer.KeepAliveTimeout: {
        const connection = ctx.connections.get(fired.cid);
        if (connection !== undefined && this.keepAlive && alive(connection)) this.keepAliveTimer(connection, fired.timer, this.keepAlive, now);
        return;
      }
      case SessionTimer.LogoutDrain:
        this.logoutForTarget(now);
        return;
      case SessionTimer.Time2Retain:
        this.replacementTimedOut(now);
        return;
      case SessionTimer.RecoveryBackoff:
        // The replacement timeout decides first when both are due (a host that woke late).
        if ((ctx.timers.get(SessionTimer.Time2Retain) ?? Number.POSITIVE_INFINITY) <= now) {
          this.replacementTimedOut(now);
          return;
        }
        if (ctx.machine.phase !== SessionPhase.Failed) return;
        // The host opens a connection (openConnection + transportConnected) when it sees this.
        ctx.emit({ type: "reconnect", attempt: (this.recovery.active?.attempts ?? 0) + 1 });
        return;
      case TaskTimer.Attempt:
      case TaskTimer.Budget:
      case TaskTimer.Request:
        onTaskTimer(ctx, fired, now, ctx.config.taskManagementTimeoutMs ?? 10_000, {
          dropConnection: (cid, error) => {
            // Only a drop that happens names the cause: one asked for a connection already gone
            // (the command is held for a reconnect) must not be taken for the next loss's cause.
            const connection = ctx.connections.get(cid);
            if (connection === undefined || connection.closed) return;
            ctx.machine.expectedLoss = { cause: "command-timeout", time2WaitMs: 0 };
            connection.fail(error, now);
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
      // What happened now is the cause; a Time2Wait the target gave before still applies.
      const machine = this.ctx.machine;
      machine.expectedLoss = { cause: "keepalive-timeout", time2WaitMs: machine.expectedLoss?.time2WaitMs ?? 0 };
      connection.fail(new TimeoutError(`connection ${connection.cid}: nothing received for ${keepAlive.timeoutMs} ms after a NOP-Out ping`), now);
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

  /** No login brought the session back within the replacement timeout: everything fails. */
  private replacementTimedOut(now: number): void {
    const record = this.recovery.active;
    const seconds = Math.round(this.recovery.settings.replacementTimeoutMs / 1000);
    this.giveUp(
      new SessionClosedError(
        `the session to ${this.ctx.config.targetName ?? "the target"} could not be re-established within ${seconds} s (${record?.detail ?? "connection lost"})`,
      ),
      now,
    );
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
      this.onLoginResponse(connection, pdu, now);
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
        this.onLogoutResponse(connection, pdu, now);
        break;
      case Opcode.AsyncMessage:
        this.onAsyncMessage(connection, pdu, now);
        break;
      case Opcode.Reject:
        if (pdu.reason === RejectReason.DataDigestError) this.onDigestReject(connection, pdu, now);
        else onReject(ctx, pdu);
        break;
    }
    if (ctx.machine.draining && this.scsiInFlight() === 0) this.logoutForTarget(now);
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

  private onLogoutResponse(connection: Connection, pdu: LogoutResponsePdu, now: number): void {
    const ctx = this.ctx;
    const task = ctx.tasks.get(pdu.initiatorTaskTag);
    if (task === undefined || task.kind !== "logout") {
      throw new RemoteProtocolError(`Logout Response for unknown Initiator Task Tag 0x${pdu.initiatorTaskTag.toString(16)}`);
    }
    ctx.tasks.delete(task.itt);
    ctx.emit({ type: "logout-complete", cid: connection.cid, time2Wait: pdu.time2Wait, time2Retain: pdu.time2Retain });
    if (ctx.machine.phase === SessionPhase.LoggingOutToReturn) {
      // We logged out because the target asked: come back after Time2Wait (RFC 7143 §11.15.2).
      ctx.machine.expectedLoss = { cause: "target-logout-request", time2WaitMs: pdu.time2Wait * 1000 };
      connection.fail(new TransportError(`the target at connection ${connection.cid} asked us to log out`), now);
      return;
    }
    if (task.reason === LogoutReason.CloseSession) {
      this.enterClosed(SessionTrigger.LoggedOut, undefined);
      const error = new SessionClosedError("the session was logged out");
      ctx.failAll(error);
      for (const other of ctx.connections.values()) if (other !== connection) other.fail(error, now);
      connection.fail(undefined, now);
    } else {
      connection.fail(undefined, now);
    }
  }

  private onAsyncMessage(connection: Connection, pdu: AsyncMessagePdu, now: number): void {
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
    this.ctx.emit({ type: "async-event", cid: connection.cid, event });
    switch (pdu.asyncEvent) {
      case AsyncEvent.LogoutRequest:
        // RFC 7143 §11.9.1: log out within Parameter3 seconds. Let what is in flight finish
        // first (no new commands meanwhile), then log out and, with recovery on, come back.
        if (connection.state === ConnectionState.LoggedIn) connection.handle(ConnectionTrigger.LogoutRequested);
        // Already logging out (ours, or an earlier request's): the logout under way answers it.
        if (this.ctx.machine.handle(SessionTrigger.TargetLogoutRequest) !== SessionPhase.Draining) break;
        this.ctx.machine.expectedLoss = { cause: "target-logout-request", time2WaitMs: 0 };
        // Parameter3 is only the target's upper limit; commands in flight get at most 10 s.
        this.ctx.timers.set(SessionTimer.LogoutDrain, now + Math.min(Math.max(1, pdu.parameter3 || 5) * 1000 - 500, MAX_LOGOUT_DRAIN_MS));
        if (this.scsiInFlight() === 0) this.logoutForTarget(now);
        break;
      case AsyncEvent.DropConnection:
      case AsyncEvent.DropAllConnections:
        // The target will drop; Parameter2 is the Time2Wait before we may reconnect.
        this.ctx.machine.expectedLoss = { cause: "target-drop", time2WaitMs: pdu.parameter2 * 1000 };
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
    if (connection.state !== ConnectionState.LoggedIn || !ctx.machine.loggedIn) return;
    for (const t of ctx.tasks.values()) if (t.kind === "text" && t.renegotiation?.cid === connection.cid) return;
    const negotiation = new InitiatorRenegotiation(ctx.config, connection.params, {
      maxRecvDataSegmentLength: connection.params.maxRecvDataSegmentLength,
    });
    const task: TextTask<C> = {
      kind: "text",
      itt: ctx.tasks.allocate(),
      cid: -1,
      context: undefined as C,
      chunks: [],
      receivedBytes: 0,
      deadline: now + (ctx.config.requestTimeoutMs ?? 30_000),
      request: encodeText(negotiation.request()),
      renegotiation: { cid: connection.cid, negotiation },
    };
    ctx.tasks.add(task);
    ctx.arm(task, TaskTimer.Request, task.deadline as number);
    if (ctx.window.open && !ctx.hasPending && !ctx.machine.draining) sendText(ctx, task, connection, RESERVED_TAG);
    else ctx.enqueue(task);
  }

  private scsiInFlight(): number {
    let n = 0;
    for (const t of this.ctx.tasks.values()) if (t.kind === "scsi" && t.phase === "issued") n++;
    return n;
  }

  /**
   * Sends the logout the target asked for (AsyncEvent 1), once: when the commands in flight are
   * done, or when the time the target gave runs out. With recovery on, the session comes back.
   */
  private logoutForTarget(now: number): void {
    const ctx = this.ctx;
    ctx.timers.set(SessionTimer.LogoutDrain, undefined);
    if (!ctx.machine.draining) return;
    for (const connection of ctx.connections.values()) {
      if (connection.state === ConnectionState.LogoutRequested || connection.usable) {
        // Without recovery this logout is the session's end, not a loss to recover from.
        if (!this.recoveryEnabled) ctx.machine.expectedLoss = undefined;
        this.sendLogout(now, LogoutReason.CloseSession, connection.cid, this.recoveryEnabled);
        return;
      }
    }
  }

  // ------------------------------------------------------------------ failure and recovery

  private onConnectionClosed(connection: Connection, error: IscsiError | undefined, now: number): void {
    const ctx = this.ctx;
    // A connection the session let go of (dropped with the others when it failed) is no longer a
    // member: its end is cleaned up and reported, and decides nothing about the session.
    const member = ctx.connections.get(connection.cid) === connection;
    if (member) {
      this.logins.delete(connection.cid);
      ctx.connections.delete(connection.cid);
    }
    const wasLoggedIn = connection.state !== ConnectionState.XptWait && connection.state !== ConnectionState.InLogin;
    for (const trigger of closingEvents(connection.state, error === undefined)) connection.handle(trigger);
    ctx.timers.clearFor(connection.cid);
    ctx.emit({ type: "connection-closed", cid: connection.cid, ...(error === undefined ? {} : { error }) });
    if (ctx.machine.closed || !member) return;
    const cause = error ?? new TransportError(`connection ${connection.cid} closed`);
    if (!wasLoggedIn && ctx.machine.loggedIn) {
      // A connection being added to a running session failed its login: the session goes on.
      return;
    }

    if (ctx.machine.phase === SessionPhase.LoggingOut) {
      // The logout was not answered (a target or network gone at shutdown): the session ends
      // here, it is not re-established.
      this.giveUp(error ?? new SessionClosedError("the session was closed during logout"), now);
      return;
    }
    if (this.recoveryEnabled && ctx.machine.state !== SessionState.Free && this.shouldRecover(error)) {
      this.beginRecovery(connection, cause, now);
      return;
    }

    // No recovery: tasks with allegiance to the lost connection fail (RFC 7143 §6.1.2).
    for (const task of [...ctx.tasks.values()]) {
      if (task.kind === "scsi") {
        if (task.cid === connection.cid && task.phase === "issued") ctx.failTask(task, cause);
      } else if (task.cid === connection.cid) {
        ctx.failTask(task, cause);
      }
    }
    if (ctx.liveConnections() > 0) {
      this.flushPending(now);
      return;
    }
    if (ctx.machine.state === SessionState.Free) {
      // The leading login never completed: nothing to continue.
      if (wasLoggedIn || error !== undefined) ctx.failAll(cause);
      return;
    }
    this.giveUp(cause, now);
  }

  /**
   * Transport trouble, timeouts and protocol errors are worth a new login; a refused login is not,
   * nor our own configuration refused (a new login would meet it again).
   */
  private shouldRecover(error: IscsiError | undefined): boolean {
    if (error === undefined) return this.ctx.machine.expectedLoss !== undefined;
    if (error instanceof LoginError) return error.statusClass === 0x03; // target errors are transient
    return !FINAL_CODES.has(error.code);
  }

  private beginRecovery(lost: Connection, error: IscsiError, now: number): void {
    const ctx = this.ctx;
    // The cause is known before anything below runs: failing the requests in flight calls back
    // into escalation, which must not decide what this loss was.
    const known = ctx.machine.takeExpectedLoss();
    ctx.machine.handle(SessionTrigger.ConnectionLost);
    ctx.timers.set(SessionTimer.LogoutDrain, undefined);
    // ERL 0 (RFC 7143 §6.3.5, session reinstatement): every connection goes, the session is reinstated.
    const others = [...ctx.connections.values()];
    ctx.connections.clear();
    this.logins.clear();
    for (const other of others) other.fail(error, now);
    for (const task of [...ctx.tasks.values()]) {
      if (task.kind === "scsi") {
        if (task.phase === "issued") {
          ctx.detach(task);
          task.phase = "held";
          task.cid = -1;
          // The first loss is what a final failure of this command reports (its code and text).
          task.lostBecause ??= error;
        }
      } else {
        ctx.failTask(task, error);
      }
    }
    const cause: RecoveryCause =
      known?.cause ??
      (error.code === "ISCSI_ERR_TIMEOUT" ? "keepalive-timeout" : error.code === "ISCSI_ERR_TRANSPORT" ? "connection-lost" : "protocol-error");
    const time2WaitMs = known?.time2WaitMs ?? ctx.params.defaultTime2Wait * 1000;
    const starting = this.recovery.active === undefined;
    if (starting) {
      const record = this.recovery.begin(cause, `${error.message}`, now, time2WaitMs);
      ctx.emit({ type: "recovery", phase: "started", record });
    } else {
      this.recovery.attemptFailed(now, time2WaitMs);
    }
    void lost;
  }

  /** After reinstatement: commands in flight at the loss go again if safe to repeat. */
  private reissueHeld(record: RecoveryRecord): void {
    const ctx = this.ctx;
    const held: ScsiTask<C>[] = [];
    for (const task of ctx.tasks.values()) if (task.kind === "scsi" && task.phase === "held") held.push(task);
    // Re-issue in the original order (CmdSN order) ahead of anything queued after the loss.
    held.sort((a, b) => (serialLt(a.cmdSN, b.cmdSN) ? -1 : 1));
    const queued = ctx.drainQueue();
    for (const task of held) {
      const what = `command 0x${(task.request.cdb[0] ?? 0).toString(16)} (ITT 0x${task.itt.toString(16)})`;
      const cause = task.lostBecause;
      if (task.request.retry !== "safe") {
        record.failed++;
        const why = cause === undefined ? "" : `; the loss: ${cause.message}`;
        ctx.failTask(
          task,
          new NotRetryableError(`${what} was in flight when the connection was lost and is not safe to repeat${why}`, cause === undefined ? undefined : { cause }),
        );
        continue;
      }
      if (task.attempts >= this.recovery.settings.maxAttempts) {
        record.failed++;
        ctx.failTask(task, retryLimitError(`${what} failed ${task.attempts} times across reconnects; giving up`, cause));
        continue;
      }
      record.retried++;
      task.phase = "queued";
      ctx.enqueue(task);
    }
    for (const task of queued) ctx.enqueue(task);
  }

  private enterClosed(trigger: typeof SessionTrigger.GiveUp | typeof SessionTrigger.LoggedOut, error: IscsiError | undefined): void {
    const ctx = this.ctx;
    if (ctx.machine.closed) return;
    ctx.machine.handle(trigger);
    this.recovery.stop();
    ctx.timers.set(SessionTimer.LogoutDrain, undefined);
    ctx.emit({ type: "session-closed", ...(error === undefined ? {} : { error }) });
  }
}

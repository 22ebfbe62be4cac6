import type { HashFunction } from "../auth/hash.js";
import type { Crc32c } from "../digest/crc32c.js";
import {
  AbortedError,
  type IscsiError,
  LocalProtocolError,
  NotRetryableError,
  RejectError,
  RemoteProtocolError,
  SessionClosedError,
  TargetFailureError,
  TimeoutError,
  TransportError,
} from "../errors.js";
import { readU32 } from "../pdu/bytes.js";
import type { Frame } from "../pdu/framer.js";
import {
  AsyncEvent,
  LogoutReason,
  Opcode,
  opcodeName,
  RESERVED_TAG,
  TaskAttribute,
  TaskManagementFunction,
  TaskManagementResponseCode,
} from "../pdu/opcodes.js";
import type {
  AsyncMessagePdu,
  DataInPdu,
  LoginResponsePdu,
  LogoutResponsePdu,
  NopInPdu,
  Pdu,
  R2TPdu,
  RejectPdu,
  ScsiCommandPdu,
  ScsiResponsePdu,
  TargetPdu,
  TaskManagementResponsePdu,
  TextResponsePdu,
} from "../pdu/types.js";
import { serialAdd, serialLt } from "../serial.js";
import { parseText, type TextPair, encodeText } from "../text/codec.js";
import { DEFAULT_SESSION_PARAMETERS, type SessionParameters } from "../text/parameters.js";
import type { AsyncEventInfo, CommandRequest, CommandResult, SessionEvent } from "./command.js";
import { Connection, type ConnectionOwner, consumesStatSN } from "./connection.js";
import { dataOutSequence, planUnsolicited, UNSOLICITED_TTT } from "./data-out.js";
import { type ChapCredentials, InitiatorLogin, type LoginStep } from "../login/initiator.js";
import { makeIsid } from "../login/isid.js";
import type { OperationalProposal } from "../text/parameters.js";
import type { ChapAlgorithm } from "../auth/hash.js";
import { ConnectionState, SessionState, sessionTransition } from "./states.js";
import { type ScsiTask, type Task, TaskTable, type TextTask } from "./task.js";
import { CommandWindow } from "./window.js";

/** Host services the core needs but cannot own (RFC-independent, injected). */
export interface SessionDeps {
  readonly crc32c: Crc32c;
  readonly randomBytes: (length: number) => Uint8Array;
  readonly hash: HashFunction;
}

export interface KeepAliveSettings {
  /** Send a NOP-Out when nothing was received for this long. */
  readonly intervalMs: number;
  /** Declare the connection dead when nothing at all was received this long after a ping. */
  readonly timeoutMs: number;
}

export interface SessionConfig {
  readonly initiatorName: string;
  readonly initiatorAlias?: string;
  /** Required for a Normal session. */
  readonly targetName?: string;
  readonly sessionType: "Normal" | "Discovery";
  readonly chap?: ChapCredentials;
  /** What we offer in operational negotiation; the core's default proposal when absent. */
  readonly proposal?: OperationalProposal;
  /** 48-bit ISID; generated (random qualifier) when absent. Keep it to reinstate a session. */
  readonly isid?: number;
  readonly keepAlive?: KeepAliveSettings | false;
  /** Milliseconds allowed for a whole login; default 15 s. */
  readonly loginTimeoutMs?: number;
  /** Milliseconds allowed for a logout; default 10 s. */
  readonly logoutTimeoutMs?: number;
  /** Called for each PDU sent and received (the CLI's -v trace). */
  readonly trace?: (direction: "send" | "receive", cid: number, pdu: Pdu) => void;
}

const DEFAULT_KEEPALIVE: KeepAliveSettings = { intervalMs: 5_000, timeoutMs: 15_000 };

/**
 * An initiator session, sans I/O (RFC 7143 §3.4): the command window, the task table, the data
 * path, task management, NOP, text and logout, over one or more `Connection`s. The host opens
 * connections (`openConnection`), feeds their bytes, writes what they transmit, and drains
 * `nextEvent()`; time comes in as `now` and through `handleTimeout`.
 */
export class Session<C = unknown> {
  readonly isid: number;
  private tsihValue = 0;
  private stateValue: SessionState = SessionState.Free;
  private paramsValue: SessionParameters = DEFAULT_SESSION_PARAMETERS;
  private readonly window: CommandWindow;
  private readonly tasks = new TaskTable<C>();
  /** Non-immediate SCSI and text tasks waiting for the window to open. */
  private readonly pending: Array<ScsiTask<C> | TextTask<C>> = [];
  private pendingHead = 0;
  private readonly connections = new Map<number, Connection>();
  private readonly logins = new Map<number, InitiatorLogin>();
  /** Set when a target could not use our CHAP algorithm list: later logins offer only these. */
  private chapFallback: readonly ChapAlgorithm[] | undefined;
  private nextCid = 0;
  private readonly events: SessionEvent<C>[] = [];
  private eventHead = 0;
  private readonly keepAlive: KeepAliveSettings | false;
  private readonly owner: ConnectionOwner;
  /** Round-robin cursor over logged-in connections (MC/S). */
  private cursor = 0;

  constructor(
    private readonly config: SessionConfig,
    private readonly deps: SessionDeps,
  ) {
    if (config.sessionType !== "Discovery" && !config.targetName) {
      throw new LocalProtocolError("a Normal session needs a target name");
    }
    this.isid = config.isid ?? makeIsid(deps.randomBytes);
    this.keepAlive = config.keepAlive === undefined ? DEFAULT_KEEPALIVE : config.keepAlive;
    // RFC 7143 §11.12.8: the leading login carries the session's initial CmdSN; any value works.
    this.window = new CommandWindow(readU32(deps.randomBytes(4), 0));
    this.owner = {
      onPdu: (connection, pdu, frame, now) => this.onPdu(connection, pdu, frame, now),
      onClosed: (connection, error, now) => this.onConnectionClosed(connection, error, now),
      placeData: (bhs, _ahs, length) => this.placeData(bhs, length),
      trace: config.trace,
    };
  }

  // ------------------------------------------------------------------ state

  get state(): SessionState {
    return this.stateValue;
  }
  get tsih(): number {
    return this.tsihValue;
  }
  /** The negotiated session-wide parameters (RFC defaults until the leading login completes). */
  get params(): SessionParameters {
    return this.paramsValue;
  }
  /** Commands sent and not completed, plus those waiting for the window. */
  get outstanding(): number {
    return this.tasks.size;
  }
  get commandWindow(): { readonly cmdSN: number; readonly expCmdSN: number; readonly maxCmdSN: number } {
    return { cmdSN: this.window.cmdSN, expCmdSN: this.window.expected, maxCmdSN: this.window.max };
  }
  connection(cid: number): Connection | undefined {
    return this.connections.get(cid);
  }
  get connectionList(): readonly Connection[] {
    return [...this.connections.values()];
  }

  // ------------------------------------------------------------------ connections and login

  /** Creates a connection in XPT_WAIT: the host now makes the TCP connection. */
  openConnection(now: number): Connection {
    if (this.stateValue === SessionState.Closed) throw new SessionClosedError("the session is closed");
    const max = this.paramsValue.maxConnections;
    if (this.tsihValue !== 0 && this.liveConnections() >= max) {
      throw new LocalProtocolError(`the session allows ${max} connection(s) (MaxConnections)`);
    }
    const cid = this.nextCid;
    this.nextCid = (this.nextCid + 1) & 0xffff;
    const connection = new Connection(cid, this.owner, this.deps.crc32c);
    connection.transition(ConnectionState.XptWait);
    connection.phaseDeadline = now + (this.config.loginTimeoutMs ?? 15_000);
    this.connections.set(cid, connection);
    return connection;
  }

  /** The host's transport is up: the login starts (RFC 7143 §8.1.3 T4). */
  transportConnected(connection: Connection, now: number): void {
    connection.transition(ConnectionState.InLogin);
    connection.lastReceivedAt = now;
    connection.phaseDeadline = now + (this.config.loginTimeoutMs ?? 15_000);
    if (this.stateValue === SessionState.Failed) this.stateValue = sessionTransition(this.stateValue, SessionState.InContinue);
    const chap = this.config.chap;
    const login = new InitiatorLogin({
      initiatorName: this.config.initiatorName,
      ...(this.config.initiatorAlias === undefined ? {} : { initiatorAlias: this.config.initiatorAlias }),
      ...(this.config.targetName === undefined ? {} : { targetName: this.config.targetName }),
      sessionType: this.config.sessionType,
      isid: this.isid,
      tsih: this.tsihValue,
      cid: connection.cid,
      cmdSN: this.window.cmdSN,
      initiatorTaskTag: this.tasks.allocate(),
      ...(chap === undefined ? {} : { chap: this.chapFallback === undefined ? chap : { ...chap, algorithms: this.chapFallback } }),
      ...(this.config.proposal === undefined ? {} : { proposal: this.config.proposal }),
      ...(this.tsihValue === 0 ? {} : { session: this.paramsValue }),
      hash: this.deps.hash,
      randomBytes: this.deps.randomBytes,
    });
    this.logins.set(connection.cid, login);
    connection.send(login.start());
  }

  /** The host's transport closed or failed. */
  transportClosed(connection: Connection, error: IscsiError | undefined, now: number): void {
    connection.fail(error ?? new TransportError(`connection ${connection.cid} closed by the target`), now);
  }

  private liveConnections(): number {
    let n = 0;
    for (const c of this.connections.values()) if (!c.closed) n++;
    return n;
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
        this.emit({ type: "login-failed", cid: connection.cid, error: error as IscsiError });
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
        this.emit({
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
        this.emit({ type: "login-retry", cid: connection.cid, reason: step.reason });
        connection.fail(undefined, now);
        return;
      case "complete": {
        this.logins.delete(connection.cid);
        const result = step.result;
        const leading = this.tsihValue === 0;
        if (leading) {
          this.tsihValue = result.tsih;
          this.paramsValue = result.session;
          this.window.reset(this.window.cmdSN, result.expCmdSN, result.maxCmdSN);
        } else {
          this.window.update(result.expCmdSN, result.maxCmdSN);
        }
        connection.expStatSN = serialAdd(result.statSN, 1);
        connection.applyParameters(result.connection);
        connection.transition(ConnectionState.LoggedIn);
        connection.phaseDeadline = undefined;
        connection.lastReceivedAt = now;
        if (this.keepAlive) connection.nextPingAt = now + this.keepAlive.intervalMs;
        if (this.stateValue !== SessionState.LoggedIn) {
          this.stateValue = sessionTransition(this.stateValue, SessionState.LoggedIn);
        }
        this.emit({ type: "login-complete", cid: connection.cid });
        this.reissueHeld(now);
        this.flushPending(now);
        return;
      }
    }
  }

  // ------------------------------------------------------------------ commands

  /**
   * Queues a SCSI command. It is sent at once if a connection is logged in and the window is
   * open, else when they are. Returns its Initiator Task Tag.
   */
  submit(request: CommandRequest<C>, now: number): number {
    this.assertOpen();
    if (this.paramsValue.sessionType === "Discovery" && this.tsihValue !== 0) {
      throw new LocalProtocolError("a discovery session carries no SCSI commands (RFC 7143 §4.3)");
    }
    if (request.dataIn !== undefined && request.dataOut !== undefined) {
      // Bidirectional commands need the Bidi AHS and two residuals; none of our commands uses them.
      throw new LocalProtocolError("bidirectional commands are not supported yet");
    }
    const transferLength = request.dataIn?.length ?? request.dataOut?.length ?? 0;
    const task: ScsiTask<C> = {
      kind: "scsi",
      itt: this.tasks.allocate(),
      request,
      phase: "queued",
      cid: -1,
      cmdSN: 0,
      transferLength,
      dataInBytes: 0,
      nextDataSN: 0,
      dataOutBytes: 0,
      nextR2TSN: 0,
      attempts: 0,
      deadline: request.timeoutMs === undefined ? undefined : now + request.timeoutMs,
      issuedAt: now,
    };
    this.tasks.add(task);
    if (this.pendingHead === this.pending.length && this.window.open) {
      const connection = this.pickConnection();
      if (connection !== undefined) {
        this.issue(task, connection, now);
        return task.itt;
      }
    }
    this.pending.push(task);
    return task.itt;
  }

  /** Sends what waits for the window, in order, while it is open. */
  private flushPending(now: number): void {
    while (this.pendingHead < this.pending.length && this.window.open) {
      const connection = this.pickConnection();
      if (connection === undefined) return;
      const task = this.pending[this.pendingHead] as ScsiTask<C> | TextTask<C>;
      this.pending[this.pendingHead] = undefined as unknown as ScsiTask<C>;
      this.pendingHead++;
      if (task.kind === "scsi") this.issue(task, connection, now);
      else this.sendText(task, connection, [], RESERVED_TAG);
    }
    if (this.pendingHead === this.pending.length) {
      this.pending.length = 0;
      this.pendingHead = 0;
    } else if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
  }

  private pickConnection(): Connection | undefined {
    if (this.connections.size === 1) {
      const only = this.connections.values().next().value as Connection;
      return only.usable ? only : undefined;
    }
    const list = [...this.connections.values()].filter((c) => c.usable);
    if (list.length === 0) return undefined;
    this.cursor = (this.cursor + 1) % list.length;
    return list[this.cursor];
  }

  /** Sends a SCSI Command and whatever data goes with it before any R2T (RFC 7143 §3.2.4.2). */
  private issue(task: ScsiTask<C>, connection: Connection, now: number): void {
    const request = task.request;
    const write = request.dataOut !== undefined && task.transferLength > 0;
    task.phase = "issued";
    task.cid = connection.cid;
    task.cmdSN = this.window.take();
    task.attempts++;
    task.issuedAt = now;
    task.dataInBytes = 0;
    task.nextDataSN = 0;
    task.dataOutBytes = 0;
    task.nextR2TSN = 0;
    let immediate = 0;
    let unsolicited = 0;
    if (write) {
      const plan = planUnsolicited(task.transferLength, {
        immediateData: this.paramsValue.immediateData,
        initialR2T: this.paramsValue.initialR2T,
        firstBurstLength: this.paramsValue.firstBurstLength,
        maxSendDataSegmentLength: connection.params.maxSendDataSegmentLength,
      });
      immediate = plan.immediate;
      unsolicited = plan.unsolicited;
    }
    const data = request.dataOut;
    const command: ScsiCommandPdu = {
      opcode: Opcode.ScsiCommand,
      immediate: false,
      // RFC 7143 §11.3.1: F is set when no unsolicited Data-Out follows the command.
      final: unsolicited === 0,
      read: request.dataIn !== undefined && task.transferLength > 0,
      write,
      attribute: request.attribute ?? TaskAttribute.Simple,
      lun: request.lun,
      initiatorTaskTag: task.itt,
      expectedDataTransferLength: task.transferLength,
      cmdSN: task.cmdSN,
      expStatSN: connection.expStatSN,
      cdb: request.cdb,
      data: immediate > 0 && data !== undefined ? data.subarray(0, immediate) : EMPTY,
    };
    connection.send(command);
    task.dataOutBytes = immediate;
    if (unsolicited > 0 && data !== undefined) {
      dataOutSequence(
        (pdu) => connection.send(pdu),
        data,
        { lun: request.lun, initiatorTaskTag: task.itt, targetTransferTag: UNSOLICITED_TTT, expStatSN: connection.expStatSN },
        immediate,
        unsolicited,
        connection.params.maxSendDataSegmentLength,
      );
      task.dataOutBytes += unsolicited;
    }
  }

  /** The framer asks where a Data-In payload goes: straight into the caller's buffer. */
  private placeData(bhs: Uint8Array, length: number): Uint8Array | undefined {
    if (((bhs[0] as number) & 0x3f) !== Opcode.DataIn) return undefined;
    const task = this.tasks.get(readU32(bhs, 16));
    if (task === undefined || task.kind !== "scsi" || task.phase !== "issued") return undefined;
    const buffer = task.request.dataIn;
    if (buffer === undefined) return undefined;
    const offset = readU32(bhs, 40);
    if (offset + length > buffer.length) return undefined;
    return buffer.subarray(offset, offset + length);
  }

  // ------------------------------------------------------------------ other requests

  /** NOP-Out ping (RFC 7143 §11.18), answered by a NOP-In with the same ITT. */
  ping(context: C, now: number, data: Uint8Array = EMPTY): number {
    this.assertOpen();
    const connection = this.pickConnection();
    if (connection === undefined) throw new SessionClosedError("no connection is logged in");
    return this.sendPing(connection, context, false, now, data);
  }

  private sendPing(connection: Connection, context: C | undefined, internal: boolean, now: number, data: Uint8Array): number {
    const itt = this.tasks.allocate();
    this.tasks.add({ kind: "ping", itt, cid: connection.cid, sentAt: now, context, internal });
    connection.send({
      opcode: Opcode.NopOut,
      immediate: true,
      lun: 0,
      initiatorTaskTag: itt,
      targetTransferTag: RESERVED_TAG,
      cmdSN: this.window.cmdSN,
      expStatSN: connection.expStatSN,
      data,
    });
    return itt;
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
    let lun = target.lun ?? 0;
    let refCmdSN = this.window.cmdSN;
    let referenced = RESERVED_TAG;
    let connection: Connection | undefined;
    if (fn === TaskManagementFunction.AbortTask) {
      if (target.referencedTaskTag === undefined) throw new LocalProtocolError("ABORT TASK needs the tag of the task to abort");
      referenced = target.referencedTaskTag;
      const victim = this.tasks.get(referenced);
      if (victim !== undefined && victim.kind === "scsi") {
        lun = victim.request.lun;
        refCmdSN = victim.cmdSN;
        // RFC 7143 §11.5.1: the abort must be sent on the connection the task has allegiance to.
        connection = this.connections.get(victim.cid);
      }
    }
    connection ??= this.pickConnection();
    if (connection === undefined || !connection.usable) throw new SessionClosedError("no connection is logged in");
    const itt = this.tasks.allocate();
    this.tasks.add({ kind: "tmf", itt, cid: connection.cid, function: fn, referencedTaskTag: referenced, context, lun });
    connection.send({
      opcode: Opcode.TaskManagementRequest,
      immediate: true,
      function: fn,
      lun,
      initiatorTaskTag: itt,
      referencedTaskTag: referenced,
      cmdSN: this.window.cmdSN,
      expStatSN: connection.expStatSN,
      refCmdSN,
      expDataSN: 0,
    });
    void now;
    return itt;
  }

  /** A Text Request exchange (SendTargets, renegotiation); answered by a text-complete event. */
  text(pairs: readonly TextPair[], context: C, now: number): number {
    this.assertOpen();
    const task: TextTask<C> = {
      kind: "text",
      itt: this.tasks.allocate(),
      cid: -1,
      context,
      chunks: [],
      receivedBytes: 0,
      request: encodeText(pairs),
    };
    this.tasks.add(task);
    const connection = this.pickConnection();
    if (connection !== undefined && this.window.open && this.pendingHead === this.pending.length) {
      this.sendText(task, connection, [], RESERVED_TAG);
    } else {
      this.pending.push(task);
    }
    void now;
    return task.itt;
  }

  private sendText(task: TextTask<C>, connection: Connection, _unused: readonly TextPair[], ttt: number): void {
    task.cid = connection.cid;
    // A continuation (empty request asking for more) carries the target's TTT (RFC 7143 §11.10.4).
    const first = ttt === RESERVED_TAG;
    connection.send({
      opcode: Opcode.TextRequest,
      immediate: false,
      final: true,
      continue: false,
      lun: 0,
      initiatorTaskTag: task.itt,
      targetTransferTag: ttt,
      cmdSN: this.window.take(),
      expStatSN: connection.expStatSN,
      data: first ? task.request : EMPTY,
    });
  }

  /**
   * Logs out (RFC 7143 §11.14): the whole session by default, or one connection. Outstanding
   * commands are completed first by the target; queued ones fail with SessionClosedError.
   */
  logout(now: number, reason: LogoutReason = LogoutReason.CloseSession, cid?: number): void {
    const connection = cid === undefined ? this.pickConnection() : this.connections.get(cid);
    if (connection === undefined || !connection.usable) {
      throw new SessionClosedError("no connection is logged in to log out");
    }
    const itt = this.tasks.allocate();
    this.tasks.add({ kind: "logout", itt, cid: connection.cid, reason });
    connection.transition(ConnectionState.InLogout);
    connection.phaseDeadline = now + (this.config.logoutTimeoutMs ?? 10_000);
    if (reason === LogoutReason.CloseSession) this.failPending(new SessionClosedError("the session is logging out"));
    connection.send({
      opcode: Opcode.LogoutRequest,
      immediate: true,
      reason,
      initiatorTaskTag: itt,
      cid: cid ?? connection.cid,
      cmdSN: this.window.cmdSN,
      expStatSN: connection.expStatSN,
    });
  }

  /** Gives up on everything without a logout: every task fails, every connection closes. */
  close(error: IscsiError, now: number): void {
    if (this.stateValue === SessionState.Closed) return;
    for (const connection of this.connections.values()) connection.fail(error, now);
    this.failAll(error);
    this.enterClosed(error);
  }

  private assertOpen(): void {
    if (this.stateValue === SessionState.Closed) throw new SessionClosedError("the session is closed");
  }

  // ------------------------------------------------------------------ events and time

  nextEvent(): SessionEvent<C> | undefined {
    if (this.eventHead >= this.events.length) {
      if (this.eventHead > 0) {
        this.events.length = 0;
        this.eventHead = 0;
      }
      return undefined;
    }
    const event = this.events[this.eventHead] as SessionEvent<C>;
    this.events[this.eventHead] = undefined as unknown as SessionEvent<C>;
    this.eventHead++;
    return event;
  }

  private emit(event: SessionEvent<C>): void {
    this.events.push(event);
  }

  /** The earliest time `handleTimeout` has work to do, or undefined. */
  pollTimeout(): number | undefined {
    let earliest: number | undefined;
    const consider = (t: number | undefined): void => {
      if (t !== undefined && (earliest === undefined || t < earliest)) earliest = t;
    };
    for (const connection of this.connections.values()) {
      if (connection.closed) continue;
      consider(connection.phaseDeadline);
      if (connection.usable && this.keepAlive) {
        if (connection.pingOutstanding === undefined) consider(connection.nextPingAt);
        else consider(Math.max(connection.lastReceivedAt, connection.pingSentAt) + this.keepAlive.timeoutMs);
      }
    }
    return earliest;
  }

  handleTimeout(now: number): void {
    for (const connection of [...this.connections.values()]) {
      if (connection.closed) continue;
      if (connection.phaseDeadline !== undefined && now >= connection.phaseDeadline) {
        const what =
          connection.state === ConnectionState.XptWait
            ? "connecting"
            : connection.state === ConnectionState.InLogin
              ? "login"
              : connection.state === ConnectionState.InLogout
                ? "logout"
                : connection.state;
        connection.fail(new TimeoutError(`connection ${connection.cid}: ${what} timed out`), now);
        continue;
      }
      if (!connection.usable || !this.keepAlive) continue;
      if (connection.pingOutstanding !== undefined) {
        // Any PDU received counts as a sign of life, so a busy connection is not declared dead
        // because the NOP-In queued behind a large read.
        if (now - Math.max(connection.lastReceivedAt, connection.pingSentAt) >= this.keepAlive.timeoutMs) {
          connection.fail(
            new TimeoutError(`connection ${connection.cid}: nothing received for ${this.keepAlive.timeoutMs} ms after a NOP-Out ping`),
            now,
          );
        }
      } else if (connection.nextPingAt !== undefined && now >= connection.nextPingAt) {
        if (now - connection.lastReceivedAt >= this.keepAlive.intervalMs) {
          connection.pingOutstanding = this.sendPing(connection, undefined, true, now, EMPTY);
          connection.pingSentAt = now;
        } else {
          connection.nextPingAt = connection.lastReceivedAt + this.keepAlive.intervalMs;
        }
      }
    }
  }

  // ------------------------------------------------------------------ receive path

  private onPdu(connection: Connection, pdu: TargetPdu, frame: Frame, now: number): void {
    if (pdu.opcode === Opcode.LoginResponse) {
      this.onLoginResponse(connection, pdu, now);
      return;
    }
    if (connection.state === ConnectionState.InLogin || connection.state === ConnectionState.XptWait) {
      throw new RemoteProtocolError(`connection ${connection.cid}: ${opcodeName(pdu.opcode)} received during login`);
    }
    if (frame.dataDigestError) {
      // ERL 0: a data digest error cannot be recovered on this connection (RFC 7143 §7.8).
      throw new RemoteProtocolError(`connection ${connection.cid}: data digest error in ${opcodeName(pdu.opcode)}`);
    }
    this.acceptStatSN(connection, pdu);
    if ("maxCmdSN" in pdu && this.window.update(pdu.expCmdSN, pdu.maxCmdSN)) this.flushPending(now);
    switch (pdu.opcode) {
      case Opcode.DataIn:
        this.onDataIn(connection, pdu, frame);
        return;
      case Opcode.ScsiResponse:
        this.onScsiResponse(connection, pdu);
        return;
      case Opcode.R2T:
        this.onR2T(connection, pdu);
        return;
      case Opcode.NopIn:
        this.onNopIn(connection, pdu, now);
        return;
      case Opcode.TaskManagementResponse:
        this.onTaskManagementResponse(pdu);
        return;
      case Opcode.TextResponse:
        this.onTextResponse(connection, pdu);
        return;
      case Opcode.LogoutResponse:
        this.onLogoutResponse(connection, pdu, now);
        return;
      case Opcode.AsyncMessage:
        this.onAsyncMessage(connection, pdu);
        return;
      case Opcode.Reject:
        this.onReject(pdu);
        return;
    }
  }

  /** RFC 7143 §4.2.2.2: StatSN advances by one per status PDU on a connection. */
  private acceptStatSN(connection: Connection, pdu: TargetPdu): void {
    if (!consumesStatSN(pdu)) return;
    const statSN = (pdu as { statSN: number }).statSN;
    if (statSN === connection.expStatSN) {
      connection.expStatSN = serialAdd(statSN, 1);
      return;
    }
    if (serialLt(statSN, connection.expStatSN)) return; // a retransmission: already counted
    // A jump means status was lost; without ERL >= 1 (status SNACK) nothing can recover it.
    throw new RemoteProtocolError(
      `connection ${connection.cid}: StatSN jumped from ${connection.expStatSN} to ${statSN} in ${opcodeName(pdu.opcode)}`,
    );
  }

  private scsiTask(itt: number, what: string): ScsiTask<C> {
    const task = this.tasks.get(itt);
    if (task === undefined || task.kind !== "scsi" || task.phase !== "issued") {
      throw new RemoteProtocolError(`${what} for unknown Initiator Task Tag 0x${itt.toString(16)}`);
    }
    return task;
  }

  private onDataIn(connection: Connection, pdu: DataInPdu, frame: Frame): void {
    const task = this.scsiTask(pdu.initiatorTaskTag, "Data-In");
    const buffer = task.request.dataIn;
    if (buffer === undefined) throw new RemoteProtocolError(`Data-In for task 0x${task.itt.toString(16)}, which reads no data`);
    if (task.cid !== connection.cid) throw new RemoteProtocolError(`Data-In for task 0x${task.itt.toString(16)} on connection ${connection.cid}, not its own`);
    const length = pdu.data.length;
    if (length > 0) {
      if (pdu.bufferOffset + length > buffer.length) {
        throw new RemoteProtocolError(
          `Data-In beyond the buffer: offset ${pdu.bufferOffset} + ${length} > ${buffer.length} (ITT 0x${task.itt.toString(16)})`,
        );
      }
      if (pdu.dataSN !== task.nextDataSN) {
        throw new RemoteProtocolError(`Data-In DataSN ${pdu.dataSN}, expected ${task.nextDataSN} (ITT 0x${task.itt.toString(16)})`);
      }
      if (this.paramsValue.dataPDUInOrder && pdu.bufferOffset !== task.dataInBytes) {
        throw new RemoteProtocolError(
          `Data-In out of order: offset ${pdu.bufferOffset}, expected ${task.dataInBytes} (DataPDUInOrder=Yes)`,
        );
      }
      // The framer placed the bytes already when it could; otherwise copy them now (once).
      if (!frame.dataPlaced) buffer.set(pdu.data, pdu.bufferOffset);
      task.dataInBytes += length;
      task.nextDataSN = (task.nextDataSN + 1) >>> 0;
    } else if (pdu.dataSN === task.nextDataSN) {
      task.nextDataSN = (task.nextDataSN + 1) >>> 0;
    }
    if (pdu.hasStatus) {
      if (!pdu.final) throw new RemoteProtocolError("Data-In with the S bit but not the F bit (RFC 7143 §11.7.1)");
      this.complete(task, {
        status: pdu.status,
        sense: EMPTY,
        bytesIn: task.dataInBytes,
        residualCount: pdu.residualCount,
        residualUnderflow: pdu.residualUnderflow,
        residualOverflow: pdu.residualOverflow,
      });
    }
  }

  private onScsiResponse(connection: Connection, pdu: ScsiResponsePdu): void {
    const task = this.scsiTask(pdu.initiatorTaskTag, "SCSI Response");
    if (task.cid !== connection.cid) {
      throw new RemoteProtocolError(`SCSI Response for task 0x${task.itt.toString(16)} on connection ${connection.cid}, not its own`);
    }
    if (pdu.response !== 0) {
      this.tasks.delete(task.itt);
      this.emit({
        type: "command-failed",
        context: task.request.context,
        error: new TargetFailureError(pdu.response, `target failure (iSCSI response 0x${pdu.response.toString(16)}) for CDB opcode 0x${(task.request.cdb[0] ?? 0).toString(16)}`),
      });
      return;
    }
    this.complete(task, {
      status: pdu.status,
      sense: pdu.sense.length > 0 ? pdu.sense.slice() : EMPTY,
      bytesIn: task.dataInBytes,
      residualCount: pdu.residualCount,
      residualUnderflow: pdu.residualUnderflow,
      residualOverflow: pdu.residualOverflow,
    });
  }

  private complete(task: ScsiTask<C>, result: CommandResult): void {
    this.tasks.delete(task.itt);
    this.emit({ type: "command-complete", context: task.request.context, result });
  }

  /** RFC 7143 §11.8: the target asks for a burst of write data. */
  private onR2T(connection: Connection, pdu: R2TPdu): void {
    const task = this.scsiTask(pdu.initiatorTaskTag, "R2T");
    const data = task.request.dataOut;
    if (data === undefined) throw new RemoteProtocolError(`R2T for task 0x${task.itt.toString(16)}, which writes no data`);
    if (pdu.r2tSN !== task.nextR2TSN) {
      throw new RemoteProtocolError(`R2T R2TSN ${pdu.r2tSN}, expected ${task.nextR2TSN} (ITT 0x${task.itt.toString(16)})`);
    }
    const length = pdu.desiredDataTransferLength;
    if (length === 0) throw new RemoteProtocolError("R2T with a Desired Data Transfer Length of 0 (RFC 7143 §11.8.4)");
    if (pdu.bufferOffset + length > task.transferLength) {
      throw new RemoteProtocolError(
        `R2T beyond the transfer: offset ${pdu.bufferOffset} + ${length} > ${task.transferLength} (ITT 0x${task.itt.toString(16)})`,
      );
    }
    if (length > this.paramsValue.maxBurstLength) {
      throw new RemoteProtocolError(`R2T asks ${length} bytes, more than MaxBurstLength ${this.paramsValue.maxBurstLength}`);
    }
    if (pdu.targetTransferTag === RESERVED_TAG) throw new RemoteProtocolError("R2T with the reserved Target Transfer Tag");
    task.nextR2TSN = (task.nextR2TSN + 1) >>> 0;
    dataOutSequence(
      (out) => connection.send(out),
      data,
      { lun: task.request.lun, initiatorTaskTag: task.itt, targetTransferTag: pdu.targetTransferTag, expStatSN: connection.expStatSN },
      pdu.bufferOffset,
      length,
      connection.params.maxSendDataSegmentLength,
    );
    task.dataOutBytes += length;
  }

  private onNopIn(connection: Connection, pdu: NopInPdu, now: number): void {
    if (pdu.initiatorTaskTag === RESERVED_TAG) {
      // RFC 7143 §11.19: the target pings us; answer when it asks (TTT != 0xffffffff).
      if (pdu.targetTransferTag !== RESERVED_TAG) {
        connection.send({
          opcode: Opcode.NopOut,
          immediate: true,
          lun: pdu.lun,
          initiatorTaskTag: RESERVED_TAG,
          targetTransferTag: pdu.targetTransferTag,
          cmdSN: this.window.cmdSN,
          expStatSN: connection.expStatSN,
          data: pdu.data.length > 0 ? pdu.data.slice() : EMPTY,
        });
      }
      return;
    }
    const task = this.tasks.get(pdu.initiatorTaskTag);
    if (task === undefined || task.kind !== "ping") {
      throw new RemoteProtocolError(`NOP-In for unknown Initiator Task Tag 0x${pdu.initiatorTaskTag.toString(16)}`);
    }
    this.tasks.delete(task.itt);
    if (task.internal) {
      connection.pingOutstanding = undefined;
      if (this.keepAlive) connection.nextPingAt = now + this.keepAlive.intervalMs;
      return;
    }
    this.emit({
      type: "ping-complete",
      context: task.context as C,
      result: { roundTripMs: now - task.sentAt, data: pdu.data.slice() },
    });
  }

  private onTaskManagementResponse(pdu: TaskManagementResponsePdu): void {
    const task = this.tasks.get(pdu.initiatorTaskTag);
    if (task === undefined || task.kind !== "tmf") {
      throw new RemoteProtocolError(`Task Management Response for unknown Initiator Task Tag 0x${pdu.initiatorTaskTag.toString(16)}`);
    }
    this.tasks.delete(task.itt);
    if (pdu.response === TaskManagementResponseCode.FunctionComplete) {
      // RFC 7143 §11.5.1: the affected tasks are gone on the target; fail them here.
      const why = `aborted by ${tmfName(task.function)}`;
      for (const other of [...this.tasks.values()]) {
        if (other.kind !== "scsi") continue;
        const hit =
          task.function === TaskManagementFunction.AbortTask
            ? other.itt === task.referencedTaskTag
            : task.function === TaskManagementFunction.TargetWarmReset || task.function === TaskManagementFunction.TargetColdReset
              ? true
              : other.request.lun === task.lun &&
                (task.function === TaskManagementFunction.AbortTaskSet ||
                  task.function === TaskManagementFunction.ClearTaskSet ||
                  task.function === TaskManagementFunction.LogicalUnitReset);
        if (hit) this.failTask(other, new AbortedError(`command 0x${other.itt.toString(16)} ${why}`));
      }
    }
    this.emit({ type: "tmf-complete", context: task.context, result: { response: pdu.response } });
  }

  private onTextResponse(connection: Connection, pdu: TextResponsePdu): void {
    const task = this.tasks.get(pdu.initiatorTaskTag);
    if (task === undefined || task.kind !== "text") {
      throw new RemoteProtocolError(`Text Response for unknown Initiator Task Tag 0x${pdu.initiatorTaskTag.toString(16)}`);
    }
    task.receivedBytes += pdu.data.length;
    if (task.receivedBytes > MAX_TEXT_RESPONSE) {
      throw new RemoteProtocolError(`Text Response longer than ${MAX_TEXT_RESPONSE} bytes`);
    }
    if (pdu.data.length > 0) task.chunks.push(pdu.data.slice());
    if (pdu.continue || !pdu.final) {
      // RFC 7143 §11.11.1: ask for the rest with an empty Text Request carrying the TTT.
      if (pdu.targetTransferTag === RESERVED_TAG) {
        throw new RemoteProtocolError("Text Response expects a continuation but has the reserved Target Transfer Tag");
      }
      this.sendText(task, connection, [], pdu.targetTransferTag);
      return;
    }
    this.tasks.delete(task.itt);
    const all = concat(task.chunks, task.receivedBytes);
    this.emit({ type: "text-complete", context: task.context, pairs: parseText(all) });
  }

  private onLogoutResponse(connection: Connection, pdu: LogoutResponsePdu, now: number): void {
    const task = this.tasks.get(pdu.initiatorTaskTag);
    if (task === undefined || task.kind !== "logout") {
      throw new RemoteProtocolError(`Logout Response for unknown Initiator Task Tag 0x${pdu.initiatorTaskTag.toString(16)}`);
    }
    this.tasks.delete(task.itt);
    this.emit({ type: "logout-complete", cid: connection.cid, time2Wait: pdu.time2Wait, time2Retain: pdu.time2Retain });
    if (task.reason === LogoutReason.CloseSession) {
      const error = new SessionClosedError("the session was logged out");
      this.failAll(error);
      for (const other of this.connections.values()) if (other !== connection) other.fail(error, now);
      connection.fail(undefined, now);
      this.enterClosed(undefined);
    } else {
      connection.fail(undefined, now);
    }
  }

  private onAsyncMessage(connection: Connection, pdu: AsyncMessagePdu): void {
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
    if (pdu.asyncEvent === AsyncEvent.LogoutRequest && connection.state === ConnectionState.LoggedIn) {
      connection.transition(ConnectionState.LogoutRequested);
    }
    this.emit({ type: "async-event", cid: connection.cid, event });
  }

  private onReject(pdu: RejectPdu): void {
    // RFC 7143 §11.17.3: the data segment holds the rejected PDU's header; its ITT is at 16.
    if (pdu.data.length < 48) throw new RemoteProtocolError("Reject without the rejected PDU's header");
    const itt = readU32(pdu.data, 16);
    const task = this.tasks.get(itt);
    const error = new RejectError(pdu.reason, `target rejected a PDU (${rejectReasonName(pdu.reason)}) for ITT 0x${itt.toString(16)}`);
    if (task !== undefined) this.failTask(task, error);
  }

  // ------------------------------------------------------------------ failure handling

  private failTask(task: Task<C>, error: IscsiError): void {
    this.tasks.delete(task.itt);
    switch (task.kind) {
      case "scsi":
        this.emit({ type: "command-failed", context: task.request.context, error });
        return;
      case "ping":
        if (!task.internal) this.emit({ type: "request-failed", context: task.context as C, error });
        return;
      case "tmf":
      case "text":
        this.emit({ type: "request-failed", context: task.context, error });
        return;
      case "logout":
        return;
    }
  }

  private failAll(error: IscsiError): void {
    for (const task of [...this.tasks.values()]) this.failTask(task, error);
    this.pending.length = 0;
    this.pendingHead = 0;
  }

  private failPending(error: IscsiError): void {
    for (let i = this.pendingHead; i < this.pending.length; i++) {
      const task = this.pending[i];
      if (task !== undefined) this.failTask(task, error);
    }
    this.pending.length = 0;
    this.pendingHead = 0;
  }

  private onConnectionClosed(connection: Connection, error: IscsiError | undefined, now: number): void {
    this.logins.delete(connection.cid);
    const wasLoggedIn = connection.state !== ConnectionState.XptWait && connection.state !== ConnectionState.InLogin;
    if (connection.state !== ConnectionState.Free) {
      const to = ConnectionState.Free;
      try {
        connection.transition(to);
      } catch {
        // CLEANUP_WAIT first where the table demands it.
        connection.transition(ConnectionState.CleanupWait);
        connection.transition(to);
      }
    }
    this.connections.delete(connection.cid);
    this.emit({ type: "connection-closed", cid: connection.cid, ...(error === undefined ? {} : { error }) });
    if (this.stateValue === SessionState.Closed) return;
    // Tasks with allegiance to the lost connection (RFC 7143 §6.1.2, ERL 0).
    const cause = error ?? new TransportError(`connection ${connection.cid} closed`);
    for (const task of [...this.tasks.values()]) {
      if (task.kind === "scsi") {
        if (task.cid !== connection.cid || task.phase !== "issued") continue;
        this.failTask(task, cause);
      } else if (task.cid === connection.cid) {
        this.failTask(task, cause);
      }
    }
    if (this.liveConnections() > 0) {
      this.flushPending(now);
      return;
    }
    if (this.stateValue === SessionState.Free) {
      // The leading login never completed: nothing to continue.
      if (wasLoggedIn || error !== undefined) {
        this.failAll(cause);
      }
      return;
    }
    if (this.stateValue === SessionState.LoggedIn || this.stateValue === SessionState.InContinue) {
      this.stateValue = sessionTransition(this.stateValue, SessionState.Failed);
    }
  }

  private enterClosed(error: IscsiError | undefined): void {
    if (this.stateValue === SessionState.Closed) return;
    this.stateValue = sessionTransition(this.stateValue, SessionState.Closed);
    this.emit({ type: "session-closed", ...(error === undefined ? {} : { error }) });
  }

  /** Re-issues tasks held across a reconnect (issue: error recovery). None are held yet. */
  private reissueHeld(now: number): void {
    for (const task of this.tasks.values()) {
      if (task.kind !== "scsi" || task.phase !== "held") continue;
      if (task.request.retry !== "safe") {
        this.failTask(task, new NotRetryableError(`command 0x${(task.request.cdb[0] ?? 0).toString(16)} was in flight when the connection was lost and is not safe to repeat`));
        continue;
      }
      task.phase = "queued";
      this.pending.push(task);
    }
    void now;
  }
}

const EMPTY = new Uint8Array(0);
/** Bound on a whole Text Response sequence (SendTargets of a large target list fits well). */
const MAX_TEXT_RESPONSE = 1024 * 1024;

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function tmfName(fn: number): string {
  for (const [name, value] of Object.entries(TaskManagementFunction)) if (value === fn) return name;
  return `function ${fn}`;
}

function rejectReasonName(reason: number): string {
  const names: Record<number, string> = {
    0x02: "data digest error",
    0x03: "SNACK reject",
    0x04: "protocol error",
    0x05: "command not supported",
    0x06: "immediate command reject",
    0x07: "task in progress",
    0x08: "invalid DataACK",
    0x09: "invalid PDU field",
    0x0a: "long operation reject",
    0x0b: "deprecated negotiation reset",
    0x0c: "waiting for logout",
  };
  return names[reason] ?? `reason 0x${reason.toString(16)}`;
}


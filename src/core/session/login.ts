/**
 * Login orchestration (RFC 7143 §6, §8.1.3 T1..T7): a session's connections from XPT_WAIT to
 * LOGGED_IN. The login exchange itself is `InitiatorLogin` (core/login); this module opens the
 * connections, runs one login per connection, carries what a login teaches the next (a CHAP
 * algorithm list the target could not use, mutual CHAP challenges already sent), and applies a
 * completed login to the session: its TSIH, parameters and command window.
 */
import type { ChapAlgorithm } from "../auth/hash.js";
import { type IscsiError, LocalProtocolError, RemoteProtocolError, SessionClosedError } from "../errors.js";
import { InitiatorLogin, type LoginStep } from "../login/initiator.js";
import type { LoginResponsePdu } from "../pdu/types.js";
import { serialAdd } from "../serial.js";
import { Connection, type ConnectionOwner } from "./connection.js";
import type { KeepAliveSettings, SessionContext } from "./context.js";
import { ConnectionTrigger, SessionPhase, SessionTrigger } from "./machine.js";
import { ConnectionState } from "./states.js";
import { ConnectionTimer } from "./timers.js";
import { batchingOf } from "./batching.js";

/** Milliseconds a connection may take to connect, then again to log in, unless configured. */
const DEFAULT_LOGIN_TIMEOUT_MS = 15_000;

export interface LoginHooks {
  /** A connection is being opened while the session recovers: it counts as an attempt. */
  readonly attempt: () => void;
  /** A connection completed its login (after the session took its parameters). */
  readonly loggedIn: (connection: Connection, now: number) => void;
  /** ERL 2 (erl2.ts): the CID of a lost connection the new one replaces, if any. */
  readonly replacementCid?: () => number | undefined;
  /** ERL 2: a transport is up while the session is in CONNECTION_RECOVERY (RFC 7143 §8.3 N6). */
  readonly continuing?: () => void;
}

export class Logins<C> {
  private readonly logins = new Map<number, InitiatorLogin>();
  /** Set when a target could not use our CHAP algorithm list: later logins offer only these. */
  private chapFallback: readonly ChapAlgorithm[] | undefined;
  /** Mutual CHAP challenges we sent on this session's logins: a target may not hand one back. */
  private readonly sentChallenges: Uint8Array[] = [];
  private nextCid = 0;

  constructor(
    private readonly ctx: SessionContext<C>,
    private readonly isid: number,
    private readonly owner: ConnectionOwner,
    private readonly keepAlive: KeepAliveSettings | false,
    private readonly hooks: LoginHooks,
  ) {}

  private get loginTimeoutMs(): number {
    return this.ctx.config.loginTimeoutMs ?? DEFAULT_LOGIN_TIMEOUT_MS;
  }

  /** Creates a connection in XPT_WAIT (T1): the host now makes the TCP connection. */
  open(now: number): Connection {
    const ctx = this.ctx;
    if (ctx.machine.closed) throw new SessionClosedError("the session is closed");
    const max = ctx.params.maxConnections;
    if (ctx.machine.loggedIn && ctx.liveConnections() >= max) {
      throw new LocalProtocolError(`the session allows ${max} connection(s) (MaxConnections)`);
    }
    this.hooks.attempt();
    // ERL 2: a connection replacing a lost one takes its CID, so its login logs the old one out
    // implicitly (RFC 7143 §6.3.4) and the target's tasks for it can be reassigned here.
    let cid = this.hooks.replacementCid?.();
    if (cid === undefined || ctx.connections.has(cid)) {
      cid = this.nextCid;
      this.nextCid = (this.nextCid + 1) & 0xffff;
    }
    const connection = new Connection(cid, this.owner, ctx.deps.crc32c, batchingOf(ctx.config.commandBatching));
    connection.handle(ConnectionTrigger.Connect);
    ctx.timers.setFor(cid, ConnectionTimer.Connect, now + this.loginTimeoutMs);
    ctx.connections.set(cid, connection);
    return connection;
  }

  /** The host's transport is up: the login starts (RFC 7143 §8.1.3 T4). */
  transportConnected(connection: Connection, now: number): void {
    const ctx = this.ctx;
    connection.handle(ConnectionTrigger.TransportUp);
    connection.lastReceivedAt = now;
    ctx.timers.setFor(connection.cid, ConnectionTimer.Connect, undefined);
    ctx.timers.setFor(connection.cid, ConnectionTimer.Login, now + this.loginTimeoutMs);
    if (ctx.machine.phase === SessionPhase.ConnectionRecovery) this.hooks.continuing?.();
    if (ctx.machine.phase === SessionPhase.Failed) {
      ctx.machine.handle(SessionTrigger.Reinstating);
      // RFC 7143 §6.3.5: session reinstatement is a leading login with the same ISID and TSIH 0.
      ctx.tsih = 0;
    }
    const config = ctx.config;
    const chap = config.chap;
    const leading = ctx.tsih === 0;
    const login = new InitiatorLogin({
      initiatorName: config.initiatorName,
      ...(config.initiatorAlias === undefined ? {} : { initiatorAlias: config.initiatorAlias }),
      ...(config.targetName === undefined ? {} : { targetName: config.targetName }),
      sessionType: config.sessionType,
      isid: this.isid,
      tsih: ctx.tsih,
      cid: connection.cid,
      cmdSN: ctx.window.cmdSN,
      initiatorTaskTag: ctx.tasks.allocate(),
      ...(chap === undefined ? {} : { chap: this.chapFallback === undefined ? chap : { ...chap, algorithms: this.chapFallback } }),
      ...(config.proposal === undefined ? {} : { proposal: config.proposal }),
      // RFC 7143 §6.2: a connection joining a session declares only connection keys.
      ...(leading ? {} : { session: ctx.params }),
      hash: ctx.deps.hash,
      randomBytes: ctx.deps.randomBytes,
      sentChallenges: this.sentChallenges,
    });
    this.logins.set(connection.cid, login);
    connection.send(login.start());
  }

  /** A connection's login is over, however it ended. */
  forget(cid: number): void {
    this.logins.delete(cid);
  }

  /** Every login is over (the session dropped its connections). */
  clear(): void {
    this.logins.clear();
  }

  onLoginResponse(connection: Connection, pdu: LoginResponsePdu, now: number): void {
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
        this.complete(connection, step, now);
        return;
    }
  }

  /** RFC 7143 §8.1.3 T5: the final Login Response accepted the connection. */
  private complete(connection: Connection, step: Extract<LoginStep, { kind: "complete" }>, now: number): void {
    const result = step.result;
    const ctx = this.ctx;
    if (ctx.tsih === 0) {
      // The leading login (or a reinstatement) defines the session: its TSIH, parameters and window.
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
    this.hooks.loggedIn(connection, now);
  }
}

/**
 * Session recovery at ErrorRecoveryLevel 0 (RFC 7143 §6.3.5, §7.1.1): when a connection of a
 * session is lost, every connection goes and the initiator logs in again with the same ISID and
 * TSIH 0 (session reinstatement), after DefaultTime2Wait and with a capped, jittered backoff
 * between attempts; commands in flight are held and re-issued when they are safe to repeat, and
 * everything fails with a clear error if no login succeeds within the replacement timeout.
 *
 * `RecoveryTracker` holds the policy, the timers and the record of each episode;
 * `SessionRecovery` is what a lost connection does to the session: recover, or end it.
 */
import { IscsiError, LoginError, NotRetryableError, RemoteProtocolError, SessionClosedError, TimeoutError, TransportError } from "../errors.js";
import { serialLt } from "../serial.js";
import type { Connection } from "./connection.js";
import type { SessionContext } from "./context.js";
import { closingEvents, type ExpectedLoss, SessionPhase, SessionTrigger } from "./machine.js";
import { ConnectionState, SessionState } from "./states.js";
import type { ScsiTask } from "./task.js";
import { SessionTimer, TimerTable } from "./timers.js";

export interface RecoverySettings {
  /** Re-establish the session after a connection loss; default true. */
  readonly enabled: boolean;
  /** How long held commands wait for the session to come back before failing; default 120 s. */
  readonly replacementTimeoutMs: number;
  /** First retry delay (before jitter); default 250 ms. */
  readonly initialBackoffMs: number;
  /** Ceiling of the retry delay; default 10 s. */
  readonly maxBackoffMs: number;
  /** Attempts a stuck command gets (issue, then re-issue after escalation); default 3. */
  readonly maxAttempts: number;
}

export const DEFAULT_RECOVERY: RecoverySettings = {
  enabled: true,
  replacementTimeoutMs: 120_000,
  initialBackoffMs: 250,
  maxBackoffMs: 10_000,
  maxAttempts: 3,
};

export type RecoveryCause =
  | "connection-lost"
  | "keepalive-timeout"
  | "target-logout-request"
  | "target-drop"
  | "command-timeout"
  | "protocol-error";

/** One episode of recovery, from the loss to the session being back (or given up). */
export interface RecoveryRecord {
  readonly cause: RecoveryCause;
  /** The error that started it, as text (never a secret: errors carry none). */
  readonly detail: string;
  readonly startedAt: number;
  endedAt: number | undefined;
  /** Login attempts made. */
  attempts: number;
  /** Commands re-issued after the session came back. */
  retried: number;
  /** Commands failed because they were not safe to repeat, or the replacement timed out. */
  failed: number;
  outcome: "in-progress" | "recovered" | "gave-up";
}

/**
 * Tracks the current episode: when to try next, when to give up. Both are timers of the
 * session's table (`RecoveryBackoff`, `Time2Retain`), so the session's `pollTimeout` sees them.
 */
export class RecoveryTracker {
  private current: RecoveryRecord | undefined;
  private readonly history: RecoveryRecord[] = [];

  constructor(
    readonly settings: RecoverySettings,
    private readonly random: () => number,
    private readonly timers: TimerTable<unknown> = new TimerTable<unknown>(),
  ) {}

  get active(): RecoveryRecord | undefined {
    return this.current;
  }

  get records(): readonly RecoveryRecord[] {
    return this.history;
  }

  /** When the next login attempt is due, while recovering and not connecting. */
  get nextAttemptAt(): number | undefined {
    return this.timers.get(SessionTimer.RecoveryBackoff);
  }

  /** When held commands fail if the session is not back. */
  get giveUpAt(): number | undefined {
    return this.timers.get(SessionTimer.Time2Retain);
  }

  /** Starts an episode (or continues the running one) and schedules the first attempt. */
  begin(cause: RecoveryCause, detail: string, now: number, time2WaitMs: number): RecoveryRecord {
    if (this.current === undefined) {
      this.current = { cause, detail, startedAt: now, endedAt: undefined, attempts: 0, retried: 0, failed: 0, outcome: "in-progress" };
      this.history.push(this.current);
      this.timers.set(SessionTimer.Time2Retain, now + this.settings.replacementTimeoutMs);
    }
    // RFC 7143 §13.15: DefaultTime2Wait is the least time to wait before reconnecting.
    this.timers.set(SessionTimer.RecoveryBackoff, now + Math.max(time2WaitMs, this.backoff(0)));
    return this.current;
  }

  /** A login attempt starts now. */
  attempt(): void {
    if (this.current !== undefined) this.current.attempts++;
    this.timers.set(SessionTimer.RecoveryBackoff, undefined);
  }

  /** A login attempt failed: schedule the next with exponential backoff and jitter. */
  attemptFailed(now: number, time2WaitMs: number): void {
    const attempts = this.current?.attempts ?? 1;
    this.timers.set(SessionTimer.RecoveryBackoff, now + Math.max(time2WaitMs, this.backoff(attempts)));
  }

  /** The session is back. */
  succeeded(now: number): void {
    this.end(now, "recovered");
  }

  /** The replacement timeout passed or a permanent error came: stop. */
  gaveUp(now: number): void {
    this.end(now, "gave-up");
  }

  /** Nothing more to schedule (the session is closed). */
  stop(): void {
    this.timers.set(SessionTimer.RecoveryBackoff, undefined);
    this.timers.set(SessionTimer.Time2Retain, undefined);
  }

  private end(now: number, outcome: "recovered" | "gave-up"): void {
    if (this.current === undefined) return;
    this.current.endedAt = now;
    this.current.outcome = outcome;
    this.current = undefined;
    this.stop();
  }

  /** Delay before attempt `n` (0-based): initial x 2^n, capped, with "equal jitter" (half fixed, half random). */
  backoff(n: number): number {
    const base = Math.min(this.settings.maxBackoffMs, this.settings.initialBackoffMs * 2 ** Math.min(n, 30));
    return base / 2 + (base / 2) * this.random();
  }
}

/**
 * The error of a command given up on after being lost with its connection again and again: it
 * keeps the code and the text of the first loss (a protocol violation stays
 * ISCSI_ERR_REMOTE_PROTOCOL, a lost connection ISCSI_ERR_TRANSPORT), with that loss as `cause`:
 * the retries changed nothing about what went wrong.
 */
export function retryLimitError(message: string, cause: IscsiError | undefined): IscsiError {
  if (cause === undefined) return new TransportError(message);
  const text = `${message}; first failure: ${cause.message}`;
  switch (cause.code) {
    case "ISCSI_ERR_REMOTE_PROTOCOL":
      return new RemoteProtocolError(text, { cause });
    case "ISCSI_ERR_TRANSPORT":
      return new TransportError(text, { cause });
    case "ISCSI_ERR_TIMEOUT":
      return new TimeoutError(text, { cause, ...(cause instanceof TimeoutError ? { kind: cause.kind } : {}) });
    default:
      return new IscsiError(cause.code, text, { cause });
  }
}

/**
 * Why a connection was lost, for the recovery record, and the Time2Wait before the next login.
 * A keep-alive or command timeout is what happened now, whatever the target announced before
 * (its Time2Wait still applies); otherwise the target's announcement (AsyncEvent 1/2/3, a
 * Logout Response) names the cause; otherwise the error's code does.
 */
export function lossCause(error: IscsiError, announced: ExpectedLoss | undefined, defaultTime2WaitMs: number): { cause: RecoveryCause; time2WaitMs: number } {
  if (error instanceof TimeoutError && (error.kind === "keep-alive" || error.kind === "command")) {
    return { cause: error.kind === "command" ? "command-timeout" : "keepalive-timeout", time2WaitMs: announced?.time2WaitMs ?? 0 };
  }
  if (announced !== undefined) return announced;
  const cause = error.code === "ISCSI_ERR_TIMEOUT" ? "keepalive-timeout" : error.code === "ISCSI_ERR_TRANSPORT" ? "connection-lost" : "protocol-error";
  return { cause, time2WaitMs: defaultTime2WaitMs };
}

/** Failures a new login cannot mend: the session ends with them instead of being re-established. */
const FINAL_CODES: ReadonlySet<string> = new Set(["ISCSI_ERR_AUTH", "ISCSI_ERR_MUTUAL_AUTH", "ISCSI_ERR_NEGOTIATION", "ISCSI_ERR_CONFIG"]);

export interface RecoveryHooks {
  /** Sends what waits for the window (commands re-queued, or a connection still up). */
  readonly flushPending: (now: number) => void;
  /** The login of connection `cid` is over, or every login is (undefined). */
  readonly forgetLogins: (cid: number | undefined) => void;
  /**
   * ERL 2 (erl2.ts): a connection was lost, or a login replacing one failed; true when connection
   * recovery takes it over instead of session reinstatement.
   */
  readonly connectionRecovery?: (connection: Connection, error: IscsiError, wasLoggedIn: boolean, now: number) => boolean;
}

/** What a lost connection does to its session: recovery (ERL 0 reinstatement) or the end. */
export class SessionRecovery<C> {
  readonly tracker: RecoveryTracker;

  constructor(
    private readonly ctx: SessionContext<C>,
    settings: RecoverySettings,
    random: () => number,
    /** Recovery is on (Normal sessions, unless the caller turned it off). */
    private readonly enabled: boolean,
    private readonly hooks: RecoveryHooks,
  ) {
    this.tracker = new RecoveryTracker(settings, random, ctx.timers);
  }

  /** A connection is being opened: while recovering, it is a login attempt. */
  attempt(): void {
    if (this.tracker.active !== undefined) this.tracker.attempt();
  }

  /** A connection failed or closed (Connection.fail): clean it up, then recover or end the session. */
  onConnectionClosed(connection: Connection, error: IscsiError | undefined, now: number): void {
    const ctx = this.ctx;
    // A connection the session let go of (dropped with the others when it failed) is no longer a
    // member: its end is cleaned up and reported, and decides nothing about the session.
    const member = ctx.connections.get(connection.cid) === connection;
    if (member) {
      this.hooks.forgetLogins(connection.cid);
      ctx.connections.delete(connection.cid);
    }
    const wasLoggedIn = connection.state !== ConnectionState.XptWait && connection.state !== ConnectionState.InLogin;
    for (const trigger of closingEvents(connection.state, error === undefined)) connection.handle(trigger);
    ctx.timers.clearFor(connection.cid);
    ctx.emit({ type: "connection-closed", cid: connection.cid, ...(error === undefined ? {} : { error }) });
    if (ctx.machine.closed || !member) return;
    const cause = error ?? new TransportError(`connection ${connection.cid} closed`);
    if (
      this.enabled &&
      ctx.machine.phase !== SessionPhase.LoggingOut &&
      ctx.machine.state !== SessionState.Free &&
      this.shouldRecover(error) &&
      this.hooks.connectionRecovery?.(connection, cause, wasLoggedIn, now) === true
    ) {
      return;
    }
    if (!wasLoggedIn && ctx.machine.loggedIn) {
      // A connection being added to a running session failed its login: the session goes on.
      return;
    }
    if (ctx.machine.phase === SessionPhase.LoggingOut) {
      // Logging out for good, and the logout was not answered (a target or network gone at
      // shutdown): the session ends here, it is not re-established (the table has no
      // connection-lost from LOGGING_OUT).
      this.giveUp(error ?? new SessionClosedError("the session was closed during logout"), now);
      return;
    }
    if (this.enabled && ctx.machine.state !== SessionState.Free && this.shouldRecover(error)) {
      this.begin(cause, now);
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
      this.hooks.flushPending(now);
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
   * nor our own configuration refused (a new login would meet it again). A clean close is, only
   * when the target announced it (AsyncEvent 1/2/3).
   */
  private shouldRecover(error: IscsiError | undefined): boolean {
    if (error === undefined) return this.ctx.machine.expectedLoss !== undefined;
    if (error instanceof LoginError) return error.statusClass === 0x03; // target errors are transient
    return !FINAL_CODES.has(error.code);
  }

  private begin(error: IscsiError, now: number): void {
    const ctx = this.ctx;
    // The cause is known before anything below runs: failing the requests in flight calls back
    // into escalation, which must not decide what this loss was.
    const known = ctx.machine.takeExpectedLoss();
    ctx.machine.handle(SessionTrigger.ConnectionLost);
    ctx.timers.set(SessionTimer.LogoutDrain, undefined);
    // ERL 0 (RFC 7143 §6.3.5, session reinstatement): every connection goes, the session is reinstated.
    const others = [...ctx.connections.values()];
    ctx.connections.clear();
    this.hooks.forgetLogins(undefined);
    for (const other of others) other.fail(error, now);
    for (const task of [...ctx.tasks.values()]) {
      if (task.kind === "scsi") {
        // ERL 2 tasks still waiting for reassignment are held like the others (fallback).
        if (task.phase === "issued" || task.phase === "reassigning") {
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
    const { cause, time2WaitMs } = lossCause(error, known, ctx.params.defaultTime2Wait * 1000);
    if (this.tracker.active === undefined) {
      const record = this.tracker.begin(cause, error.message, now, time2WaitMs);
      ctx.emit({ type: "recovery", phase: "started", record });
    } else {
      this.tracker.attemptFailed(now, time2WaitMs);
    }
  }

  /**
   * ERL 2 connection recovery gave up (erl2.ts: Time2Retain passed, or a reassignment refused):
   * the session is reinstated as at ERL 0, or ends if it cannot be.
   */
  reinstate(error: IscsiError, now: number): void {
    if (this.enabled && this.ctx.machine.can(SessionTrigger.ConnectionLost)) this.begin(error, now);
    else this.giveUp(error, now);
  }

  /** A login completed: if the session was being reinstated, it is back. */
  loggedIn(now: number): void {
    const record = this.tracker.active;
    if (record === undefined) return;
    this.reissueHeld(record);
    this.tracker.succeeded(now);
    this.ctx.emit({ type: "recovery", phase: "recovered", record });
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
      if (task.attempts >= this.tracker.settings.maxAttempts) {
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

  /** The RecoveryBackoff timer: time for the next login attempt, which the host makes. */
  backoffElapsed(now: number): void {
    // The replacement timeout decides first when both are due (a host that woke late).
    if ((this.ctx.timers.get(SessionTimer.Time2Retain) ?? Number.POSITIVE_INFINITY) <= now) {
      this.replacementTimedOut(now);
      return;
    }
    if (this.ctx.machine.state !== SessionState.Failed) return;
    // The host opens a connection (openConnection + transportConnected) when it sees this.
    this.ctx.emit({ type: "reconnect", attempt: (this.tracker.active?.attempts ?? 0) + 1 });
  }

  /** The Time2Retain timer: no login brought the session back within the replacement timeout. */
  replacementTimedOut(now: number): void {
    const record = this.tracker.active;
    const seconds = Math.round(this.tracker.settings.replacementTimeoutMs / 1000);
    this.giveUp(
      new SessionClosedError(
        `the session to ${this.ctx.config.targetName ?? "the target"} could not be re-established within ${seconds} s (${record?.detail ?? "connection lost"})`,
      ),
      now,
    );
  }

  /** Ends the session without a logout: every task fails, every connection closes. */
  giveUp(error: IscsiError, now: number): void {
    const ctx = this.ctx;
    if (ctx.machine.closed) return;
    const record = this.tracker.active;
    if (record !== undefined) {
      for (const task of ctx.tasks.values()) if (task.kind === "scsi") record.failed++;
      this.tracker.gaveUp(now);
      ctx.emit({ type: "recovery", phase: "gave-up", record });
    }
    this.close(SessionTrigger.GiveUp, error);
    for (const connection of [...ctx.connections.values()]) connection.fail(error, now);
    ctx.failAll(error);
  }

  /** The session is closed: given up, or logged out. */
  close(trigger: typeof SessionTrigger.GiveUp | typeof SessionTrigger.LoggedOut, error: IscsiError | undefined): void {
    const ctx = this.ctx;
    if (ctx.machine.closed) return;
    ctx.machine.handle(trigger);
    this.tracker.stop();
    ctx.timers.set(SessionTimer.LogoutDrain, undefined);
    ctx.emit({ type: "session-closed", ...(error === undefined ? {} : { error }) });
  }
}

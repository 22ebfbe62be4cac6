/**
 * Session recovery at ErrorRecoveryLevel 0 (RFC 7143 §6.3.5, §7.1.1): when the last connection
 * of a session is lost, the initiator logs in again with the same ISID and TSIH 0 (session
 * reinstatement), after DefaultTime2Wait and with a capped, jittered backoff between attempts;
 * commands in flight are held and re-issued when they are safe to repeat, and everything fails
 * with a clear error if no login succeeds within the replacement timeout.
 *
 * This module holds the policy and the record; the session applies it.
 */
import { IscsiError, RemoteProtocolError, TimeoutError, TransportError } from "../errors.js";
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
      return new TimeoutError(text, { cause });
    default:
      return new IscsiError(cause.code, text, { cause });
  }
}

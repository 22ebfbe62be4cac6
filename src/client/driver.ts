import {
  type IscsiError,
  IscsiError as IscsiErrorClass,
  LocalProtocolError,
  SessionClosedError,
  TransportError,
} from "../core/errors.js";
import type { LogoutReason, TaskManagementFunction } from "../core/pdu/opcodes.js";
import type { AsyncEventInfo, CommandResult, PingResult } from "../core/session/command.js";
import type { RecoveryRecord } from "../core/session/recovery.js";
import type { Connection } from "../core/session/connection.js";
import { Session, type SessionConfig, type SessionDeps } from "../core/session/session.js";
import type { TextPair } from "../core/text/codec.js";
import type { RenegotiationChange } from "../core/text/renegotiation.js";
import { formatHostPort } from "../core/url.js";
import { Emitter } from "./events.js";
import { DeadlineTimer } from "./deadline-timer.js";
import type { ByteStream, ClientHost, Portal } from "./host.js";

/** The promise a request waits on, carried through the core as the request's context. */
interface Pending {
  readonly resolve: (value: never) => void;
  readonly reject: (error: IscsiError) => void;
  /**
   * A READ or WRITE sent by `transfer`: GOOD resolves with its `value`, anything else with what
   * its `otherwise` makes of the result.
   */
  readonly transfer?: TransferCall<unknown>;
}

/** What `SessionDriver.transfer` was asked, for the rare status that is not GOOD. */
export interface TransferCall<T> {
  readonly lun: number;
  readonly cdb: Uint8Array;
  readonly dataIn: Uint8Array | undefined;
  readonly dataOut: Uint8Array | undefined;
  /** The caller's own timeout (undefined: the session's default). */
  readonly timeoutMs: number | undefined;
  /** When the call started, for what is left of a budget. */
  readonly started: number;
  readonly value: T;
  readonly otherwise: (result: CommandResult, call: TransferCall<T>) => Promise<T>;
}

export interface HostOptions {
  /** Milliseconds to wait for the TCP connection; default 10 s. */
  readonly connectTimeoutMs?: number;
  /** How many login redirections to follow before giving up; default 5. */
  readonly maxRedirects?: number;
  /** Busy polling after each write, in microseconds (SessionOptions.busyPollUs); 0 or absent: off. */
  readonly busyPollUs?: number;
}

export interface HostEvents {
  "async-event": [event: AsyncEventInfo, cid: number];
  "connection-closed": [cid: number, error: IscsiError | undefined];
  "session-closed": [error: IscsiError | undefined];
  recovery: [phase: "started" | "recovered" | "gave-up", record: RecoveryRecord];
  "connection-recovery": [phase: "started" | "recovered" | "fell-back", cid: number, detail: string];
}

/**
 * Drives a core `Session` over a host's byte streams: one stream per connection, one host timer
 * for the core's timeouts, the writes of one turn gathered into one batch per connection. All
 * protocol decisions stay in the core and all I/O in the host; this class only moves bytes, time
 * and promises between them, the same on every host.
 */
export class SessionDriver extends Emitter<HostEvents> {
  readonly session: Session<Pending>;
  private readonly streams = new Map<number, ByteStream>();
  private readonly portals = new Map<number, Portal>();
  private readonly loginWaiters = new Map<number, { resolve: () => void; reject: (e: IscsiError) => void; redirects: number }>();
  private logoutWaiter: { resolve: () => void; reject: (e: IscsiError) => void } | undefined;
  private readonly timer: DeadlineTimer;
  private pumpScheduled = false;
  private readonly connectTimeoutMs: number;
  private readonly maxRedirects: number;
  /** Busy polling (HostOptions.busyPollUs) in milliseconds, 0 when off or the host cannot spin. */
  private readonly busyPollMs: number;
  /** Until when (host.now()) the loop spins after the last write. */
  private spinUntil = 0;
  private spinning = false;
  /** Where the session last logged in (after redirections): recovery reconnects there. */
  private home: Portal;

  constructor(
    readonly host: ClientHost,
    readonly config: SessionConfig,
    readonly portal: Portal,
    options: HostOptions = {},
    deps: SessionDeps = host.deps,
  ) {
    super();
    this.session = new Session<Pending>(config, deps);
    this.timer = new DeadlineTimer(host, (now) => this.guarded("the timer", undefined, () => this.session.handleTimeout(now)));
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.maxRedirects = options.maxRedirects ?? 5;
    this.busyPollMs = host.spin === undefined ? 0 : (options.busyPollUs ?? 0) / 1000;
    this.home = portal;
  }

  /** Where this host is connected (or connecting), for messages. */
  describe(): string {
    const where = `${formatPortal(this.portal)}`;
    return this.config.targetName === undefined ? where : `${this.config.targetName} at ${where}`;
  }

  // ------------------------------------------------------------------ connections

  /**
   * Opens a connection and resolves when its login completes: the leading one first, then more
   * for multiple connections per session (RFC 7143 §4.3.1, MC/S), up to MaxConnections.
   */
  login(portal: Portal = this.home): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const connection = this.openConnection(portal);
      this.loginWaiters.set(connection.cid, { resolve, reject, redirects: 0 });
    });
  }

  private openConnection(portal: Portal): Connection {
    const now = this.host.now();
    const connection = this.session.openConnection(now);
    const cid = connection.cid;
    const opened: { stream?: ReturnType<ClientHost["connect"]> } = {};
    this.portals.set(cid, portal);
    const stream = this.host.connect(
      portal,
      {
        connected: () => this.guarded("the connect callback", connection, () => this.session.transportConnected(connection, this.host.now())),
        received: (bytes) => this.guarded("a socket read", connection, () => connection.receive(bytes, this.host.now(), true)),
        directTarget: (minimum) => connection.directReadTarget(minimum),
        headerReadLength: (minimum) => connection.headerReadLength(minimum),
        receivedDirectly: (count) => this.guarded("a socket read", connection, () => connection.receivedDirectly(count, this.host.now())),
        closed: (error) => {
          // ERL 2 connection recovery reuses a lost connection's CID: a late close of the old
          // stream must not forget the new one.
          if (opened.stream === undefined || this.streams.get(cid) === opened.stream) this.streams.delete(cid);
          this.guarded("the close callback", connection, () => {
            if (!connection.closed) {
              this.session.transportClosed(
                connection,
                error ?? new TransportError(`connection to ${formatPortal(portal)} closed by the target`),
                this.host.now(),
              );
            }
          });
        },
      },
      { timeoutMs: this.connectTimeoutMs },
    );
    opened.stream = stream;
    this.streams.set(cid, stream);
    this.armTimer();
    return connection;
  }

  // ------------------------------------------------------------------ requests

  /**
   * Sends a SCSI command; resolves with its outcome whatever the SCSI status. `onTag` learns the
   * command's Initiator Task Tag (for ABORT TASK).
   */
  execute(
    lun: number,
    cdb: Uint8Array,
    dataIn: Uint8Array | undefined,
    dataOut: Uint8Array | undefined,
    retry: "safe" | "never",
    timeoutMs: number | undefined,
    onTag?: (tag: number) => void,
    shortTransfer?: "fail" | "allow",
    budgetMs?: number,
  ): Promise<CommandResult> {
    return new Promise<CommandResult>((resolve, reject) => {
      const tag = this.session.submit(
        {
          lun,
          cdb,
          dataIn,
          dataOut,
          retry,
          timeoutMs,
          shortTransfer,
          budgetMs,
          context: { resolve: resolve as (v: never) => void, reject },
        },
        this.host.now(),
      );
      onTag?.(tag);
      this.schedulePump();
    });
  }

  /**
   * The hot path of a READ or WRITE (Lun.read, Lun.write): one promise for the caller, resolved
   * with `value` when the status is GOOD. Any other status resolves it with what `otherwise` makes
   * of the result (unit attention retries, the ScsiError), started after the current turn.
   */
  transfer<T>(call: TransferCall<T>, timeoutMs: number | undefined, budgetMs: number | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.session.submit(
        {
          lun: call.lun,
          cdb: call.cdb,
          dataIn: call.dataIn,
          dataOut: call.dataOut,
          retry: "safe",
          timeoutMs,
          shortTransfer: undefined,
          budgetMs,
          context: { resolve: resolve as (v: never) => void, reject, transfer: call as TransferCall<unknown> },
        },
        this.host.now(),
      );
      this.schedulePump();
    });
  }

  ping(data?: Uint8Array): Promise<PingResult> {
    return new Promise<PingResult>((resolve, reject) => {
      this.session.ping({ resolve: resolve as (v: never) => void, reject }, this.host.now(), data);
      this.schedulePump();
    });
  }

  taskManagement(fn: TaskManagementFunction, target: { lun?: number; referencedTaskTag?: number }): Promise<number> {
    return new Promise<{ response: number }>((resolve, reject) => {
      this.session.taskManagement(fn, target, { resolve: resolve as (v: never) => void, reject }, this.host.now());
      this.schedulePump();
    }).then((r) => r.response);
  }

  text(pairs: readonly TextPair[]): Promise<ReadonlyArray<readonly [string, string]>> {
    return new Promise((resolve, reject) => {
      this.session.text(pairs, { resolve: resolve as (v: never) => void, reject }, this.host.now());
      this.schedulePump();
    });
  }

  renegotiate(change: RenegotiationChange, cid?: number): Promise<ReadonlyArray<readonly [string, string]>> {
    return new Promise((resolve, reject) => {
      this.session.renegotiate(change, { resolve: resolve as (v: never) => void, reject }, this.host.now(), cid);
      this.schedulePump();
    });
  }

  /** Logs the session out and closes every socket. Safe to call twice. */
  logout(reason?: LogoutReason): Promise<void> {
    if (this.session.state === "CLOSED") return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.logoutWaiter = { resolve, reject };
      try {
        this.session.logout(this.host.now(), reason);
      } catch (error) {
        this.logoutWaiter = undefined;
        reject(error);
        return;
      }
      this.pump();
      // A session that was down (recovering) has nothing to log out of: it just closed.
      if (this.session.state === "CLOSED" && this.logoutWaiter !== undefined) {
        this.logoutWaiter = undefined;
        resolve();
      }
    });
  }

  /** Drops everything without a logout. */
  close(error: IscsiError = new SessionClosedError("the session was closed")): void {
    this.session.close(error, this.host.now());
    this.pump();
    for (const stream of this.streams.values()) stream.destroy();
    this.clearTimer();
  }

  // ------------------------------------------------------------------ the loop

  /**
   * Coalesces the writes of everything submitted in this turn of the event loop: commands issued
   * from promise continuations (a closed loop of workers) leave in one write.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    this.host.defer(this.scheduledPump);
  }

  private readonly scheduledPump = (): void => {
    this.pumpScheduled = false;
    this.guarded("a scheduled write", undefined);
  };

  /**
   * Runs what an event-loop callback (socket, timer, tick) asks of the core, then pumps. Nothing
   * thrown there may become an uncaught exception, which would end every session of the process:
   * it fails the connection it came from (its login, and the commands that were on it, see
   * Session.onConnectionClosed), or with no connection to blame, the whole session; either way
   * each waiting promise rejects with a typed error.
   */
  private guarded(what: string, connection: Connection | undefined, step?: () => void): void {
    try {
      step?.();
      this.pump();
    } catch (thrown) {
      const error = typedError(thrown, what);
      try {
        if (connection !== undefined && !connection.closed) {
          connection.fail(error, this.host.now());
          this.pump();
          return;
        }
      } catch {
        // Failing the connection threw too: the session cannot be trusted; end it below.
      }
      this.crash(error);
    }
  }

  /** Ends the session after a failure the core could not take: every promise rejects with `error`. */
  private crash(error: IscsiError): void {
    const waiters = [...this.loginWaiters.values()];
    this.loginWaiters.clear();
    const logout = this.logoutWaiter;
    this.logoutWaiter = undefined;
    try {
      this.session.close(error, this.host.now());
      this.drain();
    } catch {
      // The core is broken; what it held cannot be reached, the waiters here can.
    }
    for (const stream of this.streams.values()) stream.destroy();
    this.clearTimer();
    for (const waiter of waiters) waiter.reject(withContext(error, formatPortal(this.home), this.config.targetName));
    logout?.reject(error);
  }

  /** Writes what the core queued, then hands its events out, then re-arms the timer. */
  private pump(): void {
    // A few new commands behind a deep queue wait for a later turn to leave together: all
    // connections' or none (Session.transmitMayWait, batching.ts).
    if (!this.session.transmitMayWait) for (const connection of this.session.connectionValues()) this.flush(connection);
    this.drain();
    this.armTimer();
  }

  private flush(connection: Connection): void {
    const length = connection.pendingBytes;
    const pieces = connection.pollTransmit();
    if (pieces === undefined) return;
    this.streams.get(connection.cid)?.write(pieces, length);
    if (this.busyPollMs > 0) this.spinAfterWrite();
  }

  /**
   * Busy polling: after a write the loop keeps turning (host.spin) instead of sleeping, while
   * anything is outstanding and until `busyPollUs` have passed since the last write. An answer
   * is then read in the turn it arrives: no sleep, no wake-up (a virtual CPU's halt and IPI).
   */
  private spinAfterWrite(): void {
    this.spinUntil = this.host.now() + this.busyPollMs;
    if (this.spinning) return;
    this.spinning = true;
    this.host.spin?.(this.spinStep);
  }

  private readonly spinStep = (): void => {
    if (this.session.outstanding > 0 && this.session.state !== "CLOSED" && this.host.now() < this.spinUntil) this.host.spin?.(this.spinStep);
    else this.spinning = false;
  };

  private drain(): void {
    for (;;) {
      const event = this.session.nextEvent();
      if (event === undefined) return;
      switch (event.type) {
        case "command-complete": {
          const pending = event.context;
          const call = pending.transfer;
          if (call === undefined) (pending.resolve as (r: CommandResult) => void)(event.result);
          else if (event.result.status === GOOD) (pending.resolve as (v: unknown) => void)(call.value);
          else {
            // Not here, inside the core's event loop: the handling may send the command again.
            const result = event.result;
            (pending.resolve as (v: Promise<unknown>) => void)(Promise.resolve().then(() => call.otherwise(result, call)));
          }
          break;
        }
        case "ping-complete":
          (event.context.resolve as (r: PingResult) => void)(event.result);
          break;
        case "tmf-complete":
          (event.context.resolve as (r: { response: number }) => void)(event.result);
          break;
        case "text-complete":
          (event.context.resolve as (r: ReadonlyArray<readonly [string, string]>) => void)(event.pairs);
          break;
        case "command-failed":
        case "request-failed":
          event.context.reject(this.located(event.error));
          break;
        case "login-complete": {
          this.home = this.portals.get(event.cid) ?? this.home;
          const waiter = this.loginWaiters.get(event.cid);
          this.loginWaiters.delete(event.cid);
          waiter?.resolve();
          break;
        }
        case "login-failed": {
          const waiter = this.loginWaiters.get(event.cid);
          this.loginWaiters.delete(event.cid);
          const portal = this.portals.get(event.cid) ?? this.portal;
          waiter?.reject(withContext(event.error, formatPortal(portal), this.config.targetName));
          break;
        }
        case "login-redirect":
        case "login-retry": {
          const waiter = this.loginWaiters.get(event.cid);
          this.loginWaiters.delete(event.cid);
          this.endSocket(event.cid);
          if (waiter === undefined) break;
          const previous = this.portals.get(event.cid) ?? this.portal;
          const next = event.type === "login-redirect" ? { host: event.host, port: event.port } : previous;
          if (event.type === "login-redirect" && waiter.redirects >= this.maxRedirects) {
            waiter.reject(new TransportError(`login to ${formatPortal(this.portal)}: more than ${this.maxRedirects} redirections`));
            break;
          }
          // The old connection is gone from the session; a new one logs in at the new address.
          this.host.defer(() => {
            try {
              const connection = this.openConnection(next);
              this.loginWaiters.set(connection.cid, { ...waiter, redirects: waiter.redirects + 1 });
            } catch (error) {
              waiter.reject(error as IscsiError);
            }
          });
          break;
        }
        case "logout-complete": {
          const waiter = this.logoutWaiter;
          this.logoutWaiter = undefined;
          waiter?.resolve();
          break;
        }
        case "async-event":
          this.emitSafely("async-event", event.event, event.cid);
          break;
        case "connection-closed": {
          this.endSocket(event.cid);
          const waiter = this.loginWaiters.get(event.cid);
          if (waiter !== undefined) {
            this.loginWaiters.delete(event.cid);
            const portal = this.portals.get(event.cid) ?? this.portal;
            waiter.reject(
              event.error === undefined
                ? new TransportError(`connection to ${formatPortal(portal)} closed during login`)
                : withContext(event.error, formatPortal(portal), this.config.targetName),
            );
          }
          if (this.logoutWaiter !== undefined && this.session.connectionList.length === 0) {
            const w = this.logoutWaiter;
            this.logoutWaiter = undefined;
            if (event.error === undefined) w.resolve();
            else w.reject(event.error);
          }
          this.emitSafely("connection-closed", event.cid, event.error);
          break;
        }
        case "reconnect":
          // Session recovery: a new leading login to where the session last lived.
          this.host.defer(() => {
            try {
              this.openConnection(this.home);
            } catch {
              // The session closed meanwhile.
            }
          });
          break;
        case "connection-recovery":
          this.emitSafely("connection-recovery", event.phase, event.cid, event.detail);
          break;
        case "recovery":
          this.emitSafely("recovery", event.phase, event.record);
          if (event.phase === "recovered") this.restoreConnections();
          break;
        case "session-closed":
          this.clearTimer();
          this.emitSafely("session-closed", event.error === undefined ? undefined : this.located(event.error));
          break;
      }
    }
  }

  /**
   * A listener that throws is the caller's bug, not the session's: the events after it are still
   * handed out and the timer re-armed, and the exception is thrown again on its own, as Node
   * reports an exception from any listener.
   */
  private emitSafely<K extends keyof HostEvents>(name: K, ...args: HostEvents[K]): void {
    try {
      (this.emit as (name: K, ...args: HostEvents[K]) => boolean)(name, ...args);
    } catch (error) {
      this.host.defer(() => {
        throw error;
      });
    }
  }

  /**
   * A failure of the session or of its connection, as the caller sees it: naming the target and
   * the portal ("iqn.x at 127.0.0.1:3260: ..."), once. SCSI and task management outcomes name
   * their LUN and target already.
   */
  private located(error: IscsiError): IscsiError {
    return LOCATED_CODES.has(error.code) ? withContext(error, formatPortal(this.home), this.config.targetName) : error;
  }

  /** How many connections the caller wants (MC/S); recovery brings the session back to it. */
  wantedConnections = 1;

  /** After a reinstatement only the leading connection is back: add the others again. */
  private restoreConnections(): void {
    const missing = Math.min(this.wantedConnections, this.session.params.maxConnections) - this.session.connectionList.length;
    for (let i = 0; i < missing; i++) {
      this.login().catch(() => {
        // A connection that cannot be added leaves the session running on fewer.
      });
    }
  }

  private endSocket(cid: number): void {
    const stream = this.streams.get(cid);
    if (stream === undefined) return;
    this.streams.delete(cid);
    // The host drops a stream whose peer never closes its side.
    stream.end();
  }

  private armTimer(): void {
    // Keep-alive pings alone must not hold the process open; held commands and recovery must.
    this.timer.arm(this.session.pollTimeout(), this.session.outstanding !== 0 || this.session.recovering);
  }

  private clearTimer(): void {
    this.timer.clear();
  }
}

/** SAM-5 GOOD status. */
const GOOD = 0;

/** Errors about the session or its connections, which name the target and portal when they reach the caller. */
const LOCATED_CODES: ReadonlySet<string> = new Set([
  "ISCSI_ERR_TRANSPORT",
  "ISCSI_ERR_TIMEOUT",
  "ISCSI_ERR_REMOTE_PROTOCOL",
  "ISCSI_ERR_DIGEST",
  "ISCSI_ERR_SESSION_CLOSED",
  "ISCSI_ERR_NOT_RETRYABLE",
  "ISCSI_ERR_REJECT",
]);

/**
 * What was thrown in a host callback, as an IscsiError: ours as they are; anything else (a bug)
 * as a LocalProtocolError that keeps it as its cause.
 */
function typedError(thrown: unknown, what: string): IscsiError {
  if (thrown instanceof IscsiErrorClass) return thrown;
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return new LocalProtocolError(`internal error in ${what}: ${message}`, { cause: thrown });
}

export function formatPortal(portal: Portal): string {
  return formatHostPort(portal.host, portal.port);
}

/**
 * Names the target and portal in an error that does not name them yet, once:
 * "iqn.x at 127.0.0.1:3260: mutual CHAP ...", "127.0.0.1:3260: login to target iqn.x refused ...".
 */
function withContext(error: IscsiError, portal: string, target: string | undefined): IscsiError {
  if (!(error instanceof IscsiErrorClass)) return error;
  const needTarget = target !== undefined && !error.message.includes(target);
  const needPortal = !error.message.includes(portal);
  if (needTarget) error.message = `${target} at ${portal}: ${error.message}`;
  else if (needPortal) error.message = `${portal}: ${error.message}`;
  return error;
}


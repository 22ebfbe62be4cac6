/**
 * Connection recovery at ErrorRecoveryLevel 2 (RFC 7143 §6.2.2, §7.1.4, §11.5.1, §11.14.1): a lost
 * connection is recovered inside the session. Its SCSI tasks wait ("reassigning"); after
 * DefaultTime2Wait the host is asked for a connection that logs in with the session's ISID and
 * TSIH and the lost connection's CID (a login with the same CID logs the old one out implicitly,
 * §6.3.4); once it is in, each task is moved there with TASK REASSIGN, naming the next DataSN we
 * need (ExpDataSN), so that data we already have is not sent again, and a write's missing data is
 * asked for with R2Ts. With MC/S, when no new connection can be made, a surviving connection
 * removes the lost one with Logout reason 2 and takes its tasks instead.
 *
 * Past DefaultTime2Retain (the target lets go of the tasks, §13.16), or when the target refuses a
 * reassignment, recovery falls back to session reinstatement as at ERL 0 (recovery.ts).
 */
import { type IscsiError, NotRetryableError, SessionClosedError } from "../errors.js";
import { LogoutReason, LogoutResponseCode, Opcode, TaskManagementFunction, TaskManagementResponseCode } from "../pdu/opcodes.js";
import type { LogoutResponsePdu } from "../pdu/types.js";
import { serialLt } from "../serial.js";
import type { Connection } from "./connection.js";
import type { SessionContext } from "./context.js";
import { sendTaskManagement } from "./control.js";
import { reissueSame } from "./datapath.js";
import { SessionTrigger } from "./machine.js";
import type { ScsiTask } from "./task.js";
import { SessionTimer } from "./timers.js";

/** A lost connection being recovered. */
interface Lost {
  readonly cid: number;
  /** DefaultTime2Retain after the loss: the target keeps the tasks until then. */
  readonly until: number;
  /** When the next replacing connection may be made. */
  waitUntil: number;
  attempts: number;
  /** A replacing connection (its CID) is being made or logging in. */
  replacing: number | undefined;
  /** The tasks are being moved (TASK REASSIGN sent, or Logout reason 2 first) on this connection. */
  movingTo: number | undefined;
}

export interface ConnectionRecoveryHooks {
  /** Session reinstatement (ERL 0) instead: Time2Retain passed or reassignment failed. */
  readonly fallBack: (error: IscsiError, now: number) => void;
  /** Commands may flow again (a connection came back). */
  readonly flushPending: (now: number) => void;
}

/** Delay between attempts to replace a lost connection, after the first (Time2Wait). */
const RETRY_MS = 1_000;

export class ConnectionRecovery<C> {
  private readonly lost = new Map<number, Lost>();

  constructor(
    private readonly ctx: SessionContext<C>,
    private readonly hooks: ConnectionRecoveryHooks,
  ) {}

  /** ERL 2 was negotiated and the target keeps tasks (DefaultTime2Retain > 0). */
  get applies(): boolean {
    const p = this.ctx.params;
    return p.errorRecoveryLevel >= 2 && p.defaultTime2Retain > 0 && this.ctx.config.sessionType === "Normal";
  }

  /** Lost connections still being recovered. */
  get active(): number {
    return this.lost.size;
  }

  /**
   * A logged-in connection was lost (Connection.fail, already cleaned up): its SCSI tasks wait
   * for reassignment, its other requests fail (they have no reassignment), and a replacing
   * connection is scheduled after Time2Wait.
   */
  onLost(connection: Connection, error: IscsiError, now: number): void {
    const ctx = this.ctx;
    const cid = connection.cid;
    for (const task of [...ctx.tasks.values()]) {
      if (task.kind === "scsi") {
        if (task.cid === cid && task.phase === "issued") {
          ctx.detach(task);
          task.phase = "reassigning";
          task.lostBecause ??= error;
        }
      } else if (task.cid === cid) {
        ctx.failTask(task, error);
      }
    }
    const wait = ctx.machine.expectedLoss?.time2WaitMs ?? ctx.params.defaultTime2Wait * 1000;
    ctx.machine.expectedLoss = undefined;
    // A connection that was taking another lost one's tasks is gone too: those wait for the next.
    for (const other of this.lost.values()) {
      if (other.movingTo !== cid || other.cid === cid) continue;
      other.movingTo = undefined;
      other.waitUntil = now + wait;
    }
    const previous = this.lost.get(cid);
    this.lost.set(cid, {
      cid,
      // RFC 7143 §13.16: Time2Retain counts from the loss (a second loss of the same CID keeps the first's).
      until: previous?.until ?? now + ctx.params.defaultTime2Retain * 1000,
      waitUntil: now + wait,
      attempts: 0,
      replacing: undefined,
      movingTo: undefined,
    });
    if (ctx.liveConnections() === 0 && ctx.machine.can(SessionTrigger.ConnectionRecovering)) ctx.machine.handle(SessionTrigger.ConnectionRecovering);
    this.arm();
    ctx.emit({ type: "connection-recovery", phase: "started", cid, detail: error.message });
    this.hooks.flushPending(now);
  }

  /** The CID the next connection opened takes: a lost one nobody is replacing yet. */
  takeCid(): number | undefined {
    for (const lost of this.lost.values()) {
      if (lost.replacing === undefined && lost.movingTo === undefined) {
        lost.replacing = lost.cid;
        lost.attempts++;
        return lost.cid;
      }
    }
    return undefined;
  }

  /** A connection's transport is up: in CONNECTION_RECOVERY its login continues the session (N6). */
  continuing(): void {
    if (this.lost.size > 0 && this.ctx.machine.can(SessionTrigger.Continuing)) this.ctx.machine.handle(SessionTrigger.Continuing);
  }

  /** A replacing connection failed before it logged in: try again, or move the tasks to a survivor. */
  attemptFailed(connection: Connection, now: number): boolean {
    const lost = [...this.lost.values()].find((l) => l.replacing === connection.cid);
    if (lost === undefined) return false;
    lost.replacing = undefined;
    const survivor = this.survivor();
    if (survivor !== undefined) {
      // MC/S: no new connection could be made; a surviving one takes the tasks (RFC 7143 §7.1.4).
      this.moveTo(lost, survivor, now);
      return true;
    }
    if (this.ctx.machine.can(SessionTrigger.ConnectionRecovering)) this.ctx.machine.handle(SessionTrigger.ConnectionRecovering);
    lost.waitUntil = now + RETRY_MS;
    this.arm();
    return true;
  }

  /** A connection completed its login: if it replaces a lost one, the tasks move to it. */
  loggedIn(connection: Connection, now: number): void {
    const lost = this.lost.get(connection.cid) ?? [...this.lost.values()].find((l) => l.replacing === connection.cid);
    if (lost === undefined || lost.movingTo !== undefined) return;
    lost.replacing = undefined;
    this.moveTo(lost, connection, now);
  }

  /**
   * Moves `lost`'s tasks to `connection`. A connection with the lost CID logged it out implicitly
   * (RFC 7143 §6.3.4); any other first removes it with Logout reason 2 (§11.14.1), then reassigns.
   */
  private moveTo(lost: Lost, connection: Connection, now: number): void {
    lost.movingTo = connection.cid;
    if (connection.cid === lost.cid) {
      this.reassignAll(lost, connection, now);
      return;
    }
    const ctx = this.ctx;
    const itt = ctx.tasks.allocate();
    ctx.tasks.add({ kind: "logout", itt, cid: connection.cid, reason: LogoutReason.RemoveConnectionForRecovery });
    connection.send({
      opcode: Opcode.LogoutRequest,
      immediate: true,
      reason: LogoutReason.RemoveConnectionForRecovery,
      initiatorTaskTag: itt,
      cid: lost.cid,
      cmdSN: ctx.window.cmdSN,
      expStatSN: connection.expStatSN,
    });
  }

  /** The answer to our Logout reason 2 (logout.ts hands it here). */
  onRecoveryLogout(connection: Connection, pdu: LogoutResponsePdu, now: number): void {
    const lost = [...this.lost.values()].find((l) => l.movingTo === connection.cid && l.cid !== connection.cid);
    if (lost === undefined) return;
    // RFC 7143 §11.15.1: "CID not found" means the target has already dropped it; its tasks may
    // still be waiting, so reassignment is tried either way. Anything else ends connection recovery.
    if (pdu.response !== LogoutResponseCode.Success && pdu.response !== LogoutResponseCode.CidNotFound) {
      this.fallBack(new SessionClosedError(`the target refused to remove connection ${lost.cid} for recovery (Logout response ${pdu.response})`), now);
      return;
    }
    this.reassignAll(lost, connection, now);
  }

  private reassignAll(lost: Lost, connection: Connection, now: number): void {
    const ctx = this.ctx;
    const tasks: ScsiTask<C>[] = [];
    for (const task of ctx.tasks.values()) if (task.kind === "scsi" && task.phase === "reassigning" && task.cid === lost.cid) tasks.push(task);
    tasks.sort((a, b) => (serialLt(a.cmdSN, b.cmdSN) ? -1 : 1));
    let waiting = tasks.length;
    const done = (): void => {
      if (--waiting > 0 || this.lost.get(lost.cid) !== lost) return;
      this.finish(lost, now);
    };
    if (waiting === 0) {
      this.finish(lost, now);
      return;
    }
    for (const task of tasks) {
      // RFC 7143 §11.5.6: ExpDataSN is the next Data-In we need; the target resends from there.
      const expDataSN = task.request.dataIn !== undefined ? task.nextDataSN : 0;
      sendTaskManagement(
        ctx,
        TaskManagementFunction.TaskReassign,
        { referencedTaskTag: task.itt, lun: task.request.lun, expDataSN, cid: connection.cid },
        {
          context: undefined,
          internal: (response) => {
            if (this.lost.get(lost.cid) !== lost) return;
            // Unanswered because this connection was lost too: that loss recovers the task again.
            if (response === undefined && connection.closed) return;
            this.reassigned(task, connection, response, now);
            done();
          },
        },
      );
    }
  }

  /** The answer to one TASK REASSIGN. */
  private reassigned(task: ScsiTask<C>, connection: Connection, response: number | undefined, now: number): void {
    const ctx = this.ctx;
    if (task.phase !== "reassigning") return;
    if (response === TaskManagementResponseCode.FunctionComplete) {
      // RFC 7143 §11.5.1: allegiance moves; Data-In, R2Ts and status now come on this connection.
      task.phase = "issued";
      task.cid = connection.cid;
      task.reassigned = true;
      ctx.attach(task, connection);
      return;
    }
    if (response === TaskManagementResponseCode.TaskDoesNotExist && !serialLt(task.cmdSN, ctx.window.expected)) {
      // The command never reached the target (its CmdSN is not acknowledged): send it again with
      // the same ITT and CmdSN, as RFC 7143 §6.2.1 "retry" allows, to fill its place in the window.
      reissueSame(ctx, task, connection, now);
      return;
    }
    if (response === TaskManagementResponseCode.TaskDoesNotExist) {
      const what = `command 0x${(task.request.cdb[0] ?? 0).toString(16)} (ITT 0x${task.itt.toString(16)})`;
      if (task.request.retry === "safe") {
        task.phase = "queued";
        task.cid = -1;
        ctx.enqueue(task);
        return;
      }
      ctx.failTask(task, new NotRetryableError(`${what} was lost with its connection and the target no longer has it (TASK REASSIGN: task does not exist)`));
      return;
    }
    // Not supported, refused or unanswered: the session is reinstated instead (ERL 0).
    this.fallBack(new SessionClosedError(`TASK REASSIGN of ITT 0x${task.itt.toString(16)} was answered ${response ?? "not at all"}`), now);
  }

  private finish(lost: Lost, now: number): void {
    this.lost.delete(lost.cid);
    this.arm();
    this.ctx.emit({ type: "connection-recovery", phase: "recovered", cid: lost.cid, detail: `tasks moved to connection ${lost.movingTo ?? lost.cid}` });
    this.hooks.flushPending(now);
  }

  /** A logged-in connection other than those being recovered, to move tasks to. */
  private survivor(): Connection | undefined {
    for (const c of this.ctx.connections.values()) if (c.usable && !this.lost.has(c.cid)) return c;
    return undefined;
  }

  /** The ConnectionWait or ConnectionRetain timer fired. */
  onTimer(now: number): void {
    for (const lost of [...this.lost.values()]) {
      if (lost.until <= now) {
        this.fallBack(new SessionClosedError(`connection ${lost.cid} was not recovered within DefaultTime2Retain (${this.ctx.params.defaultTime2Retain} s)`), now);
        return;
      }
    }
    for (const lost of this.lost.values()) {
      if (lost.replacing !== undefined || lost.movingTo !== undefined || lost.waitUntil > now) continue;
      lost.waitUntil = Number.POSITIVE_INFINITY;
      // The host opens a connection (openConnection + transportConnected); it takes this CID.
      this.ctx.emit({ type: "reconnect", attempt: lost.attempts + 1, cid: lost.cid });
    }
    this.arm();
  }

  /** Gives way to session reinstatement: the tasks become the ERL 0 recovery's to hold. */
  fallBack(error: IscsiError, now: number): void {
    const cids = [...this.lost.keys()];
    this.clear();
    for (const cid of cids) this.ctx.emit({ type: "connection-recovery", phase: "fell-back", cid, detail: error.message });
    this.hooks.fallBack(error, now);
  }

  /** Nothing more to recover (the session is reinstated or closed). */
  clear(): void {
    this.lost.clear();
    this.arm();
  }

  private arm(): void {
    let wait: number | undefined;
    let retain: number | undefined;
    for (const lost of this.lost.values()) {
      if (lost.replacing === undefined && lost.movingTo === undefined && Number.isFinite(lost.waitUntil) && (wait === undefined || lost.waitUntil < wait)) wait = lost.waitUntil;
      if (retain === undefined || lost.until < retain) retain = lost.until;
    }
    this.ctx.timers.set(SessionTimer.ConnectionWait, wait);
    this.ctx.timers.set(SessionTimer.ConnectionRetain, retain);
  }
}

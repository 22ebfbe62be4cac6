/**
 * ErrorRecoveryLevel 2 bookkeeping of a target session (RFC 7143 §6.2.2, §7.1.4, §13.16): the
 * tasks of lost connections waiting for a TASK REASSIGN, the CIDs lost and still recoverable (a
 * Logout for recovery may name them), and how long a session left without connections waits for
 * one. Everything lives DefaultTime2Retain after the loss; the session asks `expire(now)` what
 * has run out. Sending what a reassigned task owes is reassign.ts's.
 */
import { TaskManagementResponseCode } from "../../core/pdu/opcodes.js";
import type { TaskManagementRequestPdu } from "../../core/pdu/types.js";
import type { TargetConnection } from "./connection.js";
import { type Resumable, keptResumable } from "./reassign.js";
import type { ScsiTask } from "./scsi-task.js";

/**
 * A task of a lost connection waiting for TASK REASSIGN until `until`: one still in progress, or
 * one that ended with its status not acknowledged.
 */
export type Orphan =
  | { readonly kind: "task"; readonly task: ScsiTask; readonly cid: number; readonly until: number }
  | { readonly kind: "kept"; readonly resumable: Resumable; readonly cid: number; readonly until: number };

export class Orphans {
  readonly #orphans = new Map<number, Orphan>();
  /** CIDs lost and still recoverable, with their deadline. */
  readonly #lostCids = new Map<number, number>();
  /** With no connection left, the session waits for one until then. */
  #retainUntil: number | undefined;

  get size(): number {
    return this.#orphans.size;
  }

  /**
   * `connection` was lost: its tasks (`active`, in progress) and the statuses it sent but nobody
   * acknowledged wait until `until`. `known` tells tags the session still has as tasks.
   */
  keep(connection: TargetConnection, active: Iterable<ScsiTask>, known: (itt: number) => boolean, until: number): void {
    for (const task of active) {
      if (task.connection !== connection) continue;
      task.orphan();
      this.#orphans.set(task.itt, { kind: "task", task, cid: connection.cid, until });
    }
    for (const kept of connection.retention?.unacknowledgedTasks() ?? []) {
      if (this.#orphans.has(kept.itt) || known(kept.itt)) continue;
      const resumable = keptResumable(kept.status, kept.read);
      if (resumable !== undefined) this.#orphans.set(kept.itt, { kind: "kept", resumable, cid: connection.cid, until });
    }
    this.#lostCids.set(connection.cid, until);
  }

  /** The session has no connection left: it waits for one until `until`. */
  waitForConnection(until: number): void {
    this.#retainUntil = until;
  }

  /** A connection joined (with `cid`): the session no longer waits, and that CID is live again. */
  connectionJoined(cid: number): void {
    this.#retainUntil = undefined;
    this.#lostCids.delete(cid);
  }

  /** Whether `cid` was lost and is still within its Time2Retain. */
  lostCid(cid: number): boolean {
    return this.#lostCids.has(cid);
  }

  /** A task ended without a word (aborted): it is no longer there to reassign. */
  forget(task: ScsiTask): void {
    const orphan = this.#orphans.get(task.itt);
    if (orphan?.kind === "task" && orphan.task === task) this.#orphans.delete(task.itt);
  }

  /**
   * TASK REASSIGN (RFC 7143 §11.5.1): the orphan it names, taken, with the response code; or the
   * code alone when there is nothing to move. `live` is the session's task by that tag, if any.
   */
  take(pdu: TaskManagementRequestPdu, live: ScsiTask | undefined): { readonly response: number; readonly orphan?: Orphan } {
    const itt = pdu.referencedTaskTag;
    const orphan = this.#orphans.get(itt);
    if (orphan === undefined) {
      // §11.6.1: the task's connection is still there: it cannot be taken from it.
      if (live !== undefined && !live.connection.closed) return { response: TaskManagementResponseCode.TaskStillAllegiant };
      return { response: TaskManagementResponseCode.TaskDoesNotExist };
    }
    if (orphan.kind === "task" && orphan.task.request.lun !== pdu.lun) return { response: TaskManagementResponseCode.TaskDoesNotExist };
    this.#orphans.delete(itt);
    return { response: TaskManagementResponseCode.FunctionComplete, orphan };
  }

  /** The earliest Time2Retain deadline. */
  pollTimeout(): number | undefined {
    let at = this.#retainUntil;
    for (const orphan of this.#orphans.values()) if (at === undefined || orphan.until < at) at = orphan.until;
    for (const until of this.#lostCids.values()) if (at === undefined || until < at) at = until;
    return at;
  }

  /**
   * What Time2Retain ended by `now`: the tasks to abort (the target lets them go), and whether a
   * session with no connection gives up waiting for one.
   */
  expire(now: number): { readonly tasks: ScsiTask[]; readonly sessionExpired: boolean } {
    const tasks: ScsiTask[] = [];
    for (const [itt, orphan] of [...this.#orphans]) {
      if (orphan.until > now) continue;
      this.#orphans.delete(itt);
      if (orphan.kind === "task") tasks.push(orphan.task);
    }
    for (const [cid, until] of [...this.#lostCids]) if (until <= now) this.#lostCids.delete(cid);
    const sessionExpired = this.#retainUntil !== undefined && this.#retainUntil <= now;
    if (sessionExpired) this.#retainUntil = undefined;
    return { tasks, sessionExpired };
  }

  /** The session ends: the tasks still waiting, to abort. */
  clear(): ScsiTask[] {
    const tasks: ScsiTask[] = [];
    for (const orphan of this.#orphans.values()) if (orphan.kind === "task") tasks.push(orphan.task);
    this.#orphans.clear();
    this.#lostCids.clear();
    this.#retainUntil = undefined;
    return tasks;
  }
}

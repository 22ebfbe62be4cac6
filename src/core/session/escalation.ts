/**
 * Escalation for a stuck command (the initiator's half of RFC 7143 §6.1.1 and SAM-5 task
 * management): when a command passes its deadline, ABORT TASK; if that is not answered in time
 * or fails, LOGICAL UNIT RESET; if that fails too, drop the connection and let session recovery
 * reinstate the session. A command is never failed while the target may still write into its
 * buffer: it fails only once the target has confirmed the task is gone, or the session is gone.
 */
import { AbortedError, TimeoutError } from "../errors.js";
import { TaskManagementFunction, TaskManagementResponseCode } from "../pdu/opcodes.js";
import { scsiCommandName } from "../scsi/opcodes.js";
import { serialGt } from "../serial.js";
import type { EscalationContext } from "./context.js";
import { sendTaskManagement, tasksEndedBy } from "./control.js";
import type { ScsiTask, Task, TaskManagementTask } from "./task.js";
import { type Fired, TaskTimer } from "./timers.js";

export interface EscalationHooks {
  /** Drop this connection (the last step); session recovery takes over. */
  readonly dropConnection: (cid: number, error: TimeoutError) => void;
  /** Put a command back in the queue to be sent again. */
  readonly requeue: (task: ScsiTask<unknown>) => void;
}

/** "READ(10) (ITT 0x5) on LUN 1": a command as messages name it. */
export function describeTask(task: ScsiTask<unknown>): string {
  return `${scsiCommandName(task.request.cdb)} (ITT 0x${task.itt.toString(16)}) on LUN ${task.request.lun}`;
}

/**
 * A task's deadline fired (timers.ts): the command's attempt or budget, or the answer to a ping,
 * a text exchange or one of our task management functions. The timer table only holds deadlines
 * still armed, but a task is checked to be the session's own before acting on it.
 */
export function onTaskTimer<C>(ctx: EscalationContext<C>, fired: Extract<Fired<Task<C>>, { item: unknown }>, now: number, tmfTimeoutMs: number, hooks: EscalationHooks): void {
  const task = fired.item;
  if (ctx.tasks.get(task.itt) !== task) return;
  switch (fired.timer) {
    case TaskTimer.Budget:
      if (task.kind === "scsi") expire(ctx, task, hooks);
      return;
    case TaskTimer.Attempt:
      if (task.kind === "scsi") attemptTimedOut(ctx, task, now, tmfTimeoutMs, hooks);
      return;
    case TaskTimer.Request:
      if (task.kind === "ping" || task.kind === "text") {
        task.timer = undefined;
        ctx.expire(task.itt);
        const what = task.kind === "ping" ? "NOP-Out ping" : "text exchange";
        ctx.failTask(
          task,
          new TimeoutError(`${what} (ITT 0x${task.itt.toString(16)}) got no answer within ${ctx.config.requestTimeoutMs ?? 30_000} ms`, { kind: "request" }),
        );
      } else if (task.kind === "tmf" && task.internal !== undefined) {
        // Task management requests of our own that are not answered in time move to the next step.
        ctx.forget(task);
        task.internal(undefined);
      }
      return;
  }
}

function attemptTimedOut<C>(ctx: EscalationContext<C>, task: ScsiTask<C>, now: number, tmfTimeoutMs: number, hooks: EscalationHooks): void {
  task.attemptTimer = undefined;
  if (task.phase === "queued") {
    // Never sent: nothing to abort on the target.
    ctx.failTask(task, new TimeoutError(`${describeTask(task)} timed out after ${task.request.timeoutMs ?? 0} ms waiting to be sent`, { kind: "command" }));
    return;
  }
  if (task.phase === "held") return; // the replacement timeout of recovery decides; a re-issue re-arms
  // ERL 2: no connection has the task until TASK REASSIGN moves it; Time2Retain decides (erl2.ts).
  if (task.phase === "reassigning") return;
  if (task.escalation === 0) abort(ctx, task, now, tmfTimeoutMs, hooks);
}

/**
 * The command's whole budget (`budgetMs`) is spent: it fails now, whatever escalation or recovery
 * is under way. Waiting to be sent or held for a reconnect, nothing of it is on a connection; sent,
 * its connection is dropped right after (in the same call, before any byte can arrive), so the
 * target can write nothing more into its buffer; the session's recovery takes the rest.
 */
function expire<C>(ctx: EscalationContext<C>, task: ScsiTask<C>, hooks: EscalationHooks): void {
  task.budgetTimer = undefined;
  const budget = task.request.budgetMs ?? 0;
  const attempts = task.attempts === 1 ? "1 attempt" : `${task.attempts} attempts`;
  const lost = task.lostBecause === undefined ? "" : `; its connection was lost before: ${task.lostBecause.message}`;
  const error = new TimeoutError(`${describeTask(task)} did not complete within ${budget} ms (${attempts})${lost}`, {
    kind: "command",
    ...(task.lostBecause === undefined ? {} : { cause: task.lostBecause }),
  });
  const issued = task.phase === "issued";
  const cid = task.cid;
  ctx.failTask(task, error);
  if (issued) hooks.dropConnection(cid, error);
}

function abort<C>(ctx: EscalationContext<C>, task: ScsiTask<C>, now: number, tmfTimeoutMs: number, hooks: EscalationHooks): void {
  task.escalation = 1;
  const connection = ctx.connections.get(task.cid);
  if (connection === undefined || !connection.usable) {
    drop(ctx, task, hooks);
    return;
  }
  sendTaskManagement(ctx, TaskManagementFunction.AbortTask, { referencedTaskTag: task.itt }, {
    context: undefined,
    deadline: now + tmfTimeoutMs,
    internal: (response) => {
      // Completed meanwhile, or held because its connection was lost (the ABORT TASK failed with
      // it): recovery has the command now, there is nothing left to escalate.
      if (!ctx.tasks.get(task.itt) || task.phase !== "issued") return;
      // RFC 7143 §11.6.1: "task does not exist" means the target holds no such task any more.
      if (response === TaskManagementResponseCode.FunctionComplete || response === TaskManagementResponseCode.TaskDoesNotExist) {
        if (neverArrived(ctx, task)) {
          drop(ctx, task, hooks);
          return;
        }
        ctx.failTask(task, new TimeoutError(`${describeTask(task)} timed out after ${task.request.timeoutMs} ms and was aborted`, { kind: "command" }));
        return;
      }
      reset(ctx, task, now, tmfTimeoutMs, hooks);
    },
  });
}

function reset<C>(ctx: EscalationContext<C>, task: ScsiTask<C>, now: number, tmfTimeoutMs: number, hooks: EscalationHooks): void {
  task.escalation = 2;
  const connection = ctx.connections.get(task.cid);
  if (connection === undefined || !connection.usable) {
    drop(ctx, task, hooks);
    return;
  }
  const lun = task.request.lun;
  let itt = 0;
  itt = sendTaskManagement(ctx, TaskManagementFunction.LogicalUnitReset, { lun }, {
    context: undefined,
    deadline: now + tmfTimeoutMs,
    internal: (response) => {
      if (response === TaskManagementResponseCode.FunctionComplete) {
        // Every task of the LUN is gone on the target: the stuck one fails, the others that are
        // safe to repeat go again (we caused their loss), the rest fail as aborted.
        const tmf = { kind: "tmf", function: TaskManagementFunction.LogicalUnitReset, lun, itt } as TaskManagementTask<C>;
        for (const other of tasksEndedBy(ctx, tmf)) {
          if (other === task) continue;
          if (other.request.retry === "safe") hooks.requeue(other as ScsiTask<unknown>);
          else ctx.failTask(other, new AbortedError(`${describeTask(other)} was aborted by a LOGICAL UNIT RESET for a stuck command`));
        }
        if (ctx.tasks.get(task.itt)) {
          if (neverArrived(ctx, task)) {
            drop(ctx, task, hooks);
            return;
          }
          ctx.failTask(task, new TimeoutError(`${describeTask(task)} timed out after ${task.request.timeoutMs} ms; LOGICAL UNIT RESET cleared it`, { kind: "command" }));
        }
        return;
      }
      if (ctx.tasks.get(task.itt) && task.phase === "issued") drop(ctx, task, hooks);
    },
  });
}

/**
 * The command never reached the target: its ExpCmdSN is still at or below the command's CmdSN.
 * At ERL 0 the target then waits for that CmdSN forever and holds every later command (RFC 7143
 * §4.2.2.1, commands are delivered in order). Aborting cannot plug the hole; reinstating the
 * session does (tgtd answers "task does not exist" and keeps waiting, seen in tests).
 */
function neverArrived<C>(ctx: EscalationContext<C>, task: ScsiTask<C>): boolean {
  return !serialGt(ctx.window.expected, task.cmdSN);
}

function drop<C>(ctx: EscalationContext<C>, task: ScsiTask<C>, hooks: EscalationHooks): void {
  task.escalation = 3;
  hooks.dropConnection(
    task.cid,
    new TimeoutError(`${describeTask(task)} timed out after ${task.request.timeoutMs} ms; neither ABORT TASK nor LOGICAL UNIT RESET cleared it`, {
      kind: "command",
    }),
  );
}

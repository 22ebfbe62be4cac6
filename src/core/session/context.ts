import type { HashFunction } from "../auth/hash.js";
import type { Crc32c } from "../digest/crc32c.js";
import type { IscsiError } from "../errors.js";
import type { ChapCredentials } from "../login/initiator.js";
import type { Pdu } from "../pdu/types.js";
import { DEFAULT_SESSION_PARAMETERS, type OperationalProposal, type SessionParameters } from "../text/parameters.js";
import type { CommandBatching } from "./batching.js";
import type { SessionEvent } from "./command.js";
import type { Connection } from "./connection.js";
import { SessionMachine } from "./machine.js";
import { chooseConnection, type ConnectionPolicy, DEFAULT_CONNECTION_POLICY } from "./policy.js";
import type { RecoverySettings } from "./recovery.js";
import type { ScsiTask, Task, TextTask } from "./task.js";
import { TaskTable } from "./task.js";
import { TaskTimer, TimerTable } from "./timers.js";
import { CommandWindow } from "./window.js";

/** Host services the core needs but cannot own (injected). */
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
  /** Milliseconds allowed for a whole login (connect included); default 15 s. */
  readonly loginTimeoutMs?: number;
  /** Milliseconds allowed for a logout; default 10 s. */
  readonly logoutTimeoutMs?: number;
  /** Milliseconds a ping or text exchange may take before it fails; default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Milliseconds allowed for a task management function before escalating; default 10 s. */
  readonly taskManagementTimeoutMs?: number;
  /** Session recovery after a connection loss (RFC 7143 §6.3.5); on by default for Normal sessions. */
  readonly recovery?: Partial<RecoverySettings>;
  /**
   * How new commands are spread over the session's connections (MC/S): "least-queue-depth" (the
   * default) or "round-robin". See policy.ts.
   */
  readonly connectionPolicy?: ConnectionPolicy;
  /**
   * Whether new commands may wait at queue depth to leave several to a write (batching.ts):
   * `false` writes each at once; absent, DEFAULT_COMMAND_BATCHING.
   */
  readonly commandBatching?: CommandBatching | false;
  /** Called for each PDU sent and received (the CLI's -v trace). */
  readonly trace?: (direction: "send" | "receive", cid: number, pdu: Pdu) => void;
}

export const DEFAULT_KEEPALIVE: KeepAliveSettings = { intervalMs: 5_000, timeoutMs: 15_000 };
export const EMPTY = new Uint8Array(0);

/**
 * What the data path (datapath.ts) sees of its session: the task table, the command window, the
 * negotiated parameters, the task deadlines and the event queue. Not the connections, the
 * session's state or its recovery.
 */
export type DataPathContext<C> = Pick<SessionContext<C>, "tasks" | "window" | "params" | "attach" | "detach" | "arm" | "forget" | "failTask" | "emit">;

/**
 * What control requests (control.ts: NOP, task management, text, Reject) see of their session:
 * the tasks and window, the connections to choose one from, the request timeout and the timers
 * (a keep-alive NOP-In moves the connection's keep-alive). Not the session's state or recovery.
 */
export type ControlContext<C> = Pick<
  SessionContext<C>,
  "tasks" | "window" | "config" | "connections" | "pickConnection" | "arm" | "forget" | "failTask" | "emit" | "wasExpired" | "timers"
>;

/** What escalation (escalation.ts) sees: what control requests see, and the tags of expired requests. */
export type EscalationContext<C> = ControlContext<C> & Pick<SessionContext<C>, "expire">;

/**
 * The state every part of a session shares: its state machine, tasks, the command window, the
 * queue of commands waiting for it, connections, parameters, timers and the event queue. The
 * orchestration modules (login, logout, recovery) hold this object; the data path, control
 * requests and escalation see only the narrow views above. `Session` is the public face that
 * wires them to connections.
 */
export class SessionContext<C> {
  tsih = 0;
  /** The session's state and what moves it (machine.ts). */
  readonly machine = new SessionMachine();
  params: SessionParameters = DEFAULT_SESSION_PARAMETERS;
  readonly window: CommandWindow;
  readonly tasks = new TaskTable<C>();
  /** Non-immediate SCSI and text tasks waiting for the window (or a connection) to open. */
  private pending: Array<ScsiTask<C> | TextTask<C> | undefined> = [];
  private pendingHead = 0;
  readonly connections = new Map<number, Connection>();
  private readonly events: Array<SessionEvent<C> | undefined> = [];
  private eventHead = 0;
  /** The CID chosen for the last command: where round robin takes its next turn. */
  private lastCid = -1;
  private readonly policy: ConnectionPolicy;
  /** Every deadline of the session, its connections and its tasks (timers.ts). */
  readonly timers = new TimerTable<Task<C>>();
  /** Tags of pings and text exchanges that timed out: a late answer to one is dropped quietly. */
  private readonly expired = new Set<number>();

  /** Remembers a timed-out tag (bounded: the oldest are forgotten). */
  expire(itt: number): void {
    if (this.expired.size >= 1024) this.expired.delete(this.expired.values().next().value as number);
    this.expired.add(itt);
  }

  /** True (once) when `itt` belongs to a request that timed out. */
  wasExpired(itt: number): boolean {
    return this.expired.delete(itt);
  }

  constructor(
    readonly config: SessionConfig,
    readonly deps: SessionDeps,
    initialCmdSN: number,
  ) {
    this.window = new CommandWindow(initialCmdSN);
    this.policy = config.connectionPolicy ?? DEFAULT_CONNECTION_POLICY;
  }

  emit(event: SessionEvent<C>): void {
    this.events.push(event);
  }

  nextEvent(): SessionEvent<C> | undefined {
    if (this.eventHead >= this.events.length) {
      if (this.eventHead > 0) {
        this.events.length = 0;
        this.eventHead = 0;
      }
      return undefined;
    }
    const event = this.events[this.eventHead];
    this.events[this.eventHead] = undefined;
    this.eventHead++;
    return event;
  }

  get hasPending(): boolean {
    return this.pendingHead < this.pending.length;
  }

  enqueue(task: ScsiTask<C> | TextTask<C>): void {
    this.pending.push(task);
  }

  /** Takes the oldest waiting task, or undefined. */
  dequeue(): ScsiTask<C> | TextTask<C> | undefined {
    while (this.pendingHead < this.pending.length) {
      const task = this.pending[this.pendingHead];
      this.pending[this.pendingHead] = undefined;
      this.pendingHead++;
      if (task !== undefined) {
        this.compact();
        return task;
      }
    }
    this.compact();
    return undefined;
  }

  /** Removes a task from the waiting queue (it timed out or was failed). */
  unqueue(task: ScsiTask<C> | TextTask<C>): void {
    const at = this.pending.indexOf(task, this.pendingHead);
    if (at >= 0) this.pending[at] = undefined;
  }

  /** Every waiting task, oldest first, and empties the queue. */
  drainQueue(): Array<ScsiTask<C> | TextTask<C>> {
    const out: Array<ScsiTask<C> | TextTask<C>> = [];
    for (let i = this.pendingHead; i < this.pending.length; i++) {
      const task = this.pending[i];
      if (task !== undefined) out.push(task);
    }
    this.pending = [];
    this.pendingHead = 0;
    return out;
  }

  private compact(): void {
    if (this.pendingHead === this.pending.length) {
      this.pending.length = 0;
      this.pendingHead = 0;
    } else if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
  }

  /**
   * A logged-in connection for the next command or request, chosen by the session's policy
   * (MC/S); undefined when none is usable (closed, logging in or out, the session recovering).
   */
  pickConnection(): Connection | undefined {
    if (this.connections.size === 1) {
      const only = this.connections.values().next().value as Connection;
      return only.usable ? only : undefined;
    }
    const chosen = chooseConnection(this.connections.values(), this.policy, this.lastCid);
    if (chosen !== undefined) this.lastCid = chosen.cid;
    return chosen;
  }

  /** A SCSI task is now outstanding on `connection`: counted in its queue depth and commands. */
  attach(task: ScsiTask<C>, connection: Connection): void {
    this.detach(task);
    const counters = connection.counters;
    counters.outstanding++;
    counters.commands++;
    task.load = counters;
  }

  /** A SCSI task leaves its connection's queue depth (completed, failed, held or queued again). */
  detach(task: ScsiTask<C>): void {
    const load = task.load;
    if (load === undefined) return;
    load.outstanding--;
    task.load = undefined;
  }

  liveConnections(): number {
    let n = 0;
    for (const c of this.connections.values()) if (!c.closed) n++;
    return n;
  }

  /** Arms a task's deadline in the timer table (re-arming replaces the one of that kind). */
  arm(task: Task<C>, timer: TaskTimer, at: number): void {
    const timers = this.timers;
    switch (task.kind) {
      case "scsi":
        if (timer === TaskTimer.Budget) {
          timers.cancel(task.budgetTimer);
          task.budgetTimer = timers.schedule(timer, task, at);
        } else {
          timers.cancel(task.attemptTimer);
          task.attemptTimer = timers.schedule(timer, task, at);
        }
        return;
      case "ping":
      case "tmf":
      case "text":
        timers.cancel(task.timer);
        task.timer = timers.schedule(timer, task, at);
        return;
      case "logout":
        return;
    }
  }

  /** Cancels every deadline of a task (it completed, failed or was answered). */
  disarm(task: Task<C>): void {
    switch (task.kind) {
      case "scsi":
        this.timers.cancel(task.attemptTimer);
        this.timers.cancel(task.budgetTimer);
        task.attemptTimer = undefined;
        task.budgetTimer = undefined;
        return;
      case "ping":
      case "tmf":
      case "text":
        this.timers.cancel(task.timer);
        task.timer = undefined;
        return;
      case "logout":
        return;
    }
  }

  /** The task is done (answered or completed): it leaves the task table and the timer table. */
  forget(task: Task<C>): void {
    this.tasks.delete(task.itt);
    this.disarm(task);
  }

  /** Fails one task with `error`, whatever its kind, and forgets it. */
  failTask(task: Task<C>, error: IscsiError): void {
    this.forget(task);
    switch (task.kind) {
      case "scsi":
        this.detach(task);
        if (task.phase === "queued") this.unqueue(task);
        this.emit({ type: "command-failed", context: task.request.context, error });
        return;
      case "ping":
        if (!task.internal) this.emit({ type: "request-failed", context: task.context as C, error });
        return;
      case "tmf":
        if (task.internal === undefined) this.emit({ type: "request-failed", context: task.context as C, error });
        else task.internal(undefined);
        return;
      case "text":
        if (task.cid < 0) this.unqueue(task);
        // A renegotiation the session started for itself fails quietly: the connection keeps its parameters.
        if (task.renegotiation?.internal !== true) this.emit({ type: "request-failed", context: task.context, error });
        return;
      case "logout":
        return;
    }
  }

  /** Fails every task and empties the queue. */
  failAll(error: IscsiError): void {
    for (const task of [...this.tasks.values()]) this.failTask(task, error);
    this.pending = [];
    this.pendingHead = 0;
  }
}

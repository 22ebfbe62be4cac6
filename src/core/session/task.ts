import { type IscsiError, LocalProtocolError } from "../errors.js";
import { RESERVED_TAG } from "../pdu/opcodes.js";
import type { InitiatorRenegotiation } from "../text/renegotiation.js";
import type { CommandRequest } from "./command.js";
import type { Ranges } from "./coverage.js";
import type { ConnectionCounters } from "./policy.js";
import type { TimerHandle } from "./timers.js";

/** Where a SCSI task is in its life. */
export type ScsiTaskPhase =
  /** Waiting for the command window (or for a connection) to open. */
  | "queued"
  /** Sent; waiting for data transfers and status. */
  | "issued"
  /** Held after its connection was lost, waiting for the session to be reinstated. */
  | "held"
  /**
   * ERL 2: its connection was lost; the target keeps it, and a TASK REASSIGN on another
   * connection will move it there (RFC 7143 §6.2.2). `cid` is still the lost connection's.
   */
  | "reassigning";

/** A SCSI command the session carries (RFC 7143 §3.2.2: a task, named by its Initiator Task Tag). */
export interface ScsiTask<C> {
  readonly kind: "scsi";
  itt: number;
  readonly request: CommandRequest<C>;
  phase: ScsiTaskPhase;
  /** Connection allegiance (RFC 7143 §7.1.2), -1 while queued. */
  cid: number;
  /** The counters of the connection whose queue depth counts this task (context.ts attach/detach). */
  load: ConnectionCounters | undefined;
  cmdSN: number;
  /** Expected Data Transfer Length. */
  readonly transferLength: number;
  /** Data-In bookkeeping. */
  dataInBytes: number;
  /** Data-In ranges past a hole (coverage.ts); undefined while Data-In comes in order. */
  dataInAhead?: Ranges | undefined;
  nextDataSN: number;
  /** Data-Out bookkeeping: bytes sent so far, unsolicited and solicited. */
  dataOutBytes: number;
  /** Data-Out ranges sent past a hole (coverage.ts); undefined while R2Ts come in order. */
  dataOutAhead?: Ranges | undefined;
  /** Number of R2Ts received, to check R2TSN. */
  nextR2TSN: number;
  /** How many times the command was issued (re-issue after a reconnect counts). */
  attempts: number;
  /** Absolute deadline (ms) of the current attempt (escalation starts there), or undefined. */
  deadline: number | undefined;
  /** When the command's whole budget runs out (`budgetMs`), across attempts, or undefined. */
  readonly expiresAt: number | undefined;
  /** The entries of `deadline` and `expiresAt` in the session's timer table, while armed. */
  attemptTimer: TimerHandle | undefined;
  budgetTimer: TimerHandle | undefined;
  /** Why the command was first lost with its connection: what a final failure reports. */
  lostBecause: IscsiError | undefined;
  /** Time (ms) it was issued, for latency. */
  issuedAt: number;
  /**
   * How far a stuck command has been escalated: 0 none, 1 ABORT TASK sent, 2 LOGICAL UNIT RESET
   * sent, 3 its connection dropped for session recovery.
   */
  escalation: 0 | 1 | 2 | 3;
  /** Data offset the next new Data-In must carry (DataPDUInOrder), past discarded PDUs too. */
  nextOffset: number;
  /** ERL 1: DataSNs of Data-In PDUs discarded for a data digest error and asked for again. */
  missingDataSN: number[] | undefined;
  /**
   * ERL 2: moved to another connection by TASK REASSIGN; the target's R2TSN goes on from where it
   * was, past R2Ts lost with the old connection (RFC 7143 §11.8.2).
   */
  reassigned?: boolean;
  /** ERL 1: status already received while data is still being asked for again. */
  pendingStatus: { readonly status: number; readonly residualCount: number; readonly underflow: boolean; readonly overflow: boolean } | undefined;
}

/** A NOP-Out ping awaiting its NOP-In. */
export interface PingTask<C> {
  readonly kind: "ping";
  readonly itt: number;
  readonly cid: number;
  readonly sentAt: number;
  /** undefined for the session's own keep-alive pings. */
  readonly context: C | undefined;
  readonly internal: boolean;
  /** When a caller's ping is given up on (the keep-alive has its own timeout). */
  readonly deadline: number | undefined;
  /** The deadline's entry in the session's timer table, while armed. */
  timer?: TimerHandle | undefined;
}

export interface TaskManagementTask<C> {
  readonly kind: "tmf";
  readonly itt: number;
  readonly cid: number;
  readonly function: number;
  readonly referencedTaskTag: number;
  readonly lun: number;
  /** The caller's context; undefined for the session's own (escalation) requests. */
  readonly context: C | undefined;
  /** For the session's own requests: called with the response code, or undefined on failure. */
  readonly internal?: (response: number | undefined) => void;
  /** When the function is given up on (escalation), or undefined. */
  deadline: number | undefined;
  /** The deadline's entry in the session's timer table, while armed. */
  timer?: TimerHandle | undefined;
}

/** A Text Request exchange (SendTargets, renegotiation), possibly spanning several PDUs. */
export interface TextTask<C> {
  readonly kind: "text";
  readonly itt: number;
  cid: number;
  readonly context: C;
  /** When the exchange is given up on. */
  deadline: number | undefined;
  /** The deadline's entry in the session's timer table, while armed. */
  timer?: TimerHandle | undefined;
  /** The request text (sent in the first Text Request). */
  readonly request: Uint8Array;
  /** Response text gathered so far (C bit continuations). */
  readonly chunks: Uint8Array[];
  receivedBytes: number;
  /**
   * Set for a renegotiation (renegotiate.ts): the exchange must run on that connection and its
   * answer is applied to it. `internal` for the session's own after a target's AsyncEvent 4:
   * nobody outside waits for it (`context` is unused).
   */
  readonly renegotiation?: { readonly cid: number; readonly negotiation: InitiatorRenegotiation; readonly internal: boolean };
}

export interface LogoutTask {
  readonly kind: "logout";
  readonly itt: number;
  readonly cid: number;
  readonly reason: number;
}

export type Task<C> = ScsiTask<C> | PingTask<C> | TaskManagementTask<C> | TextTask<C> | LogoutTask;

/** The task table's first size: room for 32 commands in flight before it grows. */
const MIN_SLOTS = 64;

/**
 * The session's tasks by Initiator Task Tag. ITTs are unique per session (RFC 7143 §11.2.1.8).
 *
 * An open-addressed table in a plain array, not a Map (core/int-map.ts says why, with figures):
 * we choose the tags, so `allocate` skips any tag whose slot (tag & mask) is taken, and every
 * task has a slot of its own, found in one step. With a Map here, each young collection at 4 KiB
 * QD32 promoted about 2.5 MB (5 to 7 ms); with this table nothing (0.4 ms).
 */
export class TaskTable<C> {
  /** The task in each slot; a power of two long, at most half full. */
  private slots: Array<Task<C> | undefined> = new Array<Task<C> | undefined>(MIN_SLOTS).fill(undefined);
  /** When each slot's task was added: `values()` keeps the order of insertion, as a Map did. */
  private added: number[] = new Array<number>(MIN_SLOTS).fill(0);
  private mask = MIN_SLOTS - 1;
  private count = 0;
  private nextTag: number;
  private nextAdded = 0;

  constructor(firstTag = 1) {
    this.nextTag = firstTag >>> 0;
  }

  get size(): number {
    return this.count;
  }

  /** A fresh tag: never the reserved 0xffffffff, never one in use, and one whose slot is free. */
  allocate(): number {
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    for (let tries = 0; tries < 0x1_0000; tries++) {
      const tag = this.nextTag;
      this.nextTag = (this.nextTag + 1) >>> 0;
      if (tag === RESERVED_TAG) continue;
      if (this.slots[tag & this.mask] === undefined) return tag;
    }
    throw new LocalProtocolError("no free Initiator Task Tag: too many tasks outstanding");
  }

  add(task: Task<C>): void {
    if (this.get(task.itt) !== undefined) throw new LocalProtocolError(`Initiator Task Tag 0x${task.itt.toString(16)} is in use`);
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    // Two tags allocated before either was added may share a slot: a larger table parts them
    // (distinct tags differ in some low bit).
    while (this.slots[task.itt & this.mask] !== undefined) this.grow();
    const slot = task.itt & this.mask;
    this.slots[slot] = task;
    this.added[slot] = this.nextAdded++;
    this.count++;
  }

  get(itt: number): Task<C> | undefined {
    const task = this.slots[itt & this.mask];
    return task !== undefined && task.itt === itt ? task : undefined;
  }

  delete(itt: number): void {
    const slot = itt & this.mask;
    const task = this.slots[slot];
    if (task === undefined || task.itt !== itt) return;
    this.slots[slot] = undefined;
    this.count--;
  }

  /** The tasks in the order they were added (recovery and task management walk them; not per I/O). */
  values(): IterableIterator<Task<C>> {
    const taken: number[] = [];
    for (let slot = 0; slot < this.slots.length; slot++) if (this.slots[slot] !== undefined) taken.push(slot);
    taken.sort((a, b) => (this.added[a] as number) - (this.added[b] as number));
    return taken.map((slot) => this.slots[slot] as Task<C>).values();
  }

  /** Re-keys a task under a new tag (re-issue after reconnect uses fresh tags). */
  retag(task: ScsiTask<C>, newTag: number): void {
    this.delete(task.itt);
    task.itt = newTag;
    this.add(task);
  }

  /** Doubles the table. Tasks in distinct slots stay in distinct slots (their low bits differ). */
  private grow(): void {
    const slots = this.slots;
    const added = this.added;
    const size = slots.length * 2;
    this.slots = new Array<Task<C> | undefined>(size).fill(undefined);
    this.added = new Array<number>(size).fill(0);
    this.mask = size - 1;
    for (let slot = 0; slot < slots.length; slot++) {
      const task = slots[slot];
      if (task === undefined) continue;
      this.slots[task.itt & this.mask] = task;
      this.added[task.itt & this.mask] = added[slot] as number;
    }
  }
}

import { type IscsiError, LocalProtocolError } from "../errors.js";
import { IntMap } from "../int-map.js";
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

/**
 * The session's tasks by Initiator Task Tag. ITTs are unique per session (RFC 7143 §11.2.1.8).
 * An IntMap, not a Map: with a Map here, each young collection at 4 KiB QD32 promoted about
 * 2.5 MB (5 to 7 ms); with the IntMap nothing (0.4 ms). core/int-map.ts says why.
 */
export class TaskTable<C> {
  private readonly byTag = new IntMap<Task<C>>(64);
  private nextTag: number;

  constructor(firstTag = 1) {
    this.nextTag = firstTag >>> 0;
  }

  get size(): number {
    return this.byTag.size;
  }

  /** A fresh tag: never the reserved 0xffffffff, never one in use. */
  allocate(): number {
    for (let tries = 0; tries < 0x1_0000; tries++) {
      const tag = this.nextTag;
      this.nextTag = (this.nextTag + 1) >>> 0;
      if (tag === RESERVED_TAG) continue;
      if (!this.byTag.has(tag)) return tag;
    }
    throw new LocalProtocolError("no free Initiator Task Tag: too many tasks outstanding");
  }

  add(task: Task<C>): void {
    if (this.byTag.has(task.itt)) throw new LocalProtocolError(`Initiator Task Tag 0x${task.itt.toString(16)} is in use`);
    this.byTag.set(task.itt, task);
  }

  get(itt: number): Task<C> | undefined {
    return this.byTag.get(itt);
  }

  delete(itt: number): void {
    this.byTag.delete(itt);
  }

  /** The tasks in the order they were added (recovery and task management walk them; not per I/O). */
  values(): IterableIterator<Task<C>> {
    return this.byTag.values();
  }

  /** Re-keys a task under a new tag (re-issue after reconnect uses fresh tags). */
  retag(task: ScsiTask<C>, newTag: number): void {
    this.byTag.delete(task.itt);
    task.itt = newTag;
    this.byTag.set(newTag, task);
  }
}

/**
 * A logical unit at run time: its definition, and the order in which its commands reach storage.
 *
 * SAM-5 task attributes: SIMPLE tasks run concurrently (their storage requests overlap; the
 * backend may finish them in any order, as a disk would); an ORDERED task runs alone, after every
 * task before it and before every task after it; HEAD OF QUEUE runs at once. COMPARE AND WRITE
 * takes the unit the same way an ORDERED task does, which is what makes its read-compare-write
 * atomic with respect to every other command on the unit (SBC-3 §5.2).
 */
import { LocalProtocolError } from "../../../core/errors.js";
import type { ResolvedLun } from "../config.js";
import type { UnitRef } from "../storage.js";

/** What the device server tells about its limits (Block Limits VPD page), fixed per unit. */
export interface UnitLimits {
  /** Bytes in one READ/WRITE. */
  readonly maxTransferBytes: number;
  /** Blocks in one COMPARE AND WRITE. */
  readonly maxCompareAndWriteBlocks: number;
  readonly maxUnmapBlocks: number;
  readonly maxUnmapDescriptors: number;
  readonly maxWriteSameBlocks: number;
}

function limitsOf(def: ResolvedLun, maxTransferBytes: number): UnitLimits {
  const bs = def.blockSize;
  return {
    maxTransferBytes,
    maxCompareAndWriteBlocks: Math.min(255, Math.floor(maxTransferBytes / (2 * bs))),
    // 1 Mi blocks per UNMAP: large enough for any initiator, small enough for the sanity bound
    // initiators (libiscsi's compliance tests) check.
    maxUnmapBlocks: Math.min(1024 * 1024, def.blocks),
    maxUnmapDescriptors: 256,
    // As much as one WRITE moves: initiators (libiscsi's tests among them) check a WRITE SAME
    // range by writing it first, within MAXIMUM WRITE SAME LENGTH but not always MAXIMUM TRANSFER LENGTH.
    maxWriteSameBlocks: Math.floor(maxTransferBytes / bs),
  };
}

export interface UnitTicket {
  readonly exclusive: boolean;
  readonly start: () => void;
  state: "queued" | "running" | "released";
}

export class LogicalUnit {
  readonly def: ResolvedLun;
  readonly ref: UnitRef;
  readonly #queue: UnitTicket[] = [];
  #running = 0;
  #exclusiveRunning = false;

  readonly limits: UnitLimits;

  constructor(target: string, def: ResolvedLun, maxTransferBytes: number) {
    this.def = def;
    this.ref = { target, lun: def.lun, index: def.index };
    this.limits = limitsOf(def, maxTransferBytes);
  }

  /** Bytes of capacity. */
  get size(): number {
    return this.def.blocks * this.def.blockSize;
  }

  /** Tasks waiting for their turn. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Tasks holding the unit. */
  get running(): number {
    return this.#running;
  }

  /** A ticket for a task: hand it to `enqueue` once the task knows it (it may start at once). */
  ticket(exclusive: boolean, start: () => void): UnitTicket {
    return { exclusive, start, state: "queued" };
  }

  /**
   * Queues a task; its `start` runs (maybe at once, before this returns) when its turn comes.
   * `headOfQueue` skips the queue (SAM-5 HEAD OF QUEUE), but never overtakes an exclusive task.
   */
  enqueue(ticket: UnitTicket, headOfQueue = false): void {
    if (ticket.state !== "queued") throw new LocalProtocolError(`a ${ticket.state} ticket cannot be queued`);
    if (headOfQueue && !ticket.exclusive && !this.#exclusiveRunning) {
      this.#run(ticket);
      return;
    }
    this.#queue.push(ticket);
    this.#pump();
  }

  /** The task is done with the unit (finished, or aborted). Idempotent. */
  release(ticket: UnitTicket): void {
    if (ticket.state === "released") return;
    if (ticket.state === "queued") {
      const at = this.#queue.indexOf(ticket);
      if (at >= 0) this.#queue.splice(at, 1);
      ticket.state = "released";
      this.#pump();
      return;
    }
    ticket.state = "released";
    this.#running--;
    if (ticket.exclusive) this.#exclusiveRunning = false;
    this.#pump();
  }

  #pump(): void {
    while (this.#queue.length > 0 && !this.#exclusiveRunning) {
      const next = this.#queue[0] as UnitTicket;
      if (next.exclusive && this.#running > 0) return;
      this.#queue.shift();
      this.#run(next);
    }
  }

  #run(ticket: UnitTicket): void {
    ticket.state = "running";
    this.#running++;
    if (ticket.exclusive) this.#exclusiveRunning = true;
    ticket.start();
  }
}

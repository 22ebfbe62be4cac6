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

  constructor(target: string, def: ResolvedLun) {
    this.def = def;
    this.ref = { target, lun: def.lun, index: def.index };
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

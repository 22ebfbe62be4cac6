/**
 * ErrorRecoveryLevel 1 on one connection: what a SNACK may ask for again, kept until the
 * initiator acknowledges it (RFC 7143 §11.16.1).
 *
 * - Read data: a copy of each read's data, one piece per sequence (MaxBurstLength), so that a
 *   Data SNACK gets exact replicas of the Data-In PDUs (only ExpCmdSN and MaxCmdSN change) and a
 *   DataACK SNACK frees whole sequences. The copy matters: Data-In go out as views of the
 *   backend's memory, which a later write may change.
 * - Numbered responses: every PDU that took a StatSN (SCSI Response, Data-In with status, Reject,
 *   NOP-In, Text, Task Management and Logout Responses, Async Messages), for Status SNACKs.
 *
 * Both go when ExpStatSN passes the task's status (§4.2.2.2: the initiator has it). Memory is
 * bounded by a budget shared by the session's connections: what does not fit is not kept, and a
 * SNACK for it is answered as at ERL 0 (the connection is dropped), which `skipped*` tell.
 */
import { consumesStatSN } from "../../core/session/connection.js";
import { serialLt } from "../../core/serial.js";
import { Opcode } from "../../core/pdu/opcodes.js";
import type { TargetPdu } from "../../core/pdu/types.js";
import { type DataInOptions, dataInCount, dataInPiece } from "./data-in.js";

/** The bytes a session may keep for SNACKs, shared by its connections. */
export class RetentionBudget {
  readonly cap: number;
  #used = 0;

  constructor(cap: number) {
    this.cap = cap;
  }

  get used(): number {
    return this.#used;
  }

  take(bytes: number): boolean {
    if (this.#used + bytes > this.cap) return false;
    this.#used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}

/** A read kept for Data SNACKs. */
export interface KeptRead {
  readonly itt: number;
  readonly length: number;
  /** How its Data-In were made (layout, status with its StatSN, the DataACK tag). */
  readonly options: DataInOptions;
  /** PDUs it was sent in. */
  readonly count: number;
  /** DataSN below which the initiator acknowledged the data (DataACK): freed, not resent. */
  readonly ackedBelow: number;
  /** The payload of Data-In `offset..end` (inside one sequence). */
  slice(offset: number, end: number): Uint8Array;
}

/** Fixed cost of a kept PDU, so that many small ones count too. */
const PDU_COST = 64;
/** ITTs and StatSNs remembered as "not kept" (beyond these a SNACK is simply refused). */
const SKIPPED_MEMORY = 1024;

class Read implements KeptRead {
  readonly itt: number;
  readonly length: number;
  readonly options: DataInOptions;
  readonly count: number;
  readonly pieces: Array<Uint8Array | undefined>;
  ackedBelow = 0;
  /** The StatSN its status went out with; it is released when that is acknowledged. */
  statSN: number | undefined;

  constructor(itt: number, data: Uint8Array, options: DataInOptions) {
    this.itt = itt;
    this.length = data.length;
    this.options = options;
    this.count = dataInCount(data.length, options.maxSegment, options.maxBurst);
    this.pieces = [];
    for (let at = 0; at < data.length; at += options.maxBurst) this.pieces.push(data.slice(at, Math.min(data.length, at + options.maxBurst)));
    this.statSN = options.status?.statSN;
  }

  get bytes(): number {
    let n = 0;
    for (const piece of this.pieces) n += piece?.length ?? 0;
    return n;
  }

  slice(offset: number, end: number): Uint8Array {
    const burst = this.options.maxBurst;
    const index = Math.floor(offset / burst);
    const piece = this.pieces[index];
    if (piece === undefined) return new Uint8Array(0);
    return piece.subarray(offset - index * burst, end - index * burst);
  }
}

function remember(set: Set<number>, value: number): void {
  set.delete(value);
  set.add(value);
  if (set.size > SKIPPED_MEMORY) set.delete(set.values().next().value as number);
}

export class Retention {
  readonly #budget: RetentionBudget;
  readonly #reads = new Map<number, Read>();
  /** DataACK Target Transfer Tag -> ITT. */
  readonly #byTag = new Map<number, number>();
  /** Numbered responses by StatSN, in the order sent (so acknowledging walks from the start). */
  readonly #statuses = new Map<number, { readonly pdu: TargetPdu; readonly cost: number }>();
  readonly #skippedTasks = new Set<number>();
  readonly #skippedStatus = new Set<number>();
  #skips = 0;
  /** Whether the last thing offered was not kept: `first` is true once per run of them. */
  #skipping = false;
  readonly #onSkip: ((what: string, first: boolean) => void) | undefined;

  /** `onSkip` hears of everything that could not be kept, `first` set once per run of them. */
  constructor(budget: RetentionBudget, onSkip?: (what: string, first: boolean) => void) {
    this.#budget = budget;
    this.#onSkip = onSkip;
  }

  /** Reads kept now. */
  get reads(): number {
    return this.#reads.size;
  }

  /** Numbered responses kept now. */
  get statuses(): number {
    return this.#statuses.size;
  }

  /** How many reads and responses were not kept for want of budget. */
  get skips(): number {
    return this.#skips;
  }

  /**
   * Keeps a copy of a read's data before its Data-In go out (they are then sent from the copy).
   * Returns undefined when the budget cannot hold it: the read goes out as at ERL 0.
   */
  keepRead(itt: number, data: Uint8Array, options: DataInOptions, allocateTag: () => number): KeptRead | undefined {
    this.#dropRead(itt);
    if (!this.#budget.take(data.length + PDU_COST)) {
      remember(this.#skippedTasks, itt);
      if (options.status !== undefined) remember(this.#skippedStatus, options.status.statSN);
      this.#skip(`the ${data.length} bytes read for ITT 0x${itt.toString(16)} were not kept`);
      return undefined;
    }
    this.#skipping = false;
    this.#skippedTasks.delete(itt);
    // RFC 7143 §11.7.2: ask for DataACK only when there is more than one sequence to free.
    const ackTag = data.length > options.maxBurst ? allocateTag() : undefined;
    const read = new Read(itt, data, ackTag === undefined ? options : { ...options, ackTag });
    this.#reads.set(itt, read);
    if (ackTag !== undefined) this.#byTag.set(ackTag, itt);
    return read;
  }

  /** The connection sent `pdu`: a numbered response is kept by its StatSN. */
  sent(pdu: TargetPdu): void {
    if (!consumesStatSN(pdu)) return;
    const statSN = (pdu as { readonly statSN: number }).statSN;
    if (this.#statuses.has(statSN)) return; // a retransmission: already kept
    const itt = pdu.opcode === Opcode.DataIn || pdu.opcode === Opcode.ScsiResponse ? pdu.initiatorTaskTag : undefined;
    const read = itt === undefined ? undefined : this.#reads.get(itt);
    if (read !== undefined) read.statSN = statSN;
    // A Data-In's payload is the read's copy, already counted.
    const cost = PDU_COST + (pdu.opcode === Opcode.DataIn && read !== undefined ? 0 : "data" in pdu ? pdu.data.length : "sense" in pdu ? pdu.sense.length : 0);
    if (pdu.opcode === Opcode.DataIn && read === undefined) {
      // The status of a read that was not kept: its data cannot be sent again either.
      remember(this.#skippedStatus, statSN);
      return;
    }
    if (!this.#budget.take(cost)) {
      remember(this.#skippedStatus, statSN);
      this.#skip(`the response with StatSN ${statSN} was not kept`);
      return;
    }
    this.#skipping = false;
    this.#statuses.set(statSN, { pdu, cost });
  }

  #skip(what: string): void {
    this.#skips++;
    const first = !this.#skipping;
    this.#skipping = true;
    this.#onSkip?.(what, first);
  }

  /** RFC 7143 §4.2.2.2: ExpStatSN acknowledges every status below it; what they held goes. */
  acknowledge(expStatSN: number): void {
    for (const [statSN, kept] of this.#statuses) {
      if (!serialLt(statSN, expStatSN)) break;
      this.#statuses.delete(statSN);
      this.#budget.give(kept.cost);
      const pdu = kept.pdu;
      if (pdu.opcode === Opcode.DataIn || pdu.opcode === Opcode.ScsiResponse) {
        const read = this.#reads.get(pdu.initiatorTaskTag);
        if (read !== undefined && read.statSN === statSN) this.#dropRead(read.itt);
      }
    }
  }

  read(itt: number): KeptRead | undefined {
    return this.#reads.get(itt);
  }

  status(statSN: number): TargetPdu | undefined {
    return this.#statuses.get(statSN)?.pdu;
  }

  /** The read was not kept (over budget): a SNACK for it can only be answered as at ERL 0. */
  skippedTask(itt: number): boolean {
    return this.#skippedTasks.has(itt);
  }

  skippedStatus(statSN: number): boolean {
    return this.#skippedStatus.has(statSN);
  }

  /**
   * RFC 7143 §11.16.3 DataACK: the initiator has every Data-In of the read tagged `ttt` below
   * `begRun`; whole sequences below it are freed. False if no kept read has that tag.
   */
  dataAck(ttt: number, begRun: number): boolean {
    const itt = this.#byTag.get(ttt);
    const read = itt === undefined ? undefined : this.#reads.get(itt);
    if (read === undefined) return false;
    if (begRun <= read.ackedBelow) return true;
    read.ackedBelow = Math.min(begRun, read.count);
    const o = read.options;
    for (let i = 0; i < read.pieces.length; i++) {
      const piece = read.pieces[i];
      if (piece === undefined) continue;
      // The sequence's last PDU: freed when it is below the acknowledged DataSN.
      const end = Math.min(read.length, (i + 1) * o.maxBurst);
      const lastSN = dataInCount(end, o.maxSegment, o.maxBurst) - 1;
      if (lastSN >= read.ackedBelow) break;
      read.pieces[i] = undefined;
      this.#budget.give(piece.length);
    }
    return true;
  }

  /** Whether Data-In `dataSN` of a kept read can still be sent (not freed by a DataACK). */
  static available(read: KeptRead, dataSN: number): boolean {
    const o = read.options;
    return dataSN >= read.ackedBelow && dataInPiece(read.length, o.maxSegment, o.maxBurst, dataSN) !== undefined;
  }

  #dropRead(itt: number): void {
    const read = this.#reads.get(itt);
    if (read === undefined) return;
    this.#reads.delete(itt);
    if (read.options.ackTag !== undefined) this.#byTag.delete(read.options.ackTag);
    this.#budget.give(read.bytes + PDU_COST);
  }

  /**
   * ERL 2: the SCSI statuses sent and not acknowledged, with the read data kept beside them, in
   * StatSN order. A lost connection hands them to its session before `clear`, so that a TASK
   * REASSIGN on another connection can send them again (RFC 7143 §6.2.2, §11.5.1).
   */
  unacknowledgedTasks(): Array<{ readonly itt: number; readonly status: TargetPdu; readonly read: KeptRead | undefined }> {
    const out = [];
    for (const { pdu } of this.#statuses.values()) {
      if (pdu.opcode === Opcode.ScsiResponse || (pdu.opcode === Opcode.DataIn && pdu.hasStatus)) {
        out.push({ itt: pdu.initiatorTaskTag, status: pdu, read: this.#reads.get(pdu.initiatorTaskTag) });
      }
    }
    return out;
  }

  /** The connection is gone: everything it kept is freed (ERL 1 has no connection recovery). */
  clear(): void {
    for (const itt of [...this.#reads.keys()]) this.#dropRead(itt);
    for (const kept of this.#statuses.values()) this.#budget.give(kept.cost);
    this.#statuses.clear();
    this.#byTag.clear();
  }
}

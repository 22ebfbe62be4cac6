/**
 * The write side of one SCSI command (RFC 7143 §3.2.4.2, §11.7, §11.8): immediate data in the
 * command PDU, unsolicited Data-Out up to FirstBurstLength, then solicited data, one R2T per burst
 * of at most MaxBurstLength with at most MaxOutstandingR2T outstanding. Every Data-Out is checked
 * against the sequence it belongs to (Target Transfer Tag, DataSN, Buffer Offset, F bit); a PDU
 * that breaks the rules is a RemoteProtocolError naming the field and value.
 *
 * The data goes into one buffer, by offset: the framer places each Data-Out payload there
 * directly when `expects()` says it is the next piece of a sequence, so the bytes are copied once,
 * from the socket's chunk into the buffer the backend write then uses. The buffer may be shorter
 * than the Expected Data Transfer Length (the target bounds it by its largest transfer): what the
 * command needs always fits, and bytes the initiator sends past the buffer are counted and dropped.
 *
 * DataPDUInOrder=Yes and DataSequenceInOrder=Yes (the engine's policy) make every sequence a
 * contiguous, in-order range, so "received" is a count per sequence, not a set of ranges.
 *
 * At ErrorRecoveryLevel 1 a Data-Out whose data digest failed still counts in its sequence (its
 * header is sound: DataSN, offset and F bit hold), but its range is remembered as missing and asked
 * for again with a recovery R2T (RFC 7143 §7.8, §11.8: the next unused R2TSN, a range an earlier
 * R2T or the unsolicited data already covered) once the sequence it belonged to has ended.
 */
import { LocalProtocolError, RemoteProtocolError } from "../../core/errors.js";
import { hex } from "../../core/hex.js";
import { RESERVED_TAG } from "../../core/pdu/opcodes.js";
import type { DataOutPdu } from "../../core/pdu/types.js";

export interface WriteLimits {
  readonly immediateData: boolean;
  readonly initialR2T: boolean;
  readonly firstBurstLength: number;
  readonly maxBurstLength: number;
  readonly maxOutstandingR2T: number;
}

/** An R2T to send: the caller fills in the PDU's other fields. */
export interface R2TPlan {
  readonly targetTransferTag: number;
  readonly r2tSN: number;
  readonly offset: number;
  readonly length: number;
  /** A recovery R2T: data that arrived damaged, asked for again (ERL 1). */
  readonly recovery: boolean;
}

interface Sequence {
  readonly ttt: number;
  /** The R2TSN of the R2T that opened it (-1 for the unsolicited sequence). */
  readonly r2tSN: number;
  readonly offset: number;
  readonly length: number;
  readonly recovery: boolean;
  received: number;
  nextDataSN: number;
}

/** A range of the buffer whose Data-Out arrived damaged, to ask for again. */
interface Missing {
  readonly offset: number;
  readonly length: number;
}

export type DataOutOutcome =
  /** More data of this command is on its way. */
  | "partial"
  /** This PDU ended a sequence (unsolicited, or one R2T's): the caller may solicit more. */
  | "sequence-done";

export class WriteTransfer {
  readonly itt: number;
  /** Expected Data Transfer Length of the command. */
  readonly length: number;
  /** Where the data goes (at most `length` bytes). */
  readonly buffer: Uint8Array;
  readonly #limits: WriteLimits;
  /** The unsolicited sequence (immediate data counts as its start), while it is open. */
  #unsolicited: Sequence | undefined;
  /** Bytes of the buffer's prefix that arrived unsolicited (immediate data included). */
  #unsolicitedBytes: number;
  /** How many bytes the command needs (set by `solicit`); undefined until it is delivered. */
  #wanted: number | undefined;
  #nextOffset = 0;
  #nextR2TSN = 0;
  readonly #outstanding = new Map<number, Sequence>();
  /** Ranges that arrived damaged and are not yet asked for again, in the order they came. */
  readonly #missing: Missing[] = [];
  #r2tCount = 0;
  #recoveryR2Ts = 0;
  #dataOutBytes = 0;

  /**
   * `immediate` is the data segment of the SCSI Command PDU (already in `buffer` if the framer
   * placed it, else copied in here). `final` is the command's F bit: no unsolicited Data-Out
   * follows it.
   */
  constructor(
    command: { readonly itt: number; readonly length: number; readonly final: boolean; readonly immediate: Uint8Array; readonly immediatePlaced: boolean },
    buffer: Uint8Array,
    limits: WriteLimits,
  ) {
    this.itt = command.itt;
    this.length = command.length;
    this.buffer = buffer;
    this.#limits = limits;
    const where = (): string => `SCSI Command (ITT ${hex(command.itt)})`;
    const immediate = command.immediate.length;
    const unsolicitedLimit = Math.min(limits.firstBurstLength, command.length);
    if (immediate > 0) {
      // RFC 7143 §13.11: immediate data only when ImmediateData=Yes.
      if (!limits.immediateData) throw new RemoteProtocolError(`${where()}: ${immediate} bytes of immediate data with ImmediateData=No (RFC 7143 §13.11)`);
      // RFC 7143 §13.14: immediate data counts against FirstBurstLength.
      if (immediate > unsolicitedLimit) {
        throw new RemoteProtocolError(
          `${where()}: ${immediate} bytes of immediate data exceed min(FirstBurstLength ${limits.firstBurstLength}, Expected Data Transfer Length ${command.length}) (RFC 7143 §13.14)`,
        );
      }
      if (!command.immediatePlaced) store(buffer, command.immediate, 0);
    }
    this.#unsolicitedBytes = immediate;
    this.#dataOutBytes = immediate;
    if (!command.final) {
      // RFC 7143 §13.10: with InitialR2T=Yes no unsolicited Data-Out may follow the command.
      if (limits.initialR2T) throw new RemoteProtocolError(`${where()}: F bit clear (unsolicited Data-Out to follow) with InitialR2T=Yes (RFC 7143 §13.10)`);
      if (immediate >= unsolicitedLimit) {
        throw new RemoteProtocolError(`${where()}: F bit clear, but immediate data already fill min(FirstBurstLength, Expected Data Transfer Length) = ${unsolicitedLimit}`);
      }
      this.#unsolicited = { ttt: RESERVED_TAG, r2tSN: -1, offset: 0, length: unsolicitedLimit, recovery: false, received: immediate, nextDataSN: 0 };
    }
  }

  /** Whether unsolicited Data-Out is still expected. */
  get unsolicitedOpen(): boolean {
    return this.#unsolicited !== undefined;
  }

  /** R2Ts sent so far (counts toward ExpDataSN of the SCSI Response, RFC 7143 §11.4.8). */
  get r2tCount(): number {
    return this.#r2tCount;
  }

  /** Recovery R2Ts sent so far (ERL 1: data that arrived damaged, asked for again). */
  get recoveryR2TCount(): number {
    return this.#recoveryR2Ts;
  }

  /** Bytes of write data received intact (immediate and Data-Out). */
  get receivedBytes(): number {
    return this.#dataOutBytes;
  }

  /** All the data the command needs is in (and no sequence is still open). */
  get complete(): boolean {
    const wanted = this.#wanted;
    return (
      wanted !== undefined &&
      this.#unsolicited === undefined &&
      this.#outstanding.size === 0 &&
      this.#nextOffset >= wanted &&
      !this.#missing.some((m) => m.offset < Math.min(wanted, this.buffer.length))
    );
  }

  /** The R2Ts still waiting for data, for an R2T SNACK (RFC 7143 §11.16.1). */
  outstandingR2Ts(): R2TPlan[] {
    return [...this.#outstanding.values()].map((s) => ({ targetTransferTag: s.ttt, r2tSN: s.r2tSN, offset: s.offset, length: s.length, recovery: s.recovery }));
  }

  /** No Data-Out is expected any more (unsolicited closed, no R2T outstanding). */
  get quiet(): boolean {
    return this.#unsolicited === undefined && this.#outstanding.size === 0;
  }

  /**
   * The command was delivered and needs `wanted` bytes (at most the Expected Data Transfer
   * Length). Solicited data starts where the unsolicited data ended.
   */
  solicit(wanted: number): void {
    if (this.#wanted !== undefined) throw new LocalProtocolError(`write ITT ${hex(this.itt)}: solicit() called twice`);
    if (wanted > this.length) throw new LocalProtocolError(`write ITT ${hex(this.itt)}: wants ${wanted} bytes of ${this.length}`);
    this.#wanted = wanted;
  }

  /** Stops soliciting: the command failed or was aborted; data in flight is still drained. */
  abandon(): void {
    this.#wanted = 0;
  }

  /**
   * ERL 2: the task moved to another connection (TASK REASSIGN). Its outstanding R2Ts died with
   * the old one, and the initiator sends no more unsolicited data for it: what each open sequence
   * had not delivered is asked for again with R2Ts on the new connection (RFC 7143 §6.2.2, §11.5.1),
   * and data already received is kept, not asked for twice.
   */
  reassigned(): void {
    const unsolicited = this.#unsolicited;
    if (unsolicited !== undefined) {
      this.#unsolicitedBytes = unsolicited.received;
      this.#unsolicited = undefined;
    }
    const open = [...this.#outstanding.values()].sort((a, b) => a.offset - b.offset);
    this.#outstanding.clear();
    for (const seq of open) this.#reask(seq.offset + seq.received, seq.length - seq.received);
  }

  /** A range to ask for again, kept in offset order (reassignment may interleave with ERL 1's). */
  #reask(offset: number, length: number): void {
    if (length <= 0) return;
    const at = this.#missing.findIndex((m) => m.offset > offset);
    this.#missing.splice(at < 0 ? this.#missing.length : at, 0, { offset, length });
  }

  /**
   * The R2Ts to send now: while the unsolicited data is done, bytes are missing, and fewer than
   * MaxOutstandingR2T are outstanding (RFC 7143 §13.17), each for at most MaxBurstLength
   * (§13.13). `allocateTag` gives a fresh Target Transfer Tag.
   */
  planR2Ts(allocateTag: () => number): R2TPlan[] {
    const wanted = this.#wanted;
    if (wanted === undefined || this.#unsolicited !== undefined) return [];
    if (this.#nextOffset < this.#unsolicitedBytes) this.#nextOffset = this.#unsolicitedBytes;
    const out: R2TPlan[] = [];
    // Damaged data first: the command cannot complete without it. Only what the command needs
    // (and the buffer holds) is asked for again.
    const needed = Math.min(wanted, this.buffer.length);
    while (this.#missing.length > 0 && this.#outstanding.size < this.#limits.maxOutstandingR2T) {
      const missing = this.#missing[0] as Missing;
      const end = Math.min(missing.offset + missing.length, needed);
      if (missing.offset >= end) {
        this.#missing.shift();
        continue;
      }
      // RFC 7143 §13.13: an R2T asks for at most MaxBurstLength.
      const length = Math.min(this.#limits.maxBurstLength, end - missing.offset);
      if (length === missing.length) this.#missing.shift();
      else this.#missing[0] = { offset: missing.offset + length, length: missing.length - length };
      out.push(this.#open(allocateTag(), missing.offset, length, true));
      this.#recoveryR2Ts++;
    }
    while (this.#nextOffset < wanted && this.#outstanding.size < this.#limits.maxOutstandingR2T) {
      const length = Math.min(this.#limits.maxBurstLength, wanted - this.#nextOffset);
      out.push(this.#open(allocateTag(), this.#nextOffset, length, false));
      this.#nextOffset += length;
    }
    return out;
  }

  /** A damaged range: joined to the last one when they touch, and bounded in number. */
  #remember(offset: number, length: number, where: () => string): void {
    if (length === 0) return;
    const last = this.#missing[this.#missing.length - 1];
    if (last !== undefined && last.offset + last.length === offset) {
      this.#missing[this.#missing.length - 1] = { offset: last.offset, length: last.length + length };
      return;
    }
    if (this.#missing.length >= MAX_MISSING_RANGES) {
      throw new RemoteProtocolError(`${where()}: more than ${MAX_MISSING_RANGES} separate ranges of this command's data arrived damaged`);
    }
    this.#missing.push({ offset, length });
  }

  #open(ttt: number, offset: number, length: number, recovery: boolean): R2TPlan {
    const plan: R2TPlan = { targetTransferTag: ttt, r2tSN: this.#nextR2TSN, offset, length, recovery };
    this.#outstanding.set(ttt, { ttt, r2tSN: plan.r2tSN, offset, length, recovery, received: 0, nextDataSN: 0 });
    this.#nextR2TSN = (this.#nextR2TSN + 1) >>> 0;
    this.#r2tCount++;
    return plan;
  }

  /**
   * Whether a Data-Out with this TTT, offset and length is exactly the next piece of an open
   * sequence: the framer's placement hook asks before writing the payload into the buffer, so a
   * misplaced PDU never touches data already received.
   */
  expects(ttt: number, offset: number, length: number): boolean {
    const seq = ttt === RESERVED_TAG ? this.#unsolicited : this.#outstanding.get(ttt);
    return seq !== undefined && offset === seq.offset + seq.received && offset + length <= seq.offset + seq.length && offset + length <= this.buffer.length;
  }

  /**
   * Takes one Data-Out (RFC 7143 §11.7). `placed` says the framer already wrote the payload into
   * the buffer; otherwise it is copied here. `damaged` (ERL 1): its data digest failed, so its
   * bytes are not kept but its range is asked for again once its sequence ends.
   */
  accept(pdu: DataOutPdu, placed: boolean, damaged = false): DataOutOutcome {
    const where = () => `Data-Out (ITT ${hex(pdu.initiatorTaskTag)}, TTT ${hex(pdu.targetTransferTag)}, DataSN ${pdu.dataSN}, offset ${pdu.bufferOffset}, ${pdu.data.length} bytes)`;
    const unsolicited = pdu.targetTransferTag === RESERVED_TAG;
    const seq = unsolicited ? this.#unsolicited : this.#outstanding.get(pdu.targetTransferTag);
    if (seq === undefined) {
      throw new RemoteProtocolError(
        unsolicited
          ? `${where()}: unsolicited data, but the command's F bit closed the unsolicited sequence (or InitialR2T=Yes)`
          : `${where()}: no outstanding R2T has this Target Transfer Tag`,
      );
    }
    // RFC 7143 §11.7.5: DataSN counts the PDUs of the sequence from 0.
    if (pdu.dataSN !== seq.nextDataSN) throw new RemoteProtocolError(`${where()}: DataSN ${pdu.dataSN}, expected ${seq.nextDataSN}`);
    // DataPDUInOrder=Yes (RFC 7143 §13.18): each PDU continues where the last one ended.
    const expectedOffset = seq.offset + seq.received;
    if (pdu.bufferOffset !== expectedOffset) {
      throw new RemoteProtocolError(`${where()}: Buffer Offset ${pdu.bufferOffset}, expected ${expectedOffset} (DataPDUInOrder=Yes)`);
    }
    const end = pdu.bufferOffset + pdu.data.length;
    if (end > seq.offset + seq.length) {
      throw new RemoteProtocolError(
        unsolicited
          ? `${where()}: unsolicited data past min(FirstBurstLength, Expected Data Transfer Length) = ${seq.length} (RFC 7143 §13.14)`
          : `${where()}: data past the ${seq.recovery ? "recovery " : ""}R2T's range [${seq.offset}, ${seq.offset + seq.length})`,
      );
    }
    if (damaged) {
      this.#remember(pdu.bufferOffset, pdu.data.length, where);
    } else {
      if (!placed) store(this.buffer, pdu.data, pdu.bufferOffset);
      this.#dataOutBytes += pdu.data.length;
    }
    seq.received += pdu.data.length;
    seq.nextDataSN = (seq.nextDataSN + 1) >>> 0;
    const filled = seq.received === seq.length;
    if (!unsolicited) {
      // RFC 7143 §11.7.1: F marks the last PDU of the sequence an R2T asked for.
      if (pdu.final !== filled) {
        throw new RemoteProtocolError(
          pdu.final
            ? `${where()}: F bit set with ${seq.length - seq.received} bytes of the R2T still missing`
            : `${where()}: the R2T's data is complete but the F bit is clear`,
        );
      }
      if (filled) this.#outstanding.delete(seq.ttt);
      return filled ? "sequence-done" : "partial";
    }
    // The unsolicited sequence may end early: its F bit says so (RFC 7143 §11.7.1).
    if (filled && !pdu.final) {
      throw new RemoteProtocolError(`${where()}: unsolicited data reached min(FirstBurstLength, Expected Data Transfer Length) = ${seq.length} without the F bit`);
    }
    if (pdu.final) {
      this.#unsolicitedBytes = seq.received;
      this.#unsolicited = undefined;
      return "sequence-done";
    }
    return "partial";
  }
}

/** Damaged ranges one command may have waiting to be asked for again. */
const MAX_MISSING_RANGES = 1024;

/** Copies what of `data` falls inside `buffer` at `offset`; the rest is dropped. */
function store(buffer: Uint8Array, data: Uint8Array, offset: number): void {
  const room = buffer.length - offset;
  if (room <= 0 || data.length === 0) return;
  buffer.set(room >= data.length ? data : data.subarray(0, room), offset);
}


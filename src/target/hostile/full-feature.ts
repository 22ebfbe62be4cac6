/**
 * Hostile behaviours of the full feature phase: one PDU of the kind each behaviour hits (after
 * `skip` others) is changed on its way out, once per connection. The changes are to fields an
 * initiator must check: task tags (RFC 7143 §11.2.1.8), StatSN (§4.2.2.2), the command window
 * (§4.2.2.1), Buffer Offset and lengths (§11.7.4, §11.8.4), digests (§13.1), DataSegmentLength.
 */
import { Opcode, RESERVED_TAG } from "../../core/pdu/opcodes.js";
import type { InitiatorPdu, ScsiResponsePdu, TargetPdu } from "../../core/pdu/types.js";
import { demandsWholeTransfer } from "../../core/scsi/transfer.js";
import { serialAdd, serialGt } from "../../core/serial.js";
import type { HostileBehaviour } from "./behaviour.js";
import type { HostileContext, HostileLink } from "./context.js";
import { hugeHeader } from "./login.js";

/** A tag no initiator gave: the high bits of its own tags turned over. */
function foreignTag(itt: number): number {
  const tag = (itt ^ 0x5a00_0000) >>> 0;
  return tag === RESERVED_TAG ? 0x5a00_0001 : tag;
}

/** Whether `pdu` carries a SCSI command's status. */
function carriesStatus(pdu: TargetPdu): boolean {
  return pdu.opcode === Opcode.ScsiResponse || (pdu.opcode === Opcode.DataIn && pdu.hasStatus);
}

export class HostileFullFeature {
  readonly #behaviour: HostileBehaviour;
  readonly #context: HostileContext;
  readonly #link: HostileLink;
  #seen = 0;
  #done = false;
  /** Tasks whose CDB names the blocks to move (READ, WRITE): the ones short-read hits. */
  readonly #blockTasks = new Set<number>();
  /** maxcmdsn-backwards: the highest CmdSN received, and the highest ExpCmdSN this connection told. */
  #cmdSNIn: number | undefined;
  #expCmdSNOut: number | undefined;
  /** maxcmdsn-stale: the windows of the last PDUs that carried one, oldest first. */
  readonly #windows: Array<{ readonly expCmdSN: number; readonly maxCmdSN: number }> = [];

  constructor(behaviour: HostileBehaviour, context: HostileContext, link: HostileLink) {
    this.#behaviour = behaviour;
    this.#context = context;
    this.#link = link;
  }

  /** Whether `pdu` is the one to misbehave on (counts it toward `skip`). */
  #target(pdu: TargetPdu, matches: boolean): boolean {
    if (this.#done || !matches) return false;
    const skip = "skip" in this.#behaviour ? (this.#behaviour.skip ?? 0) : 0;
    if (this.#seen++ < skip) return false;
    this.#done = true;
    return true;
  }

  incoming(pdu: InitiatorPdu): void {
    if (pdu.opcode === Opcode.ScsiCommand && !pdu.immediate) this.#noteCmdSN(pdu.cmdSN);
    if (pdu.opcode === Opcode.ScsiCommand && demandsWholeTransfer(pdu.cdb)) this.#blockTasks.add(pdu.initiatorTaskTag);
  }

  #noteCmdSN(cmdSN: number): void {
    if (this.#cmdSNIn === undefined || serialGt(cmdSN, this.#cmdSNIn)) this.#cmdSNIn = cmdSN;
    // Before this connection sends a window, the one its login gave holds: the first command
    // carries the CmdSN its Login Response expected.
    this.#expCmdSNOut ??= cmdSN;
  }

  outgoing(pdu: TargetPdu, pieces: Uint8Array[]): Uint8Array[] {
    if (carriesStatus(pdu) && "initiatorTaskTag" in pdu && !this.#blockTasks.delete(pdu.initiatorTaskTag)) {
      // Not a READ or WRITE: short-read passes it by.
      if (this.#behaviour.kind === "short-read") return pieces;
    }
    const b = this.#behaviour;
    const link = this.#link;
    switch (b.kind) {
      case "huge-data-segment":
        if (b.phase === "login" || !this.#target(pdu, pdu.opcode === Opcode.ScsiResponse || pdu.opcode === Opcode.DataIn)) return pieces;
        return hugeHeader(pieces, b.length ?? 0xff_ffff, link, this.#context);
      case "unknown-task-tag": {
        const opcode = b.pdu === "data-in" ? Opcode.DataIn : Opcode.ScsiResponse;
        if (pdu.opcode !== opcode || !this.#target(pdu, true)) return pieces;
        return link.encode({ ...pdu, initiatorTaskTag: foreignTag(pdu.initiatorTaskTag) });
      }
      case "reused-task-tag": {
        if (!this.#target(pdu, carriesStatus(pdu)) || (pdu.opcode !== Opcode.ScsiResponse && pdu.opcode !== Opcode.DataIn)) return pieces;
        // The task is over once this status is out; a second status for its tag follows.
        const again: ScsiResponsePdu = {
          opcode: Opcode.ScsiResponse,
          bidiReadResidualOverflow: false,
          bidiReadResidualUnderflow: false,
          residualOverflow: false,
          residualUnderflow: false,
          response: 0,
          status: 0,
          initiatorTaskTag: pdu.initiatorTaskTag,
          snackTag: 0,
          statSN: link.takeStatSN(),
          expCmdSN: pdu.expCmdSN,
          maxCmdSN: pdu.maxCmdSN,
          expDataSN: 0,
          bidiReadResidualCount: 0,
          residualCount: 0,
          sense: new Uint8Array(0),
          responseData: new Uint8Array(0),
        };
        return [...pieces, ...link.encode(again)];
      }
      case "data-in-beyond-buffer":
        if (pdu.opcode !== Opcode.DataIn || pdu.data.length === 0 || !this.#target(pdu, true)) return pieces;
        return link.encode({ ...pdu, bufferOffset: pdu.bufferOffset + 16 * 1024 * 1024 });
      case "r2t-beyond-transfer":
        if (pdu.opcode !== Opcode.R2T || !this.#target(pdu, true)) return pieces;
        return link.encode({ ...pdu, bufferOffset: pdu.bufferOffset + 1024 * 1024 });
      case "bad-digest": {
        const hits = b.which === "header" ? pdu.opcode === Opcode.ScsiResponse || pdu.opcode === Opcode.DataIn : pieces.length > 1 && (pieces[1] as Uint8Array).length > 0;
        if (!this.#target(pdu, hits)) return pieces;
        const out = pieces.slice();
        const index = b.which === "header" ? 0 : 1;
        const damaged = (out[index] as Uint8Array).slice();
        // Byte 20 of the BHS (a tag or sequence number); the middle of the data.
        const at = b.which === "header" ? 20 : damaged.length >> 1;
        damaged[at] = (damaged[at] as number) ^ 0x08;
        out[index] = damaged;
        return out;
      }
      case "statsn-jump":
        if (!this.#target(pdu, carriesStatus(pdu)) || !("statSN" in pdu)) return pieces;
        return link.encode({ ...pdu, statSN: (pdu.statSN + (b.by ?? 5)) >>> 0 });
      case "maxcmdsn-backwards": {
        if (!("maxCmdSN" in pdu)) return pieces;
        const told = this.#expCmdSNOut;
        const sentPast = told !== undefined && this.#cmdSNIn !== undefined && serialGt(this.#cmdSNIn, told);
        if (told === undefined || !this.#target(pdu, carriesStatus(pdu) && sentPast)) {
          if (told === undefined || serialGt(pdu.expCmdSN, told)) this.#expCmdSNOut = pdu.expCmdSN;
          return pieces;
        }
        // ExpCmdSN one past any this connection told: the newest window. MaxCmdSN back to the
        // ExpCmdSN told before: empty, and below a command the initiator has sent.
        return link.encode({ ...pdu, expCmdSN: serialAdd(told, 1), maxCmdSN: told });
      }
      case "maxcmdsn-stale": {
        if (!("maxCmdSN" in pdu)) return pieces;
        const windows = this.#windows;
        const lag = b.lag ?? 2;
        const late = pdu.opcode === Opcode.R2T || (pdu.opcode === Opcode.DataIn && !pdu.hasStatus);
        const earlier = late && windows.length >= lag ? windows[windows.length - lag] : undefined;
        windows.push({ expCmdSN: pdu.expCmdSN, maxCmdSN: pdu.maxCmdSN });
        if (windows.length > lag) windows.shift();
        return earlier === undefined ? pieces : link.encode({ ...pdu, expCmdSN: earlier.expCmdSN, maxCmdSN: earlier.maxCmdSN });
      }
      case "short-read": {
        if (pdu.opcode !== Opcode.DataIn || !this.#target(pdu, pdu.hasStatus)) return pieces;
        if (b.variant === "no-data") {
          return link.encode(statusOnly(pdu, pdu.status, pdu.data.length + pdu.residualCount, pdu.statSN));
        }
        const kept = pdu.data.length >> 1;
        const lost = pdu.data.length - kept;
        return link.encode({
          ...pdu,
          data: pdu.data.subarray(0, kept),
          ...(b.variant === "residual" ? { residualUnderflow: true, residualOverflow: false, residualCount: pdu.residualCount + lost } : {}),
        });
      }
      case "write-good-early": {
        if (pdu.opcode !== Opcode.R2T || !this.#target(pdu, true)) return pieces;
        const residual = b.variant === "residual" ? pdu.bufferOffset + pdu.desiredDataTransferLength : 0;
        return link.encode(statusOnly(pdu, 0, residual, link.takeStatSN()));
      }
      default:
        return pieces;
    }
  }
}

/** A SCSI Response with `status` (and a residual underflow when `residual` > 0) for `pdu`'s task. */
function statusOnly(pdu: TargetPdu & { readonly initiatorTaskTag: number; readonly expCmdSN: number; readonly maxCmdSN: number }, status: number, residual: number, statSN: number): ScsiResponsePdu {
  return {
    opcode: Opcode.ScsiResponse,
    bidiReadResidualOverflow: false,
    bidiReadResidualUnderflow: false,
    residualOverflow: false,
    residualUnderflow: residual > 0,
    response: 0,
    status,
    initiatorTaskTag: pdu.initiatorTaskTag,
    snackTag: 0,
    statSN,
    expCmdSN: pdu.expCmdSN,
    maxCmdSN: pdu.maxCmdSN,
    expDataSN: 0,
    bidiReadResidualCount: 0,
    residualCount: residual,
    sense: new Uint8Array(0),
    responseData: new Uint8Array(0),
  };
}

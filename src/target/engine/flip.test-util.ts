/**
 * Test support: bit flips in the bytes a `TargetPair` moves, PDU by PDU. Armed after login (the
 * PDU lengths depend on the digests negotiated for the link), a rule flips one bit in the data
 * segment or the header of the next PDU with a given opcode in one direction, then disarms.
 * Batches are copied before they are changed: the initiator sends Data-Out as views of the
 * caller's buffer.
 */
import { BHS_LENGTH } from "../../core/pdu/opcodes.js";
import type { PairDirection, PairLink, Tamper } from "./pair.test-util.js";

export interface FlipRule {
  readonly direction: PairDirection;
  readonly opcode: number;
  readonly where: "data" | "header";
  /** Matching PDUs to let through first. */
  readonly skip?: number;
  /** Byte of the data segment (or BHS) to flip; the middle of the data (or byte 20) unless told. */
  readonly byte?: number;
  /** Only PDUs this accepts (the BHS) count. */
  readonly test?: (bhs: Uint8Array) => boolean;
}

export interface Flip {
  readonly direction: PairDirection;
  readonly opcode: number;
  readonly where: "data" | "header";
  readonly initiatorTaskTag: number;
}

function u32(bytes: Uint8Array, at: number): number {
  return (((bytes[at] as number) << 24) | ((bytes[at + 1] as number) << 16) | ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number)) >>> 0;
}

export class BitFlipper {
  readonly flips: Flip[] = [];
  readonly #rules: Array<FlipRule & { skipped: number }> = [];

  get armed(): number {
    return this.#rules.length;
  }

  arm(rule: FlipRule): this {
    this.#rules.push({ ...rule, skipped: 0 });
    return this;
  }

  readonly tamper: Tamper = (direction, pieces, link) => {
    if (!this.#rules.some((r) => r.direction === direction)) return pieces;
    const total = pieces.reduce((n, p) => n + p.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const piece of pieces) {
      bytes.set(piece, at);
      at += piece.length;
    }
    this.#walk(direction, bytes, link);
    return [bytes];
  };

  #walk(direction: PairDirection, bytes: Uint8Array, link: PairLink): void {
    const headerDigest = link.target.params.headerDigest ? 4 : 0;
    const dataDigest = link.target.params.dataDigest ? 4 : 0;
    let at = 0;
    while (at + BHS_LENGTH <= bytes.length) {
      const opcode = (bytes[at] as number) & 0x3f;
      const ahs = (bytes[at + 4] as number) * 4;
      const length = ((bytes[at + 5] as number) << 16) | ((bytes[at + 6] as number) << 8) | (bytes[at + 7] as number);
      const headerLength = BHS_LENGTH + ahs + headerDigest;
      const pduLength = headerLength + (length === 0 ? 0 : ((length + 3) & ~3) + dataDigest);
      const bhs = bytes.subarray(at, at + BHS_LENGTH);
      const index = this.#rules.findIndex(
        (r) => r.direction === direction && r.opcode === opcode && (r.where === "header" || length > 0) && (r.test === undefined || r.test(bhs)),
      );
      const rule = index < 0 ? undefined : this.#rules[index];
      if (rule !== undefined) {
        if (rule.skipped < (rule.skip ?? 0)) {
          rule.skipped++;
        } else {
          this.#rules.splice(index, 1);
          const where = rule.where === "data" ? at + headerLength + Math.min(rule.byte ?? Math.floor(length / 2), length - 1) : at + (rule.byte ?? 20);
          this.flips.push({ direction, opcode, where: rule.where, initiatorTaskTag: u32(bytes, at + 16) });
          bytes[where] = (bytes[where] as number) ^ 0x10;
        }
      }
      at += pduLength;
    }
  }
}

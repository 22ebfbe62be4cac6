/**
 * REPORT LUNS parameter data (SPC-4) and the SAM-5 single-level LUN forms it carries, both
 * directions.
 *
 * A single-level LUN (SAM-5 LUN structure) is 8 bytes whose first two bytes address the unit and
 * whose last six are zero. Two address methods give plain numbers: peripheral device addressing
 * (method 00b, bus identifier 0): LUN 0..255 in byte 1; and flat space addressing (method 01b):
 * LUN 0..16383 in the low 14 bits of bytes 0-1. Those are what `lun` numbers mean here.
 */
import { writeU32 } from "../bytes.js";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { FieldReader, U32_MAX, checkUint } from "./wire.js";

export const LunAddressMethod = {
  Peripheral: 0,
  Flat: 1,
  LogicalUnit: 2,
  Extended: 3,
} as const;

export interface LunEntry {
  /** The 8 bytes as received (a view). */
  readonly raw: Uint8Array;
  /** ADDRESS METHOD of the first level (bits 7-6 of byte 0). */
  readonly addressMethod: number;
  /** The LUN number, when the entry is a single-level peripheral (bus 0) or flat LUN. */
  readonly lun: number | undefined;
}

export interface ReportLunsData {
  readonly lunListLength: number;
  readonly entries: readonly LunEntry[];
  /** The numbers of the entries that have one, in order. */
  readonly luns: readonly number[];
  /** LUN LIST LENGTH promised more entries than were returned (allocation length too small). */
  readonly truncated: boolean;
}

/** Decodes one 8-byte LUN to a number, or undefined when it is not single-level peripheral/flat. */
export function decodeLun(raw: Uint8Array): number | undefined {
  if (raw.length !== 8) return undefined;
  for (let i = 2; i < 8; i++) if (raw[i] !== 0) return undefined;
  const b0 = raw[0] ?? 0;
  const b1 = raw[1] ?? 0;
  switch (b0 >> 6) {
    case LunAddressMethod.Peripheral:
      // Bus identifier 0: the LUN is byte 1. Other buses address a device behind a bridge.
      return (b0 & 0x3f) === 0 ? b1 : undefined;
    case LunAddressMethod.Flat:
      return ((b0 & 0x3f) << 8) | b1;
    default:
      return undefined;
  }
}

/**
 * Encodes a LUN number as 8 bytes: peripheral device addressing below 256, flat space addressing
 * up to 16383 (the convention Linux and libiscsi share).
 */
export function encodeLun(lun: number): Uint8Array {
  checkUint("LUN", lun, 0x3fff);
  const out = new Uint8Array(8);
  if (lun < 256) {
    out[1] = lun;
  } else {
    out[0] = 0x40 | (lun >> 8);
    out[1] = lun & 0xff;
  }
  return out;
}

export function parseReportLunsData(bytes: Uint8Array): ReportLunsData {
  const r = new FieldReader(bytes, "REPORT LUNS data");
  r.need(8, "the LUN LIST LENGTH header");
  const lunListLength = r.u32(0);
  if (lunListLength % 8 !== 0) {
    throw new RemoteProtocolError(`REPORT LUNS data: LUN LIST LENGTH ${lunListLength} is not a multiple of 8`);
  }
  const available = Math.min(lunListLength, bytes.length - 8);
  const entries: LunEntry[] = [];
  for (let off = 8; off + 8 <= 8 + available; off += 8) {
    const raw = r.slice(off, 8);
    entries.push({ raw, addressMethod: r.bits(off, 6, 2), lun: decodeLun(raw) });
  }
  const luns = entries.flatMap((e) => (e.lun === undefined ? [] : [e.lun]));
  return { lunListLength, entries, luns, truncated: lunListLength > bytes.length - 8 };
}

/** Builds REPORT LUNS data from LUN numbers (see `encodeLun`) or raw 8-byte LUNs. */
export function buildReportLunsData(luns: readonly (number | Uint8Array)[]): Uint8Array {
  const length = 8 * luns.length;
  checkUint("LUN LIST LENGTH", length, U32_MAX);
  const out = new Uint8Array(8 + length);
  writeU32(out, 0, length);
  luns.forEach((lun, i) => {
    const raw = typeof lun === "number" ? encodeLun(lun) : lun;
    if (raw.length !== 8) throw new LocalProtocolError(`raw LUN ${i} is ${raw.length} bytes; must be 8`);
    out.set(raw, 8 + 8 * i);
  });
  return out;
}

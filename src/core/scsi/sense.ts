/**
 * Sense data (SPC-4 §4.5), both directions: decoding the fixed (response codes 0x70/0x71) and
 * descriptor (0x72/0x73) formats a target returns with CHECK CONDITION, building them for the
 * target side, and the one-line text and `SenseSummary` the rest of iscsi-ts shows.
 *
 * Decoding is lenient where the standard allows short sense: fields past the ADDITIONAL SENSE
 * LENGTH or the data are absent (ASC/ASCQ read as 0), and a descriptor cut short ends the list
 * with `truncated` set. Data too short for the response code and sense key, or with a response
 * code that is not sense data, is a RemoteProtocolError.
 */
import { writeU16, writeU32, writeU64 } from "../bytes.js";
import type { SenseSummary } from "../errors.js";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { hex } from "../hex.js";
import { describeAsc } from "./asc-table.js";
import { SenseKey, senseKeyName } from "./status.js";
import type { U64 } from "./wire.js";
import { FieldReader, U32_MAX, checkU64, checkUint } from "./wire.js";

export type SenseFormat = "fixed" | "descriptor";

/** SPC-4 §4.5.2.4: the SENSE KEY SPECIFIC field, decoded by sense key. */
export type SenseKeySpecific =
  /** ILLEGAL REQUEST: which byte (and bit) of the CDB (C/D set) or parameter list was wrong. */
  | {
      readonly kind: "field-pointer";
      readonly commandData: boolean;
      readonly bitPointer: number | undefined;
      readonly fieldPointer: number;
    }
  /** RECOVERED ERROR, MEDIUM ERROR, HARDWARE ERROR: retries of the recovery algorithm. */
  | { readonly kind: "actual-retry-count"; readonly count: number }
  /** NO SENSE, NOT READY: progress of a long operation, as a fraction of 65536. */
  | { readonly kind: "progress"; readonly progress: number }
  /** COPY ABORTED: where in the EXTENDED COPY parameter list the error lies. */
  | {
      readonly kind: "segment-pointer";
      readonly segmentDescriptor: boolean;
      readonly bitPointer: number | undefined;
      readonly fieldPointer: number;
    }
  /** UNIT ATTENTION: the unit attention condition queue overflowed. */
  | { readonly kind: "unit-attention-queue-overflow"; readonly overflow: boolean }
  /** Any other sense key: the 23 bits as one number. */
  | { readonly kind: "other"; readonly value: number };

/** One descriptor of descriptor-format sense data, as received. */
export interface SenseDescriptor {
  readonly type: number;
  /** The whole descriptor, type and length bytes included (a view). */
  readonly bytes: Uint8Array;
}

export interface DecodedSense {
  readonly format: SenseFormat;
  readonly responseCode: number;
  /** The error is about the command this sense came with (0x70/0x72). */
  readonly current: boolean;
  /** The error is about an earlier command (0x71/0x73, SPC-4 §4.5.5). */
  readonly deferred: boolean;
  readonly key: number;
  readonly keyName: string;
  readonly asc: number;
  readonly ascq: number;
  /** The ASC/ASCQ text (asc-table.ts). */
  readonly description: string;
  /** INFORMATION, when valid (e.g. the first LBA in error). 64-bit rule. */
  readonly information: U64 | undefined;
  /** COMMAND-SPECIFIC INFORMATION, when present and not zero. */
  readonly commandSpecific: U64 | undefined;
  readonly senseKeySpecific: SenseKeySpecific | undefined;
  /** FIELD REPLACEABLE UNIT CODE, when present and not zero. */
  readonly fieldReplaceableUnit: number | undefined;
  readonly filemark: boolean;
  readonly eom: boolean;
  /** ILI: incorrect length indicator. */
  readonly ili: boolean;
  /** Descriptor format: every descriptor, decoded ones included. Fixed format: none. */
  readonly descriptors: readonly SenseDescriptor[];
  /** The data ended before the ADDITIONAL SENSE LENGTH or a descriptor said. */
  readonly truncated: boolean;
}

/** Sense descriptor types (SPC-4 §4.5.2). */
export const SenseDescriptorType = {
  Information: 0x00,
  CommandSpecific: 0x01,
  SenseKeySpecific: 0x02,
  FieldReplaceableUnit: 0x03,
  StreamCommands: 0x04,
  BlockCommands: 0x05,
} as const;

function decodeSenseKeySpecific(key: number, b0: number, b1: number, b2: number): SenseKeySpecific {
  const pointer = (b1 << 8) | b2;
  switch (key) {
    case SenseKey.IllegalRequest:
      return {
        kind: "field-pointer",
        commandData: (b0 & 0x40) !== 0,
        bitPointer: (b0 & 0x08) !== 0 ? b0 & 0x07 : undefined,
        fieldPointer: pointer,
      };
    case SenseKey.RecoveredError:
    case SenseKey.MediumError:
    case SenseKey.HardwareError:
      return { kind: "actual-retry-count", count: pointer };
    case SenseKey.NoSense:
    case SenseKey.NotReady:
      return { kind: "progress", progress: pointer };
    case SenseKey.CopyAborted:
      return {
        kind: "segment-pointer",
        segmentDescriptor: (b0 & 0x20) !== 0,
        bitPointer: (b0 & 0x08) !== 0 ? b0 & 0x07 : undefined,
        fieldPointer: pointer,
      };
    case SenseKey.UnitAttention:
      return { kind: "unit-attention-queue-overflow", overflow: (b0 & 0x01) !== 0 };
    default:
      return { kind: "other", value: ((b0 & 0x7f) << 16) | pointer };
  }
}

/** The three SENSE KEY SPECIFIC bytes, SKSV set. */
function encodeSenseKeySpecific(sks: SenseKeySpecific): Uint8Array {
  const out = new Uint8Array(3);
  let b0 = 0x80;
  let pointer = 0;
  switch (sks.kind) {
    case "field-pointer":
    case "segment-pointer": {
      const flag = sks.kind === "field-pointer" ? sks.commandData : sks.segmentDescriptor;
      b0 |= flag ? (sks.kind === "field-pointer" ? 0x40 : 0x20) : 0;
      if (sks.bitPointer !== undefined) b0 |= 0x08 | checkUint("BIT POINTER", sks.bitPointer, 7);
      pointer = checkUint("FIELD POINTER", sks.fieldPointer, 0xffff);
      break;
    }
    case "actual-retry-count":
      pointer = checkUint("ACTUAL RETRY COUNT", sks.count, 0xffff);
      break;
    case "progress":
      pointer = checkUint("PROGRESS INDICATION", sks.progress, 0xffff);
      break;
    case "unit-attention-queue-overflow":
      b0 |= sks.overflow ? 0x01 : 0;
      break;
    case "other": {
      const v = checkUint("SENSE KEY SPECIFIC", sks.value, 0x7f_ffff);
      b0 |= v >> 16;
      pointer = v & 0xffff;
      break;
    }
  }
  out[0] = b0;
  writeU16(out, 1, pointer);
  return out;
}

function nonZero(value: U64): U64 | undefined {
  return value === 0 || value === 0n ? undefined : value;
}

function decodeFixed(r: FieldReader, responseCode: number): DecodedSense {
  r.need(3, "the sense key (byte 2)");
  const declared = r.has(7, 1) ? 8 + r.u8(7) : r.length;
  const end = Math.min(r.length, declared);
  const at = (off: number, size: number): boolean => off + size <= end;
  const key = r.bits(2, 0, 4);
  const asc = at(12, 1) ? r.u8(12) : 0;
  const ascq = at(13, 1) ? r.u8(13) : 0;
  const sksValid = at(15, 3) && r.bit(15, 7);
  return {
    format: "fixed",
    responseCode,
    current: responseCode === 0x70,
    deferred: responseCode === 0x71,
    key,
    keyName: senseKeyName(key),
    asc,
    ascq,
    description: describeAsc(asc, ascq),
    information: r.bit(0, 7) && at(3, 4) ? r.u32(3) : undefined,
    commandSpecific: at(8, 4) ? nonZero(r.u32(8)) : undefined,
    senseKeySpecific: sksValid ? decodeSenseKeySpecific(key, r.u8(15), r.u8(16), r.u8(17)) : undefined,
    fieldReplaceableUnit: at(14, 1) && r.u8(14) !== 0 ? r.u8(14) : undefined,
    filemark: r.bit(2, 7),
    eom: r.bit(2, 6),
    ili: r.bit(2, 5),
    descriptors: [],
    truncated: declared > r.length,
  };
}

function decodeDescriptorFormat(r: FieldReader, responseCode: number): DecodedSense {
  r.need(4, "the sense key, ASC and ASCQ (bytes 1-3)");
  const key = r.bits(1, 0, 4);
  const asc = r.u8(2);
  const ascq = r.u8(3);
  const declared = r.has(7, 1) ? 8 + r.u8(7) : r.length;
  const end = Math.min(r.length, declared);
  let truncated = declared > r.length;
  let information: U64 | undefined;
  let commandSpecific: U64 | undefined;
  let senseKeySpecific: SenseKeySpecific | undefined;
  let fru: number | undefined;
  let filemark = false;
  let eom = false;
  let ili = false;
  const descriptors: SenseDescriptor[] = [];
  let off = 8;
  while (off < end) {
    if (off + 2 > end || off + 2 + r.u8(off + 1) > end) {
      truncated = true;
      break;
    }
    const type = r.u8(off);
    const length = r.u8(off + 1);
    const has = (size: number): boolean => length + 2 >= size;
    descriptors.push({ type, bytes: r.slice(off, 2 + length) });
    switch (type) {
      case SenseDescriptorType.Information:
        if (has(12) && r.bit(off + 2, 7)) information = r.u64(off + 4);
        break;
      case SenseDescriptorType.CommandSpecific:
        if (has(12)) commandSpecific = nonZero(r.u64(off + 4));
        break;
      case SenseDescriptorType.SenseKeySpecific:
        if (has(7) && r.bit(off + 4, 7)) {
          senseKeySpecific = decodeSenseKeySpecific(key, r.u8(off + 4), r.u8(off + 5), r.u8(off + 6));
        }
        break;
      case SenseDescriptorType.FieldReplaceableUnit:
        if (has(4) && r.u8(off + 3) !== 0) fru = r.u8(off + 3);
        break;
      case SenseDescriptorType.StreamCommands:
        if (has(4)) {
          filemark = r.bit(off + 3, 7);
          eom = r.bit(off + 3, 6);
          ili ||= r.bit(off + 3, 5);
        }
        break;
      case SenseDescriptorType.BlockCommands:
        if (has(4)) ili ||= r.bit(off + 3, 5);
        break;
      default:
        break;
    }
    off += 2 + length;
  }
  return {
    format: "descriptor",
    responseCode,
    current: responseCode === 0x72,
    deferred: responseCode === 0x73,
    key,
    keyName: senseKeyName(key),
    asc,
    ascq,
    description: describeAsc(asc, ascq),
    information,
    commandSpecific,
    senseKeySpecific,
    fieldReplaceableUnit: fru,
    filemark,
    eom,
    ili,
    descriptors,
    truncated,
  };
}

/** Decodes sense data (the SCSI sense bytes alone, without any transport's length prefix). */
export function decodeSense(bytes: Uint8Array): DecodedSense {
  const r = new FieldReader(bytes, "sense data");
  r.need(1, "the RESPONSE CODE");
  const responseCode = r.bits(0, 0, 7);
  switch (responseCode) {
    case 0x70:
    case 0x71:
      return decodeFixed(r, responseCode);
    case 0x72:
    case 0x73:
      return decodeDescriptorFormat(r, responseCode);
    default:
      throw new RemoteProtocolError(
        `sense data: RESPONSE CODE 0x${responseCode.toString(16)} is not 0x70-0x73 (fixed or descriptor format)`,
      );
  }
}

/** One line: "ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)". */
export function describeSense(sense: Pick<DecodedSense, "keyName" | "description" | "asc" | "ascq">): string {
  return `${sense.keyName}: ${sense.description} (${hex(sense.asc, 2)}/${hex(sense.ascq, 2)})`;
}

/** The `SenseSummary` a ScsiError carries; `description` is the ASC/ASCQ text. */
export function toSenseSummary(sense: Pick<DecodedSense, "key" | "asc" | "ascq" | "description">): SenseSummary {
  return { key: sense.key, asc: sense.asc, ascq: sense.ascq, description: sense.description };
}

// ---------------------------------------------------------------- builders (target side)

export interface SenseInput {
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
  /** A deferred error (response code 0x71/0x73) rather than a current one. */
  readonly deferred?: boolean;
  readonly information?: U64;
  readonly commandSpecific?: U64;
  readonly senseKeySpecific?: SenseKeySpecific;
  readonly fieldReplaceableUnit?: number;
  readonly filemark?: boolean;
  readonly eom?: boolean;
  readonly ili?: boolean;
}

function checkCodes(s: SenseInput): void {
  checkUint("SENSE KEY", s.key, 0x0f);
  checkUint("ADDITIONAL SENSE CODE", s.asc, 0xff);
  checkUint("ADDITIONAL SENSE CODE QUALIFIER", s.ascq, 0xff);
}

/** 18 bytes of fixed-format sense data (ADDITIONAL SENSE LENGTH 10). */
export function buildFixedSense(s: SenseInput): Uint8Array {
  checkCodes(s);
  const out = new Uint8Array(18);
  out[0] = s.deferred === true ? 0x71 : 0x70;
  out[2] = s.key | (s.filemark === true ? 0x80 : 0) | (s.eom === true ? 0x40 : 0) | (s.ili === true ? 0x20 : 0);
  if (s.information !== undefined) {
    // SPC-4 §4.5.3: the fixed format has room for 32 bits; larger values need descriptor format.
    writeU32(out, 3, Number(checkU64("INFORMATION (fixed format)", s.information, BigInt(U32_MAX))));
    out[0] |= 0x80;
  }
  out[7] = 10;
  if (s.commandSpecific !== undefined) {
    writeU32(out, 8, Number(checkU64("COMMAND-SPECIFIC INFORMATION (fixed format)", s.commandSpecific, BigInt(U32_MAX))));
  }
  out[12] = s.asc;
  out[13] = s.ascq;
  out[14] = checkUint("FIELD REPLACEABLE UNIT CODE", s.fieldReplaceableUnit ?? 0, 0xff);
  if (s.senseKeySpecific !== undefined) out.set(encodeSenseKeySpecific(s.senseKeySpecific), 15);
  return out;
}

/**
 * Descriptor-format sense data: the information, command-specific, sense-key-specific and FRU
 * descriptors for the fields given, then a stream commands descriptor if FILEMARK or EOM is set,
 * else a block commands descriptor if ILI is.
 */
export function buildDescriptorSense(s: SenseInput): Uint8Array {
  checkCodes(s);
  const parts: Uint8Array[] = [];
  if (s.information !== undefined) {
    const d = new Uint8Array(12);
    d[0] = SenseDescriptorType.Information;
    d[1] = 0x0a;
    d[2] = 0x80; // VALID
    writeU64(d, 4, checkU64("INFORMATION", s.information));
    parts.push(d);
  }
  if (s.commandSpecific !== undefined) {
    const d = new Uint8Array(12);
    d[0] = SenseDescriptorType.CommandSpecific;
    d[1] = 0x0a;
    writeU64(d, 4, checkU64("COMMAND-SPECIFIC INFORMATION", s.commandSpecific));
    parts.push(d);
  }
  if (s.senseKeySpecific !== undefined) {
    const d = new Uint8Array(8);
    d[0] = SenseDescriptorType.SenseKeySpecific;
    d[1] = 0x06;
    d.set(encodeSenseKeySpecific(s.senseKeySpecific), 4);
    parts.push(d);
  }
  if (s.fieldReplaceableUnit !== undefined && s.fieldReplaceableUnit !== 0) {
    parts.push(
      Uint8Array.of(SenseDescriptorType.FieldReplaceableUnit, 0x02, 0, checkUint("FIELD REPLACEABLE UNIT CODE", s.fieldReplaceableUnit, 0xff)),
    );
  }
  const ili = s.ili === true ? 0x20 : 0;
  if (s.filemark === true || s.eom === true) {
    parts.push(Uint8Array.of(SenseDescriptorType.StreamCommands, 0x02, 0, (s.filemark === true ? 0x80 : 0) | (s.eom === true ? 0x40 : 0) | ili));
  } else if (ili !== 0) {
    parts.push(Uint8Array.of(SenseDescriptorType.BlockCommands, 0x02, 0, ili));
  }
  const length = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(8 + length);
  out[0] = s.deferred === true ? 0x73 : 0x72;
  out[1] = s.key;
  out[2] = s.asc;
  out[3] = s.ascq;
  out[7] = length;
  let off = 8;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function buildSense(s: SenseInput, format: SenseFormat): Uint8Array {
  return format === "fixed" ? buildFixedSense(s) : buildDescriptorSense(s);
}

/**
 * Target side: ILLEGAL REQUEST sense for a field the device server refused, with the field pointer
 * (SPC-4 §4.5.2.4.2). `inCdb` says whether `field` indexes the CDB (INVALID FIELD IN CDB) or the
 * parameter list (the given ASC/ASCQ, INVALID FIELD IN PARAMETER LIST by default).
 */
export function buildInvalidFieldSense(o: {
  readonly inCdb: boolean;
  readonly field: number;
  readonly bit?: number;
  readonly asc?: number;
  readonly ascq?: number;
  readonly format?: SenseFormat;
}): Uint8Array {
  if (o.asc === undefined && o.ascq !== undefined) throw new LocalProtocolError("ASCQ given without ASC");
  return buildSense(
    {
      key: SenseKey.IllegalRequest,
      asc: o.asc ?? (o.inCdb ? 0x24 : 0x26),
      ascq: o.ascq ?? 0x00,
      senseKeySpecific: { kind: "field-pointer", commandData: o.inCdb, bitPointer: o.bit, fieldPointer: o.field },
    },
    o.format ?? "fixed",
  );
}

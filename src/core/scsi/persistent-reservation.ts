/**
 * Persistent reservations (SPC-4: PERSISTENT RESERVE IN and PERSISTENT RESERVE OUT): service
 * actions, reservation types, the PERSISTENT RESERVE OUT basic parameter list in both directions,
 * and the PERSISTENT RESERVE IN data (READ KEYS, READ RESERVATION, REPORT CAPABILITIES,
 * READ FULL STATUS) in both directions. Keys are opaque 64-bit values, always `bigint`.
 */
import { writeU16, writeU32, writeU64 } from "../bytes.js";
import { LocalProtocolError } from "../errors.js";
import type { InvalidParameterList } from "./parameter-list.js";
import { PARAMETER_LIST_LENGTH_ERROR, invalidParameterList } from "./parameter-list.js";
import { FieldReader, checkKey, checkUint, putFlag } from "./wire.js";

export const PrInServiceAction = {
  ReadKeys: 0x00,
  ReadReservation: 0x01,
  ReportCapabilities: 0x02,
  ReadFullStatus: 0x03,
} as const;
export type PrInServiceAction = (typeof PrInServiceAction)[keyof typeof PrInServiceAction];

export const PrOutServiceAction = {
  Register: 0x00,
  Reserve: 0x01,
  Release: 0x02,
  Clear: 0x03,
  Preempt: 0x04,
  PreemptAndAbort: 0x05,
  RegisterAndIgnoreExistingKey: 0x06,
  RegisterAndMove: 0x07,
  ReplaceLostReservation: 0x08,
} as const;
export type PrOutServiceAction = (typeof PrOutServiceAction)[keyof typeof PrOutServiceAction];

/** Persistent reservation TYPE codes (SPC-4, PERSISTENT RESERVE OUT: table of TYPE codes). */
export const PrType = {
  WriteExclusive: 0x1,
  ExclusiveAccess: 0x3,
  WriteExclusiveRegistrantsOnly: 0x5,
  ExclusiveAccessRegistrantsOnly: 0x6,
  WriteExclusiveAllRegistrants: 0x7,
  ExclusiveAccessAllRegistrants: 0x8,
} as const;
export type PrType = (typeof PrType)[keyof typeof PrType];

export const PR_TYPE_NAMES: Readonly<Partial<Record<number, string>>> = {
  0x1: "Write Exclusive",
  0x3: "Exclusive Access",
  0x5: "Write Exclusive - Registrants Only",
  0x6: "Exclusive Access - Registrants Only",
  0x7: "Write Exclusive - All Registrants",
  0x8: "Exclusive Access - All Registrants",
};

export function isPrType(value: number): value is PrType {
  return PR_TYPE_NAMES[value] !== undefined;
}

export function prTypeName(type: number): string {
  return PR_TYPE_NAMES[type] ?? `type 0x${type.toString(16)}`;
}

const PR_OUT_BASIC_LENGTH = 24;

// ---------------------------------------------------------------- PERSISTENT RESERVE OUT parameter list

export interface PrOutParameters {
  readonly reservationKey: bigint;
  readonly serviceActionReservationKey: bigint;
  /** ALL_TG_PT: register on every target port of the SCSI target device. */
  readonly allTargetPorts?: boolean;
  /** APTPL: persist through power loss. */
  readonly aptpl?: boolean;
}

/**
 * The 24-byte basic PERSISTENT RESERVE OUT parameter list (SPEC_I_PT clear; REGISTER AND MOVE
 * has its own layout and is not built here).
 */
export function buildPrOutParameterList(p: PrOutParameters): Uint8Array {
  const out = new Uint8Array(PR_OUT_BASIC_LENGTH);
  writeU64(out, 0, checkKey("RESERVATION KEY", p.reservationKey));
  writeU64(out, 8, checkKey("SERVICE ACTION RESERVATION KEY", p.serviceActionReservationKey));
  putFlag(out, 20, 2, p.allTargetPorts);
  putFlag(out, 20, 0, p.aptpl);
  return out;
}

export interface ParsedPrOutParameters {
  readonly kind: "pr-out-parameters";
  readonly reservationKey: bigint;
  readonly serviceActionReservationKey: bigint;
  /** SPEC_I_PT: `transportIds` names the initiator ports to register (REGISTER only). */
  readonly specifyInitiatorPorts: boolean;
  readonly allTargetPorts: boolean;
  readonly aptpl: boolean;
  /** The TransportID list after byte 28 when SPEC_I_PT is set, as received (a view). */
  readonly transportIds: Uint8Array | undefined;
}

/**
 * Target side: parses the basic parameter list of any PERSISTENT RESERVE OUT service action but
 * REGISTER AND MOVE. A list that is not 24 bytes (with SPEC_I_PT clear) or whose TransportID
 * length runs past its end is a PARAMETER LIST LENGTH ERROR.
 */
export function parsePrOutParameterList(bytes: Uint8Array): ParsedPrOutParameters | InvalidParameterList {
  if (bytes.length < PR_OUT_BASIC_LENGTH) {
    return invalidParameterList(PARAMETER_LIST_LENGTH_ERROR, undefined, `${bytes.length} bytes; the basic list is 24`);
  }
  const r = new FieldReader(bytes, "PERSISTENT RESERVE OUT parameter list");
  const specIPt = r.bit(20, 3);
  let transportIds: Uint8Array | undefined;
  if (specIPt) {
    if (!r.has(24, 4)) {
      return invalidParameterList(PARAMETER_LIST_LENGTH_ERROR, 24, "SPEC_I_PT set but no ADDITIONAL PARAMETER DATA LENGTH");
    }
    const length = r.u32(24);
    if (length > bytes.length - 28) {
      return invalidParameterList(
        PARAMETER_LIST_LENGTH_ERROR,
        24,
        `ADDITIONAL PARAMETER DATA LENGTH ${length} exceeds the ${bytes.length - 28} bytes sent`,
      );
    }
    transportIds = r.slice(28, length);
  } else if (bytes.length !== PR_OUT_BASIC_LENGTH) {
    return invalidParameterList(PARAMETER_LIST_LENGTH_ERROR, undefined, `${bytes.length} bytes with SPEC_I_PT clear; must be 24`);
  }
  return {
    kind: "pr-out-parameters",
    reservationKey: r.u64n(0),
    serviceActionReservationKey: r.u64n(8),
    specifyInitiatorPorts: specIPt,
    allTargetPorts: r.bit(20, 2),
    aptpl: r.bit(20, 0),
    transportIds,
  };
}

// ---------------------------------------------------------------- READ KEYS

export interface ReadKeysData {
  readonly generation: number;
  readonly keys: readonly bigint[];
  /** The ADDITIONAL LENGTH promised more keys than the data holds (allocation length too small). */
  readonly truncated: boolean;
}

export function parseReadKeysData(bytes: Uint8Array): ReadKeysData {
  const r = new FieldReader(bytes, "PERSISTENT RESERVE IN READ KEYS data");
  r.need(8, "the PRGENERATION and ADDITIONAL LENGTH header");
  const generation = r.u32(0);
  const additional = r.u32(4);
  const available = Math.min(additional, bytes.length - 8);
  const keys: bigint[] = [];
  for (let off = 8; off + 8 <= 8 + available; off += 8) keys.push(r.u64n(off));
  return { generation, keys, truncated: additional > bytes.length - 8 };
}

export function buildReadKeysData(d: { readonly generation: number; readonly keys: readonly bigint[] }): Uint8Array {
  const out = new Uint8Array(8 + 8 * d.keys.length);
  writeU32(out, 0, checkUint("PRGENERATION", d.generation, 0xffff_ffff));
  writeU32(out, 4, 8 * d.keys.length);
  d.keys.forEach((key, i) => writeU64(out, 8 + 8 * i, checkKey(`key ${i}`, key)));
  return out;
}

// ---------------------------------------------------------------- READ RESERVATION

export interface Reservation {
  readonly key: bigint;
  readonly scope: number;
  readonly type: number;
  readonly typeName: string;
}

export interface ReadReservationData {
  readonly generation: number;
  /** The reservation held, if any (ADDITIONAL LENGTH 0x10). */
  readonly reservation: Reservation | undefined;
  readonly truncated: boolean;
}

export function parseReadReservationData(bytes: Uint8Array): ReadReservationData {
  const r = new FieldReader(bytes, "PERSISTENT RESERVE IN READ RESERVATION data");
  r.need(8, "the PRGENERATION and ADDITIONAL LENGTH header");
  const generation = r.u32(0);
  const additional = r.u32(4);
  if (additional === 0) return { generation, reservation: undefined, truncated: false };
  if (!r.has(8, 16)) return { generation, reservation: undefined, truncated: true };
  const type = r.bits(21, 0, 4);
  return {
    generation,
    reservation: { key: r.u64n(8), scope: r.bits(21, 4, 4), type, typeName: prTypeName(type) },
    truncated: false,
  };
}

export function buildReadReservationData(d: {
  readonly generation: number;
  readonly reservation?: { readonly key: bigint; readonly type: PrType; readonly scope?: number };
}): Uint8Array {
  const out = new Uint8Array(d.reservation === undefined ? 8 : 24);
  writeU32(out, 0, checkUint("PRGENERATION", d.generation, 0xffff_ffff));
  if (d.reservation !== undefined) {
    if (!isPrType(d.reservation.type)) {
      throw new LocalProtocolError(`reservation TYPE ${String(d.reservation.type)} is not defined by SPC-4`);
    }
    writeU32(out, 4, 16);
    writeU64(out, 8, checkKey("RESERVATION KEY", d.reservation.key));
    out[21] = (checkUint("SCOPE", d.reservation.scope ?? 0, 0x0f) << 4) | d.reservation.type;
  }
  return out;
}

// ---------------------------------------------------------------- REPORT CAPABILITIES

export interface ReportCapabilitiesData {
  /** RLR_C: REPLACE LOST RESERVATION supported. */
  readonly replaceLostReservationCapable: boolean;
  /** CRH: compatible reservation handling. */
  readonly compatibleReservationHandling: boolean;
  /** SIP_C: SPEC_I_PT supported. */
  readonly specifyInitiatorPortsCapable: boolean;
  /** ATP_C: ALL_TG_PT supported. */
  readonly allTargetPortsCapable: boolean;
  /** PTPL_C: persist through power loss supported. */
  readonly persistThroughPowerLossCapable: boolean;
  /** TMV: the type mask below is valid. */
  readonly typeMaskValid: boolean;
  readonly allowCommands: number;
  /** PTPL_A: persist through power loss is active. */
  readonly persistThroughPowerLossActivated: boolean;
  /** The types in the PERSISTENT RESERVATION TYPE MASK, ascending. */
  readonly supportedTypes: readonly PrType[];
}

/** Bit positions of each type in the 16-bit PERSISTENT RESERVATION TYPE MASK (bytes 4-5). */
const TYPE_MASK_BITS: readonly (readonly [PrType, number])[] = [
  [PrType.WriteExclusive, 9],
  [PrType.ExclusiveAccess, 11],
  [PrType.WriteExclusiveRegistrantsOnly, 13],
  [PrType.ExclusiveAccessRegistrantsOnly, 14],
  [PrType.WriteExclusiveAllRegistrants, 15],
  [PrType.ExclusiveAccessAllRegistrants, 0],
];

export function parseReportCapabilitiesData(bytes: Uint8Array): ReportCapabilitiesData {
  const r = new FieldReader(bytes, "PERSISTENT RESERVE IN REPORT CAPABILITIES data");
  r.need(6, "the capability flags and type mask");
  const mask = r.u16(4);
  return {
    replaceLostReservationCapable: r.bit(2, 7),
    compatibleReservationHandling: r.bit(2, 4),
    specifyInitiatorPortsCapable: r.bit(2, 3),
    allTargetPortsCapable: r.bit(2, 2),
    persistThroughPowerLossCapable: r.bit(2, 0),
    typeMaskValid: r.bit(3, 7),
    allowCommands: r.bits(3, 4, 3),
    persistThroughPowerLossActivated: r.bit(3, 0),
    supportedTypes: TYPE_MASK_BITS.filter(([, bit]) => ((mask >> bit) & 1) === 1)
      .map(([type]) => type)
      .sort((a, b) => a - b),
  };
}

export function buildReportCapabilitiesData(d: Partial<Omit<ReportCapabilitiesData, "supportedTypes">> & {
  readonly supportedTypes: readonly PrType[];
}): Uint8Array {
  const out = new Uint8Array(8);
  writeU16(out, 0, 8);
  putFlag(out, 2, 7, d.replaceLostReservationCapable);
  putFlag(out, 2, 4, d.compatibleReservationHandling);
  putFlag(out, 2, 3, d.specifyInitiatorPortsCapable);
  putFlag(out, 2, 2, d.allTargetPortsCapable);
  putFlag(out, 2, 0, d.persistThroughPowerLossCapable);
  putFlag(out, 3, 7, d.typeMaskValid ?? true);
  out[3] = (out[3] ?? 0) | (checkUint("ALLOW COMMANDS", d.allowCommands ?? 0, 7) << 4);
  putFlag(out, 3, 0, d.persistThroughPowerLossActivated);
  let mask = 0;
  for (const type of d.supportedTypes) {
    const bit = TYPE_MASK_BITS.find(([t]) => t === type)?.[1];
    if (bit === undefined) throw new LocalProtocolError(`reservation TYPE ${String(type)} is not defined by SPC-4`);
    mask |= 1 << bit;
  }
  writeU16(out, 4, mask);
  return out;
}

// ---------------------------------------------------------------- READ FULL STATUS

export interface FullStatusDescriptor {
  readonly key: bigint;
  readonly allTargetPorts: boolean;
  /** R_HOLDER: this registrant holds the reservation (scope and type are then meaningful). */
  readonly reservationHolder: boolean;
  readonly scope: number;
  readonly type: number;
  readonly relativeTargetPortId: number;
  /** The registrant's TransportID (SPC-4 TransportID formats), as received (a view). */
  readonly transportId: Uint8Array;
}

export interface ReadFullStatusData {
  readonly generation: number;
  readonly registrations: readonly FullStatusDescriptor[];
  readonly truncated: boolean;
}

export function parseReadFullStatusData(bytes: Uint8Array): ReadFullStatusData {
  const r = new FieldReader(bytes, "PERSISTENT RESERVE IN READ FULL STATUS data");
  r.need(8, "the PRGENERATION and ADDITIONAL LENGTH header");
  const generation = r.u32(0);
  const additional = r.u32(4);
  const end = 8 + Math.min(additional, bytes.length - 8);
  const registrations: FullStatusDescriptor[] = [];
  let off = 8;
  let truncated = additional > bytes.length - 8;
  while (off < end) {
    if (off + 24 > end) {
      truncated = true;
      break;
    }
    const idLength = r.u32(off + 20);
    if (idLength > end - (off + 24)) {
      truncated = true;
      break;
    }
    registrations.push({
      key: r.u64n(off),
      allTargetPorts: r.bit(off + 12, 1),
      reservationHolder: r.bit(off + 12, 0),
      scope: r.bits(off + 13, 4, 4),
      type: r.bits(off + 13, 0, 4),
      relativeTargetPortId: r.u16(off + 18),
      transportId: r.slice(off + 24, idLength),
    });
    off += 24 + idLength;
  }
  return { generation, registrations, truncated };
}

export function buildReadFullStatusData(d: {
  readonly generation: number;
  readonly registrations: readonly (Omit<FullStatusDescriptor, "allTargetPorts" | "reservationHolder" | "scope" | "type"> &
    Partial<Pick<FullStatusDescriptor, "allTargetPorts" | "reservationHolder" | "scope" | "type">>)[];
}): Uint8Array {
  const total = d.registrations.reduce((n, reg) => n + 24 + reg.transportId.length, 0);
  const out = new Uint8Array(8 + total);
  writeU32(out, 0, checkUint("PRGENERATION", d.generation, 0xffff_ffff));
  writeU32(out, 4, checkUint("ADDITIONAL LENGTH", total, 0xffff_ffff));
  let off = 8;
  for (const reg of d.registrations) {
    writeU64(out, off, checkKey("RESERVATION KEY", reg.key));
    putFlag(out, off + 12, 1, reg.allTargetPorts);
    putFlag(out, off + 12, 0, reg.reservationHolder);
    out[off + 13] = (checkUint("SCOPE", reg.scope ?? 0, 0x0f) << 4) | checkUint("TYPE", reg.type ?? 0, 0x0f);
    writeU16(out, off + 18, checkUint("RELATIVE TARGET PORT IDENTIFIER", reg.relativeTargetPortId, 0xffff));
    writeU32(out, off + 20, reg.transportId.length);
    out.set(reg.transportId, off + 24);
    off += 24 + reg.transportId.length;
  }
  return out;
}

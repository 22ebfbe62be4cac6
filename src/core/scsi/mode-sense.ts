/**
 * MODE SENSE(6) and MODE SENSE(10) data (SPC-4 mode parameter list): the header, the block
 * descriptors as a direct-access device (SBC-3) lays them out, then the mode pages (framed by
 * mode-pages.ts). Parsed in both directions: the initiator reads it, the target builds it.
 */
import { writeU16, writeU24, writeU32, writeU64 } from "../bytes.js";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import type { ModePage } from "./mode-pages.js";
import { decodeModePages } from "./mode-pages.js";
import type { U64 } from "./wire.js";
import { FieldReader, U32_MAX, checkU64, checkUint } from "./wire.js";

export interface BlockDescriptor {
  /** NUMBER OF LOGICAL BLOCKS (64-bit rule; 0xFFFFFFFF in a short descriptor means "at least"). */
  readonly blocks: U64;
  readonly blockLength: number;
}

export interface ModeSenseData {
  readonly variant: 6 | 10;
  /** MODE DATA LENGTH: the bytes that follow the field itself. */
  readonly modeDataLength: number;
  readonly mediumType: number;
  /** The DEVICE-SPECIFIC PARAMETER byte, whole. */
  readonly deviceSpecific: number;
  /** SBC-3: WP bit of the device-specific parameter (the medium is write-protected). */
  readonly writeProtect: boolean;
  /** SBC-3: DPOFUA bit of the device-specific parameter (DPO and FUA are supported). */
  readonly dpoFua: boolean;
  /** LONGLBA (MODE SENSE(10) only): block descriptors are 16 bytes. */
  readonly longLba: boolean;
  readonly blockDescriptors: readonly BlockDescriptor[];
  readonly pages: readonly ModePage[];
  /** The mode data length promised more than was returned (allocation length too small). */
  readonly truncated: boolean;
}

function parseModeSense(bytes: Uint8Array, variant: 6 | 10): ModeSenseData {
  const what = `MODE SENSE(${variant}) data`;
  const r = new FieldReader(bytes, what);
  const headerLength = variant === 6 ? 4 : 8;
  r.need(headerLength, "the mode parameter header");
  const modeDataLength = variant === 6 ? r.u8(0) : r.u16(0);
  const total = modeDataLength + (variant === 6 ? 1 : 2);
  if (total < headerLength) {
    throw new RemoteProtocolError(`${what}: MODE DATA LENGTH ${modeDataLength} is shorter than its own header`);
  }
  const mediumType = r.u8(variant === 6 ? 1 : 2);
  const deviceSpecific = r.u8(variant === 6 ? 2 : 3);
  const longLba = variant === 10 && r.bit(4, 0);
  const bdLength = variant === 6 ? r.u8(3) : r.u16(6);
  const descriptorSize = longLba ? 16 : 8;
  if (bdLength % descriptorSize !== 0) {
    throw new RemoteProtocolError(`${what}: BLOCK DESCRIPTOR LENGTH ${bdLength} is not a multiple of ${descriptorSize}`);
  }
  if (headerLength + bdLength > total) {
    throw new RemoteProtocolError(
      `${what}: BLOCK DESCRIPTOR LENGTH ${bdLength} runs past MODE DATA LENGTH ${modeDataLength}`,
    );
  }
  const end = Math.min(total, bytes.length);
  let truncated = total > bytes.length;
  const blockDescriptors: BlockDescriptor[] = [];
  for (let off = headerLength; off < headerLength + bdLength; off += descriptorSize) {
    if (off + descriptorSize > end) {
      truncated = true;
      break;
    }
    blockDescriptors.push(
      longLba ? { blocks: r.u64(off), blockLength: r.u32(off + 12) } : { blocks: r.u32(off), blockLength: r.u24(off + 5) },
    );
  }
  const pageStart = headerLength + bdLength;
  const { pages, truncated: pagesCut } = decodeModePages(r.sliceClamped(pageStart, end), what);
  return {
    variant,
    modeDataLength,
    mediumType,
    deviceSpecific,
    writeProtect: (deviceSpecific & 0x80) !== 0,
    dpoFua: (deviceSpecific & 0x10) !== 0,
    longLba,
    blockDescriptors,
    pages,
    truncated: truncated || pagesCut,
  };
}

export function parseModeSense6Data(bytes: Uint8Array): ModeSenseData {
  return parseModeSense(bytes, 6);
}

export function parseModeSense10Data(bytes: Uint8Array): ModeSenseData {
  return parseModeSense(bytes, 10);
}

/** The first page with this code and subpage, if the data holds one. */
export function findModePage(data: { readonly pages: readonly ModePage[] }, pageCode: number, subpage = 0): ModePage | undefined {
  return data.pages.find((p) => p.pageCode === pageCode && p.subpage === subpage);
}

export interface ModeSenseDataInput {
  readonly mediumType?: number;
  readonly writeProtect?: boolean;
  readonly dpoFua?: boolean;
  readonly blockDescriptors?: readonly { readonly blocks: U64; readonly blockLength: number }[];
  /** Encoded pages (from encodeCachingPage, encodeModePage, ...), in the order to return them. */
  readonly pages: readonly Uint8Array[];
}

function deviceSpecificByte(d: ModeSenseDataInput): number {
  return (d.writeProtect === true ? 0x80 : 0) | (d.dpoFua === true ? 0x10 : 0);
}

function putShortDescriptor(out: Uint8Array, off: number, bd: { readonly blocks: U64; readonly blockLength: number }): void {
  const blocks = checkU64("NUMBER OF LOGICAL BLOCKS", bd.blocks);
  // SBC-3: a count too large for the 32-bit field is reported as 0xFFFFFFFF.
  writeU32(out, off, blocks > BigInt(U32_MAX) ? U32_MAX : Number(blocks));
  writeU24(out, off + 5, checkUint("LOGICAL BLOCK LENGTH", bd.blockLength, 0xff_ffff));
}

function concatPages(pages: readonly Uint8Array[]): { bytes: Uint8Array; length: number } {
  const length = pages.reduce((n, p) => n + p.length, 0);
  const bytes = new Uint8Array(length);
  let off = 0;
  for (const p of pages) {
    bytes.set(p, off);
    off += p.length;
  }
  return { bytes, length };
}

/** MODE SENSE(6) data; the whole list must fit the 8-bit MODE DATA LENGTH (256 bytes). */
export function buildModeSense6Data(d: ModeSenseDataInput): Uint8Array {
  const descriptors = d.blockDescriptors ?? [];
  const pages = concatPages(d.pages);
  const total = 4 + 8 * descriptors.length + pages.length;
  if (total > 256) {
    throw new LocalProtocolError(`MODE SENSE(6) data of ${total} bytes does not fit MODE DATA LENGTH (at most 256)`);
  }
  const out = new Uint8Array(total);
  out[0] = total - 1;
  out[1] = checkUint("MEDIUM TYPE", d.mediumType ?? 0, 0xff);
  out[2] = deviceSpecificByte(d);
  out[3] = 8 * descriptors.length;
  descriptors.forEach((bd, i) => putShortDescriptor(out, 4 + 8 * i, bd));
  out.set(pages.bytes, 4 + 8 * descriptors.length);
  return out;
}

/** MODE SENSE(10) data; `longLba` makes the block descriptors 16 bytes with 64-bit counts. */
export function buildModeSense10Data(d: ModeSenseDataInput & { readonly longLba?: boolean }): Uint8Array {
  const descriptors = d.blockDescriptors ?? [];
  const size = d.longLba === true ? 16 : 8;
  const pages = concatPages(d.pages);
  const total = 8 + size * descriptors.length + pages.length;
  if (total > 0xffff + 2) {
    throw new LocalProtocolError(`MODE SENSE(10) data of ${total} bytes does not fit MODE DATA LENGTH`);
  }
  const out = new Uint8Array(total);
  writeU16(out, 0, total - 2);
  out[2] = checkUint("MEDIUM TYPE", d.mediumType ?? 0, 0xff);
  out[3] = deviceSpecificByte(d);
  out[4] = d.longLba === true ? 0x01 : 0;
  writeU16(out, 6, size * descriptors.length);
  descriptors.forEach((bd, i) => {
    const off = 8 + size * i;
    if (d.longLba === true) {
      writeU64(out, off, checkU64("NUMBER OF LOGICAL BLOCKS", bd.blocks));
      writeU32(out, off + 12, checkUint("LOGICAL BLOCK LENGTH", bd.blockLength, U32_MAX));
    } else {
      putShortDescriptor(out, off, bd);
    }
  });
  out.set(pages.bytes, 8 + size * descriptors.length);
  return out;
}

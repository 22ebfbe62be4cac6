/**
 * Bounded field access for SCSI data, argument checks, and the one rule for 64-bit values. The
 * big-endian byte math itself is core/bytes.ts's, shared with the iSCSI and iSNS codecs.
 *
 * The 64-bit rule (used by every module in this folder):
 * - Builders take a 64-bit quantity (LBA, information field, number of blocks) as `number | bigint`
 *   (`U64`); a `number` must be a non-negative safe integer. 32-bit and smaller fields take `number`.
 * - Parsers return a 64-bit quantity as a `number` when it is at most `Number.MAX_SAFE_INTEGER`
 *   (2^53 - 1) and as a `bigint` otherwise, so ordinary disks give plain numbers and nothing is
 *   ever rounded.
 * - Opaque 64-bit values that are never counted with (persistent reservation keys) are always
 *   `bigint`.
 *
 * Every read off the wire goes through `FieldReader`, which checks the end of the data first: a
 * parser that forgot a length check throws a `RemoteProtocolError` naming the field, never a
 * `RangeError` or a read past the buffer.
 */
import { readU16, readU24, readU32, readU64 } from "../bytes.js";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { hex } from "../hex.js";

/** A 64-bit unsigned value: see the rule above. */
export type U64 = number | bigint;

export const U32_MAX = 0xffff_ffff;
export const U64_MAX = (1n << 64n) - 1n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Applies the 64-bit rule to a value read off the wire. */
export function u64Result(value: bigint): U64 {
  return value <= SAFE_MAX ? Number(value) : value;
}

/** Bounded big-endian reads over one piece of SCSI data; `what` names it in error messages. */
export class FieldReader {
  readonly bytes: Uint8Array;
  readonly what: string;

  constructor(bytes: Uint8Array, what: string) {
    this.bytes = bytes;
    this.what = what;
  }

  get length(): number {
    return this.bytes.length;
  }

  /** True when `size` bytes at `offset` lie inside the data. */
  has(offset: number, size: number): boolean {
    return offset >= 0 && size >= 0 && offset + size <= this.bytes.length;
  }

  /** Throws unless the data holds at least `size` bytes; `field` says what needed them. */
  need(size: number, field: string): void {
    if (this.bytes.length < size) {
      throw new RemoteProtocolError(
        `${this.what}: ${this.bytes.length} bytes, too short for ${field} (needs ${size})`,
      );
    }
  }

  private check(offset: number, size: number): void {
    if (!this.has(offset, size)) {
      throw new RemoteProtocolError(
        `${this.what}: ${size}-byte field at byte ${offset} lies past the end (${this.bytes.length} bytes)`,
      );
    }
  }

  u8(offset: number): number {
    this.check(offset, 1);
    return this.bytes[offset]!;
  }

  u16(offset: number): number {
    this.check(offset, 2);
    return readU16(this.bytes, offset);
  }

  u24(offset: number): number {
    this.check(offset, 3);
    return readU24(this.bytes, offset);
  }

  u32(offset: number): number {
    this.check(offset, 4);
    return readU32(this.bytes, offset);
  }

  /** A 64-bit field under the 64-bit rule. */
  u64(offset: number): U64 {
    return u64Result(this.u64n(offset));
  }

  /** A 64-bit field as a bigint (for opaque values such as reservation keys). */
  u64n(offset: number): bigint {
    this.check(offset, 8);
    return readU64(this.bytes, offset);
  }

  /** One bit of one byte. */
  bit(offset: number, bit: number): boolean {
    return ((this.u8(offset) >> bit) & 1) === 1;
  }

  /** `width` bits of one byte, starting at bit `shift`. */
  bits(offset: number, shift: number, width: number): number {
    return (this.u8(offset) >> shift) & ((1 << width) - 1);
  }

  /** A view (no copy) of `size` bytes at `offset`. */
  slice(offset: number, size: number): Uint8Array {
    this.check(offset, size);
    return this.bytes.subarray(offset, offset + size);
  }

  /** A view of the bytes from `offset` up to `end`, clamped to the data. */
  sliceClamped(offset: number, end: number): Uint8Array {
    const stop = Math.min(end, this.bytes.length);
    return stop > offset ? this.bytes.subarray(offset, stop) : new Uint8Array(0);
  }
}

// ---------------------------------------------------------------- argument checks (caller misuse)

/** Checks that `value` is an integer in 0..max; the caller's mistake is a LocalProtocolError. */
export function checkUint(what: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new LocalProtocolError(`${what} must be an integer in 0..${max} (got ${String(value)})`);
  }
  return value;
}

/** Checks a 64-bit argument (see the 64-bit rule) against `max` and returns it as a bigint. */
export function checkU64(what: string, value: U64, max: bigint = U64_MAX): bigint {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new LocalProtocolError(
        `${what} must be a non-negative safe integer or a bigint (got ${String(value)})`,
      );
    }
  }
  const big = BigInt(value);
  if (big < 0n || big > max) {
    throw new LocalProtocolError(`${what} must be in 0..${hex(max)} (got ${hex(big)})`);
  }
  return big;
}

/** Checks an opaque 64-bit key (always a bigint). */
export function checkKey(what: string, value: bigint): bigint {
  if (typeof value !== "bigint" || value < 0n || value > U64_MAX) {
    throw new LocalProtocolError(`${what} must be a bigint in 0..0xffffffffffffffff`);
  }
  return value;
}

// ---------------------------------------------------------------- flags (into buffers we allocated)

/** Sets bit `bit` of `bytes[offset]` when `on`. */
export function putFlag(bytes: Uint8Array, offset: number, bit: number, on: boolean | undefined): void {
  if (on === true) bytes[offset] = (bytes[offset] ?? 0) | (1 << bit);
}

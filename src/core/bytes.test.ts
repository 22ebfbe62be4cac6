import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  padding,
  readDigest,
  readU16,
  readU24,
  readU32,
  readU48,
  readU64,
  writeDigest,
  writeU16,
  writeU24,
  writeU32,
  writeU48,
  writeU64,
} from "./bytes.js";

describe("big-endian fields", () => {
  it("writes the most significant byte first at every width", () => {
    const b = new Uint8Array(23);
    writeU16(b, 0, 0x0102);
    writeU24(b, 2, 0x030405);
    writeU32(b, 5, 0x06070809);
    writeU48(b, 9, 0x0a0b_0c0d0e0f);
    writeU64(b, 15, 0x1011121314151617n);
    expect(Array.from(b)).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
  });

  it("reads back what it wrote, for every value of every width and at any offset", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xff_ffff }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 2 ** 48 - 1 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.nat({ max: 7 }),
        (u16, u24, u32, u48, u64, at) => {
          const b = new Uint8Array(at + 8);
          writeU16(b, at, u16);
          expect(readU16(b, at)).toBe(u16);
          writeU24(b, at, u24);
          expect(readU24(b, at)).toBe(u24);
          writeU32(b, at, u32);
          expect(readU32(b, at)).toBe(u32);
          writeU48(b, at, u48);
          expect(readU48(b, at)).toBe(u48);
          writeU64(b, at, u64);
          expect(readU64(b, at)).toBe(u64);
        },
      ),
    );
  });

  it("takes a 64-bit value as a safe integer as well as a bigint", () => {
    const a = new Uint8Array(8);
    const b = new Uint8Array(8);
    writeU64(a, 0, Number.MAX_SAFE_INTEGER);
    writeU64(b, 0, BigInt(Number.MAX_SAFE_INTEGER));
    expect(a).toEqual(b);
    expect(Array.from(a)).toEqual([0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  });

  it("reads a 32-bit field with the top bit set as a positive number", () => {
    expect(readU32(Uint8Array.of(0xff, 0xff, 0xff, 0xfe), 0)).toBe(0xffff_fffe);
  });
});

describe("digests", () => {
  it("go on the wire least significant byte first (RFC 3720 Appendix B.4)", () => {
    const b = new Uint8Array(4);
    writeDigest(b, 0, 0x8a9136aa);
    expect(Array.from(b)).toEqual([0xaa, 0x36, 0x91, 0x8a]);
    expect(readDigest(b, 0)).toBe(0x8a9136aa);
  });
});

describe("padding", () => {
  it("counts the bytes up to the next 4-byte boundary", () => {
    expect([0, 1, 2, 3, 4, 5, 48].map(padding)).toEqual([0, 3, 2, 1, 0, 3, 0]);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { writeU16, writeU24, writeU32, writeU64 } from "../bytes.js";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { FieldReader, U64_MAX, checkU64, checkUint, u64Result } from "./wire.js";

describe("the 64-bit rule", () => {
  it("gives a number up to 2^53-1 and a bigint from 2^53", () => {
    expect(u64Result(BigInt(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(u64Result(2n ** 53n)).toBe(2n ** 53n);
    expect(u64Result(0n)).toBe(0);
  });

  it("round-trips any 64-bit value through writeU64 and FieldReader.u64", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), (v) => {
        const b = new Uint8Array(8);
        writeU64(b, 0, v);
        expect(new FieldReader(b, "t").u64n(0)).toBe(v);
        expect(new FieldReader(b, "t").u64(0)).toBe(u64Result(v));
      }),
    );
  });
});

describe("FieldReader", () => {
  it("reads big-endian fields of every width", () => {
    const b = new Uint8Array(9);
    writeU16(b, 0, 0x0102);
    writeU24(b, 2, 0x030405);
    writeU32(b, 5, 0x06070809);
    const r = new FieldReader(b, "t");
    expect([r.u16(0), r.u24(2), r.u32(5), r.u8(8), r.bits(5, 1, 2), r.bit(8, 0)]).toEqual([0x0102, 0x030405, 0x06070809, 9, 3, true]);
  });

  it("throws RemoteProtocolError naming the field and the length instead of reading past the end", () => {
    const r = new FieldReader(new Uint8Array(4), "test data");
    expect(() => r.u32(1)).toThrow(RemoteProtocolError);
    expect(() => r.u32(1)).toThrow("test data: 4-byte field at byte 1 lies past the end (4 bytes)");
    expect(() => r.u8(-1)).toThrow(RemoteProtocolError);
    expect(() => r.slice(2, 3)).toThrow(RemoteProtocolError);
    expect(() => r.need(5, "the header")).toThrow("test data: 4 bytes, too short for the header (needs 5)");
  });

  it("reads only inside a view, not the buffer around it", () => {
    const big = Uint8Array.of(1, 2, 3, 4, 5, 6);
    const r = new FieldReader(big.subarray(1, 3), "t");
    expect(r.u16(0)).toBe(0x0203);
    expect(() => r.u8(2)).toThrow(RemoteProtocolError);
    expect(Array.from(r.sliceClamped(1, 10))).toEqual([3]);
    expect(r.sliceClamped(5, 10).length).toBe(0);
  });
});

describe("argument checks", () => {
  it("accept integers in range and refuse everything else", () => {
    expect(checkUint("X", 5, 5)).toBe(5);
    for (const bad of [-1, 6, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => checkUint("X", bad, 5)).toThrow(LocalProtocolError);
    expect(checkU64("Y", 2 ** 40)).toBe(2n ** 40n);
    expect(checkU64("Y", U64_MAX)).toBe(U64_MAX);
    for (const bad of [-1, 2 ** 53, 0.5, -1n, U64_MAX + 1n]) expect(() => checkU64("Y", bad)).toThrow(LocalProtocolError);
  });
});

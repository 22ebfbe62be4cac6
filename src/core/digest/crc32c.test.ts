import { crc32c as nativeCrc32c } from "@node-rs/crc32";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hexBytes } from "../pdu/frames.test-util.js";
import { crc32c } from "./crc32c.js";

function bytes(length: number, at: (i: number) => number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = at(i);
  return out;
}

describe("crc32c", () => {
  // RFC 3720 Appendix B.4: the CRC test vectors iSCSI digests are defined by.
  it("gives 0x8A9136AA for 32 bytes of zeros", () => {
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  });

  it("gives 0x62A8AB43 for 32 bytes of 0xFF", () => {
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  });

  it("gives 0x46DD794E for the bytes 0 to 31 ascending", () => {
    expect(crc32c(bytes(32, (i) => i))).toBe(0x46dd794e);
  });

  it("gives 0x113FDB5C for the bytes 31 to 0 descending", () => {
    expect(crc32c(bytes(32, (i) => 31 - i))).toBe(0x113fdb5c);
  });

  it("gives 0xD9963A56 for the 48-byte iSCSI read command PDU of RFC 3720 Appendix B.4", () => {
    const pdu = hexBytes(`
      01 c0 00 00  00 00 00 00  00 00 00 00  00 00 00 00
      14 00 00 00  00 00 04 00  00 00 00 14  00 00 00 18
      28 00 00 00  00 00 00 00  02 00 00 00  00 00 00 00`);
    expect(pdu.length).toBe(48);
    expect(crc32c(pdu)).toBe(0xd9963a56);
  });

  it("gives 0 for empty input and leaves a running CRC unchanged on empty input", () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(0), 0x12345678)).toBe(0x12345678);
  });

  it("treats a previous CRC of 0 as no previous CRC", () => {
    const data = bytes(100, (i) => (i * 31) & 0xff);
    expect(crc32c(data, 0)).toBe(crc32c(data));
  });

  it("continues across any split point as if computed over the whole", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (data, at) => {
        const cut = data.length === 0 ? 0 : at % (data.length + 1);
        const whole = crc32c(data);
        expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(whole);
      }),
    );
  });

  it("matches the native @node-rs/crc32 implementation the Node host injects", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 0xffff_ffff }), (data, previous) => {
        expect(crc32c(data)).toBe(nativeCrc32c(data));
        expect(crc32c(data, previous)).toBe(nativeCrc32c(data, previous));
      }),
    );
  });

  it("reads a view at a non-zero offset of a larger buffer correctly", () => {
    const backing = bytes(64, (i) => i ^ 0x5a);
    const view = backing.subarray(7, 7 + 40);
    expect(crc32c(view)).toBe(nativeCrc32c(view.slice()));
  });

  it("always returns an unsigned 32-bit integer", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        const crc = crc32c(data);
        expect(Number.isInteger(crc) && crc >= 0 && crc <= 0xffff_ffff).toBe(true);
      }),
    );
  });
});

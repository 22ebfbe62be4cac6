import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "./errors.js";
import { decodeUtf8, decodeUtf8Lenient, encodeUtf8, utf8Length } from "./utf8.js";

const MALFORMED: readonly (readonly number[])[] = [
  [0xc0, 0xaf], // overlong "/"
  [0xe2, 0x82], // cut short
  [0xed, 0xa0, 0x80], // a surrogate
  [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
  [0xff], // never a lead byte
  [0x80], // a lone continuation
];

describe("UTF-8 encoding", () => {
  it("encodes as the standard does", () => {
    expect(Array.from(encodeUtf8("aé€😀"))).toEqual([0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
  });

  it("encodes a lone surrogate as U+FFFD, as TextEncoder does", () => {
    expect(Array.from(encodeUtf8("\ud800"))).toEqual([0xef, 0xbf, 0xbd]);
  });

  it("counts the bytes it would encode", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(utf8Length(s)).toBe(encodeUtf8(s).length);
      }),
    );
  });
});

describe("strict UTF-8 decoding", () => {
  it("round-trips any string without lone surrogates", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        expect(decodeUtf8(encodeUtf8(s), "t")).toBe(s);
      }),
    );
  });

  it("refuses every malformed sequence with a RemoteProtocolError naming the field and the byte", () => {
    for (const bad of MALFORMED) expect(() => decodeUtf8(Uint8Array.from(bad), "t")).toThrow(RemoteProtocolError);
    expect(() => decodeUtf8(Uint8Array.of(0x61, 0x62, 0xc0, 0xaf), "TargetName")).toThrow("TargetName: invalid UTF-8 at byte 2");
  });
});

describe("lenient UTF-8 decoding", () => {
  it("decodes well-formed text as the strict decoder does", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        expect(decodeUtf8Lenient(encodeUtf8(s))).toBe(s);
      }),
    );
  });

  it("replaces malformed sequences with U+FFFD and keeps the bytes after them", () => {
    expect(decodeUtf8Lenient(Uint8Array.of(0xc0, 0xaf))).toBe("\ufffd\ufffd");
    expect(decodeUtf8Lenient(Uint8Array.of(0xe2, 0x82))).toBe("\ufffd");
    expect(decodeUtf8Lenient(Uint8Array.of(0xe2, 0x82, 0x61))).toBe("\ufffda");
    expect(decodeUtf8Lenient(Uint8Array.of(0xed, 0xa0, 0x80))).toBe("\ufffd");
    expect(decodeUtf8Lenient(Uint8Array.of(0x61, 0xff, 0x62))).toBe("a\ufffdb");
  });

  it("never throws, and agrees with the strict decoder wherever that one accepts", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 50 }), (b) => {
        const lenient = decodeUtf8Lenient(b);
        let strict: string | undefined;
        try {
          strict = decodeUtf8(b, "t");
        } catch {
          strict = undefined;
        }
        if (strict !== undefined) expect(lenient).toBe(strict);
        else expect(lenient).toContain("\ufffd");
      }),
    );
  });
});

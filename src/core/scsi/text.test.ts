import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../errors.js";
import { checkAscii, decodeAscii, decodeAsciiStripped, decodeAsciiTrimmed } from "./text.js";

describe("ASCII fields", () => {
  it("show control and high bytes as '?' and trim the padding", () => {
    expect(decodeAscii(Uint8Array.of(0x41, 0x0a, 0x80, 0x7e))).toBe("A??~");
    expect(decodeAsciiTrimmed(Uint8Array.of(0x41, 0x20, 0x42, 0x20, 0x00, 0x20))).toBe("A B");
    expect(decodeAsciiStripped(Uint8Array.of(0x20, 0x00, 0x41, 0x20))).toBe("A");
  });

  it("refuse text that is too long or not printable", () => {
    expect(() => checkAscii("F", "abc", 2)).toThrow(LocalProtocolError);
    expect(() => checkAscii("F", "a\tb", 5)).toThrow(/index 1/);
    expect(() => checkAscii("F", "ok", 2)).not.toThrow();
  });
});

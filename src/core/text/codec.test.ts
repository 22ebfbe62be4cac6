import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { TextAccumulator, encodeText, parseText, splitText } from "./codec.js";
import { decodeUtf8, encodeUtf8 } from "../utf8.js";

const bytes = (s: string): Uint8Array => encodeUtf8(s);

describe("parseText", () => {
  it("parses NUL-terminated pairs in order", () => {
    expect(parseText(bytes("InitiatorName=iqn.x\0SessionType=Normal\0"))).toEqual([
      ["InitiatorName", "iqn.x"],
      ["SessionType", "Normal"],
    ]);
  });

  it("keeps everything after the first '=' as the value", () => {
    expect(parseText(bytes("X-a=b=c\0"))).toEqual([["X-a", "b=c"]]);
  });

  it("accepts an empty value, a missing final NUL and trailing NUL padding", () => {
    expect(parseText(bytes("SendTargets=\0"))).toEqual([["SendTargets", ""]]);
    expect(parseText(bytes("A=1\0B=2"))).toEqual([["A", "1"], ["B", "2"]]);
    expect(parseText(bytes("A=1\0\0\0\0"))).toEqual([["A", "1"]]);
    expect(parseText(new Uint8Array(0))).toEqual([]);
  });

  it("decodes UTF-8 values", () => {
    expect(parseText(bytes("InitiatorAlias=Zürich 東京\0"))).toEqual([["InitiatorAlias", "Zürich 東京"]]);
  });

  it("refuses a pair without '=' and names it", () => {
    expect(() => parseText(bytes("A=1\0Broken\0"))).toThrow(/"Broken" has no "="/);
  });

  it("refuses an empty pair between two pairs", () => {
    expect(() => parseText(bytes("A=1\0\0B=2\0"))).toThrow(RemoteProtocolError);
  });

  it("refuses a duplicate key and names it", () => {
    expect(() => parseText(bytes("MaxBurstLength=1\0MaxBurstLength=2\0"))).toThrow(/MaxBurstLength appears more than once/);
  });

  it("allows listed keys to repeat (SendTargets records)", () => {
    const text = bytes("TargetName=a\0TargetAddress=h,1\0TargetName=b\0TargetAddress=h,1\0");
    expect(parseText(text, { repeatable: new Set(["TargetName", "TargetAddress"]) })).toHaveLength(4);
  });

  it("refuses a key longer than 63 bytes", () => {
    expect(() => parseText(bytes(`${"K".repeat(64)}=1\0`))).toThrow(/more than 63/);
    expect(parseText(bytes(`X-${"K".repeat(61)}=1\0`))).toHaveLength(1);
  });

  it("refuses a key with characters outside the key-name set", () => {
    expect(() => parseText(bytes("Bad Key=1\0"))).toThrow(/invalid key name/);
  });

  it("refuses a value longer than 255 bytes, except for CHAP_C and CHAP_R up to 8192", () => {
    expect(() => parseText(bytes(`TargetAlias=${"a".repeat(256)}\0`))).toThrow(/value of TargetAlias is 256 bytes/);
    expect(parseText(bytes(`TargetAlias=${"a".repeat(255)}\0`))).toHaveLength(1);
    expect(parseText(bytes(`CHAP_C=0x${"ab".repeat(1024)}\0`))).toHaveLength(1);
    expect(() => parseText(bytes(`CHAP_C=0x${"ab".repeat(4096)}\0`))).toThrow(/more than 8192/);
  });

  it("refuses invalid UTF-8 naming the key", () => {
    const data = Uint8Array.from([...bytes("TargetAlias="), 0xc3, 0x28, 0]);
    expect(() => parseText(data)).toThrow(/value of TargetAlias: invalid UTF-8/);
  });
});

describe("encodeText", () => {
  it("encodes pairs NUL-terminated", () => {
    expect(decodeUtf8(encodeText([["A", "1"], ["B", "x y"]]), "t")).toBe("A=1\0B=x y\0");
  });

  it("refuses a bad key name or a NUL in a value as local misuse", () => {
    expect(() => encodeText([["a b", "1"]])).toThrow(LocalProtocolError);
    expect(() => encodeText([["A", "1\0"]])).toThrow(LocalProtocolError);
  });

  it("round-trips any valid pairs through parseText", () => {
    const key = fc.stringMatching(/^[A-Za-z][A-Za-z0-9.\-+@_]{0,30}$/);
    const value = fc.string({ maxLength: 60 }).filter((v) => !v.includes("\0"));
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => k, maxLength: 12 }), (pairs) => {
        expect(parseText(encodeText(pairs))).toEqual(pairs);
      }),
    );
  });
});

describe("TextAccumulator", () => {
  it("parses pairs split across three segments at arbitrary points", () => {
    const text = encodeText([["InitiatorName", "iqn.2026-11.test:a"], ["TargetName", "iqn.2026-11.test:b"], ["X-long", "v".repeat(200)]]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: text.length }), fc.integer({ min: 0, max: text.length }), (a, b) => {
        const [i, j] = a <= b ? [a, b] : [b, a];
        const acc = new TextAccumulator();
        acc.append(text.subarray(0, i));
        acc.append(text.subarray(i, j));
        acc.append(text.subarray(j));
        expect(acc.finish()).toEqual(parseText(text));
        expect(acc.length).toBe(0);
      }),
    );
  });

  it("copies segments so later changes to the caller's buffer do not leak in", () => {
    const buf = encodeText([["A", "1"]]);
    const acc = new TextAccumulator();
    acc.append(buf);
    buf.fill(0x41);
    expect(acc.finish()).toEqual([["A", "1"]]);
  });

  it("refuses text beyond its bound before buffering it", () => {
    const acc = new TextAccumulator({ maxBytes: 100, where: "Login Response" });
    acc.append(new Uint8Array(60));
    expect(() => acc.append(new Uint8Array(41))).toThrow(/Login Response: text of 101 bytes exceeds the 100-byte bound/);
    expect(acc.length).toBe(60);
  });
});

describe("splitText", () => {
  it("cuts text into segments of at most the given size that join back", () => {
    const text = encodeText([["X-a", "b".repeat(100)]]);
    const parts = splitText(text, 32);
    expect(parts.every((p) => p.length <= 32)).toBe(true);
    expect(parts.reduce((n, p) => n + p.length, 0)).toBe(text.length);
    expect(splitText(new Uint8Array(0), 8)).toHaveLength(1);
  });
});

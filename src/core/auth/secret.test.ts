import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { Secret, timingSafeEqual } from "./secret.js";

describe("Secret", () => {
  it("never shows its value in toString, JSON, template strings or inspect", () => {
    const s = Secret.fromString("hunter2-very-secret");
    expect(String(s)).toBe("[redacted]");
    expect(`${s}`).toBe("[redacted]");
    expect(JSON.stringify({ s })).toBe('{"s":"[redacted]"}');
    expect(inspect(s)).toBe("[redacted]");
    expect(inspect({ nested: { s } }, { depth: 5 })).not.toContain("hunter2");
  });

  it("gives its bytes only through reveal()", () => {
    expect(Array.from(Secret.fromString("ab").reveal())).toEqual([0x61, 0x62]);
    const raw = Uint8Array.from([1, 2, 3]);
    const s = Secret.fromBytes(raw);
    raw[0] = 9;
    expect(Array.from(s.reveal())).toEqual([1, 2, 3]);
  });
});

describe("timingSafeEqual", () => {
  it("compares equal and unequal arrays of any length", () => {
    expect(timingSafeEqual(Uint8Array.from([1, 2]), Uint8Array.from([1, 2]))).toBe(true);
    expect(timingSafeEqual(Uint8Array.from([1, 2]), Uint8Array.from([1, 3]))).toBe(false);
    expect(timingSafeEqual(Uint8Array.from([1, 2]), Uint8Array.from([1, 2, 0]))).toBe(false);
    expect(timingSafeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { Staging } from "./staging.js";

describe("a session's staging area", () => {
  it("hands out each slot once until it is given back, then says none is free", () => {
    const staging = Staging.create(64 * 1024, 16 * 1024);
    const taken = [staging.take(), staging.take(), staging.take(), staging.take()];
    expect(new Set(taken)).toEqual(new Set([0, 16384, 32768, 49152]));
    expect(staging.take()).toBeUndefined();
    staging.give(taken[2] as number);
    expect(staging.take()).toBe(taken[2]);
  });

  it("uses the first slots first, so a shallow queue stays in the same memory", () => {
    const staging = Staging.create(1024 * 1024, 16 * 1024);
    const first = staging.take() as number;
    staging.give(first);
    expect(first).toBe(0);
    expect(staging.take()).toBe(0);
  });

  it("has no slots when it has no bytes (stagingBytes: 0)", () => {
    expect(Staging.create(0, 16 * 1024).take()).toBeUndefined();
  });

  it("is shared memory, the same bytes for whoever holds its SharedArrayBuffer", () => {
    const staging = Staging.create(32 * 1024, 16 * 1024);
    new Uint8Array(staging.memory)[16384] = 0xab;
    expect(staging.bytes[16384]).toBe(0xab);
    expect(staging.memory).toBeInstanceOf(SharedArrayBuffer);
  });
});

import { describe, expect, it } from "vitest";
import { type Coverage, cover } from "./coverage.js";

function apply(...ranges: Array<[number, number]>): Coverage {
  let c: Coverage = { end: 0, ahead: undefined };
  for (const [offset, length] of ranges) c = cover(c.end, c.ahead, offset, length);
  return c;
}

describe("coverage of a command's buffer", () => {
  it("counts in-order ranges as one run from offset 0", () => {
    expect(apply([0, 512], [512, 512])).toEqual({ end: 1024, ahead: undefined });
  });

  it("does not count a repeated range twice", () => {
    expect(apply([0, 1024], [0, 1024]).end).toBe(1024);
  });

  it("does not let a hole pass for data", () => {
    expect(apply([0, 512], [1024, 512])).toEqual({ end: 512, ahead: [[1024, 1536]] });
  });

  it("joins ranges past a hole once the hole is filled, in any order", () => {
    expect(apply([1536, 512], [512, 512], [1024, 512])).toEqual({ end: 0, ahead: [[512, 2048]] });
    expect(apply([1536, 512], [512, 512], [1024, 512], [0, 512])).toEqual({ end: 2048, ahead: undefined });
  });

  it("ignores empty ranges", () => {
    expect(apply([4096, 0])).toEqual({ end: 0, ahead: undefined });
  });
});

import { describe, expect, it } from "vitest";
import { capitalise, formatFields, formatTable, hex, toJson, words, yesNo } from "./format.js";

describe("formatTable", () => {
  it("aligns columns two spaces apart, right-aligning where asked", () => {
    const text = formatTable(
      [{ header: "LUN", align: "right" }, { header: "TYPE" }, { header: "SIZE", align: "right" }, { header: "PRODUCT" }],
      [
        ["0", "controller", "-", "Controller"],
        ["12", "disk", "16 MiB", "VIRTUAL-DISK"],
      ],
    );
    expect(text.split("\n")).toEqual([
      "LUN  TYPE          SIZE  PRODUCT",
      "  0  controller       -  Controller",
      " 12  disk        16 MiB  VIRTUAL-DISK",
    ]);
  });

  it("leaves no trailing blanks when the last column is short", () => {
    const text = formatTable([{ header: "A" }, { header: "LONG HEADER" }], [["x", ""]]);
    for (const line of text.split("\n")) expect(line).toBe(line.trimEnd());
  });

  it("counts a multi-byte character as one column", () => {
    const text = formatTable([{ header: "T", align: "right" }, { header: "X" }], [["5 µs", "a"], ["10 ms", "b"]]);
    expect(text.split("\n")[1]).toBe(" 5 µs  a");
  });

  it("prints the header alone for no rows", () => {
    expect(formatTable([{ header: "TARGET" }, { header: "PORTAL" }], [])).toBe("TARGET  PORTAL");
  });
});

describe("formatFields", () => {
  it("aligns the values after the longest key and drops undefined ones", () => {
    expect(formatFields([["Vendor", "IET"], ["Device type", "disk"], ["Missing", undefined]])).toBe("Vendor:       IET\nDevice type:  disk");
  });

  it("indents every line", () => {
    expect(formatFields([["A", "1"], ["BB", "2"]], "  ")).toBe("  A:   1\n  BB:  2");
  });
});

describe("toJson", () => {
  it("writes a bigint as a number when exact and as a string beyond 2^53", () => {
    expect(JSON.parse(toJson({ small: 5n, big: 2n ** 60n }))).toEqual({ small: 5, big: "1152921504606846976" });
  });

  it("writes bytes as hex and drops undefined fields", () => {
    expect(JSON.parse(toJson({ data: new Uint8Array([0, 0xab, 0x10]), gone: undefined }))).toEqual({ data: "00ab10" });
  });
});

describe("words and small helpers", () => {
  it("splits camelCase keys into words", () => {
    expect(words("maximumTransferLength")).toBe("maximum transfer length");
    expect(words("thresholdExponent")).toBe("threshold exponent");
    expect(capitalise(words("optimalTransferLengthGranularity"))).toBe("Optimal transfer length granularity");
  });

  it("prints booleans as yes/no and numbers as hex", () => {
    expect(yesNo(true)).toBe("yes");
    expect(yesNo(false)).toBe("no");
    expect(yesNo(undefined)).toBeUndefined();
    expect(hex(0x83)).toBe("0x83");
    expect(hex(0x4c0, 4)).toBe("0x04c0");
  });
});

describe("numbers in JSON", () => {
  it("rounds each figure to what it means: ms, µs and IOPS to 3 decimals, seconds to 6, rates to whole bytes, percentages to 1", () => {
    const doc = JSON.parse(
      toJson({ elapsedMs: 77.16847200000001, userSeconds: 0.1234567891, bytesPerSecond: 1234.5678, iops: 99.98765, percentOfOneCore: 12.3456, latencyUs: { min: 10.12345, p99: 99.99999 }, ratio: 0.1 + 0.2 }),
    ) as Record<string, unknown>;
    expect(doc).toEqual({ elapsedMs: 77.168, userSeconds: 0.123457, bytesPerSecond: 1235, iops: 99.988, percentOfOneCore: 12.3, latencyUs: { min: 10.123, p99: 100 }, ratio: 0.3 });
  });

  it("leaves integers, strings and big values alone", () => {
    expect(JSON.parse(toJson({ blocks: 2 ** 40, lba: 7n, name: "x" }))).toEqual({ blocks: 2 ** 40, lba: 7, name: "x" });
  });
});

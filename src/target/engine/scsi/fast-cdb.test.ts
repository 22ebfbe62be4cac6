import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCdb } from "../../../core/scsi/parse-cdb.js";
import { parseTransferCdb } from "./fast-cdb.js";

describe("parseTransferCdb", () => {
  it("reads READ/WRITE(10) and (16) exactly as core/scsi parseCdb does, for any bytes (property)", () => {
    fc.assert(
      fc.property(fc.constantFrom(0x28, 0x2a, 0x88, 0x8a), fc.uint8Array({ minLength: 16, maxLength: 16 }), (opcode, bytes) => {
        const cdb = bytes.slice(0, opcode < 0x80 ? 10 : 16);
        cdb[0] = opcode;
        expect(parseTransferCdb(cdb)).toEqual(parseCdb(cdb));
      }),
      { numRuns: 2000 },
    );
  });

  it("follows the 64-bit rule at 2^53: a number below it, a bigint from it on", () => {
    const cdb = new Uint8Array(16);
    cdb[0] = 0x88;
    const view = new DataView(cdb.buffer);
    view.setBigUint64(2, 2n ** 53n - 1n);
    expect(parseTransferCdb(cdb)?.lba).toBe(Number.MAX_SAFE_INTEGER);
    view.setBigUint64(2, 2n ** 53n);
    expect(parseTransferCdb(cdb)?.lba).toBe(2n ** 53n);
  });

  it("leaves every other CDB to parseCdb", () => {
    expect(parseTransferCdb(new Uint8Array([0x12, 0, 0, 0, 36, 0]))).toBeUndefined();
    expect(parseTransferCdb(new Uint8Array([0x28, 0, 0]))).toBeUndefined();
  });
});

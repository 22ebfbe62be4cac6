import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../../core/errors.js";
import { Opcode, RESERVED_TAG } from "../../core/pdu/opcodes.js";
import type { DataOutPdu } from "../../core/pdu/types.js";
import { type WriteLimits, WriteTransfer } from "./write-transfer.js";

const LIMITS: WriteLimits = { immediateData: true, initialR2T: false, firstBurstLength: 1024, maxBurstLength: 2048, maxOutstandingR2T: 2 };

function dataOut(ttt: number, dataSN: number, offset: number, length: number, final: boolean, fill = 1): DataOutPdu {
  return {
    opcode: Opcode.DataOut,
    final,
    lun: 0,
    initiatorTaskTag: 7,
    targetTransferTag: ttt,
    expStatSN: 0,
    dataSN,
    bufferOffset: offset,
    data: new Uint8Array(length).fill(fill),
  };
}

function transfer(length: number, o: { final?: boolean; immediate?: number; limits?: Partial<WriteLimits> } = {}): WriteTransfer {
  return new WriteTransfer(
    { itt: 7, length, final: o.final ?? true, immediate: new Uint8Array(o.immediate ?? 0).fill(9), immediatePlaced: false },
    new Uint8Array(length),
    { ...LIMITS, ...o.limits },
  );
}

function tags(): () => number {
  let next = 100;
  return () => next++;
}

describe("WriteTransfer", () => {
  it("solicits what the immediate and unsolicited data did not bring, in bursts of MaxBurstLength, two at a time", () => {
    const t = transfer(6000, { final: false, immediate: 512 });
    t.solicit(6000);
    expect(t.planR2Ts(tags())).toEqual([]);
    expect(t.accept(dataOut(RESERVED_TAG, 0, 512, 512, true), false)).toBe("sequence-done");
    const first = t.planR2Ts(tags());
    expect(first.map((p) => [p.offset, p.length, p.r2tSN])).toEqual([
      [1024, 2048, 0],
      [3072, 2048, 1],
    ]);
    expect(t.accept(dataOut(first[0]!.targetTransferTag, 0, 1024, 2048, true), false)).toBe("sequence-done");
    const second = t.planR2Ts(() => 500);
    expect(second.map((p) => [p.targetTransferTag, p.offset, p.length, p.r2tSN])).toEqual([[500, 5120, 880, 2]]);
    t.accept(dataOut(first[1]!.targetTransferTag, 0, 3072, 1024, false), false);
    t.accept(dataOut(first[1]!.targetTransferTag, 1, 4096, 1024, true), false);
    expect(t.complete).toBe(false);
    t.accept(dataOut(500, 0, 5120, 880, true), false);
    expect(t.complete).toBe(true);
    expect(t.r2tCount).toBe(3);
    expect(t.buffer?.subarray(0, 512).every((b) => b === 9)).toBe(true);
    expect(t.buffer?.subarray(512).every((b) => b === 1)).toBe(true);
  });

  it("asks for nothing when the command needs less than arrived unsolicited", () => {
    const t = transfer(10000, { immediate: 1024 });
    t.solicit(512);
    expect(t.planR2Ts(tags())).toEqual([]);
    expect(t.complete).toBe(true);
  });

  it("refuses immediate data with ImmediateData=No, beyond FirstBurstLength, and unsolicited data with InitialR2T=Yes", () => {
    expect(() => transfer(4096, { immediate: 512, limits: { immediateData: false } })).toThrow(/ImmediateData=No/);
    expect(() => transfer(4096, { immediate: 2048 })).toThrow(/FirstBurstLength 1024/);
    expect(() => transfer(4096, { final: false, limits: { initialR2T: true } })).toThrow(/InitialR2T=Yes/);
  });

  it("names the field of a Data-Out that breaks its sequence", () => {
    const t = transfer(4096, { final: false });
    expect(() => t.accept(dataOut(RESERVED_TAG, 1, 0, 512, false), false)).toThrow(/DataSN 1, expected 0/);
    expect(() => t.accept(dataOut(RESERVED_TAG, 0, 512, 512, false), false)).toThrow(/Buffer Offset 512, expected 0/);
    expect(() => t.accept(dataOut(RESERVED_TAG, 0, 0, 2048, true), false)).toThrow(/past min\(FirstBurstLength/);
    expect(() => t.accept(dataOut(42, 0, 0, 512, true), false)).toThrow(/no outstanding R2T has this Target Transfer Tag/);
    expect(() => t.accept(dataOut(RESERVED_TAG, 0, 0, 1024, false), false)).toThrow(/without the F bit/);
  });

  it("refuses an early F bit on solicited data, and data past the R2T", () => {
    const t = transfer(4096, { limits: { initialR2T: true } });
    t.solicit(4096);
    const [r2t] = t.planR2Ts(tags());
    expect(() => t.accept(dataOut(r2t!.targetTransferTag, 0, 0, 512, true), false)).toThrow(RemoteProtocolError);
    const u = transfer(4096, { limits: { initialR2T: true } });
    u.solicit(4096);
    const [r] = u.planR2Ts(tags());
    expect(() => u.accept(dataOut(r!.targetTransferTag, 0, 0, 4096, true), false)).toThrow(/past the R2T's range \[0, 2048\)/);
  });

  it("says which placements are the exact next piece of an open sequence", () => {
    const t = transfer(4096, { final: false, immediate: 256 });
    expect(t.expects(RESERVED_TAG, 256, 512)).toBe(true);
    expect(t.expects(RESERVED_TAG, 0, 512)).toBe(false);
    expect(t.expects(RESERVED_TAG, 256, 1024)).toBe(false);
    expect(t.expects(99, 256, 512)).toBe(false);
  });

  it("stops soliciting once abandoned but drains what was asked", () => {
    const t = transfer(8192, { limits: { initialR2T: true } });
    t.solicit(8192);
    const plans = t.planR2Ts(tags());
    expect(plans).toHaveLength(2);
    t.abandon();
    t.accept(dataOut(plans[0]!.targetTransferTag, 0, 0, 2048, true), false);
    expect(t.planR2Ts(tags())).toEqual([]);
    expect(t.quiet).toBe(false);
    t.accept(dataOut(plans[1]!.targetTransferTag, 0, 2048, 2048, true), false);
    expect(t.quiet).toBe(true);
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DataInPdu } from "../../core/pdu/types.js";
import { type DataInOptions, dataInCount, dataInPiece, resendDataIn, sendDataIn } from "./data-in.js";

function options(maxSegment: number, maxBurst: number, o: Partial<DataInOptions> = {}): DataInOptions {
  return {
    lun: 0,
    initiatorTaskTag: 7,
    statSN: 100,
    expCmdSN: 5,
    maxCmdSN: 20,
    maxSegment,
    maxBurst,
    status: { status: 0, statSN: 100, residualOverflow: false, residualUnderflow: false, residualCount: 0 },
    ...o,
  };
}

function sent(data: Uint8Array, o: DataInOptions): DataInPdu[] {
  const out: DataInPdu[] = [];
  sendDataIn((pdu) => out.push(pdu), data, o);
  return out;
}

describe("Data-In splitting and replicas", () => {
  it("splits at the segment size and ends a sequence every MaxBurstLength, with status on the last PDU", () => {
    const pdus = sent(new Uint8Array(5000), options(1000, 2048));
    expect(pdus.map((p) => [p.dataSN, p.bufferOffset, p.data.length, p.final, p.hasStatus])).toEqual([
      [0, 0, 1000, false, false],
      [1, 1000, 1000, false, false],
      [2, 2000, 48, true, false],
      [3, 2048, 1000, false, false],
      [4, 3048, 1000, false, false],
      [5, 4048, 48, true, false],
      [6, 4096, 904, true, true],
    ]);
  });

  it("sets the A bit with the DataACK tag on the last PDU of every sequence but the final one", () => {
    const pdus = sent(new Uint8Array(5000), options(1000, 2048, { ackTag: 0x99 }));
    expect(pdus.filter((p) => p.acknowledge).map((p) => [p.dataSN, p.targetTransferTag])).toEqual([
      [2, 0x99],
      [5, 0x99],
    ]);
  });

  it("makes any run of PDUs again exactly as they were first sent, and counts them without sending", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20_000 }),
        fc.integer({ min: 1, max: 4096 }),
        fc.integer({ min: 1, max: 9000 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 60 }),
        (length, maxSegment, maxBurst, from, run) => {
          const data = Uint8Array.from({ length }, (_, i) => (i * 7) & 0xff);
          const o = options(maxSegment, maxBurst, { ackTag: 3 });
          const all = sent(data, o);
          expect(dataInCount(length, maxSegment, maxBurst)).toBe(all.length);
          expect(dataInPiece(length, maxSegment, maxBurst, all.length)).toBeUndefined();
          const again: DataInPdu[] = [];
          const count = resendDataIn((pdu) => again.push(pdu), length, (offset, end) => data.subarray(offset, end), o, from, from + run);
          expect(count).toBe(again.length);
          expect(again).toEqual(all.slice(from, from + run));
        },
      ),
      { numRuns: 300 },
    );
  });
});

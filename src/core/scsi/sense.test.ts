import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IscsiError, LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { fromHex, hexOf } from "../hex.js";
import type { SenseInput, SenseKeySpecific } from "./sense.js";
import {
  buildDescriptorSense,
  buildFixedSense,
  buildInvalidFieldSense,
  decodeSense,
  describeSense,
  toSenseSummary,
} from "./sense.js";
import { SenseKey } from "./status.js";
import { U64_MAX, u64Result } from "./wire.js";

const h = (spaced: string): string => spaced.replace(/\s+/g, "");
const bytes = (spaced: string): Uint8Array => fromHex("test sense", h(spaced));

describe("decodeSense on fixed-format sense data", () => {
  it("decodes LOGICAL BLOCK ADDRESS OUT OF RANGE with the information field", () => {
    const sense = decodeSense(bytes("f0 00 05 00 00 10 00 0a 00 00 00 00 21 00 00 00 00 00"));
    expect(sense).toMatchObject({
      format: "fixed",
      responseCode: 0x70,
      current: true,
      deferred: false,
      key: 5,
      keyName: "ILLEGAL REQUEST",
      asc: 0x21,
      ascq: 0x00,
      description: "LOGICAL BLOCK ADDRESS OUT OF RANGE",
      information: 0x1000,
      senseKeySpecific: undefined,
      truncated: false,
    });
    expect(describeSense(sense)).toBe("ILLEGAL REQUEST: LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)");
  });

  it("ignores the INFORMATION field when VALID is clear", () => {
    expect(decodeSense(bytes("70 00 05 00 00 10 00 0a 00 00 00 00 21 00 00 00 00 00")).information).toBeUndefined();
  });

  it("decodes a field pointer into the CDB with its bit pointer", () => {
    const sense = decodeSense(bytes("70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 cc 00 02"));
    expect(sense.senseKeySpecific).toEqual({ kind: "field-pointer", commandData: true, bitPointer: 4, fieldPointer: 2 });
    expect(describeSense(sense)).toBe("ILLEGAL REQUEST: INVALID FIELD IN CDB (0x24/0x00)");
  });

  it("decodes progress, retry count and unit attention overflow by sense key", () => {
    expect(decodeSense(bytes("70 00 02 00 00 00 00 0a 00 00 00 00 04 04 00 80 80 00")).senseKeySpecific).toEqual({ kind: "progress", progress: 0x8000 });
    expect(decodeSense(bytes("70 00 03 00 00 00 00 0a 00 00 00 00 11 00 00 80 00 07")).senseKeySpecific).toEqual({ kind: "actual-retry-count", count: 7 });
    expect(decodeSense(bytes("70 00 06 00 00 00 00 0a 00 00 00 00 29 00 00 81 00 00")).senseKeySpecific).toEqual({ kind: "unit-attention-queue-overflow", overflow: true });
    expect(decodeSense(bytes("70 00 0a 00 00 00 00 0a 00 00 00 00 0d 00 00 a8 00 10")).senseKeySpecific).toEqual({ kind: "segment-pointer", segmentDescriptor: true, bitPointer: 0, fieldPointer: 16 });
  });

  it("reads FILEMARK, EOM, ILI, deferred errors and the FRU code", () => {
    const sense = decodeSense(bytes("71 00 e8 00 00 00 00 0a 00 00 00 01 00 01 07 00 00 00"));
    expect(sense).toMatchObject({ deferred: true, current: false, filemark: true, eom: true, ili: true, key: 8, fieldReplaceableUnit: 7, commandSpecific: 1 });
    expect(describeSense(sense)).toBe("BLANK CHECK: FILEMARK DETECTED (0x00/0x01)");
  });

  it("accepts short sense: ASC and ASCQ past ADDITIONAL SENSE LENGTH read as zero", () => {
    const sense = decodeSense(bytes("70 00 06 00 00 00 00 00"));
    expect(sense).toMatchObject({ key: 6, asc: 0, ascq: 0, description: "NO ADDITIONAL SENSE INFORMATION", truncated: false });
    const cut = decodeSense(bytes("70 00 06 00 00 00 00 0a 00 00 00 00"));
    expect(cut).toMatchObject({ key: 6, asc: 0, truncated: true });
  });
});

describe("decodeSense on descriptor-format sense data", () => {
  it("decodes the information, sense-key-specific and block commands descriptors", () => {
    const sense = decodeSense(
      bytes(`72 05 24 00 00 00 00 1c
             00 0a 80 00 01 02 03 04 05 06 07 08
             02 06 00 00 c8 00 05 00
             05 02 00 20
             09 02 aa bb`),
    );
    expect(sense).toMatchObject({
      format: "descriptor",
      key: 5,
      asc: 0x24,
      information: 0x0102030405060708n,
      senseKeySpecific: { kind: "field-pointer", commandData: true, bitPointer: 0, fieldPointer: 5 },
      ili: true,
      truncated: false,
    });
    expect(sense.descriptors.map((d) => d.type)).toEqual([0x00, 0x02, 0x05, 0x09]);
  });

  it("stops at a descriptor that runs past the data and says truncated", () => {
    const sense = decodeSense(bytes("72 06 29 00 00 00 00 0c 00 0a 80 00 00 00"));
    expect(sense).toMatchObject({ key: 6, asc: 0x29, information: undefined, descriptors: [], truncated: true });
  });
});

describe("decodeSense refuses data that is not sense data", () => {
  it("throws RemoteProtocolError for an empty buffer, a bad response code, or too few bytes", () => {
    expect(() => decodeSense(new Uint8Array(0))).toThrow(RemoteProtocolError);
    expect(() => decodeSense(bytes("7f 00 05"))).toThrow(/RESPONSE CODE 0x7f/);
    expect(() => decodeSense(bytes("70 00"))).toThrow(RemoteProtocolError);
    expect(() => decodeSense(bytes("72 05 24"))).toThrow(RemoteProtocolError);
  });
});

const sksArb: fc.Arbitrary<[number, SenseKeySpecific]> = fc.oneof(
  fc.record({ commandData: fc.boolean(), bitPointer: fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined }), fieldPointer: fc.integer({ min: 0, max: 0xffff }) }).map((f) => [SenseKey.IllegalRequest, { kind: "field-pointer", ...f }] as [number, SenseKeySpecific]),
  fc.integer({ min: 0, max: 0xffff }).map((count) => [SenseKey.MediumError, { kind: "actual-retry-count", count }] as [number, SenseKeySpecific]),
  fc.integer({ min: 0, max: 0xffff }).map((progress) => [SenseKey.NotReady, { kind: "progress", progress }] as [number, SenseKeySpecific]),
  fc.boolean().map((overflow) => [SenseKey.UnitAttention, { kind: "unit-attention-queue-overflow", overflow }] as [number, SenseKeySpecific]),
  fc.integer({ min: 0, max: 0x7fffff }).map((value) => [SenseKey.DataProtect, { kind: "other", value }] as [number, SenseKeySpecific]),
);

describe("sense builders", () => {
  it("build 18-byte fixed sense for INVALID FIELD IN CDB with the field pointer", () => {
    expect(hexOf(buildInvalidFieldSense({ inCdb: true, field: 2, bit: 7 }))).toBe(h("70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 cf 00 02"));
    expect(hexOf(buildInvalidFieldSense({ inCdb: false, field: 20, asc: 0x1a, format: "descriptor" }))).toBe(h("72 05 1a 00 00 00 00 08 02 06 00 00 80 00 14 00"));
  });

  it("build fixed sense with VALID, INFORMATION and the flags", () => {
    expect(hexOf(buildFixedSense({ key: SenseKey.MediumError, asc: 0x11, ascq: 0, information: 0x1234, ili: true }))).toBe(h("f0 00 23 00 00 12 34 0a 00 00 00 00 11 00 00 00 00 00"));
  });

  it("refuse an INFORMATION value fixed format cannot hold, and out-of-range codes", () => {
    expect(() => buildFixedSense({ key: 3, asc: 0x11, ascq: 0, information: 2 ** 32 })).toThrow(LocalProtocolError);
    expect(() => buildFixedSense({ key: 16, asc: 0, ascq: 0 })).toThrow(LocalProtocolError);
    expect(() => buildDescriptorSense({ key: 5, asc: 256, ascq: 0 })).toThrow(LocalProtocolError);
  });

  it("round-trip through decodeSense in both formats", () => {
    fc.assert(
      fc.property(
        sksArb,
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.record({
          deferred: fc.boolean(),
          fieldReplaceableUnit: fc.integer({ min: 1, max: 255 }),
          filemark: fc.boolean(),
          eom: fc.boolean(),
          ili: fc.boolean(),
        }),
        fc.bigInt({ min: 0n, max: U64_MAX }),
        fc.bigInt({ min: 1n, max: U64_MAX }),
        ([key, sks], asc, ascq, flags, information, commandSpecific) => {
          const input: SenseInput = { key, asc, ascq, senseKeySpecific: sks, ...flags };
          const descriptor = decodeSense(buildDescriptorSense({ ...input, information, commandSpecific }));
          expect(descriptor).toMatchObject({ format: "descriptor", key, asc, ascq, ...flags, senseKeySpecific: sks, information: u64Result(information), commandSpecific: u64Result(commandSpecific), truncated: false });
          const fixed = decodeSense(buildFixedSense({ ...input, information: information & 0xffffffffn, commandSpecific: (commandSpecific & 0xffffffffn) || 1n }));
          expect(fixed).toMatchObject({ format: "fixed", key, asc, ascq, ...flags, senseKeySpecific: sks, information: Number(information & 0xffffffffn), truncated: false });
        },
      ),
    );
  });
});

describe("sense summaries", () => {
  it("give the SenseSummary shape ScsiError carries", () => {
    const sense = decodeSense(buildFixedSense({ key: SenseKey.NotReady, asc: 0x3a, ascq: 0 }));
    expect(toSenseSummary(sense)).toEqual({ key: 2, asc: 0x3a, ascq: 0, description: "MEDIUM NOT PRESENT" });
    expect(describeSense(sense)).toBe("NOT READY: MEDIUM NOT PRESENT (0x3a/0x00)");
  });

  it("never throw anything but IscsiError on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        try {
          describeSense(decodeSense(data));
        } catch (e) {
          expect(e).toBeInstanceOf(IscsiError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

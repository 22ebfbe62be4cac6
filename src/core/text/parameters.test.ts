import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors.js";
import { DEFAULT_INITIATOR_PROPOSAL, type OperationalProposal, validateProposal } from "./parameters.js";

function check(change: Record<string, unknown>, prefix?: string): () => void {
  return () => validateProposal({ ...DEFAULT_INITIATOR_PROPOSAL, ...change } as OperationalProposal, prefix);
}

describe("validateProposal", () => {
  it("refuses a number outside its RFC 7143 §13 range, naming the field, the value, the range and the key", () => {
    expect(check({ maxBurstLength: -5 }, "proposal.")).toThrow(ConfigError);
    expect(check({ maxBurstLength: -5 }, "proposal.")).toThrow(
      /^proposal\.maxBurstLength is -5: it must be a whole number from 512 to 16777215 \(MaxBurstLength, RFC 7143 §13\.13\)$/,
    );
    expect(check({ maxRecvDataSegmentLength: 1 })).toThrow(/^maxRecvDataSegmentLength is 1: it must be a whole number from 512 to 16777215 \(MaxRecvDataSegmentLength/);
    expect(check({ errorRecoveryLevel: 5 })).toThrow(/errorRecoveryLevel is 5: it must be a whole number from 0 to 2 \(ErrorRecoveryLevel, RFC 7143 §13\.20\)/);
    expect(check({ defaultTime2Wait: 3601 })).toThrow(/from 0 to 3600/);
    expect(check({ maxOutstandingR2T: 0 })).toThrow(/maxOutstandingR2T is 0/);
    expect(check({ iscsiProtocolLevel: 32 })).toThrow(/iscsiProtocolLevel is 32: it must be a whole number from 0 to 31/);
  });

  it("refuses numbers that are not whole, and values of the wrong type", () => {
    expect(check({ firstBurstLength: 1024.5 })).toThrow(/firstBurstLength is 1024\.5/);
    expect(check({ maxConnections: Number.NaN })).toThrow(/maxConnections is NaN/);
    expect(check({ maxBurstLength: "65536" })).toThrow(/maxBurstLength is "65536": it must be a whole number/);
    expect(check({ initialR2T: "Yes" })).toThrow(/initialR2T is "Yes": it must be true or false \(InitialR2T, RFC 7143 §13\.10\)/);
  });

  it("refuses a digest list that is empty or holds anything but the wire tokens CRC32C and None", () => {
    expect(check({ headerDigest: ["crc32c"] }, "proposal.")).toThrow(
      /^proposal\.headerDigest is \["crc32c"\]: it must be a non-empty list of "CRC32C", "None" \(in order of preference\) \(HeaderDigest, RFC 7143 §13\.1\)$/,
    );
    expect(check({ dataDigest: [] })).toThrow(/dataDigest is \[\]/);
    expect(check({ taskReporting: ["Bogus"] })).toThrow(/taskReporting is \["Bogus"\].*"RFC3720", "ResponseFence", "FastAbort"/);
  });

  it("refuses a FirstBurstLength above MaxBurstLength (RFC 7143 §13.14)", () => {
    expect(check({ firstBurstLength: 131072, maxBurstLength: 65536 }, "proposal.")).toThrow(
      /proposal\.firstBurstLength 131072 exceeds proposal\.maxBurstLength 65536.*§13\.14/,
    );
  });
});

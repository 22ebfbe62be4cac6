import { describe, expect, it } from "vitest";
import { ConfigError } from "../core/errors.js";
import { buildProposal, checkSessionOptions, type DigestPreference, digestList, type SessionOptions } from "./options.js";

const BASE: SessionOptions = { portal: "127.0.0.1", targetName: "iqn.2026-11.test:disk" };

describe("digestList", () => {
  it("takes digest preferences in any case and spacing and gives them as RFC 7143 §13.1 spells them", () => {
    expect(digestList("crc32c", ["None"])).toEqual(["CRC32C"]);
    expect(digestList("none", ["CRC32C"])).toEqual(["None"]);
    expect(digestList("None, crc32c" as DigestPreference, ["None"])).toEqual(["None", "CRC32C"]);
    expect(digestList("CRC32C,None", ["None"])).toEqual(["CRC32C", "None"]);
  });

  it("refuses anything else with a ConfigError naming the option and the allowed values", () => {
    for (const bad of ["crc33", "", "crc32c,crc32c", "crc32c,none,crc32c", "md5"]) {
      expect(() => digestList(bad as DigestPreference, ["None"], "dataDigest"), bad).toThrow(ConfigError);
      expect(() => digestList(bad as DigestPreference, ["None"], "dataDigest"), bad).toThrow(
        /^dataDigest is ".*": it must be "None", "CRC32C", "CRC32C,None" or "None,CRC32C" \(any case; RFC 7143 §13\.1\)$/,
      );
    }
  });
});

describe("buildProposal", () => {
  it("normalises the digests of a proposal given in lowercase", () => {
    const proposal = buildProposal({ ...BASE, proposal: { headerDigest: ["crc32c", "none"] as never } });
    expect(proposal.headerDigest).toEqual(["CRC32C", "None"]);
  });

  it("checks the proposal against RFC 7143 §13, naming the option as the caller wrote it", () => {
    expect(() => buildProposal({ ...BASE, proposal: { maxBurstLength: -5 } })).toThrow(/^proposal\.maxBurstLength is -5: it must be a whole number from 512 to 16777215/);
    expect(() => buildProposal({ ...BASE, proposal: { errorRecoveryLevel: 5 } })).toThrow(/^proposal\.errorRecoveryLevel is 5/);
  });
});

describe("checkSessionOptions", () => {
  it("refuses timeouts and counts that are not whole numbers in range, naming the option", () => {
    expect(() => checkSessionOptions({ ...BASE, loginTimeoutMs: 0 })).toThrow(/^loginTimeoutMs is 0: it must be a whole number 1 or more$/);
    expect(() => checkSessionOptions({ ...BASE, commandBudgetMs: Number.POSITIVE_INFINITY })).toThrow(/^commandBudgetMs is Infinity/);
    expect(() => checkSessionOptions({ ...BASE, keepAlive: { intervalMs: 1000, timeoutMs: -1 } })).toThrow(/^keepAlive\.timeoutMs is -1/);
    expect(() => checkSessionOptions({ ...BASE, recovery: { maxAttempts: 0 } })).toThrow(/^recovery\.maxAttempts is 0: it must be a whole number from 1 to 1000$/);
    expect(() => checkSessionOptions({ ...BASE, waitForTargetMs: "5000" as never })).toThrow(/^waitForTargetMs is "5000"/);
  });

  it("gives the initiator name in its normalised form, and refuses one that is no iSCSI name", () => {
    expect(checkSessionOptions({ ...BASE, initiatorName: "IQN.2026-01.Com.Example:Host" })).toBe("iqn.2026-01.com.example:host");
    expect(() => checkSessionOptions({ ...BASE, initiatorName: "iqn.2026-01.x:a=b" })).toThrow(/^initiatorName "iqn\.2026-01\.x:a=b" is not an iSCSI name: the character "=" is not allowed/);
  });
});

describe("checkSessionOptions: connectionPolicy", () => {
  it("takes the two policies and refuses anything else with a ConfigError naming them", () => {
    expect(() => checkSessionOptions({ ...BASE, connectionPolicy: "round-robin" })).not.toThrow();
    expect(() => checkSessionOptions({ ...BASE, connectionPolicy: "least-queue-depth" })).not.toThrow();
    for (const bad of ["roundrobin", "", "fastest", 1]) {
      expect(() => checkSessionOptions({ ...BASE, connectionPolicy: bad as never }), String(bad)).toThrow(ConfigError);
      expect(() => checkSessionOptions({ ...BASE, connectionPolicy: bad as never }), String(bad)).toThrow(/^connectionPolicy is .*: it must be "round-robin" or "least-queue-depth"$/);
    }
  });
});

describe("buildProposal: error recovery", () => {
  it("offers Time2Retain 0 below ERL 2, and the RFC's 20 s when ERL 2 is asked for without one", () => {
    expect(buildProposal(BASE).defaultTime2Retain).toBe(0);
    expect(buildProposal({ ...BASE, proposal: { errorRecoveryLevel: 1 } }).defaultTime2Retain).toBe(0);
    expect(buildProposal({ ...BASE, proposal: { errorRecoveryLevel: 2 } }).defaultTime2Retain).toBe(20);
    expect(buildProposal({ ...BASE, proposal: { errorRecoveryLevel: 2, defaultTime2Retain: 5 } }).defaultTime2Retain).toBe(5);
  });
});

describe("checkSessionOptions: commandBatching", () => {
  it("takes false or a depth and a batch of two or more, and names the field that is wrong", () => {
    expect(() => checkSessionOptions({ ...BASE, commandBatching: false })).not.toThrow();
    expect(() => checkSessionOptions({ ...BASE, commandBatching: { depth: 8, batch: 2 } })).not.toThrow();
    expect(() => checkSessionOptions({ ...BASE, commandBatching: { depth: 0, batch: 4 } })).toThrow(/^commandBatching\.depth is 0: it must be a whole number 1 or more$/);
    expect(() => checkSessionOptions({ ...BASE, commandBatching: { depth: 16, batch: 1 } })).toThrow(/^commandBatching\.batch is 1: it must be a whole number 2 or more$/);
  });
});

describe("checkSessionOptions: busyPollUs", () => {
  it("takes a whole number of microseconds up to a second, 0 meaning off", () => {
    expect(() => checkSessionOptions({ ...BASE, busyPollUs: 0 })).not.toThrow();
    expect(() => checkSessionOptions({ ...BASE, busyPollUs: 250 })).not.toThrow();
    expect(() => checkSessionOptions({ ...BASE, busyPollUs: -1 })).toThrow(/^busyPollUs is -1: it must be a whole number from 0 to 1000000$/);
    expect(() => checkSessionOptions({ ...BASE, busyPollUs: 2.5 })).toThrow(/^busyPollUs is 2.5: it must be a whole number from 0 to 1000000$/);
  });
});

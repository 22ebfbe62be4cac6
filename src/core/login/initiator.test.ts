import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { inspect } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chapResponse } from "../auth/chap.js";
import type { HashFunction } from "../auth/hash.js";
import { Secret } from "../auth/secret.js";
import { crc32c } from "../digest/crc32c.js";
import { AuthenticationError, ConfigError, LoginError, NegotiationError, RemoteProtocolError } from "../errors.js";
import { Framer, decodePdu } from "../pdu/index.js";
import { LoginStage, Opcode } from "../pdu/opcodes.js";
import type { LoginRequestPdu, LoginResponsePdu } from "../pdu/types.js";
import { encodeText, parseText } from "../text/codec.js";
import type { OperationalProposal } from "../text/parameters.js";
import { DEFAULT_INITIATOR_PROPOSAL, DEFAULT_TARGET_POLICY } from "../text/parameters.js";
import { formatHex, parseBinary } from "../text/values.js";
import type { LoginResult, LoginStep } from "./initiator.js";
import { InitiatorLogin } from "./initiator.js";
import { INITIATOR_SECRET, ISID, TARGET_NAME, TARGET_SECRET, makeInitiator, makeTarget } from "./login.test-util.js";
import { runLogin, seededRandomBytes } from "./pair.test-util.js";

const hash: HashFunction = (algorithm, data) => new Uint8Array(createHash(algorithm).update(data).digest());

function completed(step: LoginStep): LoginResult {
  if (step.kind !== "complete") throw new Error(`expected a completed login, got ${step.kind}`);
  return step.result;
}

const textOf = (pdu: { data: Uint8Array }): Map<string, string> => new Map(parseText(pdu.data));

describe("a whole login, initiator to target in memory", () => {
  it("completes without authentication and both sides agree", () => {
    const target = makeTarget(hash);
    const out = runLogin(makeInitiator(hash), target, { wire: true });
    const r = completed(out.initiator);
    if (out.target.kind !== "complete") throw new Error("target did not complete");
    expect(r.authenticated).toBe("none");
    expect(r.tsih).toBe(0x100);
    expect(r.targetPortalGroupTag).toBe(1);
    expect(r.session).toEqual({ ...out.target.result.session, initiatorName: r.session.initiatorName });
    expect(r.session.targetName).toBe(TARGET_NAME);
    expect(r.connection.maxRecvDataSegmentLength).toBe(out.target.result.connection.maxSendDataSegmentLength);
    expect(r.connection.maxSendDataSegmentLength).toBe(out.target.result.connection.maxRecvDataSegmentLength);
    // RFC 7143 §11.13.4: StatSN advances by one per login response.
    expect(out.transcript.responses.map((p) => p.statSN)).toEqual([0x1000, 0x1001]);
    expect(r.statSN).toBe(0x1001);
    expect(out.transcript.requests[1]?.expStatSN).toBe(0x1001);
  });

  it("starts in the security stage with AuthMethod=None and then offers the operational keys", () => {
    const out = runLogin(makeInitiator(hash), makeTarget(hash));
    const [first, second] = out.transcript.requests as [LoginRequestPdu, LoginRequestPdu];
    expect(first).toMatchObject({ currentStage: LoginStage.Security, nextStage: LoginStage.Operational, transit: true, tsih: 0, isid: ISID });
    expect([...textOf(first)]).toEqual([
      ["InitiatorName", "iqn.2026-11.test:initiator"],
      ["TargetName", TARGET_NAME],
      ["SessionType", "Normal"],
      ["AuthMethod", "None"],
    ]);
    expect(second).toMatchObject({ currentStage: LoginStage.Operational, nextStage: LoginStage.FullFeature, transit: true });
    expect(textOf(second).get("InitialR2T")).toBe("No");
    expect(textOf(second).get("MaxRecvDataSegmentLength")).toBe("1048576");
  });

  for (const alg of [5, 6, 7, 8] as const) {
    it(`authenticates with CHAP algorithm ${alg} when the target allows only it`, () => {
      const out = runLogin(makeInitiator(hash, { auth: "chap" }), makeTarget(hash, { authMethods: ["CHAP"], chapAlgorithms: [alg] }), { wire: true });
      const r = completed(out.initiator);
      expect(r.authenticated).toBe("chap");
      expect(r.chapAlgorithm).toBe(alg);
      expect(textOf(out.transcript.requests[0] as LoginRequestPdu).get("AuthMethod")).toBe("CHAP,None");
      expect(textOf(out.transcript.requests[1] as LoginRequestPdu).get("CHAP_A")).toBe("8,7,6,5");
    });
  }

  it("authenticates both ways with mutual CHAP, offering only AuthMethod=CHAP", () => {
    const out = runLogin(makeInitiator(hash, { auth: "mutual" }), makeTarget(hash, { authMethods: ["CHAP", "None"] }));
    const r = completed(out.initiator);
    expect(r.authenticated).toBe("mutual-chap");
    expect(r.chapAlgorithm).toBe(8);
    expect(textOf(out.transcript.requests[0] as LoginRequestPdu).get("AuthMethod")).toBe("CHAP");
    if (out.target.kind !== "complete") throw new Error("target did not complete");
    expect(out.target.result).toMatchObject({ authenticated: "mutual-chap", username: "alice" });
  });

  it("offers CHAP,None on a discovery session even with mutual CHAP, so a target that does not authenticate discovery still lists its targets", () => {
    const out = runLogin(makeInitiator(hash, { auth: "mutual", sessionType: "Discovery" }), makeTarget(hash, { discovery: { authMethods: ["None"] } }));
    expect(textOf(out.transcript.requests[0] as LoginRequestPdu).get("AuthMethod")).toBe("CHAP,None");
    expect(completed(out.initiator).authenticated).toBe("none");
  });

  it("authenticates a discovery session both ways with mutual CHAP when the target asks for CHAP", () => {
    const out = runLogin(makeInitiator(hash, { auth: "mutual", sessionType: "Discovery" }), makeTarget(hash, { discovery: { authMethods: ["CHAP"], outgoingAccount: { username: "tgt", secret: Secret.fromString(TARGET_SECRET) } } }));
    expect(completed(out.initiator).authenticated).toBe("mutual-chap");
  });

  it("completes without CHAP when the target needs no authentication and picks None", () => {
    const r = completed(runLogin(makeInitiator(hash, { auth: "chap" }), makeTarget(hash, { authMethods: ["None"] })).initiator);
    expect(r.authenticated).toBe("none");
    expect(r.chapAlgorithm).toBeUndefined();
  });

  it("fails with ISCSI_ERR_AUTH when the initiator's secret is wrong", () => {
    const target = makeTarget(hash, { authMethods: ["CHAP"] });
    let thrown: unknown;
    try {
      runLogin(makeInitiator(hash, { auth: "chap", secret: "not-the-secret" }), target);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(AuthenticationError);
    expect(thrown).toMatchObject({ code: "ISCSI_ERR_AUTH", statusClass: 2, statusDetail: 1 });
    expect((thrown as Error).message).toMatch(/authentication failure \(status 0x0201\)/);
    expect(target.state).toBe("failed");
  });

  it("fails with ISCSI_ERR_MUTUAL_AUTH when the target proves itself with the wrong secret", () => {
    const initiator = makeInitiator(hash, { auth: "mutual" });
    expect(() => runLogin(initiator, makeTarget(hash, { authMethods: ["CHAP"], outgoing: { username: "tgt", secret: "other-secret-99" } }))).toThrow(
      expect.objectContaining({ code: "ISCSI_ERR_MUTUAL_AUTH" }),
    );
    expect(initiator.state).toBe("failed");
  });

  it("fails with ISCSI_ERR_MUTUAL_AUTH when the target names itself wrongly", () => {
    expect(() => runLogin(makeInitiator(hash, { auth: "mutual" }), makeTarget(hash, { authMethods: ["CHAP"], outgoing: { username: "mallory", secret: TARGET_SECRET } }))).toThrow(
      /named itself "mallory"/,
    );
  });

  it("fails with ISCSI_ERR_MUTUAL_AUTH when the target moves on without proving itself", () => {
    const strip = (pdu: LoginResponsePdu): LoginResponsePdu =>
      pdu.transit && pdu.currentStage === LoginStage.Security ? { ...pdu, data: encodeText(parseText(pdu.data).filter(([k]) => !k.startsWith("CHAP_"))) } : pdu;
    expect(() => runLogin(makeInitiator(hash, { auth: "mutual" }), makeTarget(hash, { authMethods: ["CHAP"] }), { tamperResponse: strip })).toThrow(
      expect.objectContaining({ code: "ISCSI_ERR_MUTUAL_AUTH", message: expect.stringMatching(/did not answer our challenge/) }),
    );
  });

  it("fails when the target refuses a mutual-CHAP challenge that reflects its own", () => {
    let targetChallenge = "";
    const reflect = (pdu: LoginRequestPdu): LoginRequestPdu => {
      const pairs = parseText(pdu.data);
      if (!pairs.some(([k]) => k === "CHAP_R")) return pdu;
      return { ...pdu, data: encodeText(pairs.map(([k, v]) => [k, k === "CHAP_C" ? targetChallenge : v] as const)) };
    };
    const capture = (pdu: LoginResponsePdu): LoginResponsePdu => {
      targetChallenge = textOf(pdu).get("CHAP_C") ?? targetChallenge;
      return pdu;
    };
    const target = makeTarget(hash, { authMethods: ["CHAP"] });
    expect(() => runLogin(makeInitiator(hash, { auth: "mutual" }), target, { tamperRequest: reflect, tamperResponse: capture })).toThrow(
      expect.objectContaining({ code: "ISCSI_ERR_AUTH", statusDetail: 1 }),
    );
  });

  it("asks for a retry with MD5 when the target answers CHAP_A=Reject, and the retry succeeds", () => {
    // A target that knows none of 8 and 7 and (being odd) refuses MD5 in a list: it answers Reject.
    const out = runLogin(makeInitiator(hash, { auth: "chap", algorithms: [8, 7, 5] }), makeTarget(hash, { authMethods: ["CHAP"], chapAlgorithms: [6] }));
    expect(out.initiator).toMatchObject({ kind: "retry", chapAlgorithms: [5], reason: expect.stringMatching(/CHAP_A=Reject/) });
    if (out.initiator.kind !== "retry") return;
    const again = runLogin(makeInitiator(hash, { auth: "chap", algorithms: out.initiator.chapAlgorithms }), makeTarget(hash, { authMethods: ["CHAP"], chapAlgorithms: [5] }));
    expect(completed(again.initiator).chapAlgorithm).toBe(5);
  });

  it("asks for a retry with MD5 when the target fails the login in answer to CHAP_A (as tgtd does)", () => {
    const failOnChapA = (pdu: LoginResponsePdu): LoginResponsePdu => (textOf(pdu).has("CHAP_C") ? { ...pdu, statusClass: 2, statusDetail: 0, data: new Uint8Array(0) } : pdu);
    const out = runLogin(makeInitiator(hash, { auth: "chap" }), makeTarget(hash, { authMethods: ["CHAP"] }), { tamperResponse: failOnChapA });
    expect(out.initiator).toMatchObject({ kind: "retry", chapAlgorithms: [5], reason: expect.stringMatching(/initiator error \(status 0x0200\)/) });
  });

  it("asks for a retry with MD5 when the target refuses a non-MD5 response with 0x0200 (tgtd and SHA-256)", () => {
    const failOnResponse = (pdu: LoginResponsePdu): LoginResponsePdu =>
      pdu.transit && pdu.currentStage === LoginStage.Security ? { ...pdu, statusClass: 2, statusDetail: 0, isid: 0, initiatorTaskTag: 0, data: new Uint8Array(0) } : pdu;
    const out = runLogin(makeInitiator(hash, { auth: "chap" }), makeTarget(hash, { authMethods: ["CHAP"], chapAlgorithms: [7] }), { tamperResponse: failOnResponse });
    expect(out.initiator).toMatchObject({ kind: "retry", chapAlgorithms: [5], reason: expect.stringMatching(/chose CHAP_A=7 but refused our response/) });
  });

  it("does not retry when an MD5 response is refused with 0x0200, nor any response with 0x0201", () => {
    const fail = (detail: number) => (pdu: LoginResponsePdu): LoginResponsePdu =>
      pdu.transit && pdu.currentStage === LoginStage.Security ? { ...pdu, statusClass: 2, statusDetail: detail, data: new Uint8Array(0) } : pdu;
    expect(() => runLogin(makeInitiator(hash, { auth: "chap", algorithms: [5] }), makeTarget(hash, { authMethods: ["CHAP"] }), { tamperResponse: fail(0) })).toThrow(LoginError);
    expect(() => runLogin(makeInitiator(hash, { auth: "chap" }), makeTarget(hash, { authMethods: ["CHAP"], chapAlgorithms: [7] }), { tamperResponse: fail(1) })).toThrow(AuthenticationError);
  });

  it("asks for a retry when the target picks an algorithm we did not offer", () => {
    const pick = (pdu: LoginResponsePdu): LoginResponsePdu => {
      const t = textOf(pdu);
      if (!t.has("CHAP_A")) return pdu;
      t.set("CHAP_A", "6");
      return { ...pdu, data: encodeText([...t]) };
    };
    const out = runLogin(makeInitiator(hash, { auth: "chap", algorithms: [8, 7, 5] }), makeTarget(hash, { authMethods: ["CHAP"] }), { tamperResponse: pick });
    expect(out.initiator).toMatchObject({ kind: "retry", chapAlgorithms: [5] });
  });

  it("never falls back to MD5 when the caller's algorithm list leaves MD5 out (no downgrade)", () => {
    const refusing = makeTarget(hash, { authMethods: ["CHAP"], chapAlgorithms: [5] });
    expect(() => runLogin(makeInitiator(hash, { auth: "chap", algorithms: [8, 7] }), refusing)).toThrow(
      expect.objectContaining({ code: "ISCSI_ERR_AUTH", message: expect.stringMatching(/no CHAP algorithm in common/) }),
    );
    const failOnResponse = (pdu: LoginResponsePdu): LoginResponsePdu =>
      pdu.transit && pdu.currentStage === LoginStage.Security ? { ...pdu, statusClass: 2, statusDetail: 0, isid: 0, initiatorTaskTag: 0, data: new Uint8Array(0) } : pdu;
    expect(() =>
      runLogin(makeInitiator(hash, { auth: "chap", algorithms: [7] }), makeTarget(hash, { authMethods: ["CHAP"], chapAlgorithms: [7] }), { tamperResponse: failOnResponse }),
    ).toThrow(AuthenticationError);
  });

  it("fails with an AuthenticationError when the target demands CHAP and we have no credentials", () => {
    expect(() => runLogin(makeInitiator(hash), makeTarget(hash, { authMethods: ["CHAP"] }))).toThrow(AuthenticationError);
  });

  it("follows a permanent redirection with the parsed TargetAddress", () => {
    const target = makeTarget(hash, { resolve: () => ({ kind: "redirect", address: "[fd00::5]:3261,4", permanent: true }) });
    expect(runLogin(makeInitiator(hash), target).initiator).toEqual({ kind: "redirect", permanent: true, address: { host: "fd00::5", port: 3261, portalGroupTag: 4 } });
  });

  it("follows a temporary redirection", () => {
    const target = makeTarget(hash, { resolve: () => ({ kind: "redirect", address: "10.0.0.9", permanent: false }) });
    expect(runLogin(makeInitiator(hash), target).initiator).toMatchObject({ kind: "redirect", permanent: false, address: { host: "10.0.0.9", port: 3260 } });
  });

  it("logs in to a discovery session without a TargetName and with only the relevant keys", () => {
    const out = runLogin(makeInitiator(hash, { sessionType: "Discovery", targetName: undefined }), makeTarget(hash));
    const r = completed(out.initiator);
    expect(r.session.sessionType).toBe("Discovery");
    expect(r.session.targetName).toBeUndefined();
    const first = textOf(out.transcript.requests[0] as LoginRequestPdu);
    expect(first.has("TargetName")).toBe(false);
    expect(first.get("SessionType")).toBe("Discovery");
    const op = textOf(out.transcript.requests[1] as LoginRequestPdu);
    expect(op.has("MaxBurstLength")).toBe(false);
    expect(op.has("InitialR2T")).toBe(false);
    expect(op.get("MaxRecvDataSegmentLength")).toBe("1048576");
  });

  it("sends and receives login text longer than one PDU with the C bit", () => {
    // 40 extension keys of ~250 bytes: about 10 KiB each way (the target answers NotUnderstood... padded).
    const extraKeys = Array.from({ length: 40 }, (_, i) => [`X-com.example.k${i}`, "v".repeat(240)] as const);
    const proposal: OperationalProposal = { ...DEFAULT_INITIATOR_PROPOSAL, extraKeys };
    const out = runLogin(makeInitiator(hash, { proposal }), makeTarget(hash), { wire: true });
    const r = completed(out.initiator);
    expect(r.extensions).toHaveLength(40);
    expect(r.extensions.every(([, v]) => v === "NotUnderstood")).toBe(true);
    const continued = out.transcript.requests.filter((p) => p.continue);
    expect(continued.length).toBeGreaterThanOrEqual(1);
    expect(out.transcript.requests.every((p) => p.data.length <= 8192)).toBe(true);
    expect(out.transcript.requests.every((p) => !(p.continue && p.transit))).toBe(true);
  });

  it("continues text both ways when requests and answers each exceed one PDU", () => {
    // 200 keys with 60-byte names: ~13 KB of offers and ~15 KB of NotUnderstood answers.
    const extraKeys = Array.from({ length: 200 }, (_, i) => [`X-com.example.${"n".repeat(40)}.${String(i).padStart(4, "0")}`, "1"] as const);
    const out = runLogin(makeInitiator(hash, { proposal: { ...DEFAULT_INITIATOR_PROPOSAL, extraKeys } }), makeTarget(hash), { wire: true });
    const r = completed(out.initiator);
    expect(r.extensions).toHaveLength(200);
    expect(out.transcript.requests.filter((p) => p.continue).length).toBeGreaterThanOrEqual(1);
    expect(out.transcript.responses.filter((p) => p.continue).length).toBeGreaterThanOrEqual(1);
    expect([...out.transcript.requests, ...out.transcript.responses].every((p) => p.data.length <= 8192 && !(p.continue && p.transit))).toBe(true);
    if (out.target.kind !== "complete") throw new Error("target did not complete");
    expect(out.target.result.session).toEqual({ ...r.session, targetPortalGroupTag: 1 });
  });

  it("asks for the rest of a continued response with an empty request", () => {
    const alias = "a".repeat(255);
    // The target's first response, cut in two by hand with C=1 on the first piece.
    const initiator = makeInitiator(hash);
    initiator.start();
    const full = encodeText([["TargetPortalGroupTag", "1"], ["TargetAlias", alias], ["AuthMethod", "None"]]);
    const base: LoginResponsePdu = {
      opcode: Opcode.LoginResponse, transit: false, continue: true, currentStage: 0, nextStage: 0, versionMax: 0, versionActive: 0,
      isid: ISID, tsih: 0, initiatorTaskTag: 0, statSN: 5, expCmdSN: 1, maxCmdSN: 1, statusClass: 0, statusDetail: 0, data: full.subarray(0, 100),
    };
    const step1 = initiator.receive(base);
    expect(step1).toMatchObject({ kind: "send", pdu: { data: new Uint8Array(0), continue: false, currentStage: 0 } });
    const step2 = initiator.receive({ ...base, continue: false, transit: true, nextStage: 1, statSN: 6, data: full.subarray(100) });
    expect(step2).toMatchObject({ kind: "send", pdu: { currentStage: LoginStage.Operational } });
  });

  it("adds a connection to an existing session with the same TSIH", () => {
    const first = runLogin(makeInitiator(hash), makeTarget(hash));
    const r1 = completed(first.initiator);
    const target = makeTarget(hash, { findSession: (isid, tsih) => (isid === ISID && tsih === r1.tsih ? r1.session : undefined) });
    const second = runLogin(makeInitiator(hash, { tsih: r1.tsih, cid: 2, session: r1.session }), target);
    const r2 = completed(second.initiator);
    expect(r2.tsih).toBe(r1.tsih);
    expect(r2.session).toBe(r1.session);
    const op = textOf(second.transcript.requests[1] as LoginRequestPdu);
    expect(op.has("MaxBurstLength")).toBe(false);
    expect(op.has("HeaderDigest")).toBe(true);
  });

  it("fails with a LoginError naming the status and the target when the target is unknown", () => {
    const initiator = makeInitiator(hash, { targetName: "iqn.2026-11.test:nope" });
    let thrown: unknown;
    try {
      runLogin(initiator, makeTarget(hash));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(LoginError);
    expect(thrown).toMatchObject({ code: "ISCSI_ERR_LOGIN", statusClass: 2, statusDetail: 3 });
    expect((thrown as Error).message).toBe("login to target iqn.2026-11.test:nope refused: target not found (status 0x0203)");
  });

  it("applies a target's demand for InitialR2T=Yes, ImmediateData=No and small bursts", () => {
    const policy = { ...DEFAULT_TARGET_POLICY, initialR2T: true, immediateData: false, maxBurstLength: 65536, firstBurstLength: 16384 };
    const r = completed(runLogin(makeInitiator(hash), makeTarget(hash, { policy })).initiator);
    expect(r.session).toMatchObject({ initialR2T: true, immediateData: false, maxBurstLength: 65536, firstBurstLength: 16384 });
  });

  it("gets digests when both sides list CRC32C, and fails when the target demands what we refuse", () => {
    const want = { ...DEFAULT_INITIATOR_PROPOSAL, headerDigest: ["CRC32C", "None"] as const, dataDigest: ["CRC32C", "None"] as const };
    const r = completed(runLogin(makeInitiator(hash, { proposal: { ...want, headerDigest: [...want.headerDigest], dataDigest: [...want.dataDigest] } }), makeTarget(hash)).initiator);
    expect(r.connection).toMatchObject({ headerDigest: true, dataDigest: true });
    const strict = { ...DEFAULT_TARGET_POLICY, headerDigest: ["CRC32C" as const] };
    expect(() => runLogin(makeInitiator(hash), makeTarget(hash, { policy: strict }))).toThrow(expect.objectContaining({ statusClass: 2, statusDetail: 0 }));
  });

  it("agrees with the target on the same parameters for random proposals and policies", () => {
    const digest = fc.constantFrom<("CRC32C" | "None")[]>(["None"], ["CRC32C", "None"], ["None", "CRC32C"]);
    const len = fc.integer({ min: 512, max: 0xff_ffff });
    const values = fc
      .record({
        headerDigest: digest, dataDigest: digest, maxConnections: fc.integer({ min: 1, max: 8 }), initialR2T: fc.boolean(), immediateData: fc.boolean(),
        maxRecvDataSegmentLength: len, maxBurstLength: len, firstBurstLength: len, defaultTime2Wait: fc.integer({ min: 0, max: 3600 }),
        defaultTime2Retain: fc.integer({ min: 0, max: 3600 }), maxOutstandingR2T: fc.integer({ min: 1, max: 64 }), dataPDUInOrder: fc.boolean(),
        dataSequenceInOrder: fc.boolean(), errorRecoveryLevel: fc.integer({ min: 0, max: 2 }),
      })
      .map((p) => ({ ...p, firstBurstLength: Math.min(p.firstBurstLength, p.maxBurstLength) }));
    fc.assert(
      fc.property(values, values, fc.boolean(), (proposal, policy, chap) => {
        const out = runLogin(
          makeInitiator(hash, { proposal, auth: chap ? "chap" : "none" }),
          makeTarget(hash, { policy, authMethods: chap ? ["CHAP"] : ["None"] }),
        );
        const r = completed(out.initiator);
        if (out.target.kind !== "complete") throw new Error("target did not complete");
        const t = out.target.result;
        expect({ ...r.session, targetPortalGroupTag: 1 }).toEqual({ ...t.session, targetName: TARGET_NAME });
        expect(r.connection.headerDigest).toBe(t.connection.headerDigest);
        expect(r.connection.dataDigest).toBe(t.connection.dataDigest);
        expect(r.connection.maxSendDataSegmentLength).toBe(policy.maxRecvDataSegmentLength);
        expect(t.connection.maxSendDataSegmentLength).toBe(proposal.maxRecvDataSegmentLength);
        expect(r.session.firstBurstLength).toBeLessThanOrEqual(r.session.maxBurstLength);
        expect(r.session.initialR2T).toBe(proposal.initialR2T || policy.initialR2T);
        expect(r.session.immediateData).toBe(proposal.immediateData && policy.immediateData);
      }),
      { numRuns: 150 },
    );
  });
});

describe("the initiator checks every response", () => {
  function firstResponse(over: Partial<LoginResponsePdu>): LoginResponsePdu {
    return {
      opcode: Opcode.LoginResponse, transit: true, continue: false, currentStage: 0, nextStage: 1, versionMax: 0, versionActive: 0, isid: ISID, tsih: 0,
      initiatorTaskTag: 0, statSN: 1, expCmdSN: 1, maxCmdSN: 1, statusClass: 0, statusDetail: 0, data: encodeText([["AuthMethod", "None"]]), ...over,
    };
  }

  it.each([
    ["an ITT that is not ours", { initiatorTaskTag: 9 }, /ITT 0x9 does not match/],
    ["an ISID that is not ours", { isid: 1 }, /ISID 0x1 does not match/],
    ["a CSG other than our request's", { currentStage: 1 as const }, /CSG 1 but our request was in stage 0/],
    ["an NSG other than the one we asked for", { nextStage: 3 as const }, /NSG 3, we asked for 1/],
    ["T and C both set", { continue: true }, /T and C both set/],
    ["a Version-active we did not offer", { versionActive: 2 }, /Version-active 2/],
  ])("refuses %s", (_name, over, message) => {
    const initiator = makeInitiator(hash);
    initiator.start();
    expect(() => initiator.receive(firstResponse(over))).toThrow(message);
    expect(initiator.state).toBe("failed");
  });

  it("refuses TSIH 0 in the final response of a new session", () => {
    const zero = (pdu: LoginResponsePdu): LoginResponsePdu => (pdu.nextStage === LoginStage.FullFeature ? { ...pdu, tsih: 0 } : pdu);
    expect(() => runLogin(makeInitiator(hash), makeTarget(hash), { tamperResponse: zero })).toThrow(/carries TSIH 0/);
  });

  it("refuses a different TSIH when adding a connection", () => {
    const r1 = completed(runLogin(makeInitiator(hash), makeTarget(hash)).initiator);
    const target = makeTarget(hash, { findSession: () => r1.session });
    const other = (pdu: LoginResponsePdu): LoginResponsePdu => (pdu.nextStage === LoginStage.FullFeature ? { ...pdu, tsih: r1.tsih + 1 } : pdu);
    expect(() => runLogin(makeInitiator(hash, { tsih: r1.tsih, session: r1.session }), target, { tamperResponse: other })).toThrow(RemoteProtocolError);
  });

  it("refuses a target that violates a negotiation rule in its answer", () => {
    const raise = (pdu: LoginResponsePdu): LoginResponsePdu => {
      const t = textOf(pdu);
      if (!t.has("MaxBurstLength")) return pdu;
      t.set("MaxBurstLength", "16777215");
      return { ...pdu, data: encodeText([...t]) };
    };
    expect(() => runLogin(makeInitiator(hash), makeTarget(hash), { tamperResponse: raise })).toThrow(NegotiationError);
  });

  it.each([
    [0x0202, "authorization failure"], [0x0204, "target removed"], [0x0205, "unsupported version"], [0x0206, "too many connections"],
    [0x0207, "missing parameter"], [0x0208, "can't include in session"], [0x0209, "session type not supported"], [0x020a, "session does not exist"],
    [0x020b, "invalid during login"], [0x0300, "target error"], [0x0301, "service unavailable"], [0x0302, "out of resources"],
  ])("turns status 0x%s into a LoginError naming it", (status, name) => {
    const initiator = makeInitiator(hash);
    initiator.start();
    let thrown: unknown;
    try {
      initiator.receive(firstResponse({ statusClass: status >> 8, statusDetail: status & 0xff, transit: false, data: new Uint8Array(0) }));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(LoginError);
    expect(thrown).not.toBeInstanceOf(AuthenticationError);
    expect(thrown).toMatchObject({ statusClass: status >> 8, statusDetail: status & 0xff });
    expect((thrown as Error).message).toContain(`${name} (status 0x${status.toString(16).padStart(4, "0")})`);
    expect((thrown as Error).message).toContain(TARGET_NAME);
  });

  it("refuses a redirection without a TargetAddress", () => {
    const initiator = makeInitiator(hash);
    initiator.start();
    expect(() => initiator.receive(firstResponse({ statusClass: 1, statusDetail: 1, transit: false, data: new Uint8Array(0) }))).toThrow(/without a TargetAddress/);
  });

  it("refuses configurations that cannot log in", () => {
    expect(() => makeInitiator(hash, { targetName: "" })).toThrow(ConfigError);
    expect(() => makeInitiator(hash, { tsih: 5 })).toThrow(/session's parameters/);
    expect(() => makeInitiator(hash, { proposal: { ...DEFAULT_INITIATOR_PROPOSAL, firstBurstLength: 1 << 20, maxBurstLength: 1 << 19 } })).toThrow(/FirstBurstLength/);
  });
});

describe("against tgtd's recorded answers", () => {
  function fixtureResponses(): LoginResponsePdu[] {
    const lines = readFileSync(new URL("./fixtures/tgtd-chap-a.hex", import.meta.url), "utf8").split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    return lines.map((line) => {
      const framer = new Framer({ maxDataSegmentLength: 8192, headerDigest: false, dataDigest: false }, crc32c);
      const bytes = Uint8Array.from(Buffer.from(line, "hex"));
      const padded = new Uint8Array(bytes.length + ((4 - (bytes.length % 4)) % 4));
      padded.set(bytes);
      framer.push(padded);
      return decodePdu(framer.next() as never) as LoginResponsePdu;
    });
  }

  it("answers tgtd's choice of SHA-256 from CHAP_A=8,7,6,5 with the right response", () => {
    const [r1, r2] = fixtureResponses() as [LoginResponsePdu, LoginResponsePdu];
    const initiator = new InitiatorLogin({
      initiatorName: "iqn.2026-11.test:probe", targetName: "iqn.2026-11.test:disk", sessionType: "Normal", isid: 0x801234560000, tsih: 0, cid: 1,
      cmdSN: 0, initiatorTaskTag: 1, chap: { username: "alice", secret: Secret.fromString(INITIATOR_SECRET) }, hash, randomBytes: seededRandomBytes(3),
    });
    initiator.start();
    const s1 = initiator.receive(r1);
    if (s1.kind !== "send") throw new Error("expected CHAP_A");
    expect(textOf(s1.pdu).get("CHAP_A")).toBe("8,7,6,5");
    const s2 = initiator.receive(r2);
    if (s2.kind !== "send") throw new Error("expected CHAP_R");
    const challenge = textOf(r2);
    expect(challenge.get("CHAP_A")).toBe("7");
    const expected = chapResponse(hash, 7, Number(challenge.get("CHAP_I")), Secret.fromString(INITIATOR_SECRET), parseBinary(challenge.get("CHAP_C") as string) as Uint8Array);
    expect(textOf(s2.pdu).get("CHAP_R")).toBe(formatHex(expected));
    expect(s2.pdu).toMatchObject({ transit: true, currentStage: 0, nextStage: 1, expStatSN: 2 });
  });
});

describe("secrets stay secret", () => {
  it("never puts a CHAP secret in any error message, toString, JSON or inspect output of the login path", () => {
    const secrets = [INITIATOR_SECRET, TARGET_SECRET, "not-the-secret", "other-secret-99"];
    const seen: unknown[] = [];
    const attempt = (f: () => unknown): void => {
      try {
        seen.push(f());
      } catch (e) {
        seen.push(e);
      }
    };
    attempt(() => runLogin(makeInitiator(hash, { auth: "mutual" }), makeTarget(hash, { authMethods: ["CHAP"] })));
    attempt(() => runLogin(makeInitiator(hash, { auth: "chap", secret: "not-the-secret" }), makeTarget(hash, { authMethods: ["CHAP"] })));
    attempt(() => runLogin(makeInitiator(hash, { auth: "mutual" }), makeTarget(hash, { authMethods: ["CHAP"], outgoing: { username: "tgt", secret: "other-secret-99" } })));
    attempt(() => runLogin(makeInitiator(hash, { auth: "mutual", targetSecret: INITIATOR_SECRET }), makeTarget(hash)));
    attempt(() => makeInitiator(hash, { auth: "mutual" }));
    expect(seen.filter((x) => x instanceof Error).length).toBe(3);
    for (const thing of seen) {
      const renderings = [String(thing), inspect(thing, { depth: 8, showHidden: true }), JSON.stringify(thing, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("latin1") : v))];
      if (thing instanceof Error) renderings.push(thing.message, String(thing.stack), inspect(thing.cause));
      for (const text of renderings) for (const s of secrets) expect(text ?? "").not.toContain(s);
    }
  });

  it("never sends a secret on the wire", () => {
    const out = runLogin(makeInitiator(hash, { auth: "mutual" }), makeTarget(hash, { authMethods: ["CHAP"] }), { wire: true });
    const all = [...out.transcript.requests, ...out.transcript.responses].map((p) => Buffer.from(p.data).toString("latin1")).join("");
    expect(all).not.toContain(INITIATOR_SECRET);
    expect(all).not.toContain(TARGET_SECRET);
  });
});

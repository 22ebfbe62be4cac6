import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NegotiationError, RemoteProtocolError } from "../errors.js";
import type { TextPair } from "./codec.js";
import { KEY_REGISTRY, OPERATIONAL_KEYS } from "./keys.js";
import { Negotiator } from "./negotiation.js";
import type { OperationalProposal } from "./parameters.js";
import { DEFAULT_INITIATOR_PROPOSAL, DEFAULT_TARGET_POLICY, proposalValues } from "./parameters.js";

function pair(initiator: Partial<OperationalProposal> = {}, target: Partial<OperationalProposal> = {}, sessionType: "Normal" | "Discovery" = "Normal") {
  const i = new Negotiator({ role: "initiator", sessionType, leading: true, values: proposalValues({ ...DEFAULT_INITIATOR_PROPOSAL, ...initiator }) });
  const t = new Negotiator({ role: "target", sessionType, leading: true, values: proposalValues({ ...DEFAULT_TARGET_POLICY, ...target }) });
  return { i, t };
}

/** Initiator offers `keys`; target answers; initiator takes the answers. Returns the target's answers. */
function exchange(i: Negotiator, t: Negotiator, keys: string[]): Map<string, string> {
  const offer = i.offer(keys);
  const answers = t.receive(offer, "operational");
  i.receive(answers, "operational");
  return new Map(answers);
}

describe("the key registry", () => {
  it("describes every RFC 7143 §13 key", () => {
    for (const key of [
      "HeaderDigest", "DataDigest", "MaxConnections", "SendTargets", "TargetName", "InitiatorName", "TargetAlias", "InitiatorAlias",
      "TargetAddress", "TargetPortalGroupTag", "InitialR2T", "ImmediateData", "MaxRecvDataSegmentLength", "MaxBurstLength",
      "FirstBurstLength", "DefaultTime2Wait", "DefaultTime2Retain", "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder",
      "ErrorRecoveryLevel", "SessionType", "AuthMethod", "TaskReporting", "iSCSIProtocolLevel", "IFMarker", "OFMarker", "IFMarkInt", "OFMarkInt",
    ]) {
      expect(KEY_REGISTRY.has(key), key).toBe(true);
    }
  });

  it("lists as operational keys neither security nor obsolete keys", () => {
    expect(OPERATIONAL_KEYS).toContain("MaxBurstLength");
    expect(OPERATIONAL_KEYS).not.toContain("AuthMethod");
    expect(OPERATIONAL_KEYS).not.toContain("OFMarker");
    expect(OPERATIONAL_KEYS).not.toContain("SendTargets");
  });
});

describe("negotiation rules (RFC 7143 §6.2, §13)", () => {
  it("takes the minimum for a 'min' key (MaxBurstLength)", () => {
    const { i, t } = pair({ maxBurstLength: 16776192 }, { maxBurstLength: 262144 });
    expect(exchange(i, t, ["MaxBurstLength"]).get("MaxBurstLength")).toBe("262144");
    expect(i.agreed("MaxBurstLength")).toBe("262144");
  });

  it("takes the maximum for a 'max' key (DefaultTime2Wait)", () => {
    const { i, t } = pair({ defaultTime2Wait: 2 }, { defaultTime2Wait: 5 });
    expect(exchange(i, t, ["DefaultTime2Wait"]).get("DefaultTime2Wait")).toBe("5");
  });

  it("ANDs a Boolean 'and' key (ImmediateData)", () => {
    const { i, t } = pair({ immediateData: true }, { immediateData: false });
    expect(exchange(i, t, ["ImmediateData"]).get("ImmediateData")).toBe("No");
    expect(i.sessionParameters().immediateData).toBe(false);
  });

  it("ORs a Boolean 'or' key (InitialR2T)", () => {
    const { i, t } = pair({ initialR2T: false }, { initialR2T: true });
    expect(exchange(i, t, ["InitialR2T"]).get("InitialR2T")).toBe("Yes");
    expect(i.sessionParameters().initialR2T).toBe(true);
  });

  it("picks the first of the offerer's list that the responder accepts (HeaderDigest)", () => {
    const { i, t } = pair({ headerDigest: ["CRC32C", "None"] }, { headerDigest: ["None", "CRC32C"] });
    expect(exchange(i, t, ["HeaderDigest"]).get("HeaderDigest")).toBe("CRC32C");
    expect(i.connectionParameters().headerDigest).toBe(true);
  });

  it("answers Reject when nothing in the offered list is acceptable, and fails if the default is unacceptable to the offerer", () => {
    const { i, t } = pair({ dataDigest: ["CRC32C"] }, { dataDigest: ["None"] });
    expect(exchange(i, t, ["DataDigest"]).get("DataDigest")).toBe("Reject");
    expect(i.refusal("DataDigest")).toBe("Reject");
    expect(() => i.settle()).toThrow(NegotiationError);
  });

  it("keeps the default after Reject when the default suits the offerer", () => {
    const { i, t } = pair({ headerDigest: ["CRC32C", "None"] }, { headerDigest: ["None"] });
    t.setLocalValue("HeaderDigest", "CRC32C");
    const offer: TextPair[] = [["HeaderDigest", "None"]];
    i.offerValue("HeaderDigest", "CRC32C,None");
    const answers = t.receive(offer, "operational");
    expect(answers).toEqual([["HeaderDigest", "Reject"]]);
    i.receive([["HeaderDigest", "Reject"]], "operational");
    i.settle();
    expect(i.connectionParameters().headerDigest).toBe(false);
  });

  it("ignores list values it does not understand", () => {
    const { t } = pair();
    expect(t.receive([["HeaderDigest", "MD5,CRC32C"]], "operational")).toEqual([["HeaderDigest", "CRC32C"]]);
  });

  it("records a declarative key without answering it (MaxRecvDataSegmentLength, per direction)", () => {
    const { i, t } = pair({ maxRecvDataSegmentLength: 262144 }, { maxRecvDataSegmentLength: 65536 });
    const answers = t.receive(i.offer(["MaxRecvDataSegmentLength"]), "operational");
    expect(answers).toEqual([]);
    i.receive([t.declare("MaxRecvDataSegmentLength", "65536")], "operational");
    expect(i.connectionParameters()).toMatchObject({ maxRecvDataSegmentLength: 262144, maxSendDataSegmentLength: 65536 });
    expect(t.connectionParameters()).toMatchObject({ maxRecvDataSegmentLength: 65536, maxSendDataSegmentLength: 262144 });
  });

  it("assumes 8192 for a peer that never declares MaxRecvDataSegmentLength (tgtd in discovery)", () => {
    const { i } = pair();
    expect(i.connectionParameters().maxSendDataSegmentLength).toBe(8192);
  });

  it("answers NotUnderstood to unknown X- and X# keys", () => {
    const { t } = pair();
    expect(t.receive([["X-com.example.Foo", "1"], ["X#Bar", "2"]], "operational")).toEqual([
      ["X-com.example.Foo", "NotUnderstood"],
      ["X#Bar", "NotUnderstood"],
    ]);
    expect(t.extensions()).toEqual([["X-com.example.Foo", "1"], ["X#Bar", "2"]]);
  });

  it("keeps the default when the peer answers NotUnderstood", () => {
    const { i } = pair({ taskReporting: ["ResponseFence", "RFC3720"] });
    i.offer(["TaskReporting"]);
    i.receive([["TaskReporting", "NotUnderstood"]], "operational");
    i.settle();
    expect(i.sessionParameters().taskReporting).toBe("RFC3720");
  });

  it("accepts Irrelevant for FirstBurstLength when InitialR2T=Yes and ImmediateData=No", () => {
    const { i } = pair({ initialR2T: true, immediateData: false });
    i.offer(["InitialR2T", "ImmediateData", "FirstBurstLength"]);
    i.receive([["InitialR2T", "Yes"], ["ImmediateData", "No"], ["FirstBurstLength", "Irrelevant"]], "operational");
    expect(() => i.settle()).not.toThrow();
  });

  it("refuses Irrelevant for FirstBurstLength when unsolicited data is allowed", () => {
    const { i } = pair({ initialR2T: false, immediateData: true });
    i.offer(["InitialR2T", "ImmediateData", "FirstBurstLength"]);
    i.receive([["InitialR2T", "No"], ["ImmediateData", "Yes"], ["FirstBurstLength", "Irrelevant"]], "operational");
    expect(() => i.settle()).toThrow(/FirstBurstLength=Irrelevant/);
  });

  it("accepts Irrelevant for keys irrelevant to a discovery session", () => {
    const { i } = pair({}, {}, "Discovery");
    i.offer(["MaxBurstLength"]);
    i.receive([["MaxBurstLength", "Irrelevant"]], "operational");
    expect(() => i.settle()).not.toThrow();
  });

  it("refuses an answer above the offer for a 'min' key", () => {
    const { i } = pair({ maxBurstLength: 65536 });
    i.offer(["MaxBurstLength"]);
    expect(() => i.receive([["MaxBurstLength", "131072"]], "operational")).toThrow(/cannot exceed the offer/);
  });

  it("refuses an answer below the offer for a 'max' key", () => {
    const { i } = pair({ defaultTime2Wait: 5 });
    i.offer(["DefaultTime2Wait"]);
    expect(() => i.receive([["DefaultTime2Wait", "2"]], "operational")).toThrow(NegotiationError);
  });

  it("refuses Yes in answer to ImmediateData=No (AND) and No in answer to InitialR2T=Yes (OR)", () => {
    const a = pair({ immediateData: false }).i;
    a.offer(["ImmediateData"]);
    expect(() => a.receive([["ImmediateData", "Yes"]], "operational")).toThrow(/AND with No must give No/);
    const b = pair({ initialR2T: true }).i;
    b.offer(["InitialR2T"]);
    expect(() => b.receive([["InitialR2T", "No"]], "operational")).toThrow(/OR with Yes must give Yes/);
  });

  it("refuses an answer outside the key's range", () => {
    const { i } = pair({ errorRecoveryLevel: 2 });
    i.offer(["ErrorRecoveryLevel"]);
    expect(() => i.receive([["ErrorRecoveryLevel", "3"]], "operational")).toThrow(/outside 0..2/);
  });

  it("refuses a list answer that was not offered", () => {
    const { i } = pair({ headerDigest: ["None"] });
    i.offer(["HeaderDigest"]);
    expect(() => i.receive([["HeaderDigest", "CRC32C"]], "operational")).toThrow(/not one of the offered values/);
  });

  it("answers Reject to an offer out of range or malformed", () => {
    const { t } = pair();
    expect(t.receive([["MaxBurstLength", "100"], ["ErrorRecoveryLevel", "x"], ["InitialR2T", "Maybe"]], "operational")).toEqual([
      ["MaxBurstLength", "Reject"],
      ["ErrorRecoveryLevel", "Reject"],
      ["InitialR2T", "Reject"],
    ]);
  });

  it("treats Reject, Irrelevant or NotUnderstood offered as a value as a protocol error", () => {
    const { t } = pair();
    expect(() => t.receive([["MaxBurstLength", "Irrelevant"]], "operational")).toThrow(RemoteProtocolError);
  });

  it("needs no answer for ImmediateData=No (AND) or InitialR2T=Yes (OR)", () => {
    const { i } = pair({ immediateData: false, initialR2T: true });
    i.offer(["ImmediateData", "InitialR2T"]);
    i.settle();
    expect(i.sessionParameters()).toMatchObject({ immediateData: false, initialR2T: true });
  });

  it("fails when a key that needs an answer gets none", () => {
    const { i } = pair();
    i.offer(["MaxBurstLength"]);
    expect(() => i.settle()).toThrow(/did not answer MaxBurstLength/);
  });

  it("lowers its FirstBurstLength answer to the MaxBurstLength agreed in the same exchange", () => {
    const { i, t } = pair({ maxBurstLength: 16776192, firstBurstLength: 262144 }, { maxBurstLength: 65536, firstBurstLength: 262144 });
    const answers = exchange(i, t, ["MaxBurstLength", "FirstBurstLength"]);
    expect(answers.get("FirstBurstLength")).toBe("65536");
    i.settle();
    t.settle();
  });

  it("fails when FirstBurstLength ends above MaxBurstLength", () => {
    const { i } = pair({ maxBurstLength: 262144, firstBurstLength: 262144 });
    i.offer(["MaxBurstLength", "FirstBurstLength"]);
    i.receive([["MaxBurstLength", "65536"], ["FirstBurstLength", "131072"]], "operational");
    expect(() => i.settle()).toThrow(/FirstBurstLength=131072 exceeds MaxBurstLength=65536/);
  });

  it("refuses a key sent twice in one negotiation", () => {
    const { t } = pair();
    t.receive([["MaxBurstLength", "65536"]], "operational");
    expect(() => t.receive([["MaxBurstLength", "65536"]], "operational")).toThrow(/sent MaxBurstLength again/);
  });

  it("takes a declaration repeated unchanged (as libiscsi repeats InitiatorName) and refuses a changed one", () => {
    const { t } = pair();
    t.receive([["InitiatorName", "iqn.2026-11.test:i"]], "security");
    expect(t.receive([["InitiatorName", "iqn.2026-11.test:i"]], "operational")).toEqual([]);
    expect(() => t.receive([["InitiatorName", "iqn.2026-11.test:other"]], "operational")).toThrow(/sent InitiatorName again/);
  });

  it("refuses keys the peer may not send, or not in this phase", () => {
    const { i, t } = pair();
    expect(() => i.receive([["InitiatorName", "iqn.x"]], "security")).toThrow(/the target may not send InitiatorName/);
    expect(() => t.receive([["MaxBurstLength", "65536"]], "security")).toThrow(/operational key MaxBurstLength sent in the security stage/);
    expect(() => t.receive([["AuthMethod", "None"]], "operational")).toThrow(/security key AuthMethod/);
    expect(() => t.receive([["SendTargets", "All"]], "operational")).toThrow(/only be sent in full feature phase/);
    expect(() => t.receive([["MaxBurstLength", "65536"]], "full-feature")).toThrow(/only be sent during login/);
    const nonLeading = new Negotiator({ role: "target", sessionType: "Normal", leading: false, values: new Map() });
    expect(() => nonLeading.receive([["MaxConnections", "2"]], "operational")).toThrow(/leading-only key MaxConnections/);
  });

  it("answers the obsolete marker keys as RFC 7143 §13.26 says", () => {
    const { t } = pair();
    expect(t.receive([["IFMarker", "No"], ["OFMarker", "Yes"], ["IFMarkInt", "2048~65535"], ["OFMarkInt", "2048"]], "operational")).toEqual([
      ["IFMarker", "No"],
      ["OFMarker", "No"],
      ["IFMarkInt", "Reject"],
      ["OFMarkInt", "Reject"],
    ]);
  });

  it("refuses a declaration with an invalid value (TargetPortalGroupTag)", () => {
    const { i } = pair();
    expect(() => i.receive([["TargetPortalGroupTag", "70000"]], "security")).toThrow(/TargetPortalGroupTag=70000/);
  });

  it("counter-offers keys whose default violates the responder's policy", () => {
    const { t } = pair({}, { initialR2T: true, immediateData: false, maxBurstLength: 65536, firstBurstLength: 65536 });
    t.receive([["HeaderDigest", "None"]], "operational");
    expect(t.keysToCounterOffer(OPERATIONAL_KEYS).sort()).toEqual(["ImmediateData", "MaxBurstLength"]);
  });

  it("makes both sides agree on the same parameters for any proposals", () => {
    const digest = fc.constantFrom<("CRC32C" | "None")[]>(["None"], ["CRC32C"], ["CRC32C", "None"], ["None", "CRC32C"]);
    const len = fc.integer({ min: 512, max: 0xff_ffff });
    const proposal = fc
      .record({
        headerDigest: digest,
        dataDigest: digest,
        maxConnections: fc.integer({ min: 1, max: 65535 }),
        initialR2T: fc.boolean(),
        immediateData: fc.boolean(),
        maxRecvDataSegmentLength: len,
        maxBurstLength: len,
        firstBurstLength: len,
        defaultTime2Wait: fc.integer({ min: 0, max: 3600 }),
        defaultTime2Retain: fc.integer({ min: 0, max: 3600 }),
        maxOutstandingR2T: fc.integer({ min: 1, max: 65535 }),
        dataPDUInOrder: fc.boolean(),
        dataSequenceInOrder: fc.boolean(),
        errorRecoveryLevel: fc.integer({ min: 0, max: 2 }),
      })
      .map((p) => ({ ...p, firstBurstLength: Math.min(p.firstBurstLength, p.maxBurstLength) }));
    fc.assert(
      fc.property(proposal, proposal, (ip, tp) => {
        const { i, t } = pair(ip, tp);
        exchange(i, t, [...proposalValues(ip).keys()]);
        let iErr: unknown;
        let tErr: unknown;
        try {
          i.settle();
        } catch (e) {
          iErr = e;
        }
        try {
          t.settle();
        } catch (e) {
          tErr = e;
        }
        // A digest list with no overlap is the only way this can fail; then both sides see it.
        const fails = !ip.headerDigest.some((d) => tp.headerDigest.includes(d)) || !ip.dataDigest.some((d) => tp.dataDigest.includes(d));
        if (fails) {
          expect(iErr ?? tErr).toBeInstanceOf(NegotiationError);
          return;
        }
        expect(iErr).toBeUndefined();
        expect(tErr).toBeUndefined();
        const is = i.sessionParameters();
        const ts = t.sessionParameters();
        expect(is).toEqual(ts);
        expect(is.maxBurstLength).toBe(Math.min(ip.maxBurstLength, tp.maxBurstLength));
        expect(is.firstBurstLength).toBeLessThanOrEqual(is.maxBurstLength);
        expect(is.initialR2T).toBe(ip.initialR2T || tp.initialR2T);
        expect(is.immediateData).toBe(ip.immediateData && tp.immediateData);
        expect(is.defaultTime2Wait).toBe(Math.max(ip.defaultTime2Wait, tp.defaultTime2Wait));
        const ic = i.connectionParameters();
        const tc = t.connectionParameters();
        expect(ic.headerDigest).toBe(tc.headerDigest);
        expect(ic.dataDigest).toBe(tc.dataDigest);
      }),
    );
  });
});

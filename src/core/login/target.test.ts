import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { HashFunction } from "../auth/hash.js";
import { LocalProtocolError } from "../errors.js";
import { LoginStage, Opcode } from "../pdu/opcodes.js";
import type { LoginRequestPdu } from "../pdu/types.js";
import type { TextPair } from "../text/codec.js";
import { encodeText, parseText } from "../text/codec.js";
import { DEFAULT_TARGET_POLICY } from "../text/parameters.js";
import { INITIATOR_NAME, ISID, TARGET_NAME, makeInitiator, makeTarget } from "./login.test-util.js";
import { runLogin } from "./pair.test-util.js";
import type { TargetLoginStep } from "./target.js";
import { TargetLogin } from "./target.js";

const hash: HashFunction = (algorithm, data) => new Uint8Array(createHash(algorithm).update(data).digest());

function request(pairs: TextPair[], over: Partial<LoginRequestPdu> = {}): LoginRequestPdu {
  return {
    opcode: Opcode.LoginRequest, transit: true, continue: false, currentStage: LoginStage.Security, nextStage: LoginStage.Operational,
    versionMax: 0, versionMin: 0, isid: ISID, tsih: 0, initiatorTaskTag: 7, cid: 1, cmdSN: 10, expStatSN: 0, data: encodeText(pairs), ...over,
  };
}

const hello: TextPair[] = [["InitiatorName", INITIATOR_NAME], ["TargetName", TARGET_NAME], ["AuthMethod", "None"]];
const status = (step: TargetLoginStep): number => (step.pdu.statusClass << 8) | step.pdu.statusDetail;
const textOf = (step: TargetLoginStep): Map<string, string> => new Map(parseText(step.pdu.data));

describe("TargetLogin answers with the RFC's status where a login cannot go on", () => {
  it.each<[string, () => TargetLogin, LoginRequestPdu, number]>([
    ["no InitiatorName: missing parameter", () => makeTarget(hash), request([["TargetName", TARGET_NAME]]), 0x0207],
    ["no TargetName in a normal session: missing parameter", () => makeTarget(hash), request([["InitiatorName", INITIATOR_NAME]]), 0x0207],
    ["an unknown target: not found", () => makeTarget(hash), request([["InitiatorName", INITIATOR_NAME], ["TargetName", "iqn.x:y"]]), 0x0203],
    ["a removed target", () => makeTarget(hash, { resolve: () => ({ kind: "removed" }) }), request(hello), 0x0204],
    ["discovery when it is not offered: session type not supported", () => makeTarget(hash, { discovery: null }), request([["InitiatorName", INITIATOR_NAME], ["SessionType", "Discovery"]]), 0x0209],
    ["a version above 0: unsupported version", () => makeTarget(hash), request(hello, { versionMin: 1, versionMax: 1 }), 0x0205],
    ["a TSIH of no session: session does not exist", () => makeTarget(hash), request(hello, { tsih: 77 }), 0x020a],
    ["an initiator not allowed in: authorization failure", () => makeTarget(hash, { authorize: () => false }), request(hello), 0x0202],
    ["CHAP required but None offered: authentication failure", () => makeTarget(hash, { authMethods: ["CHAP"] }), request(hello), 0x0201],
    ["skipping the security stage when CHAP is required", () => makeTarget(hash, { authMethods: ["CHAP"] }), request(hello.slice(0, 2), { currentStage: 1, nextStage: 3 }), 0x0201],
    ["a malformed key: initiator error", () => makeTarget(hash), request([...hello, ["MaxBurstLength", "Reject"]]), 0x0200],
    ["an operational key in the security stage: initiator error", () => makeTarget(hash), request([...hello, ["MaxBurstLength", "65536"]]), 0x0200],
  ])("%s", (_name, make, req, expected) => {
    const target = make();
    const step = target.receive(req);
    expect(step.kind).toBe("reject");
    expect(status(step).toString(16)).toBe(expected.toString(16));
    expect(step.pdu).toMatchObject({ transit: false, initiatorTaskTag: 7, isid: ISID, expCmdSN: 10 });
    if (step.kind === "reject") expect(step.error).toMatchObject({ statusClass: expected >> 8, statusDetail: expected & 0xff });
    expect(target.state).toBe("failed");
    expect(() => target.receive(req)).toThrow(LocalProtocolError);
  });

  it("redirects with a TargetAddress and status 0x0101", () => {
    const step = makeTarget(hash, { resolve: () => ({ kind: "redirect", address: "10.1.1.1:3260,2", permanent: false }) }).receive(request(hello));
    expect(step.kind).toBe("redirect");
    expect(status(step)).toBe(0x0101);
    expect(textOf(step).get("TargetAddress")).toBe("10.1.1.1:3260,2");
  });
});

describe("TargetLogin in a login that goes through", () => {
  it("names its portal group (and alias) in the first response only", () => {
    const target = makeTarget(hash, { alias: "disk one" });
    const first = target.receive(request(hello));
    expect(textOf(first).get("TargetPortalGroupTag")).toBe("1");
    expect(textOf(first).get("TargetAlias")).toBe("disk one");
    expect(first.pdu).toMatchObject({ transit: true, currentStage: 0, nextStage: 1, statSN: 0x1000, maxCmdSN: 10 + 31 });
    const second = target.receive(request([["MaxRecvDataSegmentLength", "8192"]], { currentStage: 1, nextStage: 3 }));
    expect(second.kind).toBe("complete");
    expect(textOf(second).has("TargetPortalGroupTag")).toBe(false);
    expect(second.pdu.tsih).toBe(0x100);
  });

  it("accepts an initiator that starts in the operational stage when no authentication is needed (libiscsi)", () => {
    const target = makeTarget(hash);
    const step = target.receive(request([["InitiatorName", INITIATOR_NAME], ["TargetName", TARGET_NAME], ["SessionType", "Normal"], ["MaxRecvDataSegmentLength", "262144"], ["IFMarker", "No"]], { currentStage: 1, nextStage: 3 }));
    expect(step.kind).toBe("complete");
    expect(textOf(step).get("TargetPortalGroupTag")).toBe("1");
    expect(textOf(step).get("IFMarker")).toBe("No");
    if (step.kind === "complete") expect(step.result.connection.maxSendDataSegmentLength).toBe(262144);
  });

  it("offers its own values for keys a minimal initiator left out, and completes once they are answered", () => {
    const policy = { ...DEFAULT_TARGET_POLICY, initialR2T: true, immediateData: false, maxBurstLength: 65536, firstBurstLength: 16384, defaultTime2Wait: 4 };
    const target = makeTarget(hash, { policy });
    const op = { currentStage: 1 as const, nextStage: 3 as const };
    const first = target.receive(request([["InitiatorName", INITIATOR_NAME], ["TargetName", TARGET_NAME]], op));
    expect(first.kind).toBe("send");
    expect(first.pdu.transit).toBe(false);
    const offered = textOf(first);
    expect(offered.get("ImmediateData")).toBe("No");
    expect(offered.get("MaxBurstLength")).toBe("65536");
    expect(offered.get("DefaultTime2Wait")).toBe("4");
    expect(offered.has("InitialR2T")).toBe(false); // the default Yes already suits the target
    const done = target.receive(request([["ImmediateData", "No"], ["MaxBurstLength", "65536"], ["DefaultTime2Wait", "4"], ["FirstBurstLength", "16384"]], op));
    expect(done.kind).toBe("complete");
    if (done.kind === "complete") expect(done.result.session).toMatchObject({ initialR2T: true, immediateData: false, maxBurstLength: 65536, defaultTime2Wait: 4 });
  });

  it("waits for answers before it transits", () => {
    const target = makeTarget(hash, { policy: { ...DEFAULT_TARGET_POLICY, maxBurstLength: 65536, firstBurstLength: 16384 } });
    const op = { currentStage: 1 as const, nextStage: 3 as const };
    target.receive(request([["InitiatorName", INITIATOR_NAME], ["TargetName", TARGET_NAME]], op));
    const again = target.receive(request([], op));
    expect(again.kind).toBe("send");
    expect(again.pdu.transit).toBe(false);
  });

  it("acknowledges each piece of a continued request with an empty response", () => {
    const target = makeTarget(hash);
    const text = encodeText(hello);
    const a = target.receive(request([], { data: text.subarray(0, 20), continue: true, transit: false }));
    expect(a).toMatchObject({ kind: "send", pdu: { data: new Uint8Array(0), transit: false, continue: false } });
    const b = target.receive(request([], { data: text.subarray(20) }));
    expect(b.pdu.transit).toBe(true);
    expect(textOf(b).get("AuthMethod")).toBe("None");
  });

  it("refuses a request whose ISID or CID changes during the login", () => {
    const target = makeTarget(hash);
    target.receive(request(hello));
    const step = target.receive(request([], { currentStage: 1, nextStage: 3, cid: 9 }));
    expect(step.kind).toBe("reject");
    expect(status(step)).toBe(0x0200);
  });

  it("refuses an allocated TSIH of 0 as the caller's mistake", () => {
    const target = new TargetLogin({
      portalGroupTag: 1,
      resolveTarget: () => ({ kind: "target", target: { name: TARGET_NAME, authMethods: ["None"] } }),
      lookupAccount: () => undefined,
      allocateTsih: () => 0,
      statSN: 1,
      hash,
      randomBytes: (n) => new Uint8Array(n),
    });
    expect(() => runLogin(makeInitiator(hash), target)).toThrow(LocalProtocolError);
  });
});

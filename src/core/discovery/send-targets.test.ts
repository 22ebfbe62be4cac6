import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../errors.js";
import { encodeText } from "../text/codec.js";
import { encodeUtf8 } from "../utf8.js";
import type { DiscoveredTarget } from "./send-targets.js";
import { buildSendTargetsResponse, parseSendTargetsResponse, sendTargetsRequest } from "./send-targets.js";

describe("SendTargets", () => {
  it("builds SendTargets=All by default, or for one name", () => {
    expect(sendTargetsRequest()).toEqual([["SendTargets", "All"]]);
    expect(sendTargetsRequest("iqn.2026-11.test:disk")).toEqual([["SendTargets", "iqn.2026-11.test:disk"]]);
  });

  it("parses tgtd's answer", () => {
    // As captured from tgtd 1.0 on loopback (iscsi-ls -s).
    const data = encodeUtf8("TargetName=iqn.2026-11.test:disk\0TargetAddress=127.0.0.1:3318,1\0");
    expect(parseSendTargetsResponse(data)).toEqual([{ name: "iqn.2026-11.test:disk", addresses: [{ host: "127.0.0.1", port: 3318, portalGroupTag: 1 }] }]);
  });

  it("groups several addresses under each target, IPv6 and default port included", () => {
    const data = encodeText([
      ["TargetName", "iqn.a"],
      ["TargetAddress", "[fd00::1]:3261,1"],
      ["TargetAddress", "10.0.0.1,2"],
      ["TargetName", "iqn.b"],
      ["TargetAlias", "bee"],
    ]);
    expect(parseSendTargetsResponse(data)).toEqual([
      { name: "iqn.a", addresses: [{ host: "fd00::1", port: 3261, portalGroupTag: 1 }, { host: "10.0.0.1", port: 3260, portalGroupTag: 2 }] },
      { name: "iqn.b", alias: "bee", addresses: [] },
    ]);
  });

  it("parses an empty answer as no targets", () => {
    expect(parseSendTargetsResponse(new Uint8Array(0))).toEqual([]);
  });

  it("refuses an address before any name, an address without a portal group tag, and a refused request", () => {
    expect(() => parseSendTargetsResponse(encodeText([["TargetAddress", "h:1,1"]]))).toThrow(/before any TargetName/);
    expect(() => parseSendTargetsResponse(encodeText([["TargetName", "iqn.a"], ["TargetAddress", "h:1"]]))).toThrow(/no portal group tag/);
    expect(() => parseSendTargetsResponse([["SendTargets", "Reject"]])).toThrow(RemoteProtocolError);
  });

  const targets: DiscoveredTarget[] = [
    { name: "iqn.a", addresses: [{ host: "127.0.0.1", port: 3260, portalGroupTag: 1 }] },
    { name: "iqn.b", addresses: [{ host: "::1", port: 3261, portalGroupTag: 2 }, { host: "10.0.0.2", port: 3260, portalGroupTag: 2 }] },
  ];

  it("answers All with every target in a discovery session, and Reject in a normal one", () => {
    expect(buildSendTargetsResponse("All", targets, { sessionType: "Discovery" })).toEqual([
      ["TargetName", "iqn.a"],
      ["TargetAddress", "127.0.0.1:3260,1"],
      ["TargetName", "iqn.b"],
      ["TargetAddress", "[::1]:3261,2"],
      ["TargetAddress", "10.0.0.2:3260,2"],
    ]);
    expect(buildSendTargetsResponse("All", targets, { sessionType: "Normal", currentTarget: "iqn.a" })).toEqual([["SendTargets", "Reject"]]);
  });

  it("answers a name with that target only, and the empty value with the session's target", () => {
    expect(buildSendTargetsResponse("iqn.b", targets, { sessionType: "Discovery" }).filter(([k]) => k === "TargetName")).toEqual([["TargetName", "iqn.b"]]);
    expect(buildSendTargetsResponse("iqn.zzz", targets, { sessionType: "Discovery" })).toEqual([]);
    expect(buildSendTargetsResponse("", targets, { sessionType: "Normal", currentTarget: "iqn.a" })[0]).toEqual(["TargetName", "iqn.a"]);
  });

  it("round-trips any target list through build and parse", () => {
    const address = fc.record({ host: fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain()), port: fc.integer({ min: 1, max: 65535 }), portalGroupTag: fc.integer({ min: 0, max: 65535 }) });
    const target = fc.record({ name: fc.stringMatching(/^iqn\.[a-z0-9.:-]{1,40}$/), addresses: fc.array(address, { maxLength: 4 }) });
    fc.assert(
      fc.property(fc.array(target, { maxLength: 6 }), (list) => {
        expect(parseSendTargetsResponse(encodeText(buildSendTargetsResponse("All", list, { sessionType: "Discovery" })))).toEqual(list);
      }),
    );
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../errors.js";
import { formatTargetAddress, parseTargetAddress } from "./target-address.js";

describe("TargetAddress (RFC 7143 §13.8)", () => {
  it("parses host, port and portal group tag", () => {
    expect(parseTargetAddress("127.0.0.1:3318,1")).toEqual({ host: "127.0.0.1", port: 3318, portalGroupTag: 1 });
  });

  it("defaults the port to 3260 and leaves out a missing tag", () => {
    expect(parseTargetAddress("storage.example.com")).toEqual({ host: "storage.example.com", port: 3260 });
    expect(parseTargetAddress("storage.example.com,7")).toEqual({ host: "storage.example.com", port: 3260, portalGroupTag: 7 });
  });

  it("parses an IPv6 address in brackets, with and without a port", () => {
    expect(parseTargetAddress("[fe80::1%eth0]:3261,2")).toEqual({ host: "fe80::1%eth0", port: 3261, portalGroupTag: 2 });
    expect(parseTargetAddress("[::1],1")).toEqual({ host: "::1", port: 3260, portalGroupTag: 1 });
  });

  it("refuses bare IPv6, bad ports, bad tags and junk", () => {
    for (const bad of ["::1", "host:0", "host:65536", "host:x", "host,70000", "[::1", "[::1]x", "", "ho st:1", ":3260"]) {
      expect(() => parseTargetAddress(bad), bad).toThrow(RemoteProtocolError);
    }
  });

  it("round-trips through formatTargetAddress", () => {
    const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
    fc.assert(
      fc.property(host, fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (h, port, portalGroupTag) => {
        const a = { host: h, port, portalGroupTag };
        expect(parseTargetAddress(formatTargetAddress(a))).toEqual(a);
      }),
    );
  });
});

import { describe, expect, it } from "vitest";
import { IsnsConnection } from "./client.js";
import { IsnsFlag, IsnsFunction, IsnsStatus, IsnsTag, NodeType, RESPONSE_BIT, ScnBit } from "./constants.js";
import { delimiter, encodeMessage, type IsnsAttribute, type IsnsMessage, ipAttr, nilAttr, portAttr, readString, readU32, stringAttr, u32Attr } from "./codec.js";
import { IsnsProtocolError, IsnsStatusError } from "./errors.js";
import {
  deregistrationRequest,
  parseRegistrationResponse,
  parseScn,
  parseTargetQueryResponse,
  refreshDelayMs,
  registrationRequest,
  scnRegistrationRequest,
  scnResponse,
  targetQuery,
} from "./messages.js";
import { parseIsnsServer } from "./server-address.js";

const response = (functionId: number, attributes: IsnsAttribute[], status: number = IsnsStatus.Successful): IsnsMessage => ({
  functionId: functionId | RESPONSE_BIT,
  transactionId: 1,
  flags: IsnsFlag.Server,
  status,
  attributes,
});

const portal = (host: string, port: number): IsnsAttribute[] => [ipAttr(IsnsTag.PortalIpAddress, host), portAttr(IsnsTag.PortalPort, port)];
const node = (name: string, type: number, alias?: string): IsnsAttribute[] => [
  stringAttr(IsnsTag.IscsiName, name),
  u32Attr(IsnsTag.IscsiNodeType, type),
  ...(alias === undefined ? [] : [stringAttr(IsnsTag.IscsiAlias, alias)]),
];
const group = (name: string, host: string, port: number, tag: number | null): IsnsAttribute[] => [
  stringAttr(IsnsTag.PgIscsiName, name),
  ipAttr(IsnsTag.PgPortalIpAddress, host),
  portAttr(IsnsTag.PgPortalPort, port),
  tag === null ? nilAttr(IsnsTag.PgTag) : u32Attr(IsnsTag.PgTag, tag),
];

describe("the target query (DevAttrQry)", () => {
  it("keys on iSCSI Node Type = Target and asks for names, portals and portal groups", () => {
    const q = targetQuery("iqn.2026-11.test:me");
    expect(q.functionId).toBe(IsnsFunction.DevAttrQry);
    expect(readString(q.attributes[0]!, "src")).toBe("iqn.2026-11.test:me");
    expect(q.attributes[1]!.tag).toBe(IsnsTag.IscsiNodeType);
    expect(readU32(q.attributes[1]!, "key")).toBe(NodeType.Target);
    expect(q.attributes[2]!.tag).toBe(IsnsTag.Delimiter);
    const asked = q.attributes.slice(3);
    expect(asked.every((a) => a.value.length === 0)).toBe(true);
    expect(asked.map((a) => a.tag)).toEqual(expect.arrayContaining([32, 33, 16, 17, 48, 49, 50, 51]));
  });

  it("gives each target its portals and tags from its portal groups, as SendTargets does", () => {
    const targets = parseTargetQueryResponse(
      response(IsnsFunction.DevAttrQry, [
        u32Attr(IsnsTag.IscsiNodeType, NodeType.Target),
        delimiter(),
        stringAttr(IsnsTag.EntityIdentifier, "box-a"),
        ...portal("10.0.0.1", 3260),
        ...portal("10.0.0.2", 3261),
        ...node("iqn.2026-11.test:disk", NodeType.Target, "Disk"),
        ...node("iqn.2026-11.test:tape", NodeType.Target),
        ...group("iqn.2026-11.test:disk", "10.0.0.1", 3260, 1),
        ...group("iqn.2026-11.test:disk", "10.0.0.2", 3261, 2),
        ...group("iqn.2026-11.test:tape", "10.0.0.1", 3260, 1),
        ...group("iqn.2026-11.test:tape", "10.0.0.2", 3261, null),
      ]),
    );
    expect(targets).toEqual([
      {
        name: "iqn.2026-11.test:disk",
        alias: "Disk",
        addresses: [
          { host: "10.0.0.1", port: 3260, portalGroupTag: 1 },
          { host: "10.0.0.2", port: 3261, portalGroupTag: 2 },
        ],
      },
      { name: "iqn.2026-11.test:tape", addresses: [{ host: "10.0.0.1", port: 3260, portalGroupTag: 1 }] },
    ]);
  });

  it("gives every portal of an entity with no portal groups to each of its targets, and leaves initiators out", () => {
    const targets = parseTargetQueryResponse(
      response(IsnsFunction.DevAttrQry, [
        delimiter(),
        stringAttr(IsnsTag.EntityIdentifier, "box-b"),
        ...portal("::1", 3260),
        ...node("iqn.2026-11.test:init", NodeType.Initiator),
        ...node("iqn.2026-11.test:only", NodeType.Target),
        stringAttr(IsnsTag.EntityIdentifier, "box-c"),
        ...portal("192.168.0.9", 3260),
      ]),
    );
    expect(targets).toEqual([{ name: "iqn.2026-11.test:only", addresses: [{ host: "::1", port: 3260, portalGroupTag: 1 }] }]);
  });

  it("turns an error status into IsnsStatusError naming the status, and a mismatched answer into a protocol error", () => {
    const refused = response(IsnsFunction.DevAttrQry, [], IsnsStatus.SourceUnauthorized);
    expect(() => parseTargetQueryResponse(refused)).toThrow(IsnsStatusError);
    expect(() => parseTargetQueryResponse(refused)).toThrow("the iSNS server refused DevAttrQry: Source Unauthorized (status 8)");
    expect(() => parseTargetQueryResponse(response(IsnsFunction.DevAttrReg, []))).toThrow(/DevAttrQry answered with DevAttrRegRsp/);
    expect(() => parseTargetQueryResponse(response(IsnsFunction.DevAttrQry, [delimiter(), portAttr(IsnsTag.PortalPort, 1)]))).toThrow(IsnsProtocolError);
  });
});

describe("registration", () => {
  const reg = { entityId: "iscsi-ts:box", registrationPeriod: 900, portals: [{ host: "127.0.0.1", port: 3260 }], nodes: [{ name: "iqn.2026-11.test:disk", type: NodeType.Target }] };

  it("keys DevAttrReg on the Entity Identifier and registers portals, nodes and a default portal group", () => {
    const r = registrationRequest("iqn.2026-11.test:disk", reg);
    const tags = r.attributes.map((a) => a.tag);
    expect(tags).toEqual([32, 1, 0, 1, 2, 6, 16, 17, 32, 33, 48, 49, 50, 51]);
    expect(readU32(r.attributes[5]!, "period")).toBe(900);
    expect(readU32(r.attributes.at(-1)!, "pgt")).toBe(1);
    expect(r.replace).toBeUndefined();
  });

  it("reads the period the server granted, which may differ from the one asked", () => {
    const granted = parseRegistrationResponse(response(IsnsFunction.DevAttrReg, [stringAttr(1, "iscsi-ts:box"), delimiter(), stringAttr(1, "iscsi-ts:box"), u32Attr(IsnsTag.RegistrationPeriod, 20)]));
    expect(granted.registrationPeriod).toBe(20);
    expect(parseRegistrationResponse(response(IsnsFunction.DevAttrReg, [])).registrationPeriod).toBeUndefined();
  });

  it("refreshes at two thirds of the period, never sooner than a second", () => {
    expect(refreshDelayMs(900)).toBe(600_000);
    expect(refreshDelayMs(6)).toBe(4_000);
    expect(refreshDelayMs(1)).toBe(1_000);
  });

  it("deregisters the whole entity with no message key", () => {
    const d = deregistrationRequest("iqn.2026-11.test:disk", "iscsi-ts:box");
    expect(d.functionId).toBe(IsnsFunction.DevDereg);
    expect(d.attributes.map((a) => a.tag)).toEqual([32, 0, 1]);
  });
});

describe("state change notifications", () => {
  it("registers for notifications with the node's own name as key and the bitmap as operating attribute", () => {
    const r = scnRegistrationRequest("iqn.2026-11.test:me", ScnBit.ObjectAdded | ScnBit.ObjectRemoved);
    expect(r.attributes.map((a) => a.tag)).toEqual([32, 32, 0, 35]);
    expect(readU32(r.attributes[3]!, "bitmap")).toBe(0x18);
  });

  it("reads an SCN as isnsd sends it: destination, timestamp, then bitmap and name per change", () => {
    const ts = new Uint8Array(8);
    ts[7] = 42;
    const scn: IsnsMessage = {
      functionId: IsnsFunction.SCN,
      transactionId: 9,
      flags: IsnsFlag.Server,
      attributes: [
        stringAttr(32, "iqn.2026-11.test:me"),
        { tag: IsnsTag.Timestamp, value: ts },
        u32Attr(35, ScnBit.ObjectAdded),
        stringAttr(32, "iqn.2026-11.test:new"),
        u32Attr(2065, 1),
        u32Attr(35, ScnBit.ObjectRemoved),
        stringAttr(32, "iqn.2026-11.test:gone"),
      ],
    };
    expect(parseScn(scn)).toEqual({
      destination: "iqn.2026-11.test:me",
      timestamp: 42,
      changes: [
        { name: "iqn.2026-11.test:new", bitmap: ScnBit.ObjectAdded },
        { name: "iqn.2026-11.test:gone", bitmap: ScnBit.ObjectRemoved },
      ],
    });
    expect(() => parseScn({ ...scn, attributes: [u32Attr(35, 1)] })).toThrow(/no destination/);
    const answer = scnResponse(9, "iqn.2026-11.test:me");
    expect(answer).toMatchObject({ functionId: 0x8008, transactionId: 9, status: 0 });
    expect(answer.attributes.map((a) => a.tag)).toEqual([32]);
  });
});

describe("IsnsConnection", () => {
  it("numbers requests, matches responses by transaction ID, and hands server requests on", () => {
    const c = new IsnsConnection({ firstTransactionId: 0xffff });
    const a = c.send(targetQuery("iqn.2026-11.test:me"));
    const b = c.send(deregistrationRequest("iqn.2026-11.test:me", "e"));
    expect([a, b]).toEqual([0xffff, 0]);
    expect(c.pollTransmit()).toHaveLength(2);
    expect(c.pollTransmit()).toBeUndefined();
    const server = (m: IsnsMessage): Uint8Array[] => encodeMessage(m);
    for (const pdu of [...server({ ...response(IsnsFunction.DevDereg, []), transactionId: 0 }), ...server({ functionId: IsnsFunction.SCN, transactionId: 5, flags: IsnsFlag.Server, attributes: [stringAttr(32, "x")] })]) c.receive(pdu);
    expect(c.nextEvent()).toMatchObject({ type: "response", request: IsnsFunction.DevDereg });
    expect(c.nextEvent()).toMatchObject({ type: "request", message: { functionId: IsnsFunction.SCN, transactionId: 5 } });
    expect(c.outstanding).toBe(1);
  });

  it("refuses a response to a transaction it never sent", () => {
    const c = new IsnsConnection();
    expect(() => encodeMessage(response(IsnsFunction.DevAttrQry, [])).forEach((p) => c.receive(p))).toThrow(/transaction 1, which we never sent/);
  });
});

describe("parseIsnsServer", () => {
  it("takes HOST, HOST:PORT and [v6]:PORT, with port 3205 when none is given", () => {
    expect(parseIsnsServer("isns.example")).toEqual({ host: "isns.example", port: 3205 });
    expect(parseIsnsServer("127.0.0.1:13205")).toEqual({ host: "127.0.0.1", port: 13205 });
    expect(parseIsnsServer("[::1]:4000")).toEqual({ host: "::1", port: 4000 });
    expect(parseIsnsServer("[::1]")).toEqual({ host: "::1", port: 3205 });
    expect(() => parseIsnsServer("host:99999")).toThrow(/iSNS server "host:99999"/);
  });
});

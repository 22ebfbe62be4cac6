import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../errors.js";
import { hexOf } from "../hex.js";
import { IsnsFlag, IsnsFunction, IsnsTag, RESPONSE_BIT } from "./constants.js";
import {
  decodeAttributes,
  decodeHeader,
  delimiter,
  encodeAttributes,
  encodeMessage,
  IsnsFramer,
  type IsnsMessage,
  ipAttr,
  nilAttr,
  portAttr,
  readIp,
  readPort,
  readString,
  readU32,
  stringAttr,
  u32Attr,
} from "./codec.js";
import { IsnsProtocolError } from "./errors.js";
import { decodeIpAddress, encodeIpAddress } from "./ip.js";

function frameAll(pdus: readonly Uint8Array[], options?: { maxMessageBytes?: number }): IsnsMessage[] {
  const framer = new IsnsFramer(options);
  for (const p of pdus) framer.push(p);
  const out: IsnsMessage[] = [];
  for (let m = framer.next(); m !== undefined; m = framer.next()) out.push(m);
  return out;
}


describe("iSNSP attributes", () => {
  it("writes a string NUL-terminated and padded to 4 bytes, the length counting the padding", () => {
    const bytes = encodeAttributes([stringAttr(IsnsTag.IscsiName, "iqn.a")]);
    // tag 32, length 8 ("iqn.a" + NUL = 6, padded to 8)
    expect(hexOf(bytes)).toBe("00000020" + "00000008" + hexOf(new TextEncoder().encode("iqn.a")) + "000000");
  });

  it("adds a whole 4-byte word when a string's length is already a multiple of 4", () => {
    const [a] = decodeAttributes(encodeAttributes([stringAttr(1, "abcd")]), "test");
    expect(a!.value.length).toBe(8);
    expect(readString(a!, "test")).toBe("abcd");
  });

  it("round-trips numbers, addresses, ports, nil attributes and the delimiter", () => {
    const attrs = [u32Attr(6, 900), ipAttr(16, "127.0.0.1"), portAttr(17, 3260), portAttr(23, 4000, true), nilAttr(32), delimiter()];
    const back = decodeAttributes(encodeAttributes(attrs), "test");
    expect(back.map((a) => a.tag)).toEqual([6, 16, 17, 23, 32, 0]);
    expect(readU32(back[0]!, "t")).toBe(900);
    expect(readIp(back[1]!, "t")).toBe("127.0.0.1");
    expect(readPort(back[2]!, "t")).toEqual({ port: 3260, udp: false });
    expect(readPort(back[3]!, "t")).toEqual({ port: 4000, udp: true });
    expect(back[4]!.value.length).toBe(0);
  });

  it("carries IPv4 as IPv4-mapped IPv6 and prints IPv6 in its short form", () => {
    expect(hexOf(encodeIpAddress("10.1.2.3"))).toBe("00000000000000000000ffff0a010203");
    expect(decodeIpAddress(encodeIpAddress("::1"))).toBe("::1");
    expect(decodeIpAddress(encodeIpAddress("fe80::1:0:0:2"))).toBe("fe80::1:0:0:2");
    expect(decodeIpAddress(encodeIpAddress("2001:db8:0:0:1:0:0:1"))).toBe("2001:db8::1:0:0:1");
    expect(() => encodeIpAddress("example.com")).toThrow(/not an IP address/);
    expect(() => encodeIpAddress("1::2::3")).toThrow(/not an IP address/);
  });

  it("refuses a TLV whose length runs past the bytes that follow, before using it", () => {
    const bytes = new Uint8Array(12);
    bytes.set([0, 0, 0, 32, 0xff, 0xff, 0xff, 0xf0]);
    expect(() => decodeAttributes(bytes, "test")).toThrow(IsnsProtocolError);
    expect(() => decodeAttributes(bytes, "test")).toThrow(/claims 4294967280 bytes, only 4 follow/);
  });

  it("refuses a TLV cut inside its tag and length, and one whose length is not a multiple of 4", () => {
    expect(() => decodeAttributes(new Uint8Array(6), "test")).toThrow(/too few for a TLV/);
    const odd = new Uint8Array(16);
    odd.set([0, 0, 0, 1, 0, 0, 0, 5]);
    expect(() => decodeAttributes(odd, "test")).toThrow(/not a multiple of 4/);
  });

  it("refuses a number of the wrong size and a string with junk after its NUL", () => {
    expect(() => readU32({ tag: 6, value: new Uint8Array(8) }, "x")).toThrow(IsnsProtocolError);
    expect(() => readString({ tag: 1, value: Uint8Array.of(0x61, 0, 0x62, 0) }, "x")).toThrow(/after the string's NUL/);
  });
});

describe("iSNSP PDUs", () => {
  const query: IsnsMessage = {
    functionId: IsnsFunction.DevAttrQry,
    transactionId: 7,
    flags: IsnsFlag.Client,
    attributes: [stringAttr(32, "iqn.2026-11.test:i"), u32Attr(33, 1), delimiter(), nilAttr(32)],
  };

  it("writes the 12-byte header: version 1, function, length, client/first/last flags, transaction and sequence", () => {
    const [pdu] = encodeMessage(query);
    const h = decodeHeader(pdu!);
    expect(h).toEqual({ version: 1, functionId: 2, length: pdu!.length - 12, flags: 0x8000 | 0x0800 | 0x0400, transactionId: 7, sequenceId: 0 });
  });

  it("round-trips a request and a response through the framer", () => {
    const response: IsnsMessage = { functionId: IsnsFunction.DevAttrQry | RESPONSE_BIT, transactionId: 7, flags: IsnsFlag.Server, status: 0, attributes: [delimiter(), stringAttr(32, "iqn.t")] };
    const [a, b] = frameAll([...encodeMessage(query), ...encodeMessage(response)]);
    expect(a).toMatchObject({ functionId: 2, transactionId: 7, attributes: query.attributes.map((x) => ({ tag: x.tag })) });
    expect(a!.status).toBeUndefined();
    expect(b).toMatchObject({ functionId: 0x8002, status: 0 });
    expect(readString(b!.attributes[1]!, "t")).toBe("iqn.t");
  });

  it("splits a long message across PDUs at attribute boundaries and joins it again", () => {
    const attributes = Array.from({ length: 40 }, (_, i) => stringAttr(32, `iqn.2026-11.test:node-${i}`));
    const pdus = encodeMessage({ ...query, attributes }, { maxPduPayload: 128 });
    expect(pdus.length).toBeGreaterThan(5);
    expect(pdus.map((p) => decodeHeader(p).sequenceId)).toEqual(pdus.map((_, i) => i));
    expect(decodeHeader(pdus[0]!).flags & IsnsFlag.FirstPdu).not.toBe(0);
    expect(decodeHeader(pdus.at(-1)!).flags & IsnsFlag.LastPdu).not.toBe(0);
    const [m] = frameAll(pdus);
    expect(m!.attributes.map((x) => readString(x, "t"))).toEqual(attributes.map((_, i) => `iqn.2026-11.test:node-${i}`));
  });

  it("is a property: any attributes, cut at any points, come back whole and in order", () => {
    const attr = fc.oneof(
      fc.record({ tag: fc.integer({ min: 1, max: 3000 }), text: fc.string({ maxLength: 40 }) }).map((r) => stringAttr(r.tag, r.text.replace(/\0/g, ""))),
      fc.record({ tag: fc.integer({ min: 1, max: 3000 }), n: fc.nat() }).map((r) => u32Attr(r.tag, r.n)),
      fc.integer({ min: 0, max: 3000 }).map(nilAttr),
    );
    fc.assert(
      fc.property(fc.array(attr, { maxLength: 30 }), fc.nat({ max: 0xffff }), fc.integer({ min: 48, max: 200 }), fc.array(fc.nat(), { maxLength: 6 }), (attributes, xid, words, cuts) => {
        const message: IsnsMessage = { functionId: IsnsFunction.DevAttrReg, transactionId: xid, flags: IsnsFlag.Client, attributes };
        const bytes = Buffer.concat(encodeMessage(message, { maxPduPayload: words * 4 }));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        const chunks: Uint8Array[] = [];
        let from = 0;
        for (const p of [...points, bytes.length]) {
          chunks.push(bytes.subarray(from, p));
          from = p;
        }
        const [back, extra] = frameAll(chunks);
        expect(extra).toBeUndefined();
        expect(back!.transactionId).toBe(xid);
        expect(back!.attributes.map((a) => [a.tag, hexOf(a.value)])).toEqual(attributes.map((a) => [a.tag, hexOf(a.value)]));
      }),
    );
  });

  it("holds a PDU until all of it has arrived", () => {
    const [pdu] = encodeMessage(query);
    const framer = new IsnsFramer();
    framer.push(pdu!.subarray(0, pdu!.length - 1));
    expect(framer.next()).toBeUndefined();
    expect(framer.midMessage).toBe(true);
    framer.push(pdu!.subarray(pdu!.length - 1));
    expect(framer.next()?.transactionId).toBe(7);
    expect(framer.midMessage).toBe(false);
  });

  it("refuses a stream that is not iSNSP (an HTTP reply, an iSCSI PDU) with a typed error", () => {
    const http = new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n");
    expect(() => frameAll([http])).toThrow(IsnsProtocolError);
    expect(() => frameAll([http])).toThrow(/iSNSP version 18516/);
    const e = (() => {
      try {
        frameAll([http]);
      } catch (error) {
        return error;
      }
    })();
    expect(e).toBeInstanceOf(RemoteProtocolError);
    expect((e as RemoteProtocolError).code).toBe("ISCSI_ERR_REMOTE_PROTOCOL");
  });

  it("refuses a PDU length that is not a multiple of 4, an authentication block, and a response with no status", () => {
    const [pdu] = encodeMessage(query);
    const odd = pdu!.slice();
    odd[5] = odd[5]! + 1;
    expect(() => frameAll([odd])).toThrow(/not a multiple of 4/);
    const auth = pdu!.slice();
    auth[6] = auth[6]! | 0x20;
    expect(() => frameAll([auth])).toThrow(/authentication block/);
    const empty = Uint8Array.of(0, 1, 0x80, 2, 0, 0, 0x0c, 0, 0, 7, 0, 0);
    expect(() => frameAll([empty])).toThrow(/no status code/);
  });

  it("refuses PDUs out of sequence and a message past its size bound", () => {
    const attributes = Array.from({ length: 40 }, (_, i) => stringAttr(32, `iqn.2026-11.test:node-${i}`));
    const pdus = encodeMessage({ ...query, attributes }, { maxPduPayload: 128 });
    expect(() => frameAll([pdus[0]!, pdus[2]!])).toThrow(/sequence 1 of DevAttrQry transaction 7 was due/);
    expect(() => frameAll([pdus[1]!])).toThrow(/no first PDU/);
    expect(() => frameAll(pdus, { maxMessageBytes: 512 })).toThrow(/longer than 512 bytes/);
  });

  it("is a property: garbage either frames as iSNSP or fails with IsnsProtocolError, never anything else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        // A valid header in front makes the framer read into the junk.
        const bytes = new Uint8Array(12 + junk.length);
        bytes.set([0, 1, 0x80, 2, (junk.length >> 8) & 0xff, junk.length & 0xfc, 0x0c, 0, 0, 1, 0, 0]);
        bytes.set(junk, 12);
        try {
          frameAll([bytes]);
        } catch (error) {
          expect(error).toBeInstanceOf(IsnsProtocolError);
        }
      }),
    );
  });
});

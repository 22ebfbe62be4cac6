/**
 * The fault proxy with no fault armed is invisible: libiscsi's tools (iscsi-inq, iscsi-ls,
 * iscsi-readcapacity16) print the same through it as straight to tgtd, with and without a header
 * digest, and every PDU header the proxy framed carries an opcode of the right direction (a proxy
 * that lost framing, for instance by missing the digests negotiated at login, would see garbage).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPCODE_NAMES } from "../../src/core/pdu/opcodes.js";
import { isInitiatorOpcode } from "../../src/core/pdu/types.js";
import type { Direction, FaultProxy } from "../../src/faults/proxy.js";
import { FaultProxy as Proxy } from "../../src/faults/proxy.js";
import { iscsiInq, iscsiLs, iscsiReadCapacity16 } from "../support/peers.js";
import { checkOk } from "../support/processes.js";
import type { Tgtd } from "../support/tgtd.js";
import { connectClient, IQN, LUN, startTgtd } from "./reliability.test-util.js";

describe("the fault proxy between libiscsi and tgtd", () => {
  let tgtd: Tgtd;
  let proxy: FaultProxy;
  const seen: Array<{ direction: Direction; opcode: number; connection: number }> = [];

  beforeAll(async () => {
    tgtd = await startTgtd();
    // tgtd offers both; libiscsi asks for a header digest when the URL says so.
    await tgtd.setParam(1, "HeaderDigest", "None,CRC32C");
    proxy = await Proxy.start({
      target: { host: tgtd.host, port: tgtd.port },
      observe: (direction, pdu, connection) => void seen.push({ direction, opcode: pdu.opcode, connection }),
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await tgtd?.stop();
  });

  function through(url: string): string {
    return url.replace(`${tgtd.host}:${tgtd.port}`, proxy.portal);
  }

  function framingProblems(): string[] {
    return seen
      .filter((s) => OPCODE_NAMES[s.opcode] === undefined || isInitiatorOpcode(s.opcode) !== (s.direction === "to-target"))
      .map((s) => `connection ${s.connection} ${s.direction}: opcode 0x${s.opcode.toString(16)}`);
  }

  it.each([
    ["without digests", ""],
    ["with a CRC32C header digest", "?header_digest=crc32c"],
  ])("prints the same through the proxy as straight to tgtd %s", async (_name, query) => {
    seen.length = 0;
    const lunUrl = `${tgtd.url(IQN, LUN)}${query}`;
    for (const run of [
      (url: string) => iscsiInq(url),
      (url: string) => iscsiInq(url, ["-e", "1", "-c", "0x83"]),
      (url: string) => iscsiReadCapacity16(url),
    ]) {
      const direct = checkOk(await run(lunUrl)).stdout;
      const proxied = checkOk(await run(through(lunUrl))).stdout;
      expect(proxied).toBe(direct);
      expect(direct.length).toBeGreaterThan(0);
    }
    const listing = checkOk(await iscsiLs(`${tgtd.url()}${query}`)).stdout;
    expect(checkOk(await iscsiLs(through(`${tgtd.url()}${query}`))).stdout.replaceAll(proxy.portal, tgtd.portal)).toBe(listing);
    expect(framingProblems()).toEqual([]);
    expect(seen.length).toBeGreaterThan(20);
    expect(proxy.faultsInjected).toBe(0);
  });

  it("frames our own initiator's session with header and data digests", async () => {
    seen.length = 0;
    await tgtd.setParam(1, "DataDigest", "None,CRC32C");
    const client = await connectClient(proxy.portal, { headerDigest: "CRC32C", dataDigest: "CRC32C" });
    let sent = 0;
    let received = 0;
    try {
      expect(client.session.connections[0]).toMatchObject({ headerDigest: true, dataDigest: true });
      const data = new Uint8Array(256 * 1024).map((_, i) => (i * 7) & 0xff);
      await client.lun.write(0, data);
      expect(await client.lun.read(0, data.length / 512)).toEqual(data);
      sent = client.trace.entries().filter((e) => e.direction === "send").length;
      received = client.trace.entries().filter((e) => e.direction === "receive").length;
    } finally {
      await client.close();
    }
    expect(framingProblems()).toEqual([]);
    // The proxy framed exactly the PDUs our initiator sent and received (the logout came after).
    expect(seen.filter((s) => s.direction === "to-target").length).toBeGreaterThanOrEqual(sent);
    expect(seen.filter((s) => s.direction === "to-initiator").length).toBeGreaterThanOrEqual(received);
    expect(sent).toBeGreaterThan(10);
  });
});

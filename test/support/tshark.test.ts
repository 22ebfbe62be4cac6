/** The capture helpers: what they find in a bad exchange and in a CHAP login. */
import { connect, createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { chapEnv, iscsiLs } from "./peers.js";
import { freeTcpPort } from "./ports.js";
import { checkOk } from "./processes.js";
import { Tgtd } from "./tgtd.js";
import { useTempDir } from "./tmp.js";
import { analyze, extractFields, pduField, pduKey, problems, startCapture, type Capture } from "./tshark.js";

/** A 48-byte BHS with the given opcode byte, flags, data segment length and Initiator Task Tag. */
function bhs(opcodeByte: number, flags: number, dataLength: number, itt: number): Buffer {
  const header = Buffer.alloc(48);
  header[0] = opcodeByte;
  header[1] = flags;
  header.writeUIntBE(dataLength, 5, 3);
  header.writeUInt32BE(itt, 16);
  return header;
}

describe("tshark captures", () => {
  const tmp = useTempDir("iscsi-ts-tshark-");
  let capture: Capture | undefined;
  let tgtd: Tgtd | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    await capture?.discard();
    await tgtd?.stop();
    server?.close();
    [capture, tgtd, server] = [undefined, undefined, undefined];
  });

  it("reports a Data-In too short for its READ CAPACITY(10) as a malformed frame", async () => {
    const port = await freeTcpPort();
    // A stand-in target that answers any command with 3 bytes of the 8 READ CAPACITY(10) returns.
    server = createServer((socket) => {
      socket.once("data", () => {
        const dataIn = Buffer.concat([bhs(0x25, 0x81, 3, 7), Buffer.from([1, 2, 3, 0])]);
        socket.end(dataIn);
      });
    });
    await new Promise<void>((resolve) => server?.listen(port, "127.0.0.1", resolve));
    capture = await startCapture({ port, dir: tmp().path });

    await new Promise<void>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => {
        const command = bhs(0x01, 0xc0, 0, 7); // SCSI Command, F and R
        command.writeUInt32BE(8, 20); // Expected Data Transfer Length
        command[32] = 0x25; // CDB: READ CAPACITY(10)
        socket.write(command);
      });
      socket.on("data", () => undefined);
      socket.on("end", () => socket.end(resolve));
      socket.on("error", reject);
    });
    const analysis = await analyze(await capture.stop(), port);

    expect(analysis.opcodes).toEqual(["SCSI Command", "SCSI Data In"]);
    const dataInFrame = analysis.pdus[1]?.frame;
    expect(analysis.malformed.map((m) => [m.frame, m.layer])).toEqual([[dataInFrame, "scsi"]]);
    expect(problems(analysis, { layers: ["tcp", "iscsi"] })).toEqual([]);
    expect(problems(analysis).join("\n")).toMatch(new RegExp(`frame ${dataInFrame} malformed`));
  });

  it("shows which CHAP algorithm tgtd chose, per PDU and as raw fields", async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: "iqn.2026-11.test.capture:chap", luns: [{ lun: 1, file: { size: 1 << 20 } }] });
    await tgtd.addAccount("carol", "carol-secret-12");
    await tgtd.bindAccount(1, "carol");
    capture = await startCapture({ port: tgtd.port, dir: tmp().path });

    checkOk(await iscsiLs(tgtd.url(), { env: chapEnv({ initiator: { user: "carol", secret: "carol-secret-12" } }) }));
    const pcap = await capture.stop();
    const analysis = await analyze(pcap, tgtd.port);

    const offer = analysis.pdus.find((p) => p.fromInitiator && pduKey(p, "CHAP_A") !== undefined);
    const choice = analysis.pdus.find((p) => !p.fromInitiator && pduKey(p, "CHAP_A") !== undefined);
    // Debian's libiscsi offers MD5 only (CHAP_A=5), so that is what tgtd must pick.
    expect(offer && pduKey(offer, "CHAP_A")).toBe("5");
    expect(choice?.name).toBe("Login Response");
    expect(choice && pduKey(choice, "CHAP_A")).toBe("5");
    expect(choice && pduKey(choice, "CHAP_C")).toMatch(/^0x[0-9a-f]+$/i);
    expect(choice && pduField(choice, "iscsi.login.csg")).toBe("0x00");
    expect(problems(analysis)).toEqual([]);

    const rows = await extractFields(pcap, tgtd.port, ["iscsi.opcode", "iscsi.keyvalue"], 'iscsi.keyvalue contains "CHAP_C"');
    expect(rows).toHaveLength(1);
    expect(rows[0]?.frame).toBe(choice?.frame);
    expect(rows[0]?.values["iscsi.keyvalue"]).toContain("CHAP_A=5");
  });
});

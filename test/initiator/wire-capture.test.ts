/**
 * What our initiator puts on the wire, judged by an independent decoder: Wireshark's iSCSI and SCSI
 * dissectors (tshark) read a capture of a whole life of a session against tgtd (discovery, login,
 * INQUIRY, READ CAPACITY, writes with R2T, reads, NOP ping, task management, logout) and find no
 * malformed PDU and no warning; every opcode we expect is there, as many times as our own trace
 * says; and with CRC32C digests negotiated, Wireshark recomputes every header and data digest and
 * finds each one good.
 *
 * TCP flow-control notes (window full, zero window) are not protocol faults: tgtd's receive window
 * fills on loopback while we stream Data-Out, so those are the only TCP warnings tolerated.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discover, openSession } from "../../src/node/index.js";
import { patternBytes } from "../support/pattern.js";
import { checkOk, runCommand } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";
import { analyze, problems, startCapture } from "../support/tshark.js";
import { KiB, MiB, sameBytes, settle, TraceLog } from "./interop.test-util.js";

const IQN = "iqn.2026-11.test.initiator:wire";
const IQN_DIGESTS = "iqn.2026-11.test.initiator:wire-digests";

/** Wireshark's opcode names and the names our trace prints for the same PDUs. */
const OPCODES: ReadonlyArray<readonly [wireshark: string, ours: string]> = [
  ["Login Command", "LoginRequest"],
  ["Login Response", "LoginResponse"],
  ["Text Command", "TextRequest"],
  ["Text Response", "TextResponse"],
  ["SCSI Command", "ScsiCommand"],
  ["SCSI Response", "ScsiResponse"],
  ["SCSI Data Out", "DataOut"],
  ["SCSI Data In", "DataIn"],
  ["Ready To Transfer", "R2T"],
  ["NOP Out", "NopOut"],
  ["NOP In", "NopIn"],
  ["Task Management Function", "TaskManagementRequest"],
  ["Task Management Function Response", "TaskManagementResponse"],
  ["Logout Command", "LogoutRequest"],
  ["Logout Response", "LogoutResponse"],
];

/** TCP expert infos that only report flow control on a busy loopback. */
function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

describe("a capture of our initiator against tgtd", () => {
  const tmp = useTempDir("iscsi-ts-wire-");
  let tgtd: Tgtd;

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: 16 * MiB } }] });
    await tgtd.addTarget({ tid: 2, iqn: IQN_DIGESTS, luns: [{ lun: 1, file: { size: 16 * MiB } }] });
    await tgtd.setParam(2, "HeaderDigest", "CRC32C");
    await tgtd.setParam(2, "DataDigest", "CRC32C");
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  it("of a whole session decodes with no malformed PDU and no warning, and holds every opcode we expect as often as our trace says", async () => {
    const log = new TraceLog();
    const capture = await startCapture({ port: tgtd.port, dir: tmp().path });
    try {
      const targets = await settle(discover(tgtd.portal, { trace: log.trace }), "discovery");
      expect(targets.map((t) => t.name).sort()).toEqual([IQN, IQN_DIGESTS].sort());

      const session = await settle(openSession(tgtd.url(IQN), { trace: log.trace, keepAlive: false }), "login");
      const lun = session.lun(1);
      await settle(lun.inquiry(), "INQUIRY");
      await settle(lun.readCapacity(), "READ CAPACITY");
      // 512 KiB: past tgtd's FirstBurstLength (64 KiB) and MaxBurstLength (256 KiB), so R2Ts follow.
      const data = patternBytes(0, 512 * KiB, 21);
      await settle(lun.write(0, data), "write");
      expect(sameBytes(await settle(lun.read(0, 1024), "read"), data)).toBe("equal");
      await settle(session.ping(), "NOP-Out ping");
      await settle(session.abortTask(0x0bad_7a95), "ABORT TASK of an unknown tag");
      await settle(session.lunReset(1), "LOGICAL UNIT RESET");
      expect(sameBytes(await settle(lun.read(0, 1024), "read after the reset"), data)).toBe("equal");
      await settle(session.logout(), "logout");
    } finally {
      await capture.stop();
    }
    const analysis = await analyze(capture.pcapPath, tgtd.port);

    expect(problems(analysis)).toEqual([]);
    const seen = countBy(analysis.pdus, (p) => p.name);
    expect([...seen.keys()].sort()).toEqual(OPCODES.map(([name]) => name).sort());
    const traced = countBy(log.entries(), (e) => e.opcode);
    for (const [wireshark, ours] of OPCODES) {
      expect(seen.get(wireshark), `${wireshark} PDUs on the wire vs ${ours} lines in our trace`).toBe(traced.get(ours));
    }
  });

  it("with CRC32C header and data digests has every digest recomputed as good by Wireshark", async () => {
    const capture = await startCapture({ port: tgtd.port, dir: tmp().path });
    try {
      const session = await settle(
        openSession(tgtd.url(IQN_DIGESTS), { headerDigest: "CRC32C", dataDigest: "CRC32C", keepAlive: false }),
        "login with digests",
      );
      expect(session.connections[0]).toMatchObject({ headerDigest: true, dataDigest: true });
      const data = patternBytes(4096, 300 * KiB, 22);
      await settle(session.lun(1).write(8, data), "write with digests");
      expect(sameBytes(await settle(session.lun(1).read(8, 600), "read with digests"), data)).toBe("equal");
      await settle(session.ping(), "NOP-Out ping with digests");
      await settle(session.logout(), "logout");
    } finally {
      await capture.stop();
    }
    const analysis = await analyze(capture.pcapPath, tgtd.port);
    expect(problems(analysis)).toEqual([]);
    const fromUs = analysis.pdus.filter((p) => p.fromInitiator && p.name !== "Login Command");
    expect(fromUs.length).toBeGreaterThan(10);
    for (const pdu of fromUs) expect(pdu.fields["iscsi.headerdigest32"], `${pdu.name} in frame ${pdu.frame}`).toBeDefined();

    // Wireshark checks each digest it decodes and says so in its detail view.
    const detail = checkOk(
      await runCommand(
        "tshark",
        ["-r", capture.pcapPath, "-n", "-o", "iscsi.bogus_pdu_max_data_len:16777215", "-d", `tcp.port==${tgtd.port},iscsi`, "-V", "-Y", "iscsi"],
        { timeoutMs: 120_000, keepOutputBytes: 64 << 20 },
      ),
    ).stdout;
    const verdicts = [...detail.matchAll(/(HeaderDigest|DataDigest): 0x[0-9a-f]+ \((\w+) CRC32\)/g)].map((m) => `${m[1]} ${m[2]}`);
    const counts = countBy(verdicts, (v) => v);
    expect(counts.get("HeaderDigest Good") ?? 0).toBeGreaterThan(fromUs.length);
    expect(counts.get("DataDigest Good") ?? 0).toBeGreaterThan(0);
    expect(verdicts.filter((v) => !v.endsWith("Good"))).toEqual([]);
  });
});

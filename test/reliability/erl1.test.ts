/**
 * ErrorRecoveryLevel 1 end to end: the write-and-verify workload through the fault proxy (digests
 * on) against the embedded target with ErrorRecoveryLevel 1 negotiated. Single bit flips in the
 * data of Data-In (target to initiator) are repaired with Data SNACKs, and in the data of Data-Out
 * (initiator to target) with Reject and a recovery R2T (RFC 7143 §7.8, §11.16): no connection is
 * dropped, the session never recovers, and nothing is lost. The same flips at ErrorRecoveryLevel 0
 * drop the connection and reinstate the session.
 *
 * With ImmediateData=No, FirstBurstLength 4 KiB makes the larger writes carry both unsolicited
 * and solicited Data-Out. With ImmediateData=Yes, a flip in a command's immediate data makes the
 * target discard the whole command (RFC 7143 §7.8); the initiator sends it again with the same ITT
 * and CmdSN (§6.2.1), which plugs the hole it left in the target's window.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/pdu/opcodes.js";
import type { FaultHandle, FaultProxy } from "../../src/faults/proxy.js";
import { FaultProxy as Proxy } from "../../src/faults/proxy.js";
import { VerifyWorkload } from "../../src/faults/verify-workload.js";
import { type RunningTarget, startTarget } from "../../src/target/index.js";
import { settle } from "../initiator/interop.test-util.js";
import { type Client, connectClient, explain, FiguresFile, figuresOf, IQN, LUN, REGION, sleep } from "./reliability.test-util.js";

const figures = new FiguresFile("erl1");
afterAll(() => figures.write());

const FLIPS_EACH_WAY = 6;

function hit(handle: FaultHandle, what: string): Promise<unknown> {
  return settle(handle.applied, `the proxy applying ${what}`, 15_000);
}

async function startErl1Target(immediateData = false): Promise<RunningTarget> {
  return startTarget({
    targets: [
      {
        iqn: IQN,
        luns: [{ lun: LUN, backend: "mem:64M" }],
        policy: {
          errorRecoveryLevel: 1,
          headerDigest: ["CRC32C", "None"],
          dataDigest: ["CRC32C", "None"],
          immediateData,
          initialR2T: false,
          firstBurstLength: 4096,
          maxBurstLength: 16384,
          defaultTime2Wait: 0,
        },
      },
    ],
    nopIn: false,
  });
}

describe("ErrorRecoveryLevel 1 through the fault proxy, digests on", () => {
  let target: RunningTarget | undefined;
  let proxy: FaultProxy | undefined;
  let client: Client | undefined;
  const proxyLog: string[] = [];

  afterEach(async () => {
    await client?.close();
    client = undefined;
    await proxy?.close();
    proxy = undefined;
    await target?.close();
    target = undefined;
    proxyLog.length = 0;
  });

  /** Runs the workload with `FLIPS_EACH_WAY` data flips in Data-In and in Data-Out, spaced by traffic. */
  async function run(erl: 0 | 1, seed: number) {
    target = await startErl1Target();
    proxy = await Proxy.start({ target: { host: target.host, port: target.port }, seed, log: (line) => void proxyLog.push(line) });
    client = await connectClient(proxy.portal, { headerDigest: "CRC32C", dataDigest: "CRC32C", proposal: { errorRecoveryLevel: erl } });
    expect(client.session.params.errorRecoveryLevel).toBe(erl);
    expect(client.session.connections[0]).toMatchObject({ headerDigest: true, dataDigest: true });
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 8, region: REGION, seed: seed * 7, readFraction: 0.4 });
    workload.start();
    await workload.whenAcknowledged(100);
    for (let i = 0; i < FLIPS_EACH_WAY; i++) {
      await hit(proxy.flip({ direction: "to-initiator", where: "data", match: { opcode: Opcode.DataIn } }), "a data flip in a Data-In");
      await hit(proxy.flip({ direction: "to-target", where: "data", match: { opcode: Opcode.DataOut } }), "a data flip in a Data-Out");
      await sleep(50);
    }
    await settle(workload.whenAcknowledged(workload.acknowledged + 100), "100 more writes after the flips", 30_000);
    const report = await workload.stop();
    expect(report.ok, explain(report, client, proxyLog)).toBe(true);
    expect(report.lost).toBe(0);
    expect(report.corrupt).toBe(0);
    return { report, proxy, target, client };
  }

  it("repairs data digest errors both ways with SNACK and recovery R2T, without dropping the connection", async () => {
    const { report, proxy: p, target: t, client: c } = await run(1, 0x0e71_0001);
    const stats = t.stats;
    const flips = p.stats.faults.flip;
    expect(flips).toBe(2 * FLIPS_EACH_WAY);
    // Nothing was dropped: one proxied connection, one target connection, no session recovery.
    expect(c.session.recoveries).toEqual([]);
    expect(p.stats.connections).toBe(1);
    expect(stats.connectionsAccepted).toBe(1);
    // Each Data-Out flip: a Reject (Data-Digest-Error) and one recovery R2T.
    expect(stats.dataDigestErrors).toBe(FLIPS_EACH_WAY);
    expect(stats.recoveryR2Ts).toBe(FLIPS_EACH_WAY);
    // Each Data-In flip: a Data SNACK answered with one PDU again.
    expect(stats.snacks).toBe(FLIPS_EACH_WAY);
    expect(stats.retransmissions).toBe(FLIPS_EACH_WAY);
    figures.add(
      figuresOf("ERL 1: data flips both ways", flips, report, `Data SNACKs answered ${stats.snacks}, PDUs sent again ${stats.retransmissions}, DataACKs ${stats.dataAcks}, recovery R2Ts ${stats.recoveryR2Ts}, Data-Out digest errors ${stats.dataDigestErrors}, proxied connections ${p.stats.connections}`),
      report,
    );
  });

  it("sends a command again (same ITT and CmdSN) when the target discards it for damaged immediate data", async () => {
    target = await startErl1Target(true);
    proxy = await Proxy.start({ target: { host: target.host, port: target.port }, seed: 0x0e71_0002, log: (line) => void proxyLog.push(line) });
    client = await connectClient(proxy.portal, { headerDigest: "CRC32C", dataDigest: "CRC32C", proposal: { errorRecoveryLevel: 1 } });
    expect(client.session.params).toMatchObject({ errorRecoveryLevel: 1, immediateData: true });
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 8, region: REGION, seed: 0x55, readFraction: 0.3 });
    workload.start();
    await workload.whenAcknowledged(100);
    for (let i = 0; i < FLIPS_EACH_WAY; i++) {
      await hit(proxy.flip({ direction: "to-target", where: "data", match: { opcode: Opcode.ScsiCommand } }), "a flip in a command's immediate data");
      await sleep(50);
    }
    await settle(workload.whenAcknowledged(workload.acknowledged + 100), "100 more writes after the flips", 30_000);
    const report = await workload.stop();
    expect(report.ok, explain(report, client, proxyLog)).toBe(true);
    expect(report.lost).toBe(0);
    expect(report.failed).toBe(0);
    expect(client.session.recoveries).toEqual([]);
    expect(proxy.stats.connections).toBe(1);
    expect(target.stats.dataDigestErrors).toBe(FLIPS_EACH_WAY);
    figures.add(
      figuresOf("ERL 1: immediate-data flips", proxy.stats.faults.flip, report, `commands sent again ${FLIPS_EACH_WAY}, proxied connections ${proxy.stats.connections}`),
      report,
    );
  });

  it("drops and reinstates on the same flips at ErrorRecoveryLevel 0", async () => {
    const { report, proxy: p, target: t, client: c } = await run(0, 0x0e70_0001);
    const flips = p.stats.faults.flip;
    expect(flips).toBe(2 * FLIPS_EACH_WAY);
    // Every flip costs the connection: the receiver of the damaged PDU drops it.
    expect(c.session.recoveries.length).toBe(flips);
    expect(report.recovered).toBe(report.recoveries);
    expect(p.stats.connections).toBe(flips + 1);
    expect(t.stats.snacks).toBe(0);
    expect(t.stats.recoveryR2Ts).toBe(0);
    figures.add(figuresOf("ERL 0: the same data flips", flips, report, `proxied connections ${p.stats.connections}, recoveries ${c.session.recoveries.length}`), report);
  });
});

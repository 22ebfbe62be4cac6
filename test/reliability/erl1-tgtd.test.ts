/**
 * ErrorRecoveryLevel 1 offered by tgtd. tgtd accepts ErrorRecoveryLevel=1 in the login, but it
 * implements none of the recovery ERL 1 stands for: it answers a Data SNACK by resetting the
 * connection, and a WRITE whose immediate data fails its data digest the same way (no Reject, so
 * nothing to send again). The initiator must not count on the level it negotiated: when the repair it asked for ends in a lost
 * connection, it falls back to session reinstatement (as at ERL 0), and nothing acknowledged is
 * lost. The write-and-verify workload runs through the fault proxy with digests on while single
 * data bits are flipped each way (in Data-In, and in the immediate data of WRITEs, which is how
 * tgtd takes writes of up to 8 KiB).
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/pdu/opcodes.js";
import type { FaultProxy } from "../../src/faults/proxy.js";
import { VerifyWorkload } from "../../src/faults/verify-workload.js";
import { settle } from "../initiator/interop.test-util.js";
import type { Tgtd } from "../support/tgtd.js";
import { type Client, connectClient, explain, FiguresFile, figuresOf, REGION, sleep, startProxy, startTgtd } from "./reliability.test-util.js";

const figures = new FiguresFile("erl1-tgtd");
afterAll(() => figures.write());

const FLIPS_EACH_WAY = 3;

describe("ErrorRecoveryLevel 1 offered by tgtd, which does not honour SNACK", () => {
  let tgtd: Tgtd | undefined;
  let proxy: FaultProxy | undefined;
  let client: Client | undefined;
  const proxyLog: string[] = [];

  afterEach(async () => {
    await client?.close();
    client = undefined;
    await proxy?.close();
    proxy = undefined;
    await tgtd?.stop();
    tgtd = undefined;
  });

  it("asks for the damaged Data-In with a SNACK, and when tgtd drops the connection instead, reinstates the session and loses nothing", async () => {
    tgtd = await startTgtd({ digests: true });
    await tgtd.setParam(1, "ErrorRecoveryLevel", "1");
    proxy = await startProxy(tgtd, 0x7e71_0001, proxyLog);
    let snacks = 0;
    client = await connectClient(proxy.portal, {
      headerDigest: "CRC32C",
      dataDigest: "CRC32C",
      proposal: { errorRecoveryLevel: 1 },
      trace: (line) => {
        if (line.startsWith(">>") && line.includes("SnackRequest")) snacks++;
      },
    });
    expect(client.session.params.errorRecoveryLevel).toBe(1);
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 8, region: REGION, seed: 0x7e71, readFraction: 0.4 });
    workload.start();
    await workload.whenAcknowledged(100);
    for (let i = 0; i < FLIPS_EACH_WAY; i++) {
      const toInitiator = proxy.flip({ direction: "to-initiator", where: "data", match: { opcode: Opcode.DataIn } });
      await settle(toInitiator.applied, "a data flip in a Data-In", 15_000);
      await settle(workload.whenAcknowledged(workload.acknowledged + 20), "20 more writes after a Data-In flip", 30_000);
      // tgtd takes the workload's writes (8 KiB at most) as immediate data: flip that.
      const toTarget = proxy.flip({ direction: "to-target", where: "data", match: { opcode: Opcode.ScsiCommand } });
      await settle(toTarget.applied, "a data flip in a WRITE's immediate data", 15_000);
      await settle(workload.whenAcknowledged(workload.acknowledged + 20), "20 more writes after an immediate-data flip", 30_000);
      await sleep(20);
    }
    await settle(workload.whenAcknowledged(workload.acknowledged + 100), "100 more writes after the flips", 30_000);
    const report = await workload.stop();
    expect(report.ok, explain(report, client, proxyLog)).toBe(true);
    expect(report.lost).toBe(0);
    expect(report.corrupt).toBe(0);
    const flips = proxy.stats.faults.flip;
    expect(flips).toBe(2 * FLIPS_EACH_WAY);
    // We asked for each damaged Data-In again rather than dropping the connection ourselves...
    expect(snacks).toBe(FLIPS_EACH_WAY);
    // ...and every flip still cost a connection: tgtd resets on a SNACK and on a bad Data-Out digest.
    expect(client.session.recoveries).toHaveLength(flips);
    expect(client.session.recoveries.every((r) => r.outcome === "recovered")).toBe(true);
    expect(proxy.stats.connections).toBe(flips + 1);
    figures.add(
      figuresOf("ERL 1 offered by tgtd: data flips both ways (tgtd resets instead of repairing)", flips, report, `Data SNACKs sent ${snacks}, proxied connections ${proxy.stats.connections}`),
      report,
    );
  });
});

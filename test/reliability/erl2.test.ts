/**
 * ErrorRecoveryLevel 2 end to end, over real sockets through the fault proxy: the write-and-verify
 * workload against the embedded target at ERL 2 while a connection is cut in the middle of a
 * write. The connection is recovered inside the session (RFC 7143 §6.2.2, §7.1.4): a new one logs
 * in with the same TSIH and CID, the lost connection's tasks move with TASK REASSIGN, no command
 * fails, nothing acknowledged is lost, and the session is never reinstated. With four connections,
 * the other three keep carrying I/O while one recovers; when no new connection can be made, a
 * survivor removes the lost one with Logout reason 2 and takes its tasks. tshark decodes the
 * Logout reason 2 and TASK REASSIGN PDUs with nothing malformed.
 *
 * Against tgtd: what ErrorRecoveryLevel it agrees to when asked for 2, and that the session falls
 * back cleanly (still works, recovers by reinstatement).
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/pdu/opcodes.js";
import type { FaultProxy } from "../../src/faults/proxy.js";
import { FaultProxy as Proxy } from "../../src/faults/proxy.js";
import { VerifyWorkload } from "../../src/faults/verify-workload.js";
import { type RunningTarget, startTarget } from "../../src/target/index.js";
import { settle } from "../initiator/interop.test-util.js";
import { analyze, pduField, problems, startCapture } from "../support/tshark.js";
import { pollUntil } from "../support/wait.js";
import { type Client, connectClient, explain, FiguresFile, figuresOf, IQN, LUN, REGION, startProxy, startTgtd } from "./reliability.test-util.js";

const figures = new FiguresFile("erl2");
afterAll(() => figures.write());

/** RFC 7143 §13.19-20: ask for level 2, and a Time2Retain long enough to recover in. */
const ERL2 = { proposal: { errorRecoveryLevel: 2, defaultTime2Retain: 20 } } as const;

async function startErl2Target(): Promise<RunningTarget> {
  return startTarget({
    targets: [
      {
        iqn: IQN,
        luns: [{ lun: LUN, backend: "mem:64M" }],
        policy: { errorRecoveryLevel: 2, defaultTime2Wait: 0, defaultTime2Retain: 20, initialR2T: true, immediateData: false, firstBurstLength: 16384, maxBurstLength: 16384 },
      },
    ],
    nopIn: false,
  });
}

describe("ErrorRecoveryLevel 2 through the fault proxy, against the embedded target", () => {
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

  it("recovers a connection cut mid-write, mid-read and with status in flight inside the session: same TSIH, no reinstatement, nothing lost, and tshark decodes TASK REASSIGN", async () => {
    target = await startErl2Target();
    const capture = await startCapture({ port: target.port });
    proxy = await Proxy.start({ target: { host: target.host, port: target.port }, seed: 0xe2_0001, log: (line) => void proxyLog.push(line) });
    client = await connectClient(proxy.portal, ERL2);
    expect(client.session.params.errorRecoveryLevel).toBe(2);
    const tsih = client.session.tsih;
    const connectionRecoveries: string[] = [];
    client.session.on("connection-recovery", (phase) => connectionRecoveries.push(phase));
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 8, region: REGION, seed: 0xe2, readFraction: 0.3 });
    workload.start();
    await workload.whenAcknowledged(100);
    // Mid-write (a Data-Out cut), mid-read (a Data-In cut: the read resumes from ExpDataSN), and
    // with a status in flight (a SCSI Response cut: the target resends it on the new connection).
    const plan = [
      { direction: "to-target", match: { opcode: Opcode.DataOut, skip: 5 }, mode: "rst" },
      { direction: "to-initiator", match: { opcode: Opcode.DataIn, skip: 5 }, mode: "fin" },
      { direction: "to-target", match: { opcode: Opcode.DataOut, skip: 5 }, mode: "fin" },
      { direction: "to-initiator", match: { opcode: Opcode.ScsiResponse, skip: 5 }, mode: "rst" },
    ] as const;
    const cuts = plan.length;
    for (const [i, cut] of plan.entries()) {
      await settle(proxy.cut(cut).applied, `cut ${i + 1} (${cut.direction}, opcode 0x${cut.match.opcode.toString(16)})`, 15_000);
      await settle(workload.whenAcknowledged(workload.acknowledged + 80), `80 more writes after cut ${i + 1}`, 30_000);
    }
    const report = await workload.stop();
    expect(report.ok, explain(report, client, proxyLog)).toBe(true);
    expect(report.lost).toBe(0);
    expect(report.corrupt).toBe(0);
    expect(report.failed).toBe(0);
    expect(client.session.tsih).toBe(tsih);
    expect(client.session.recoveries).toEqual([]);
    // The library's user sees each one: started, then recovered, never fell back.
    expect(connectionRecoveries.filter((p) => p === "recovered")).toHaveLength(cuts);
    expect(connectionRecoveries).not.toContain("fell-back");
    expect(proxy.stats.connections).toBe(cuts + 1);
    expect(target.stats.sessionsCreated).toBe(1);
    const reassigned = client.trace.lines.filter((l) => /^>> .*TaskManagementRequest/.test(l) && /TASK REASSIGN|function 8|TaskReassign/i.test(l));
    await client.close();
    client = undefined;
    const analysis = await analyze(await capture.stop(), target.port);
    expect(problems(analysis, { layers: ["tcp", "iscsi"] }).filter((p) => !/tcp\.(connection\.rst|analysis)/.test(p))).toEqual([]);
    const tmfs = analysis.pdus.filter((p) => p.opcode === Opcode.TaskManagementRequest);
    expect(tmfs.length).toBeGreaterThan(0);
    // RFC 7143 §11.5.1: function 8, TASK REASSIGN, as Wireshark's dissector reads it.
    expect(new Set(tmfs.map((p) => Number(pduField(p, "iscsi.taskmanfun.function"))))).toEqual(new Set([8]));
    figures.add(
      figuresOf("ERL 2: one connection cut in a Data-Out, a Data-In and a SCSI Response (RST and FIN)", cuts, report, `TSIH kept ${tsih}, proxied connections ${proxy.stats.connections}, TASK REASSIGN sent ${tmfs.length} (Wireshark decodes no ExpDataSN in a Task Management Request; trace lines ${reassigned.length}), session reinstatements 0`),
      report,
    );
  });

  it("completes COMPARE AND WRITE exactly once when its connection is cut in its command, its data or its status", async () => {
    target = await startErl2Target();
    proxy = await Proxy.start({ target: { host: target.host, port: target.port }, seed: 0xe2_0005, log: (line) => void proxyLog.push(line) });
    client = await connectClient(proxy.portal, ERL2);
    const tsih = client.session.tsih;
    // Outside the workload region: one block that each COMPARE AND WRITE moves to its next value.
    const lba = REGION.start + REGION.blocks + 64;
    const value = (n: number): Uint8Array => new Uint8Array(512).fill(0x10 + n);
    await client.lun.write(lba, value(0));
    const cuts = [
      { direction: "to-target", match: { opcode: Opcode.ScsiCommand, scsiOpcode: 0x89 } },
      { direction: "to-target", match: { opcode: Opcode.DataOut } },
      { direction: "to-initiator", match: { opcode: Opcode.ScsiResponse } },
    ] as const;
    for (const [i, cut] of cuts.entries()) {
      const applied = proxy.cut({ ...cut, mode: "rst" }).applied;
      // A second execution would find the new value and fail with MISCOMPARE: it must run once.
      await client.lun.compareAndWrite(lba, value(i), value(i + 1));
      await settle(applied, `the cut in ${cut.direction} ${cut.match.opcode}`, 5_000);
      expect(await client.lun.read(lba, 1)).toEqual(value(i + 1));
    }
    expect(client.session.tsih).toBe(tsih);
    expect(client.session.recoveries).toEqual([]);
    expect(proxy.stats.connections).toBe(cuts.length + 1);
  });

  it("keeps I/O on three connections while the fourth is cut and recovered, with the same TSIH and nothing lost", async () => {
    target = await startErl2Target();
    proxy = await Proxy.start({ target: { host: target.host, port: target.port }, seed: 0xe2_0002, log: (line) => void proxyLog.push(line) });
    client = await connectClient(proxy.portal, { ...ERL2, connections: 4 });
    expect(client.session.connections).toHaveLength(4);
    const tsih = client.session.tsih;
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 16, region: REGION, seed: 0xe3, readFraction: 0.3 });
    workload.start();
    await workload.whenAcknowledged(100);
    await settle(proxy.cut({ direction: "to-target", match: { opcode: Opcode.DataOut, skip: 3 }, mode: "rst" }).applied, "a cut in a Data-Out", 15_000);
    await settle(workload.whenAcknowledged(workload.acknowledged + 150), "150 more writes after the cut", 30_000);
    await pollUntil(async () => (client!.session.connections.length === 4 ? true : undefined), { timeoutMs: 15_000, intervalMs: 20, what: "four connections again" });
    const report = await workload.stop();
    expect(report.ok, explain(report, client, proxyLog)).toBe(true);
    expect(report.lost).toBe(0);
    expect(report.failed).toBe(0);
    expect(client.session.tsih).toBe(tsih);
    expect(client.session.recoveries).toEqual([]);
    expect(target.stats.sessionsCreated).toBe(1);
    figures.add(figuresOf("ERL 2: one of four connections cut", 1, report, `TSIH kept ${tsih}, proxied connections ${proxy.stats.connections}`), report);
  });

  it("moves a lost connection's tasks to a surviving one with Logout reason 2 when no new connection can be made, and tshark decodes it", async () => {
    target = await startErl2Target();
    const capture = await startCapture({ port: target.port });
    proxy = await Proxy.start({ target: { host: target.host, port: target.port }, seed: 0xe2_0004, log: (line) => void proxyLog.push(line) });
    client = await connectClient(proxy.portal, { ...ERL2, connections: 2 });
    const tsih = client.session.tsih;
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 8, region: REGION, seed: 0xe5, readFraction: 0.3 });
    workload.start();
    await workload.whenAcknowledged(100);
    // No new connection can be made from now on: the survivor takes the lost one's tasks.
    proxy.refuse(true);
    await settle(proxy.cut({ direction: "to-target", match: { opcode: Opcode.DataOut, skip: 3 }, mode: "rst" }).applied, "a cut in a Data-Out", 15_000);
    await settle(workload.whenAcknowledged(workload.acknowledged + 100), "100 more writes after the cut", 30_000);
    const report = await workload.stop();
    expect(report.ok, explain(report, client, proxyLog)).toBe(true);
    expect(report.lost).toBe(0);
    expect(report.failed).toBe(0);
    expect(client.session.tsih).toBe(tsih);
    expect(client.session.recoveries).toEqual([]);
    expect(client.session.connections).toHaveLength(1);
    proxy.refuse(false);
    await client.close();
    client = undefined;
    const analysis = await analyze(await capture.stop(), target.port);
    expect(problems(analysis, { layers: ["tcp", "iscsi"] }).filter((p) => !/tcp\.(connection\.rst|analysis)/.test(p))).toEqual([]);
    const logouts = analysis.pdus.filter((p) => p.opcode === Opcode.LogoutRequest).map((p) => Number(pduField(p, "iscsi.logout.reason")));
    // Reason 2 (remove the connection for recovery), then the final logout (reason 0).
    expect(logouts).toEqual([2, 0]);
    const responses = analysis.pdus.filter((p) => p.opcode === Opcode.LogoutResponse).map((p) => Number(pduField(p, "iscsi.logout.response")));
    expect(responses[0]).toBe(0);
    figures.add(figuresOf("ERL 2: a connection cut, none can be made, tasks moved to the survivor", 1, report, `TSIH kept ${tsih}, Logout reasons seen by tshark ${logouts.join(",")}`), report);
  });
});

describe("ErrorRecoveryLevel 2 asked of tgtd", () => {
  it("records what tgtd answers for ErrorRecoveryLevel=2, and recovers by reinstatement when it settles lower", async () => {
    const tgtd = await startTgtd();
    const log: string[] = [];
    let proxy: FaultProxy | undefined;
    let client: Client | undefined;
    try {
      proxy = await startProxy(tgtd, 0xe2_0003, log);
      client = await connectClient(proxy.portal, ERL2);
      const agreed = client.session.params.errorRecoveryLevel;
      const answer = client.trace.lines.find((l) => /ErrorRecoveryLevel=/.test(l) && /^<</.test(l)) ?? "(no ErrorRecoveryLevel in the Login Responses)";
      // tgtd offers ErrorRecoveryLevel=0 whatever is asked (the lower offer wins, RFC 7143 §13.20).
      expect(agreed).toBe(0);
      expect(answer).toMatch(/ErrorRecoveryLevel=0/);
      const workload = new VerifyWorkload({ device: client.device, queueDepth: 8, region: REGION, seed: 0xe4, readFraction: 0.3 });
      workload.start();
      await workload.whenAcknowledged(50);
      expect(proxy.drop({ mode: "rst" })).toBe(1);
      await settle(workload.whenAcknowledged(workload.acknowledged + 50), "50 more writes after the drop", 30_000);
      const report = await workload.stop();
      expect(report.ok, explain(report, client, log)).toBe(true);
      expect(report.lost).toBe(0);
      expect(client.session.recoveries.map((r) => r.outcome)).toEqual(["recovered"]);
      figures.add(figuresOf(`tgtd asked for ErrorRecoveryLevel=2: agreed to ${agreed}; a drop recovered by reinstatement`, 1, report, `tgtd's answer: ${answer}`), report);
    } finally {
      await client?.close();
      await proxy?.close();
      await tgtd.stop();
    }
  });
});

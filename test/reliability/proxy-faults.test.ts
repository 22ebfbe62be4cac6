/**
 * The write-and-verify workload through the fault proxy, with header and data digests on: dropped
 * connections (RST and FIN), stalls longer and shorter than the keep-alive timeout, delay, PDUs
 * cut in the middle, and single bit flips in headers and data in both directions. At
 * ErrorRecoveryLevel 0 a digest error cannot be repaired on the connection (RFC 7143 §7.8): the
 * receiver drops it and the session is reinstated; the held I/O goes again and nothing
 * acknowledged may be lost.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/pdu/opcodes.js";
import type { FaultHandle, FaultProxy } from "../../src/faults/proxy.js";
import { VerifyWorkload, type WorkloadReport } from "../../src/faults/verify-workload.js";
import { settle } from "../initiator/interop.test-util.js";
import type { Tgtd } from "../support/tgtd.js";
import { type Client, connectClient, explain, FiguresFile, figuresOf, REGION, sleep, startProxy, startTgtd } from "./reliability.test-util.js";

const figures = new FiguresFile("proxy-faults");
afterAll(() => figures.write());

/** Waits for a one-shot fault to hit traffic. */
function hit(handle: FaultHandle, what: string): Promise<unknown> {
  return settle(handle.applied, `the proxy applying ${what}`, 15_000);
}

describe("the workload through the fault proxy, digests on", () => {
  let tgtd: Tgtd;
  let proxy: FaultProxy | undefined;
  let client: Client | undefined;
  const proxyLog: string[] = [];
  let seed = 0x5eed_0100;

  beforeAll(async () => {
    tgtd = await startTgtd({ digests: true });
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await proxy?.close();
    proxy = undefined;
    proxyLog.length = 0;
  });
  afterAll(async () => {
    await tgtd?.stop();
  });

  /**
   * Runs the workload through a fresh proxy and session; `inject` applies faults while it runs
   * and returns how many it injected.
   */
  async function scenario(
    name: string,
    inject: (proxy: FaultProxy, workload: VerifyWorkload) => Promise<number>,
    options: { readonly notes?: string; readonly queueDepth?: number } = {},
  ): Promise<{ report: WorkloadReport; faults: number; client: Client; proxy: FaultProxy }> {
    proxy = await startProxy(tgtd, seed++, proxyLog);
    client = await connectClient(proxy.portal, { headerDigest: "CRC32C", dataDigest: "CRC32C" });
    expect(client.session.connections[0]).toMatchObject({ headerDigest: true, dataDigest: true });
    const workload = new VerifyWorkload({ device: client.device, queueDepth: options.queueDepth ?? 8, region: REGION, seed: seed * 31 });
    workload.start();
    await workload.whenAcknowledged(100);
    const faults = await inject(proxy, workload);
    await settle(workload.whenAcknowledged(workload.acknowledged + 100), "100 more writes after the faults", 30_000);
    const report = await workload.stop();
    figures.add(figuresOf(name, faults, report, options.notes), report);
    expect(report.ok, explain(report, client, proxyLog)).toBe(true);
    expect(report.lost).toBe(0);
    return { report, faults, client, proxy };
  }

  it("survives connections dropped with RST and with FIN", async () => {
    const { report, faults, client } = await scenario("drop (RST and FIN)", async (p, workload) => {
      for (const mode of ["rst", "fin", "rst", "fin"] as const) {
        await workload.whenAcknowledged(workload.acknowledged + 80);
        expect(p.drop({ mode })).toBe(1);
      }
      return 4;
    });
    expect(report.recoveries).toBe(faults);
    expect(report.recovered).toBe(faults);
    expect(client.session.recoveries.map((r) => r.cause)).toEqual(["connection-lost", "connection-lost", "connection-lost", "connection-lost"]);
  });

  it("lets keep-alive declare a stalled connection dead when the stall outlasts its timeout", async () => {
    const { report, client } = await scenario(
      "stall 5 s (keep-alive timeout 3 s)",
      async (p) => {
        await p.stall({ durationMs: 5_000 }).released;
        return 1;
      },
      { notes: "NOP-Out every 1 s when idle, dead after 3 s without any PDU" },
    );
    expect(report.recoveries).toBe(1);
    expect(client.session.recoveries[0]).toMatchObject({ cause: "keepalive-timeout", outcome: "recovered" });
    expect(client.session.recoveries[0]?.detail).toMatch(/nothing received for 3000 ms after a NOP-Out ping/);
  });

  it("does not kill a busy connection for a stall shorter than the keep-alive timeout", async () => {
    const { report } = await scenario(
      "stall 2 s (keep-alive timeout 3 s)",
      async (p) => {
        await p.stall({ durationMs: 2_000 }).released;
        return 1;
      },
      { notes: "must not recover: the connection is slow, not dead" },
    );
    expect(report.recoveries).toBe(0);
    expect(report.failed).toBe(0);
    expect(report.longestStallMs).toBeGreaterThanOrEqual(1_900);
  });

  it("does not declare a slow but busy link dead when a NOP-In arrives late behind data", async () => {
    proxy = await startProxy(tgtd, seed++, proxyLog);
    client = await connectClient(proxy.portal, { headerDigest: "CRC32C", dataDigest: "CRC32C", keepAlive: { intervalMs: 300, timeoutMs: 1_000 } });
    const data = new Uint8Array(512 * 1024).map((_, i) => (i * 7 + 3) & 0xff);
    await client.lun.write(REGION.start, data);
    // 128 KiB/s in 64 KiB bursts: data comes every half second, a 512 KiB read takes four.
    proxy.throttle(128 * 1024, "to-initiator", 64 * 1024);
    const started = performance.now();
    const back = await settle(client.lun.read(REGION.start, data.length / 512), "a 512 KiB read over a throttled link", 30_000);
    const tookMs = performance.now() - started;
    proxy.throttle(undefined);
    expect(back).toEqual(data);
    expect(tookMs).toBeGreaterThan(3_000);
    // Pings went out between bursts and their answers queued behind the data, later than the
    // keep-alive timeout: data received meanwhile kept the connection alive.
    const sent = new Map<string, number>();
    let latest = 0;
    client.trace.lines.forEach((line, i) => {
      const itt = /NopOut .*ITT=(0x[0-9a-f]+)/.exec(line)?.[1];
      if (line.startsWith(">>") && itt !== undefined) sent.set(itt, client?.traceTimes[i] ?? 0);
      const answered = /^<< .*NopIn .*ITT=(0x[0-9a-f]+)/.exec(line)?.[1];
      if (answered !== undefined && sent.has(answered)) latest = Math.max(latest, (client?.traceTimes[i] ?? 0) - (sent.get(answered) ?? 0));
    });
    expect(sent.size).toBeGreaterThan(0);
    expect(latest).toBeGreaterThan(1_000);
    expect(client.session.recoveries).toEqual([]);
    figures.add({
      scenario: "throttled link 128 KiB/s, NOP-In late behind data (keep-alive timeout 1 s)",
      faultsInjected: 1,
      recoveries: 0,
      recovered: 0,
      retried: 0,
      writes: 1,
      acknowledged: 1,
      failed: 0,
      failedByCode: {},
      pending: 0,
      reads: 1,
      ackedBlocksChecked: data.length / 512,
      lost: 0,
      corrupt: 0,
      longestStallMs: Math.round(latest),
      durationMs: Math.round(tookMs),
      notes: `slowest NOP-In answered ${Math.round(latest)} ms after its NOP-Out; no recovery`,
    });
  });

  it("carries on unharmed through a delay on every PDU", async () => {
    let delayed = 0;
    const { report } = await scenario(
      "delay 50 ms each way",
      async (p, workload) => {
        p.setDelay(50);
        await workload.whenAcknowledged(workload.acknowledged + 150);
        p.setDelay(0);
        delayed = p.stats.faults.delay;
        return 1;
      },
      { notes: "one delay window" },
    );
    expect(delayed).toBeGreaterThan(300);
    expect(report.recoveries).toBe(0);
    expect(report.failed).toBe(0);
  });

  it("recovers from PDUs cut in the middle, in both directions", async () => {
    const { report } = await scenario("PDU cut mid-way, then FIN", async (p) => {
      await hit(p.cut({ direction: "to-initiator", match: { opcode: Opcode.DataIn } }), "a cut Data-In");
      await sleep(300);
      await hit(p.cut({ direction: "to-initiator", match: { opcode: Opcode.ScsiResponse } }), "a cut SCSI Response");
      await sleep(300);
      await hit(p.cut({ direction: "to-target", match: { opcode: Opcode.ScsiCommand, scsiOpcode: 0x2a } }), "a cut WRITE(10)");
      await sleep(300);
      await hit(p.cut({ direction: "to-target", match: { opcode: Opcode.ScsiCommand, scsiOpcode: 0x28 }, mode: "rst" }), "a cut READ(10)");
      return 4;
    });
    expect(report.recoveries).toBe(4);
    expect(report.recovered).toBe(4);
  });

  it("detects header and data bit flips from the target with its digests, and recovers", async () => {
    const { report, client } = await scenario("bit flips target to initiator (header and data digests)", async (p) => {
      await hit(p.flip({ direction: "to-initiator", where: "header", match: { opcode: Opcode.ScsiResponse }, offset: 24 }), "a header flip in a SCSI Response");
      await sleep(300);
      await hit(p.flip({ direction: "to-initiator", where: "data", match: { opcode: Opcode.DataIn } }), "a data flip in a Data-In");
      await sleep(300);
      await hit(p.flip({ direction: "to-initiator", where: "header", match: { opcode: Opcode.DataIn } }), "a header flip in a Data-In");
      return 3;
    });
    expect(report.recoveries).toBe(3);
    const details = client.session.recoveries.map((r) => `${r.cause}: ${r.detail}`);
    expect(details[0]).toMatch(/header digest mismatch/);
    expect(details[1]).toMatch(/data digest error in DataIn/);
    expect(details[2]).toMatch(/header digest mismatch/);
  });

  it("recovers when tgtd's digests catch bit flips from the initiator", async () => {
    const { report } = await scenario("bit flips initiator to target (tgtd's digests)", async (p) => {
      await hit(p.flip({ direction: "to-target", where: "header", match: { opcode: Opcode.ScsiCommand }, offset: 20 }), "a header flip in a SCSI Command");
      await sleep(500);
      await hit(p.flip({ direction: "to-target", where: "data", match: { opcode: Opcode.ScsiCommand, scsiOpcode: 0x2a } }), "a data flip in a WRITE's immediate data");
      return 2;
    });
    expect(report.recoveries).toBeGreaterThanOrEqual(1);
    expect(report.recovered).toBe(report.recoveries);
  });
});

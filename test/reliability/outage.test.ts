/**
 * A target that stays away: while it is down the initiator retries with a capped, jittered
 * backoff and never spins (attempts counted at the proxy, CPU time measured); it waits at least
 * DefaultTime2Wait before reconnecting (RFC 7143 §13.15); held I/O waits for the replacement
 * timeout and then fails with a clear SessionClosedError, and nothing is left pending.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { FaultProxy } from "../../src/faults/proxy.js";
import { lunDevice, VerifyWorkload } from "../../src/faults/verify-workload.js";
import { openSession } from "../../src/node/index.js";
import { settle } from "../initiator/interop.test-util.js";
import type { Tgtd } from "../support/tgtd.js";
import {
  type Client,
  connectClient,
  explain,
  faultTolerantOptions,
  FiguresFile,
  figuresOf,
  IQN,
  LUN,
  REGION,
  sleep,
  startProxy,
  startTgtd,
} from "./reliability.test-util.js";

const figures = new FiguresFile("outage");
afterAll(() => figures.write());

describe("a target that stays down", () => {
  let tgtd: Tgtd;
  let proxy: FaultProxy | undefined;
  let client: Client | undefined;
  const proxyLog: string[] = [];

  beforeAll(async () => {
    tgtd = await startTgtd();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await proxy?.close();
    proxy = undefined;
    proxyLog.length = 0;
    if (!tgtd.running) await tgtd.restart();
  });
  afterAll(async () => {
    await tgtd?.stop();
  });

  it("retries a 10 s outage with capped backoff, not a busy loop, and then carries on", async () => {
    proxy = await startProxy(tgtd, 0x0a7a_0001, proxyLog);
    client = await connectClient(proxy.portal);
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 8, region: REGION, seed: 0x0a7a_0001 });
    workload.start();
    await workload.whenAcknowledged(100);
    await tgtd.kill();
    const before = proxy.stats.connections;
    const cpu = process.cpuUsage();
    const started = performance.now();
    await sleep(10_000);
    const used = process.cpuUsage(cpu);
    const attempts = proxy.stats.connections - before;
    const elapsed = performance.now() - started;
    await tgtd.restart();
    await settle(workload.whenAcknowledged(workload.acknowledged + 100), "writes after the target came back", 20_000);
    const report = await workload.stop();
    figures.add(
      figuresOf("target down 10 s (tgtd killed, behind the proxy)", 1, report, `${attempts} connection attempts in ${Math.round(elapsed)} ms; ${Math.round((used.user + used.system) / 1000)} ms CPU`),
      report,
    );
    expect(report.ok, explain(report, client, proxyLog)).toBe(true);
    // Backoff from 100 ms doubling to a 1 s cap, with half of each delay random: at least 0.5 s
    // apart once capped, so at most about 4 + 10 / 0.5 attempts in 10 s, and at least one a second.
    expect(attempts).toBeGreaterThanOrEqual(8);
    expect(attempts).toBeLessThanOrEqual(25);
    expect(proxy.stats.upstreamFailures).toBeGreaterThanOrEqual(attempts);
    // Held I/O and a retry timer cost next to nothing: well under a second of CPU in 10 s.
    expect((used.user + used.system) / 1000).toBeLessThan(1_500);
    expect(report.recoveries).toBe(1);
    // Every connection the proxy saw since the kill is one attempt of this recovery, the last one
    // the login that succeeded (counted now: attempts go on while tgtd restarts after the sample).
    expect(client.session.recoveries[0]?.attempts).toBe(proxy.stats.connections - before);
    expect(report.failed).toBe(0);
  }, 60_000);

  it("waits DefaultTime2Wait before reconnecting", async () => {
    await tgtd.setParam(1, "DefaultTime2Wait", 2);
    try {
      proxy = await startProxy(tgtd, 0x0a7a_0002, proxyLog);
      client = await connectClient(proxy.portal, { proposal: { defaultTime2Wait: 2 } });
      expect(client.session.params.defaultTime2Wait).toBe(2);
      const before = proxy.stats.connections;
      const dropped = performance.now();
      proxy.drop({ mode: "rst" });
      // Any command waits for the session to come back.
      await settle(client.lun.read(0, 1), "a read across the reconnect", 10_000);
      const waited = performance.now() - dropped;
      expect(proxy.stats.connections).toBe(before + 1);
      expect(waited).toBeGreaterThanOrEqual(2_000);
      const record = client.session.recoveries[0];
      expect((record?.endedAt ?? 0) - (record?.startedAt ?? 0)).toBeGreaterThanOrEqual(2_000);
    } finally {
      await tgtd.setParam(1, "DefaultTime2Wait", 0);
    }
  });

  it("fails held I/O with a clear error once the replacement timeout passes, leaving nothing pending", async () => {
    client = await connectClient(tgtd.portal, { recovery: { replacementTimeoutMs: 3_000 } });
    const workload = new VerifyWorkload({
      device: client.device,
      queueDepth: 8,
      region: REGION,
      seed: 0x0a7a_0003,
      settleTimeoutMs: 10_000,
      // The session is gone for good: read the blocks back on a new one.
      verifyDevice: async () => {
        const session = await openSession(tgtd.url(IQN), faultTolerantOptions());
        verifier = session;
        return lunDevice(session.lun(LUN));
      },
    });
    let verifier: Awaited<ReturnType<typeof openSession>> | undefined;
    const closed = new Promise<unknown>((resolve) => client?.session.once("closed", resolve));
    workload.start();
    await workload.whenAcknowledged(100);
    await tgtd.kill();
    const killedAt = performance.now();
    const error = await settle(closed, "the session giving up", 10_000);
    const gaveUpAfter = performance.now() - killedAt;
    // Let the workers see their failures, then bring tgtd back for the read-back.
    await sleep(200);
    await tgtd.restart();
    const report = await workload.stop();
    await verifier?.logout().catch(() => verifier?.close());
    figures.add(figuresOf("target never comes back (replacement timeout 3 s)", 1, report, `session gave up after ${Math.round(gaveUpAfter)} ms`), report);
    expect(report.ok, explain(report, client)).toBe(true);
    expect(report.pending).toBe(0);
    expect(gaveUpAfter).toBeGreaterThanOrEqual(2_900);
    expect(gaveUpAfter).toBeLessThan(5_000);
    expect(error).toMatchObject({ code: "ISCSI_ERR_SESSION_CLOSED" });
    expect(String((error as Error).message)).toMatch(/could not be re-established within 3 s/);
    expect(report.failedByCode["ISCSI_ERR_SESSION_CLOSED"]).toBeGreaterThanOrEqual(8);
    expect(client.session.recoveries[0]).toMatchObject({ outcome: "gave-up" });
    expect(client.session.recoveries[0]?.failed).toBeGreaterThanOrEqual(8);
  });
});

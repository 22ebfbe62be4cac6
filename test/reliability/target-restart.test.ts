/**
 * The write-and-verify workload while tgtd dies: killed with SIGKILL (the kernel resets every
 * connection) and started again on the same port, and while tgtd drops our connection itself
 * (`tgtadm --op delete --mode conn`). Every acknowledged write must read back, every other write
 * must have failed with an error, and the session must come back by itself each time
 * (RFC 7143 §6.3.5 session reinstatement).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { VerifyWorkload } from "../../src/faults/verify-workload.js";
import type { Tgtd } from "../support/tgtd.js";
import { type Client, connectClient, explain, FiguresFile, figuresOf, IQN, REGION, sleep, startTgtd } from "./reliability.test-util.js";

const figures = new FiguresFile("target-restart");
afterAll(() => figures.write());

describe("the workload across target failures", () => {
  let tgtd: Tgtd;
  let client: Client | undefined;

  beforeAll(async () => {
    tgtd = await startTgtd();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
  });
  afterAll(async () => {
    await tgtd?.stop();
  });

  it("loses no acknowledged write while tgtd is killed with SIGKILL and restarted, three times", async () => {
    client = await connectClient(tgtd.portal);
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 8, region: REGION, seed: 0x7e57_0001 });
    workload.start();
    const kills = 3;
    for (let i = 0; i < kills; i++) {
      await workload.whenAcknowledged(workload.acknowledged + 150);
      await tgtd.kill();
      // Down long enough for several reconnection attempts to be refused.
      await sleep(1_500);
      await tgtd.restart();
    }
    await workload.whenAcknowledged(workload.acknowledged + 150);
    const report = await workload.stop();
    figures.add(figuresOf("tgtd killed with SIGKILL and restarted", kills, report, "QD 8, 1-16 blocks per write, tgtd down 1.5 s each time"), report);
    expect(report.ok, explain(report, client)).toBe(true);
    expect(report.lost).toBe(0);
    expect(report.recoveries).toBe(kills);
    expect(report.recovered).toBe(kills);
    expect(report.retried).toBeGreaterThan(0);
    // Every recovery began because the connection was lost, and took at least the outage.
    for (const record of client.session.recoveries) {
      expect(record.cause).toBe("connection-lost");
      expect((record.endedAt ?? 0) - record.startedAt).toBeGreaterThanOrEqual(1_400);
      expect(record.attempts).toBeGreaterThan(1);
    }
  });

  it("loses no acknowledged write while tgtd deletes the connection, three times", async () => {
    client = await connectClient(tgtd.portal);
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 8, region: REGION, seed: 0x7e57_0002 });
    workload.start();
    const deletions = 3;
    for (let i = 0; i < deletions; i++) {
      await workload.whenAcknowledged(workload.acknowledged + 150);
      const [session] = await tgtd.waitForSessions(1, (s) => s.length === 1 && (s[0]?.connections.length ?? 0) === 1, { what: `our session on ${IQN}` });
      const connection = session?.connections[0];
      if (session === undefined || connection === undefined) throw new Error("test: tgtd lists no connection of ours");
      await tgtd.deleteConnection(1, session.sid, connection.cid);
    }
    await workload.whenAcknowledged(workload.acknowledged + 150);
    const report = await workload.stop();
    figures.add(figuresOf("tgtadm --op delete --mode conn", deletions, report, "QD 8, connection deleted while I/O runs"), report);
    expect(report.ok, explain(report, client)).toBe(true);
    expect(report.recoveries).toBe(deletions);
    expect(report.recovered).toBe(deletions);
  });
});

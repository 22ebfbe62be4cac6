/**
 * Several connections in one session (MC/S) under faults: the write-and-verify workload runs over
 * three connections to tgtd (MaxConnections 4) through the fault proxy while every connection is
 * dropped at once, and while tgtd deletes one connection of the session (`tgtadm --op delete
 * --mode conn`). At ErrorRecoveryLevel 0 the loss of any connection ends the session's
 * connections and reinstates the session (RFC 7143 §6.3.5; tgtd does not do ERL 2's connection
 * recovery: test/reliability/erl2.test.ts shows it against the embedded target), so each fault is
 * one recovery, after which all three connections come back, and nothing acknowledged is lost.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { FaultProxy } from "../../src/faults/proxy.js";
import { VerifyWorkload } from "../../src/faults/verify-workload.js";
import { pollUntil } from "../support/wait.js";
import type { Tgtd } from "../support/tgtd.js";
import { settle } from "../initiator/interop.test-util.js";
import { type Client, connectClient, explain, FiguresFile, figuresOf, REGION, startProxy, startTgtd } from "./reliability.test-util.js";

const figures = new FiguresFile("mcs-faults");
afterAll(() => figures.write());

const CONNECTIONS = 3;

describe("three connections in one session, under faults", () => {
  let tgtd: Tgtd;
  let proxy: FaultProxy | undefined;
  let client: Client | undefined;
  const proxyLog: string[] = [];

  beforeAll(async () => {
    tgtd = await startTgtd();
    await tgtd.setParam(1, "MaxConnections", 4);
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

  async function allConnectionsBack(c: Client, what: string): Promise<void> {
    await pollUntil(async () => (c.session.connections.length === CONNECTIONS && c.session.recoveries.every((r) => r.outcome !== "in-progress") ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 20,
      what: `all ${CONNECTIONS} connections back after ${what}`,
    });
  }

  it("reinstates the session and all its connections after every connection is dropped, and loses nothing", async () => {
    proxy = await startProxy(tgtd, 0x3c5_0001, proxyLog);
    client = await connectClient(proxy.portal, { connections: CONNECTIONS });
    expect(client.session.connections).toHaveLength(CONNECTIONS);
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 12, region: REGION, seed: 0x3c5 });
    workload.start();
    await workload.whenAcknowledged(100);
    const drops = 3;
    for (let i = 0; i < drops; i++) {
      expect(proxy.drop({ mode: i % 2 === 0 ? "rst" : "fin" })).toBe(CONNECTIONS);
      await allConnectionsBack(client, `drop ${i + 1}`);
      await settle(workload.whenAcknowledged(workload.acknowledged + 80), `80 more writes after drop ${i + 1}`, 30_000);
    }
    await settle(workload.whenAcknowledged(workload.acknowledged + 100), "100 more writes after the drops", 30_000);
    const report = await workload.stop();
    figures.add(figuresOf(`MC/S, ${CONNECTIONS} connections: all dropped at once (RST and FIN)`, drops, report, `proxied connections ${proxy.stats.connections}`), report);
    expect(report.ok, explain(report, client, proxyLog)).toBe(true);
    expect(report.lost).toBe(0);
    expect(report.failed).toBe(0);
    expect(client.session.recoveries.map((r) => r.outcome)).toEqual(Array(drops).fill("recovered"));
    expect(proxy.stats.connections).toBe(CONNECTIONS * (drops + 1));
    // Commands went out over every connection, not just the leading one.
    // (CIDs are new on every reinstatement: check the connections of the session as it is now.)
    const used = new Set(client.trace.lines.filter((l) => /^>> \[\d+\] ScsiCommand/.test(l)).map((l) => Number(l.slice(4, l.indexOf("]")))));
    expect(client.session.connections.map((c) => used.has(c.cid))).toEqual(Array(CONNECTIONS).fill(true));
  });

  it("reinstates the session when tgtd deletes one of its connections, brings all three back, and loses nothing", async () => {
    proxy = await startProxy(tgtd, 0x3c5_0002, proxyLog);
    client = await connectClient(proxy.portal, { connections: CONNECTIONS });
    const workload = new VerifyWorkload({ device: client.device, queueDepth: 12, region: REGION, seed: 0x3c6 });
    workload.start();
    await workload.whenAcknowledged(100);
    const deletions = 2;
    for (let i = 0; i < deletions; i++) {
      const [session] = await tgtd.sessions(1);
      expect(session).toBeDefined();
      const connections = await tgtd.connections(1, session?.sid ?? -1);
      expect(connections).toHaveLength(CONNECTIONS);
      // A connection other than the leading one: the loss of any of them must be noticed.
      await tgtd.deleteConnection(1, session?.sid ?? -1, connections[connections.length - 1]?.cid ?? -1);
      await pollUntil(async () => (client?.session.recoveries.length === i + 1 ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: `a recovery after deletion ${i + 1}`,
      });
      await allConnectionsBack(client, `deletion ${i + 1}`);
      await settle(workload.whenAcknowledged(workload.acknowledged + 80), `80 more writes after deletion ${i + 1}`, 30_000);
    }
    await settle(workload.whenAcknowledged(workload.acknowledged + 100), "100 more writes after the deletions", 30_000);
    const report = await workload.stop();
    figures.add(figuresOf(`MC/S, ${CONNECTIONS} connections: tgtadm deletes one`, deletions, report, `proxied connections ${proxy.stats.connections}`), report);
    expect(report.ok, explain(report, client, proxyLog)).toBe(true);
    expect(report.lost).toBe(0);
    expect(report.failed).toBe(0);
    expect(client.session.recoveries.map((r) => r.outcome)).toEqual(Array(deletions).fill("recovered"));
  });
});

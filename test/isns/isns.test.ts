/**
 * iSNS (RFC 4171) against Debian's open-isns: tgtd registers with isnsd and `iscsi discover
 * --isns` finds its target and portal, the same as SendTargets does; the embedded target
 * registers, refreshes within the period isnsd grants, and is gone once it closes; an initiator
 * watching for State Change Notifications sees a target come and go; a server that answers
 * with garbage, a huge length or an error status ends the command in one line, exit 4.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IsnsClient, type IsnsChange } from "../../src/node/isns.js";
import { startTarget } from "../../src/target/server.js";
import { ensureBuilt, expectFailure, expectOk, iscsi, jsonOf, spawnIscsi } from "../cli/cli.test-util.js";
import { Tgtd } from "../support/tgtd.js";
import { pollUntil, sleep } from "../support/wait.js";
import { Isnsd } from "./isnsd.js";

const INITIATOR = "iqn.2026-11.io.iscsi-ts:isns-test";

interface DiscoverJson {
  readonly targets: ReadonlyArray<{ readonly name: string; readonly portals: ReadonlyArray<{ host: string; port: number; portalGroupTag: number; address: string }> }>;
}

describe("iSNS against isnsd", () => {
  let isnsd: Isnsd;

  beforeAll(async () => {
    await ensureBuilt();
    // open-isns replaces the period clients ask for with its own: 3 s makes refreshes matter.
    isnsd = await Isnsd.start({ registrationPeriod: 3 });
  });

  afterAll(async () => {
    await isnsd?.stop();
  });

  it("finds tgtd's target and portal once tgtd registers, in the same shape as SendTargets", async () => {
    const iqn = "iqn.2026-11.test:isns-tgtd";
    const tgtd = await Tgtd.start();
    try {
      await tgtd.addTarget({ tid: 1, iqn, luns: [{ lun: 1, null: true }] });
      for (const [name, value] of [["iSNSServerIP", "127.0.0.1"], ["iSNSServerPort", String(isnsd.port)], ["iSNS", "On"]] as const) {
        await tgtd.tgtadm(["--op", "update", "--mode", "sys", "--name", name, "--value", value]);
      }
      await pollUntil(async () => (await isnsd.names()).includes(iqn), { what: `${iqn} registered with isnsd`, timeoutMs: 10_000 });
      const viaIsns = jsonOf<DiscoverJson & { isns: string }>(expectOk(await iscsi(["discover", "--isns", isnsd.address, "--json", "--initiator-name", INITIATOR])));
      expect(viaIsns.isns).toBe(isnsd.address);
      const target = viaIsns.targets.find((t) => t.name === iqn);
      expect(target?.portals).toEqual([{ host: "127.0.0.1", port: tgtd.port, portalGroupTag: 1, address: tgtd.portal }]);
      const viaSendTargets = jsonOf<DiscoverJson>(expectOk(await iscsi(["discover", tgtd.portal, "--json", "--initiator-name", INITIATOR])));
      expect(viaSendTargets.targets.find((t) => t.name === iqn)).toEqual(target);
      const text = expectOk(await iscsi(["discover", "--isns", isnsd.address, "--initiator-name", INITIATOR])).stdout;
      expect(text).toMatch(new RegExp(`^${iqn.replace(/\./g, "\\.")}\\s+${tgtd.portal}\\s+1$`, "m"));
    } finally {
      await tgtd.stop();
    }
  });

  it("registers `iscsi target --isns`, which isnsadm lists until the target exits", async () => {
    const iqn = "iqn.2026-11.test:isns-cli-target";
    const target = spawnIscsi(["target", "--listen", "127.0.0.1:0", "--iqn", iqn, "--lun", "1=mem:1M", "--isns", isnsd.address, "--json"]);
    try {
      await target.waitForOutput(/"isns"/, { what: "the running target's JSON" });
      const described = JSON.parse(target.stdout().trim()) as { port: number; isns: { server: string; registrationPeriod: number } };
      expect(described.isns).toMatchObject({ server: isnsd.address, registrationPeriod: 3 });
      const listed = await isnsd.queryNames();
      expect(listed).toContain(`iSCSI name = "${iqn}"`);
      expect(listed).toContain(`Portal TCP/UDP port = ${described.port}/tcp`);
      // Past two of isnsd's 3-second periods: only refreshes keep it listed.
      await sleep(7_000);
      expect(await isnsd.names()).toContain(iqn);
    } finally {
      target.signal("SIGTERM");
      const status = await target.exited;
      expect(status.code, target.stderr()).toBe(0);
    }
    expect(await isnsd.names()).not.toContain(iqn);
  });

  it("shows that isnsd drops a registration nobody refreshes (so the test above can fail)", async () => {
    const iqn = "iqn.2026-11.test:isns-unrefreshed";
    const target = await startTarget({ targets: [{ iqn, luns: [{ lun: 1, backend: "mem:1M" }] }], isns: { server: isnsd.address, registrationPeriod: 900 } });
    try {
      expect(target.isns?.registrationPeriod).toBe(3);
      // Stop refreshing without deregistering: what a crashed target leaves behind.
      const registration = target.isns;
      (target as { isns: unknown }).isns = undefined;
      await registration?.close().catch(() => undefined);
      await registrationReplayedWithoutRefresh(iqn, isnsd);
    } finally {
      await target.close();
    }
  });

  it("tells a watching initiator when a target comes and when it goes (SCN)", async () => {
    const iqn = "iqn.2026-11.test:isns-scn";
    const client = new IsnsClient(isnsd.address, { initiatorName: INITIATOR });
    const stop = new AbortController();
    const seen: IsnsChange[] = [];
    const watching = (async () => {
      for await (const change of client.watch({ signal: stop.signal })) {
        if (change.name === iqn) seen.push(change);
        if (seen.some((c) => c.kind === "removed")) stop.abort();
      }
    })();
    try {
      await pollUntil(async () => (await isnsd.names()).includes(INITIATOR), { what: "the watcher registered" });
      const target = await startTarget({ targets: [{ iqn, luns: [{ lun: 1, backend: "mem:1M" }] }], isns: { server: isnsd.address } });
      await pollUntil(() => seen.some((c) => c.kind === "added"), { what: `an SCN saying ${iqn} was added` });
      await target.close();
      await pollUntil(() => seen.some((c) => c.kind === "removed"), { what: `an SCN saying ${iqn} was removed` });
      expect(seen.map((c) => c.kind)).toEqual(["added", "removed"]);
    } finally {
      stop.abort();
      await watching;
    }
    // Leaving the iteration deregistered the watcher itself.
    expect(await isnsd.names()).not.toContain(INITIATOR);
  });
});

/** Registers `iqn` through isnsadm (which never refreshes) and waits for isnsd to expire it. */
async function registrationReplayedWithoutRefresh(iqn: string, isnsd: Isnsd): Promise<void> {
  const { runCommand, checkOk } = await import("../support/processes.js");
  checkOk(await runCommand("isnsadm", ["-c", isnsd.clientConfig, "--register", "entity=unrefreshed", "portal=127.0.0.1:3999", `target=${iqn}`], { timeoutMs: 10_000 }));
  expect(await isnsd.names()).toContain(iqn);
  await pollUntil(async () => !(await isnsd.names()).includes(iqn), { what: `isnsd expiring ${iqn}`, timeoutMs: 10_000, intervalMs: 500 });
}

describe("a bad iSNS server", () => {
  let server: Server;
  let port = 0;
  let reply: (socket: Socket, request: Buffer) => void = () => undefined;

  beforeAll(async () => {
    await ensureBuilt();
    server = createServer((socket) => {
      socket.on("error", () => undefined);
      socket.once("data", (request) => reply(socket, request));
    });
    await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, () => resolve()));
    const address = server.address();
    port = typeof address === "object" && address !== null ? address.port : 0;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** A response header for the request's transaction: version 1, DevAttrQryRsp, server, first and last. */
  const header = (request: Buffer, length: number): Buffer => {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(1, 0);
    h.writeUInt16BE(0x8002, 2);
    h.writeUInt16BE(length, 4);
    h.writeUInt16BE(0x4000 | 0x0800 | 0x0400, 6);
    request.copy(h, 8, 8, 10);
    return h;
  };

  const discover = () => iscsi(["discover", "--isns", `127.0.0.1:${port}`, "--timeout", "5s", "--initiator-name", INITIATOR]);

  it("ends in one line, exit 4, when the answer is not iSNSP at all", async () => {
    reply = (socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    expectFailure(await discover(), 4, new RegExp(`iSNS server at 127\\.0\\.0\\.1:${port}: iSNSP version \\d+ .*not an iSNS server\\?`));
  });

  it("ends in one line, exit 4, when a PDU claims more bytes than ever come", async () => {
    reply = (socket, request) => socket.end(header(request, 0xfffc));
    expectFailure(await discover(), 4, /closed the connection in the middle of a message/);
  });

  it("ends in one line, exit 4, when an attribute's length runs past its PDU", async () => {
    reply = (socket, request) => {
      const body = Buffer.alloc(12);
      body.writeUInt32BE(0, 0); // Successful
      body.writeUInt32BE(32, 4); // iSCSI Name
      body.writeUInt32BE(0x7fff_fff0, 8); // ... of 2 GiB
      socket.end(Buffer.concat([header(request, body.length), body]));
    };
    expectFailure(await discover(), 4, /attribute 32 at offset 0 claims 2147483632 bytes, only 0 follow/);
  });

  it("ends in one line, exit 4, naming the status when the server refuses the query", async () => {
    reply = (socket, request) => {
      const body = Buffer.alloc(4);
      body.writeUInt32BE(8, 0); // Source Unauthorized
      socket.end(Buffer.concat([header(request, body.length), body]));
    };
    expectFailure(await discover(), 4, /refused DevAttrQry: Source Unauthorized \(status 8\)/);
  });

  it("ends in one line, exit 4, when nothing listens, and `iscsi target --isns` does not stay up", async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen({ host: "127.0.0.1", port: 0 }, () => {
        const a = s.address();
        s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0));
      });
    });
    expectFailure(await iscsi(["discover", "--isns", `127.0.0.1:${closed}`]), 4, /cannot connect to the iSNS server at 127\.0\.0\.1:\d+: connection refused/);
    expectFailure(await iscsi(["target", "--listen", "127.0.0.1:0", "--lun", "1=mem:1M", "--isns", `127.0.0.1:${closed}`], { timeoutMs: 20_000 }), 4, /connection refused/);
  });
});

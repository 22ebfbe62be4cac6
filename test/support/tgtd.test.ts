/** The tgtd fixture: several instances, session listing, connection drops, tgtadm errors. */
import { afterEach, describe, expect, it } from "vitest";
import { HarnessError } from "./errors.js";
import { iscsiLs, iscsiPerf, iscsiReadCapacity16 } from "./peers.js";
import { checkOk } from "./processes.js";
import { Tgtd } from "./tgtd.js";

const MiB = 1 << 20;

describe("the tgtd fixture", () => {
  const started: Tgtd[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((t) => t.stop()));
  });
  async function start(): Promise<Tgtd> {
    const t = await Tgtd.start();
    started.push(t);
    return t;
  }

  it("runs two tgtd instances side by side, each with its own portal and control port", async () => {
    const [a, b] = [await start(), await start()];
    await a.addTarget({ tid: 1, iqn: "iqn.2026-11.test.fixture:a", luns: [{ lun: 1, file: { size: 4 * MiB } }] });
    await b.addTarget({ tid: 1, iqn: "iqn.2026-11.test.fixture:b", luns: [{ lun: 1, file: { size: 8 * MiB } }] });

    expect(a.port).not.toBe(b.port);
    expect(a.controlPort).not.toBe(b.controlPort);
    const [lsA, lsB] = [checkOk(await iscsiLs(a.url())), checkOk(await iscsiLs(b.url()))];
    expect(lsA.stdout).toContain("iqn.2026-11.test.fixture:a");
    expect(lsA.stdout).not.toContain("iqn.2026-11.test.fixture:b");
    expect(lsB.stdout).toContain("iqn.2026-11.test.fixture:b");
    const capacity = checkOk(await iscsiReadCapacity16(b.url("iqn.2026-11.test.fixture:b", 1)));
    expect(capacity.stdout).toContain(`Total size:${8 * MiB}`);
  });

  it("lists a running iscsi-perf session on its own target and drops it with deleteConnection", async () => {
    const t = await start();
    await t.addTarget({ tid: 1, iqn: "iqn.2026-11.test.fixture:idle", luns: [{ lun: 1, file: { size: 4 * MiB } }] });
    await t.addTarget({ tid: 2, iqn: "iqn.2026-11.test.fixture:busy", luns: [{ lun: 1, null: true }] });

    // iscsi-perf reconnects after the drop, then hangs on SIGINT waiting for the lost
    // commands, so its hard timeout is kept short: only its reports before the drop matter.
    const perf = iscsiPerf(t.url("iqn.2026-11.test.fixture:busy", 1), { qd: 4, blocks: 8, seconds: 2, timeoutMs: 5_000 });
    const [session] = await t.waitForSessions(2, (s) => s.length === 1, { what: "iscsi-perf's session" });
    expect(await t.sessions(1)).toEqual([]);
    expect(session?.initiator).toMatch(/iscsi-perf/);
    expect(session?.connections).toHaveLength(1);

    const sid = session?.sid ?? -1;
    const cid = session?.connections[0]?.cid ?? -1;
    await t.deleteConnection(2, sid, cid);
    // Well before iscsi-perf's own end (SIGINT at 2 s), so only the drop can end the session.
    await t.waitForSessions(2, (s) => !s.some((x) => x.sid === sid), { what: `session ${sid} to go`, timeoutMs: 1_500 });
    await perf.catch(() => undefined);
  });

  it("reports the offered parameters and applies setParam", async () => {
    const t = await start();
    await t.addTarget({ tid: 1, iqn: "iqn.2026-11.test.fixture:params" });
    const before = await t.params(1);
    await t.setParam(1, "MaxRecvDataSegmentLength", 65536);
    await t.setParam(1, "InitialR2T", "No");
    const after = await t.params(1);

    expect(before["MaxRecvDataSegmentLength"]).toBe("8192");
    expect(after["MaxRecvDataSegmentLength"]).toBe("65536");
    expect(after["InitialR2T"]).toBe("No");
  });

  it("throws a tgtadm failure with the command and tgtadm's message but never the account's password", async () => {
    const t = await start();
    await t.addAccount("bob", "bob-password-99");
    const error = await t.addAccount("bob", "bob-password-99").then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(HarnessError);
    expect((error as HarnessError).code).toBe("PEER_ERR_COMMAND");
    expect((error as HarnessError).message).toMatch(/tgtadm .*--mode account.*exited with code \d+; stderr: .*exist/);
    expect((error as HarnessError).message).not.toContain("bob-password-99");
  });
});

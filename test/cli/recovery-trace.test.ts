import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tgtd } from "../support/tgtd.js";
import { ensureBuilt, spawnIscsi } from "./cli.test-util.js";

const IQN = "iqn.2026-11.test.cli:recovery";

describe("iscsi -v prints each session recovery (cause, how long, commands re-issued)", () => {
  let tgtd: Tgtd;

  beforeAll(async () => {
    await ensureBuilt();
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, null: true }] });
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  it("reports the loss and the re-established session when tgtd drops the connection, and ping goes on", async () => {
    // -v: events (the login, the loss, the re-established session), not the PDU trace (-vv).
    const perf = spawnIscsi(["ping", tgtd.url(IQN), "--count", "8", "--interval", "500ms", "-v"]);
    const [session] = await tgtd.waitForSessions(1, (s) => s.length === 1, { what: "the perf session" });
    await new Promise((r) => setTimeout(r, 1200));
    const connection = session?.connections[0];
    expect(connection).toBeDefined();
    await tgtd.deleteConnection(1, session?.sid as number, connection?.cid as number);
    const status = await perf.exited;
    const stderr = perf.stderr();
    expect(status.code, stderr.slice(-2000)).toBe(0);
    expect(stderr).toMatch(/^iscsi: session lost \(connection-lost\): .*; re-establishing$/m);
    expect(stderr).toMatch(/^iscsi: session re-established after \d+\.\d s: \d+ login attempt\(s\), \d+ command\(s\) re-issued, 0 failed$/m);
    expect(perf.stdout()).toMatch(/8 NOP-Outs sent, 8 NOP-Ins received, 0% loss/);
    // -v is events: the login and the logout, each one line, and no PDU.
    expect(stderr).toMatch(/^iscsi: logged in to iqn\S+ at 127\.0\.0\.1:\d+ as iqn\S+ \(1 connection\(s\), HeaderDigest=None DataDigest=None/m);
    expect(stderr).toMatch(/^iscsi: logged out of iqn\S+ at 127\.0\.0\.1:\d+$/m);
    expect(stderr).not.toMatch(/^(>>|<<) /m);
  });
});

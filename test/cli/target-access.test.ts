/**
 * The embedded target beyond loopback: `--allow-initiator` refuses every other initiator at
 * login with status 0x0202 (authorization failure, RFC 7143 §11.13.5) and logs who was refused;
 * listening on another address without CHAP warns once that anyone who reaches the port can read
 * and write the LUNs. Shown with our own initiator and with libiscsi's iscsi-inq.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { iscsiInq } from "../support/peers.js";
import type { TrackedProcess } from "../support/processes.js";
import { ensureBuilt, expectFailure, expectOk, iscsi, spawnIscsi } from "./cli.test-util.js";

const IQN = "iqn.2026-12.test.access:disk";
const ALLOWED = "iqn.2026-12.test.access:allowed";
const OTHER = "iqn.2026-12.test.access:other";

async function startTarget(args: readonly string[]): Promise<{ process: TrackedProcess; portal: string }> {
  const process = spawnIscsi(["target", "--iqn", IQN, "--lun", "1=mem:1M", "--json", ...args]);
  await process.waitForOutput(/^}$/m, { timeoutMs: 15_000, what: "the target's JSON document" });
  return { process, portal: (JSON.parse(process.stdout()) as { portal: string }).portal };
}

describe("iscsi target --allow-initiator, and the warning off loopback", () => {
  let running: TrackedProcess | undefined;
  beforeAll(ensureBuilt, 180_000);
  afterEach(async () => {
    await running?.kill();
    running = undefined;
  });

  it("lets the allowed initiator in and refuses another with 0x0202, ours and libiscsi's alike, logging who", async () => {
    const { process, portal } = await startTarget(["--listen", "127.0.0.1:0", "--allow-initiator", ALLOWED.toUpperCase()]);
    running = process;
    const url = `iscsi://${portal}/${IQN}/1`;
    // RFC 3722: names compare case-folded, so the upper-case allow entry admits the lower-case name.
    expectOk(await iscsi(["inquiry", url, "--initiator-name", ALLOWED]));
    expectFailure(await iscsi(["inquiry", url, "--initiator-name", OTHER]), 2, /authorization failure/i);
    const inq = await iscsiInq(url, ["-i", OTHER]);
    expect(inq.code).not.toBe(0);
    expect((await iscsiInq(url, ["-i", ALLOWED])).code).toBe(0);
    await process.waitForOutput(new RegExp(`login refused from .*${OTHER.replace(/\./g, "\\.")}`), { timeoutMs: 5_000, what: "a log line naming the refused initiator" });
  });

  it("refuses an allow entry that is not an iSCSI name: 1", async () => {
    expectFailure(await iscsi(["target", "--listen", "127.0.0.1:0", "--lun", "1=mem:1M", "--allow-initiator", "not a name"]), 1, /allowed initiator "not a name" is not an iSCSI name/);
  });

  it("warns once when it listens beyond loopback without CHAP, and not on loopback", async () => {
    const wide = await startTarget(["--listen", "0.0.0.0:0"]);
    running = wide.process;
    await wide.process.waitForOutput(/warning: listening on .* without CHAP: anyone who can reach this port can read and write the LUNs/, { timeoutMs: 5_000, what: "the warning" });
    expect(wide.process.stderr().match(/warning:/g)).toHaveLength(1);
    await wide.process.kill();
    const local = await startTarget(["--listen", "127.0.0.1:0"]);
    running = local.process;
    expect(local.process.stderr()).not.toMatch(/warning:/);
  });
});

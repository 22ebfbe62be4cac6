/**
 * The embedded target under load from libiscsi's `iscsi-perf`: 2 seconds of 4 KiB random reads at
 * queue depth 32 against a null LUN, without an error, a protocol complaint or a dropped
 * connection. (Throughput is measured side by side with tgtd in bench/, not asserted here.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { iscsiPerf, iscsiUrl } from "../support/peers.js";

const IQN = "iqn.2026-11.test.target:perf";

describe("iscsi-perf against the embedded target", () => {
  let target: RunningTarget;
  const complaints: string[] = [];

  beforeAll(async () => {
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 0, backend: "null:1T" }, { lun: 1, backend: "mem:64M" }] }] });
    target.on("protocol-error", (_id, error) => complaints.push(error.message));
    target.on("internal-error", (_id, error) => complaints.push(error.message));
  });

  afterAll(async () => {
    await target?.close();
  });

  for (const [lun, what] of [
    [0, "a null LUN"],
    [1, "a memory LUN"],
  ] as const) {
    it(`runs 4 KiB random reads at queue depth 32 for 2 s against ${what} without errors`, async () => {
      const before = target.stats;
      const result = await iscsiPerf(iscsiUrl({ host: target.host, port: target.port, iqn: IQN, lun }), { qd: 32, blocks: 8, random: true, seconds: 2 });
      expect(result.timedOut).toBe(false);
      expect(result.reports).toBeGreaterThanOrEqual(1);
      expect(result.iops).toBeGreaterThan(0);
      expect(result.stderr).not.toMatch(/error|fail/i);
      const after = target.stats;
      // Every read iscsi-perf counted went through the target (at least one second's worth), and
      // the data it moved is whole 4 KiB reads (plus a few small setup commands' data).
      expect(after.commands - before.commands).toBeGreaterThanOrEqual(result.iops);
      expect(after.bytesRead - before.bytesRead).toBeGreaterThanOrEqual(result.iops * 4096);
      expect(complaints).toEqual([]);
      expect(after.loginFailures).toBe(0);
    });
  }
});

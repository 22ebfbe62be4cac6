/** The peer wrappers against tgtd: what each one reads back, and mutual CHAP through the environment. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HarnessError } from "./errors.js";
import { chapEnv, iscsiInq, iscsiLs, iscsiPerf, iscsiUrl, qemuImgBench, qemuImgInfo } from "./peers.js";
import { checkOk } from "./processes.js";
import { Tgtd } from "./tgtd.js";

const IQN = "iqn.2026-11.test.peers:disk";
const MiB = 1 << 20;

describe("peer wrappers", () => {
  let tgtd: Tgtd;
  beforeAll(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: 32 * MiB } }, { lun: 2, null: true }] });
  });
  afterAll(async () => {
    await tgtd.stop();
  });

  it("iscsi-inq and qemu-img info describe a tgtd file LUN", async () => {
    const inq = checkOk(await iscsiInq(tgtd.url(IQN, 1)));
    const info = checkOk(await qemuImgInfo(tgtd.url(IQN, 1)));

    expect(inq.stdout).toMatch(/Peripheral Device Type:DIRECT_ACCESS/);
    expect(inq.stdout).toMatch(/Vendor:IET/);
    expect(info.stdout).toContain(`virtual size: 32 MiB (${32 * MiB} bytes)`);
  });

  it("iscsi-perf runs for the time asked and reports its average IOPS", async () => {
    const perf = await iscsiPerf(tgtd.url(IQN, 2), { qd: 8, blocks: 8, random: true, seconds: 3 });

    expect(perf.reports).toBeGreaterThanOrEqual(2);
    expect(perf.iops).toBeGreaterThan(0);
    // 4 KiB per request: the MB/s it prints follow from its IOPS (to its rounding).
    expect(Math.abs(perf.mibPerSecond - (perf.iops * 4096) / MiB)).toBeLessThanOrEqual(1);
    expect(perf.durationMs).toBeGreaterThanOrEqual(2900);
  });

  it("qemu-img bench completes a counted run and yields its rates", async () => {
    const bench = await qemuImgBench(tgtd.url(IQN, 1), { count: 2000, depth: 8, bufferSize: 4096, write: true });

    expect(bench.seconds).toBeGreaterThan(0);
    expect(bench.iops).toBeCloseTo(2000 / Math.max(bench.seconds, 0.001));
    expect(bench.bytesPerSecond).toBeCloseTo(bench.iops * 4096);
  });

  it("mutual CHAP through libiscsi's environment passes with the target's secret and fails with another", async () => {
    await tgtd.addAccount("dave", "dave-secret-123");
    await tgtd.bindAccount(1, "dave");
    await tgtd.addAccount("target-tgt", "target-secret-45");
    await tgtd.bindAccount(1, "target-tgt", { outgoing: true });
    try {
      const initiator = { user: "dave", secret: "dave-secret-123" };
      // A LUN URL, not discovery: tgtd does not authenticate discovery sessions, and libiscsi
      // given a target secret refuses a discovery login in which the target proves nothing.
      const lun = tgtd.url(IQN, 1);
      const good = await iscsiInq(lun, [], { env: chapEnv({ initiator, target: { user: "target-tgt", secret: "target-secret-45" } }) });
      const bad = await iscsiInq(lun, [], { env: chapEnv({ initiator, target: { user: "target-tgt", secret: "another-secret-6" } }) });
      const discovery = await iscsiLs(tgtd.url(), { env: chapEnv({ initiator, target: { user: "target-tgt", secret: "target-secret-45" } }) });

      expect(good.code, good.stderr).toBe(0);
      expect(good.stdout).toMatch(/Peripheral Device Type:DIRECT_ACCESS/);
      expect(discovery.stdout + discovery.stderr).toMatch(/did not return CHAP_N/);
      expect(bad.code).not.toBe(0);
      expect(bad.stdout + bad.stderr).not.toContain("another-secret-6");
    } finally {
      await tgtd.tgtadm(["--op", "unbind", "--mode", "account", "--tid", "1", "--user", "target-tgt", "--outgoing"]);
      await tgtd.tgtadm(["--op", "unbind", "--mode", "account", "--tid", "1", "--user", "dave"]);
    }
  });

  it("builds libiscsi URLs and refuses CHAP names it cannot carry", () => {
    expect(iscsiUrl({ host: "127.0.0.1", port: 3999, iqn: IQN, lun: 2, chap: { user: "u", secret: "s" }, query: { header_digest: "crc32c" } })).toBe(
      `iscsi://u%s@127.0.0.1:3999/${IQN}/2?header_digest=crc32c`,
    );
    expect(() => iscsiUrl({ host: "h", port: 1, chap: { user: "u", secret: "a@b" } })).toThrow(HarnessError);
    expect(() => iscsiUrl({ host: "h", port: 1, chap: { user: "u", secret: "a@b" } })).not.toThrow(/a@b/);
  });
});

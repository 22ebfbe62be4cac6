/**
 * Every `iscsi` command against tgtd, in text and with --json, and the data commands checked
 * byte for byte (and against libiscsi through qemu-img, which reads what we wrote and writes
 * what we read).
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { patternBytes, writePatternFile } from "../support/pattern.js";
import { qemuImgConvert } from "../support/peers.js";
import { checkOk, runCommand } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";
import { ensureBuilt, expectOk, iscsi, iscsiCommand, jsonOf, quote, spawnIscsi } from "./cli.test-util.js";

/** A shell pipeline (for binary output, which the harness keeps only as text). */
function shell(script: string) {
  return runCommand("bash", ["-c", `set -o pipefail; ${script}`], { timeoutMs: 60_000 });
}

const IQN = "iqn.2026-11.test.cli:disk";
/** A target whose only digest is CRC32C (tgtd offers None unless told). */
const IQN_DIGEST = "iqn.2026-11.test.cli:digest";
const LUN_BYTES = 16 << 20;
const SEED = 0x5eed;

describe("iscsi against tgtd", () => {
  let tgtd: Tgtd;
  const tmp = useTempDir("iscsi-cli-tgtd-");
  const url = (lun?: number): string => (lun === undefined ? `iscsi://${tgtd.portal}/${IQN}` : `iscsi://${tgtd.portal}/${IQN}/${lun}`);

  beforeAll(async () => {
    await ensureBuilt();
    tgtd = await Tgtd.start();
    await tgtd.addTarget({
      tid: 1,
      iqn: IQN,
      luns: [
        { lun: 1, file: { size: LUN_BYTES } },
        { lun: 2, null: true },
        { lun: 3, file: { size: LUN_BYTES } },
      ],
    });
    await tgtd.addTarget({ tid: 2, iqn: IQN_DIGEST, luns: [{ lun: 1, file: { size: 1 << 20 } }] });
    await tgtd.setParam(2, "HeaderDigest", "CRC32C");
    await tgtd.setParam(2, "DataDigest", "CRC32C");
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  describe("looking", () => {
    it("discover lists the target with tgtd's portal and portal group tag", async () => {
      const text = expectOk(await iscsi(["discover", tgtd.portal]));
      expect(text.stdout).toMatch(new RegExp(`^${IQN.replace(/\./g, "\\.")} +${tgtd.portal} +1$`, "m"));
      const json = jsonOf<{ targets: { name: string; portals: { host: string; port: number; portalGroupTag: number }[] }[] }>(
        expectOk(await iscsi(["discover", tgtd.portal, "--json"])),
      );
      expect(json.targets.map((t) => t.name).sort()).toEqual([IQN, IQN_DIGEST].sort());
      expect(json.targets.find((t) => t.name === IQN)).toEqual({ name: IQN, portals: [{ host: "127.0.0.1", port: tgtd.port, portalGroupTag: 1, address: tgtd.portal }] });
    });

    it("ls lists every LUN with the size tgtd was given", async () => {
      const text = expectOk(await iscsi(["ls", tgtd.portal]));
      expect(text.stdout).toContain(`${IQN} at ${tgtd.portal}`);
      expect(text.stdout).toMatch(/^ +1 +disk +16 MiB +32768 x 512 +IET +VIRTUAL-DISK$/m);
      expect(text.stdout).toMatch(/^ +0 +controller/m);
      type Ls = { targets: { name: string; luns: { lun: number; type: string; bytes?: number; blockSize?: number; vendor: string }[] }[] };
      const json = jsonOf<Ls>(expectOk(await iscsi(["ls", url(), "--json"])));
      const luns = json.targets[0]?.luns ?? [];
      expect(luns.map((l) => l.lun)).toEqual([0, 1, 2, 3]);
      expect(luns.find((l) => l.lun === 1)).toMatchObject({ type: "disk", bytes: LUN_BYTES, blockSize: 512, vendor: "IET" });
      expect(luns.find((l) => l.lun === 2)?.bytes).toBe(2 ** 40);
    });

    it("luns lists the LUN numbers from REPORT LUNS", async () => {
      expect(expectOk(await iscsi(["luns", url()])).stdout.trim().split("\n")).toEqual(["0", "1", "2", "3"]);
      expect(jsonOf(expectOk(await iscsi(["luns", url(), "--json"])))).toMatchObject({ target: IQN, luns: [0, 1, 2, 3] });
    });

    it("inquiry decodes the standard data and VPD pages by number and by name", async () => {
      const standard = expectOk(await iscsi(["inquiry", url(1)])).stdout;
      expect(standard).toMatch(/^Vendor: +IET$/m);
      expect(standard).toMatch(/^Product: +VIRTUAL-DISK$/m);
      expect(jsonOf<{ inquiry: { product: string; peripheralDeviceType: number } }>(expectOk(await iscsi(["inquiry", url(1), "--json"]))).inquiry).toMatchObject({
        product: "VIRTUAL-DISK",
        peripheralDeviceType: 0,
      });
      const deviceId = expectOk(await iscsi(["inquiry", url(1), "--vpd", "0x83"])).stdout;
      expect(deviceId).toMatch(/^Device Identification \(VPD page 0x83\)$/m);
      expect(deviceId).toMatch(/^NAA \(logical unit\): 0x/m);
      const serial = jsonOf<{ page: number; vpd: { serialNumber: string } }>(expectOk(await iscsi(["inquiry", url(1), "--vpd", "serial", "--json"])));
      expect(serial.page).toBe(0x80);
      expect(serial.vpd.serialNumber).not.toBe("");
      const limits = expectOk(await iscsi(["inquiry", url(1), "--vpd", "block-limits"])).stdout;
      expect(limits).toMatch(/^Maximum COMPARE AND WRITE length: +\d+$/m);
    });

    it("readcap gives the size tgtd was given", async () => {
      expect(expectOk(await iscsi(["readcap", url(1)])).stdout).toMatch(/^Capacity: +16 MiB \(16777216 bytes\)$/m);
      expect(jsonOf(expectOk(await iscsi(["readcap", url(1), "--json"])))).toMatchObject({ blocks: 32768, blockSize: 512, bytes: LUN_BYTES, lun: 1 });
    });

    it("ping prints each round trip and the min/avg/max/mdev summary", async () => {
      const text = expectOk(await iscsi(["ping", url(), "--count", "2", "--interval", "100ms"])).stdout;
      expect(text.match(/^NOP-In from .*: seq=\d time=\d+\.\d{3} ms$/gm)).toHaveLength(2);
      expect(text).toMatch(/^2 NOP-Outs sent, 2 NOP-Ins received, 0% loss/m);
      expect(text).toMatch(/^rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/m);
      const json = jsonOf<{ sent: number; received: number; minMs: number; maxMs: number }>(expectOk(await iscsi(["ping", url(), "--count", "3", "--interval", "50ms", "--json"])));
      expect(json).toMatchObject({ sent: 3, received: 3 });
      expect(json.minMs).toBeGreaterThan(0);
      expect(json.maxMs).toBeGreaterThanOrEqual(json.minMs);
    });

    it("ping --count 0 runs until Ctrl-C, then prints the summary and exits 0", async () => {
      const run = spawnIscsi(["ping", url(), "--count", "0", "--interval", "100ms"]);
      try {
        await run.waitForOutput(/seq=3 /, { timeoutMs: 15_000 });
        run.signal("SIGINT");
        const status = await run.exited;
        expect(status.code, run.stderr()).toBe(0);
        expect(run.stdout()).toMatch(/^\d+ NOP-Outs sent, \d+ NOP-Ins received, 0% loss/m);
      } finally {
        await run.kill();
      }
    });

    it("negotiates CRC32C digests when asked, as the -vv trace shows, and moves data with them", async () => {
      const digestUrl = `iscsi://${tgtd.portal}/${IQN_DIGEST}/1`;
      const options = ["--header-digest", "crc32c", "--data-digest", "crc32c"];
      const r = expectOk(await iscsi(["readcap", digestUrl, ...options, "-vv"]));
      expect(r.stderr).toMatch(/^<< .*LoginResponse.*HeaderDigest=CRC32C DataDigest=CRC32C/m);
      expect(r.stdout).toMatch(/^Blocks: +2048$/m);
      const data = patternBytes(0, 32 * 1024, SEED + 9);
      const file = tmp().file("digest.bin");
      expectOk(await iscsi(["write", digestUrl, "--lba", "8", ...options], { input: data }));
      expectOk(await iscsi(["read", digestUrl, "--lba", "8", "--blocks", "64", "-o", file, ...options]));
      expect(Buffer.compare(readFileSync(file), data)).toBe(0);
    });
  });

  describe("data", () => {
    it("write then read returns the same bytes, through files and through pipes", async () => {
      const data = patternBytes(0, 64 * 1024, SEED);
      const input = tmp().file("in.bin");
      const output = tmp().file("out.bin");
      writeFileSync(input, data);
      const w = jsonOf<{ blocks: number; bytes: number }>(expectOk(await iscsi(["write", url(1), "--lba", "100", "-i", input, "--json"])));
      expect(w).toMatchObject({ blocks: 128, bytes: 65536 });
      expect(expectOk(await iscsi(["read", url(1), "--lba", "100", "--blocks", "128", "-o", output])).stdout).toMatch(/^read 128 block\(s\) \(64 KiB\) from LBA 100/);
      expect(Buffer.compare(readFileSync(output), data)).toBe(0);

      const piped = patternBytes(1 << 20, 8192, SEED);
      const pipedFile = tmp().file("piped.bin");
      writeFileSync(pipedFile, piped);
      expectOk(await iscsi(["write", url(1), "--lba", "300"], { input: piped }));
      // Binary stdout compared by cmp(1): the harness keeps a child's output as text.
      expectOk(await shell(`${iscsiCommand(["read", url(1), "--lba", "300", "--blocks", "16"])} | cmp - ${quote(pipedFile)}`));
    });

    it("stops quietly with 141 when the reader of standard output goes away", async () => {
      const r = await shell(`${iscsiCommand(["cp", url(2), "-"])} | head -c 100 > /dev/null`);
      expect(r.code).toBe(141);
      expect(r.stderr).toBe("");
    });

    it("cp copies a file onto a LUN and back, byte for byte, with --verify", async () => {
      const source = tmp().file("source.img");
      const copy = tmp().file("copy.img");
      await writePatternFile(source, LUN_BYTES, SEED + 1);
      // Zeros in the middle: the copy to a file leaves a hole there.
      const bytes = readFileSync(source);
      bytes.fill(0, 4 << 20, 12 << 20);
      writeFileSync(source, bytes);
      const up = jsonOf<{ bytes: number; verified: boolean }>(expectOk(await iscsi(["cp", "--verify", source, url(1), "--json"])));
      expect(up).toMatchObject({ bytes: LUN_BYTES, verified: true });
      const down = jsonOf<{ bytes: number; zeroBytesSkipped: number; zeroMethod: string }>(expectOk(await iscsi(["cp", "--verify", url(1), copy, "--json"])));
      expect(down).toMatchObject({ bytes: LUN_BYTES, zeroBytesSkipped: 8 << 20, zeroMethod: "sparse file" });
      expect(Buffer.compare(readFileSync(copy), bytes)).toBe(0);
      expect(statSync(copy).blocks * 512).toBeLessThan(LUN_BYTES - (6 << 20));
    });

    it("cp onto a LUN is read back identically by libiscsi (qemu-img convert), and what qemu-img writes cp reads", async () => {
      const source = tmp().file("for-qemu.img");
      const viaQemu = tmp().file("via-qemu.img");
      await writePatternFile(source, LUN_BYTES, SEED + 2);
      expectOk(await iscsi(["cp", source, url(3), "--bs", "256k", "--qd", "4"]));
      checkOk(await qemuImgConvert(url(3), viaQemu));
      expect(Buffer.compare(readFileSync(viaQemu), readFileSync(source))).toBe(0);

      const other = tmp().file("from-qemu.img");
      const back = tmp().file("back.img");
      await writePatternFile(other, LUN_BYTES, SEED + 3);
      checkOk(await qemuImgConvert(other, url(3)));
      expectOk(await iscsi(["cp", url(3), back]));
      expect(Buffer.compare(readFileSync(back), readFileSync(other))).toBe(0);
    });

    it("cp draws a progress bar (bytes, rate, ETA) on a terminal, and none into a pipe", async () => {
      const source = tmp().file("progress.img");
      await writePatternFile(source, LUN_BYTES, SEED + 6);
      // script(1) gives the command a pseudo-terminal.
      const onTty = await runCommand("script", ["-qec", iscsiCommand(["cp", source, url(3), "--bs", "64k", "--qd", "1"]), "/dev/null"], { timeoutMs: 60_000 });
      expect(onTty.code, onTty.stdout).toBe(0);
      expect(onTty.stdout).toMatch(/copying \[[█░]+\] 100% \| 16 MiB of 16 MiB \| [\d.]+ [KMG]?i?B\/s \| ETA /);
      const inPipe = expectOk(await iscsi(["cp", source, url(3)]));
      expect(inPipe.stderr).toBe("");
    });

    it("cp copies one LUN onto another and verifies it", async () => {
      const source = tmp().file("lun1.img");
      await writePatternFile(source, LUN_BYTES, SEED + 4);
      expectOk(await iscsi(["cp", source, url(1)]));
      const r = jsonOf<{ bytes: number; verified: boolean }>(expectOk(await iscsi(["cp", url(1), url(3), "--verify", "--json"])));
      expect(r).toMatchObject({ bytes: LUN_BYTES, verified: true });
      const out = tmp().file("lun3.img");
      expectOk(await iscsi(["cp", url(3), out]));
      expect(Buffer.compare(readFileSync(out), readFileSync(source))).toBe(0);
    });

    it("cp from stdin to a LUN, and from a LUN to stdout", async () => {
      const data = patternBytes(0, LUN_BYTES, SEED + 5);
      const file = tmp().file("whole.bin");
      writeFileSync(file, data);
      const r = expectOk(await iscsi(["cp", "-", url(3), "--json"], { input: data }));
      expect(jsonOf(r)).toMatchObject({ bytes: LUN_BYTES, source: "-" });
      expectOk(await shell(`${iscsiCommand(["cp", url(3), "-"])} | cmp - ${quote(file)}`));
    });
  });

  describe("perf", () => {
    it("reports IOPS, throughput, latency percentiles and CPU for a short random-read run", async () => {
      const text = expectOk(await iscsi(["perf", url(2), "--time", "1s", "--qd", "8"])).stdout;
      expect(text).toMatch(/^randread, 4 KiB blocks, QD 8, 1\.\d\d s on LUN 2/m);
      expect(text).toMatch(/^ {2}IOPS: +[\d,]+$/m);
      expect(text).toMatch(/p50 .* p99 .* p99\.9 /);
      type Perf = { commands: number; iops: number; bytesPerSecond: number; latencyUs: { p50: number; p99: number; p999: number; max: number }; cpu: { userSeconds: number; percentOfOneCore: number } };
      const json = jsonOf<Perf>(expectOk(await iscsi(["perf", url(2), "--time", "500ms", "--bs", "64k", "--rw", "read", "--json"])));
      expect(json.commands).toBeGreaterThan(10);
      expect(json.iops).toBeGreaterThan(0);
      expect(json.bytesPerSecond).toBeCloseTo(json.iops * 65536, -3);
      expect(json.latencyUs.p50).toBeGreaterThan(0);
      expect(json.latencyUs.p99).toBeGreaterThanOrEqual(json.latencyUs.p50);
      expect(json.latencyUs.max).toBeGreaterThanOrEqual(json.latencyUs.p999);
      expect(json.cpu.userSeconds).toBeGreaterThan(0);
    });

    it("runs a write workload only with --force", async () => {
      const json = jsonOf<{ rw: string; commands: number; size: number }>(
        expectOk(await iscsi(["perf", url(3), "--rw", "randwrite", "--force", "--time", "300ms", "--size", "1M", "--json"])),
      );
      expect(json).toMatchObject({ rw: "randwrite", size: 1 << 20 });
      expect(json.commands).toBeGreaterThan(0);
    });
  });
});

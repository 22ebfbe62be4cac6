/**
 * `sync`, `tur`, `discard`, `zero`, `reset` and `cdb` against tgtd (file-backed LUN, fully
 * provisioned: no UNMAP) and the embedded target (a thin memory LUN that unmaps, and reads
 * unmapped blocks as zeros). What they write is read back through qemu-img (libiscsi), so another
 * initiator sees it, and neighbour blocks are checked untouched.
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type IscsiSession, openSession } from "../../src/node/index.js";
import { type RunningTarget, startTarget } from "../../src/target/index.js";
import { qemuImgConvert } from "../support/peers.js";
import { checkOk, runCommand } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";
import { ensureBuilt, expectFailure, expectOk, iscsi, iscsiCommand, jsonOf } from "./cli.test-util.js";

const IQN = "iqn.2026-12.test.ops:disk";
const BLOCK = 512;

function pattern(blocks: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: blocks * BLOCK }, (_, i) => ((i >> 3) * 7 + seed) & 0xff || 1);
}

/** The LUN's first `blocks` blocks as qemu-img (libiscsi) reads them. */
async function throughQemu(url: string, file: string, blocks: number): Promise<Uint8Array> {
  checkOk(await qemuImgConvert(url, file));
  return new Uint8Array(readFileSync(file)).subarray(0, blocks * BLOCK);
}

describe("SCSI operations against the embedded target (thin LUN)", () => {
  let target: RunningTarget;
  let session: IscsiSession;
  const tmp = useTempDir("iscsi-ops-");
  const url = (): string => `iscsi://${target.host}:${target.port}/${IQN}/1`;

  beforeAll(async () => {
    await ensureBuilt();
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:4M" }] }], nopIn: false });
    session = await openSession(`iscsi://${target.host}:${target.port}/${IQN}`);
  }, 180_000);
  afterAll(async () => {
    await session?.logout();
    await target?.close();
  });

  it("tur says the LUN is ready, in text and --json", async () => {
    expect(expectOk(await iscsi(["tur", url()])).stdout).toMatch(/LUN 1 of .*: ready/);
    expect(jsonOf(expectOk(await iscsi(["tur", url(), "--json"])))).toMatchObject({ lun: 1, ready: true });
  });

  it("sync synchronizes the cache", async () => {
    expect(jsonOf(expectOk(await iscsi(["sync", url(), "--json"])))).toMatchObject({ synchronized: true });
  });

  it("zero writes zeros over exactly the range, and qemu-img reads them", async () => {
    const data = pattern(64, 3);
    await session.lun(1).write(0, data);
    const r = jsonOf<{ blocks: number; commands: number }>(expectOk(await iscsi(["zero", url(), "--lba", "8", "--blocks", "16", "--json"])));
    expect(r).toMatchObject({ blocks: 16, commands: 1, unmap: false });
    const expected = data.slice();
    expected.fill(0, 8 * BLOCK, 24 * BLOCK);
    expect(await throughQemu(url(), tmp().file("z.raw"), 64)).toEqual(expected);
  });

  it("zero --unmap and discard deallocate on a LUN that reads unmapped blocks as zeros", async () => {
    const lun = session.lun(1);
    await lun.write(100, pattern(40, 9));
    expectOk(await iscsi(["zero", url(), "--lba", "100", "--blocks", "10", "--unmap"]));
    const r = jsonOf<{ commands: number; unmappedReadsZero: boolean }>(expectOk(await iscsi(["discard", url(), "--lba", "120", "--blocks", "10", "--json"])));
    expect(r).toMatchObject({ commands: 1, unmappedReadsZero: true });
    const back = await lun.read(100, 40);
    const expected = pattern(40, 9);
    expected.fill(0, 0, 10 * BLOCK);
    expected.fill(0, 20 * BLOCK, 30 * BLOCK);
    expect(back).toEqual(expected);
  });

  it("zero and discard draw a progress bar on a terminal, and none into a pipe", async () => {
    for (const [verb, label] of [["zero", "zeroing"], ["discard", "discarding"]] as const) {
      // script(1) gives the command a pseudo-terminal.
      const onTty = await runCommand("script", ["-qec", iscsiCommand([verb, url(), "--lba", "0", "--blocks", "8192"]), "/dev/null"], { timeoutMs: 60_000 });
      expect(onTty.code, onTty.stdout).toBe(0);
      expect(onTty.stdout).toMatch(new RegExp(`${label} \\[[█░]+\\] 100% \\| 4 MiB of 4 MiB`));
      expect(expectOk(await iscsi([verb, url(), "--lba", "0", "--blocks", "8192"])).stderr).toBe("");
    }
  });

  it("discard and zero past the end are refused before anything is sent: 3", async () => {
    expectFailure(await iscsi(["discard", url(), "--lba", "8190", "--blocks", "10"]), 3, /cannot discard 10 block\(s\) at LBA 8190: LUN 1 of .* ends at LBA 8191/);
    expectFailure(await iscsi(["zero", url(), "--lba", "9000", "--blocks", "1"]), 3, /ends at LBA 8191/);
  });

  it("cdb sends an INQUIRY and shows its data; a CDB the LUN does not know ends in 3 with the sense decoded", async () => {
    const r = jsonOf<{ command: string; status: string; bytesIn: number; data: string }>(expectOk(await iscsi(["cdb", url(), "12 00 00 00 24 00", "--in", "36", "--json"])));
    expect(r).toMatchObject({ command: "INQUIRY", status: "GOOD", bytesIn: 36 });
    expect(r.data.slice(0, 2)).toBe("00");
    expect(expectOk(await iscsi(["cdb", url(), "12 00 00 00 24 00", "--in", "36"])).stdout).toMatch(/^0000 {2}00 /m);
    expectFailure(await iscsi(["cdb", url(), "ff 00 00 00 00 00"]), 3, /CHECK CONDITION.*ILLEGAL REQUEST.*INVALID COMMAND OPERATION CODE/i);
    expectFailure(await iscsi(["cdb", url(), "12 00 0"]), 1, /not hex bytes/);
  });

  it("cdb --out sends a file's bytes: a WRITE(10) of one block", async () => {
    const file = tmp().file("block.bin");
    await writeFile(file, pattern(1, 77));
    expectOk(await iscsi(["cdb", url(), "2a 00 00 00 01 f4 00 00 01 00", "--out", file]));
    expect(await session.lun(1).read(500, 1)).toEqual(pattern(1, 77));
  });

  it("reset resets the LUN, and --target the target; a session afterwards works", async () => {
    expect(jsonOf(expectOk(await iscsi(["reset", url(), "--json"])))).toMatchObject({ reset: "logical-unit" });
    expect(jsonOf(expectOk(await iscsi(["reset", "--target", `iscsi://${target.host}:${target.port}/${IQN}`, "--json"])))).toMatchObject({ reset: "target-warm" });
    expectOk(await iscsi(["tur", url()]));
    expectFailure(await iscsi(["reset"]), 1, /either a LUN URL/);
  });
});

describe("SCSI operations against tgtd (fully provisioned file LUN)", () => {
  let tgtd: Tgtd;
  const tmp = useTempDir("iscsi-ops-tgtd-");
  const url = (): string => `iscsi://${tgtd.portal}/${IQN}/1`;

  beforeAll(async () => {
    await ensureBuilt();
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: 1 << 20 } }] });
  }, 180_000);
  afterAll(async () => {
    await tgtd?.stop();
  });

  it("tur, sync and reset succeed", async () => {
    expectOk(await iscsi(["tur", url()]));
    expectOk(await iscsi(["sync", url()]));
    expectOk(await iscsi(["reset", url()]));
  });

  it("zero writes zeros that qemu-img and tgtd's backing file both show, neighbours untouched", async () => {
    const input = tmp().file("p.bin");
    const data = pattern(32, 5);
    await writeFile(input, data);
    expectOk(await iscsi(["write", url(), "--lba", "0", "-i", input]));
    expectOk(await iscsi(["zero", url(), "--lba", "4", "--blocks", "8"]));
    const expected = data.slice();
    expected.fill(0, 4 * BLOCK, 12 * BLOCK);
    expect(await throughQemu(url(), tmp().file("t.raw"), 32)).toEqual(expected);
    expect(new Uint8Array(readFileSync(tgtd.lunPath(1, 1))).subarray(0, 32 * BLOCK)).toEqual(expected);
  });

  it("discard on a LUN that cannot unmap says so before sending anything: 3", async () => {
    expectFailure(await iscsi(["discard", url(), "--lba", "0", "--blocks", "8"]), 3, /cannot unmap: .*LBPU=0|cannot unmap: it has no Logical Block Provisioning/);
  });
});

/**
 * Data integrity against tgtd's file LUNs, judged by another initiator: what we write at many
 * offsets and sizes is what libiscsi (through `qemu-img convert`) reads back, byte for byte and
 * nowhere else; and what qemu-img writes is what we read back.
 *
 * Sizes cross every boundary the data path has: one block, a page, just past 64 KiB (tgtd's
 * FirstBurstLength and a Data-In PDU multiple), 1 MiB (past MaxBurstLength, so R2T sequences), and
 * 8 MiB (our default split point for one command). Offsets are LBA 0, 1, 7 (unaligned to 4 KiB),
 * 1000, and the last blocks of the LUN.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSession, type IscsiSession } from "../../src/node/index.js";
import { patternBytes, writePatternFile } from "../support/pattern.js";
import { qemuImgConvert } from "../support/peers.js";
import { checkOk } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { makeTempDir, type TempDir, useTempDir } from "../support/tmp.js";
import { KiB, MiB, sameBytes, settle } from "./interop.test-util.js";

const IQN = "iqn.2026-11.test.initiator:integrity";
const BLOCK = 512;
const LUN_SIZE = 16 * MiB;
const LUN_BLOCKS = LUN_SIZE / BLOCK;
const SIZES = [512, 4 * KiB, 64 * KiB + 512, 1 * MiB, 8 * MiB] as const;
/** LUN 1..5 take our writes (one LUN per size, so regions of one size overlap only each other). */
const lunForSize = (size: number): number => SIZES.indexOf(size as (typeof SIZES)[number]) + 1;
/** LUN 6 takes qemu-img's write. */
const QEMU_LUN = 6;
const QEMU_SEED = 0x5eed_0006;

function lbasFor(size: number): number[] {
  return [0, 1, 7, 1000, LUN_BLOCKS - size / BLOCK];
}

describe("data integrity against tgtd file LUNs", () => {
  const tmp = useTempDir("iscsi-ts-integrity-");
  let tgtd: Tgtd;
  let session: IscsiSession | undefined;
  const dirs: TempDir[] = [];

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    const luns = [...SIZES.map((size) => ({ lun: lunForSize(size), file: { size: LUN_SIZE } })), { lun: QEMU_LUN, file: { size: LUN_SIZE } }];
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns });
  });

  afterAll(async () => {
    await session?.logout().catch(() => session?.close());
    await tgtd?.stop();
    await Promise.all(dirs.map((d) => d.remove()));
  });

  async function ourSession(): Promise<IscsiSession> {
    session ??= await settle(openSession(tgtd.url(IQN)), "login to tgtd");
    return session;
  }

  /** The whole LUN as libiscsi reads it: `qemu-img convert iscsi://... out.raw`. */
  async function readWithQemu(lun: number, name: string): Promise<Uint8Array> {
    const out = tmp().file(name);
    checkOk(await qemuImgConvert(tgtd.url(IQN, lun), out));
    return new Uint8Array(await readFile(out));
  }

  for (const size of SIZES) {
    it(`writes of ${size} bytes at LBAs ${lbasFor(size).join(", ")} are read back by qemu-img exactly there and nowhere else`, async () => {
      const s = await ourSession();
      const lun = s.lun(lunForSize(size));
      // What the LUN must hold: it starts as zeros (a new sparse file) and takes each write in turn.
      const model = new Uint8Array(LUN_SIZE);
      for (const [i, lba] of lbasFor(size).entries()) {
        const seed = size * 16 + i;
        const data = patternBytes(lba * BLOCK, size, seed);
        await settle(lun.write(lba, data), `write of ${size} bytes at LBA ${lba}`);
        model.set(data, lba * BLOCK);

        const image = await readWithQemu(lunForSize(size), `lun${lunForSize(size)}-lba${lba}.raw`);
        expect(image.length, "qemu-img read the whole LUN").toBe(LUN_SIZE);
        expect(sameBytes(image.subarray(lba * BLOCK, lba * BLOCK + size), data), `the ${size}-byte region at LBA ${lba}`).toBe("equal");
        expect(sameBytes(image, model), `the whole LUN after the write at LBA ${lba}`).toBe("equal");
      }
    });
  }

  describe("data written by qemu-img", () => {
    let source: string;
    beforeAll(async () => {
      const dir = await makeTempDir("iscsi-ts-integrity-source-");
      dirs.push(dir);
      source = dir.file("pattern.raw");
      await writePatternFile(source, LUN_SIZE, QEMU_SEED);
      checkOk(await qemuImgConvert(source, tgtd.url(IQN, QEMU_LUN), { targetIsIscsi: true }));
    });

    it("is read back identically by us at every offset and size", async () => {
      const lun = (await ourSession()).lun(QEMU_LUN);
      for (const size of SIZES) {
        for (const lba of lbasFor(size)) {
          const got = await settle(lun.read(lba, size / BLOCK), `read of ${size} bytes at LBA ${lba}`);
          expect(got.length).toBe(size);
          expect(sameBytes(got, patternBytes(lba * BLOCK, size, QEMU_SEED)), `${size} bytes at LBA ${lba}`).toBe("equal");
        }
      }
      const whole = await settle(lun.read(0, LUN_BLOCKS), "read of the whole LUN");
      expect(sameBytes(whole, new Uint8Array(await readFile(source))), "the whole LUN").toBe("equal");
    });

    it("is read into a caller's buffer view without touching the bytes around the view", async () => {
      const lun = (await ourSession()).lun(QEMU_LUN);
      const size = 64 * KiB + 512;
      const buffer = new Uint8Array(size + 2 * 4096).fill(0xee);
      const into = buffer.subarray(4096, 4096 + size);
      await settle(lun.read(7, size / BLOCK, { into }), "read into a caller's buffer");

      expect(sameBytes(into, patternBytes(7 * BLOCK, size, QEMU_SEED))).toBe("equal");
      expect(buffer.subarray(0, 4096).every((b) => b === 0xee), "bytes before the view").toBe(true);
      expect(buffer.subarray(4096 + size).every((b) => b === 0xee), "bytes after the view").toBe(true);
    });
  });
});

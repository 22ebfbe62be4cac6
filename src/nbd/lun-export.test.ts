import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Opcode } from "../core/pdu/opcodes.js";
import { openSession, type IscsiSession } from "../node/index.js";
import { type RunningTarget, startTarget } from "../target/server.js";
import { nbdErrnoOf } from "./errno.js";
import { LunExport, sizeConstraints } from "./lun-export.js";

const IQN = "iqn.2026-11.test.nbd:lun-export";
const MiB = 1 << 20;

describe("sizeConstraints", () => {
  it("takes the minimum from the block size, the preferred from a power-of-two granularity, the maximum from the transfer limit", () => {
    expect(sizeConstraints(512, 8 * MiB, 64 * 1024, 32 * MiB)).toEqual({ minimum: 512, preferred: 65536, maximum: 8 * MiB });
    expect(sizeConstraints(4096, 0, 0, 32 * MiB)).toEqual({ minimum: 4096, preferred: 4096, maximum: 32 * MiB });
  });

  it("falls back to 4096 for a granularity that is no power of two or below 512, and caps the maximum", () => {
    expect(sizeConstraints(512, 0, 3 * 512, 32 * MiB).preferred).toBe(4096);
    expect(sizeConstraints(512, 0, 256, 32 * MiB).preferred).toBe(4096);
    expect(sizeConstraints(512, 1 << 30, 0, 32 * MiB).maximum).toBe(32 * MiB);
  });

  it("keeps the preferred size within a small maximum", () => {
    expect(sizeConstraints(512, 2048, 0, 32 * MiB)).toEqual({ minimum: 512, preferred: 2048, maximum: 2048 });
  });
});

describe("LunExport against the embedded target", () => {
  let target: RunningTarget;
  let session: IscsiSession;
  let dir: string;
  /** Every CDB the target received. */
  const cdbs: Uint8Array[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "iscsi-ts-lun-export-"));
    target = await startTarget({
      trace: (direction, _cid, pdu) => {
        if (direction === "receive" && pdu.opcode === Opcode.ScsiCommand) cdbs.push(pdu.cdb);
      },
      targets: [
        {
          iqn: IQN,
          luns: [
            { lun: 1, backend: "mem:16M" },
            { lun: 2, backend: { kind: "file", path: join(dir, "lun2.img"), size: 4 * MiB, create: true } },
            { lun: 3, backend: "mem:4M", readOnly: true },
            { lun: 4, backend: "mem:4M", blockSize: 4096 },
          ],
        },
      ],
    });
    session = await openSession(`iscsi://127.0.0.1:${target.port}/${IQN}`);
  });

  afterAll(async () => {
    await session?.logout();
    await target?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("exports a thin LUN with TRIM, and answers block status from GET LBA STATUS", async () => {
    const lun = await LunExport.open(session.lun(1), { name: "one" });
    expect(lun.export).toMatchObject({ name: "one", size: 16 * MiB, minimumBlockSize: 512, trim: true, writeZeroes: true, readOnly: false, multiConn: true });
    expect(lun.geometry).toMatchObject({ thin: true, unmap: true });
    await lun.write(MiB, new Uint8Array(64 * 1024).fill(7), true);
    expect(await lun.blockStatus(0, 4 * MiB)).toEqual([
      { length: MiB, flags: 3 },
      { length: 64 * 1024, flags: 0 },
      { length: 3 * MiB - 64 * 1024, flags: 3 },
    ]);
    expect(await lun.blockStatus(MiB + 4096, 4096)).toEqual([{ length: 4096, flags: 0 }]);
    await lun.trim(MiB, 64 * 1024, false);
    expect(await lun.blockStatus(0, 4 * MiB)).toEqual([{ length: 4 * MiB, flags: 3 }]);
  });

  it("zeroes with WRITE SAME, deallocating unless NO_HOLE is asked", async () => {
    const lun = await LunExport.open(session.lun(1), { name: "one" });
    await lun.write(2 * MiB, new Uint8Array(MiB).fill(9), false);
    await lun.writeZeroes(2 * MiB, 512 * 1024, false, false);
    await lun.writeZeroes(2 * MiB + 512 * 1024, 512 * 1024, true, true);
    expect((await lun.read(2 * MiB, MiB)).every((b) => b === 0)).toBe(true);
    // WRITE SAME(16): UNMAP (byte 1, bit 3) set for the first, clear for NO_HOLE.
    const writeSames = cdbs.filter((c) => c[0] === 0x93).slice(-2);
    expect(writeSames.map((c) => ((c[1] ?? 0) & 0x08) !== 0)).toEqual([true, false]);
    // The unmapped half is a hole (the memory store also frees the other half once it holds only zeros).
    const [first] = await lun.blockStatus(2 * MiB, MiB);
    expect(first?.flags).toBe(3);
    expect(first?.length).toBeGreaterThanOrEqual(512 * 1024);
  });

  it("answers every block of a LUN that is not thin as allocated data, without TRIM", async () => {
    const lun = await LunExport.open(session.lun(2), { name: "two" });
    expect(lun.export.trim).toBe(false);
    expect(await lun.blockStatus(0, MiB)).toEqual([{ length: MiB, flags: 0 }]);
    await lun.cache(0, MiB);
  });

  it("exports a write-protected LUN read-only, and a write the LUN refuses becomes EPERM", async () => {
    const lun = await LunExport.open(session.lun(3), { name: "three" });
    expect(lun.geometry.writeProtected).toBe(true);
    expect(lun.export.readOnly).toBe(true);
    const failure = await lun.write(0, new Uint8Array(512), false).catch((error: unknown) => error);
    expect(nbdErrnoOf(failure, "write")).toBe(1);
  });

  it("takes a 4096-byte LUN's block size as the minimum", async () => {
    const lun = await LunExport.open(session.lun(4), { name: "four", readOnly: true });
    expect(lun.export).toMatchObject({ minimumBlockSize: 4096, preferredBlockSize: 4096, readOnly: true });
  });
});

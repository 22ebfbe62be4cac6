/**
 * QEMU's block layer (through libiscsi) copying whole disks to and from the embedded target:
 * `qemu-img convert` of a pattern file onto a LUN, then from the LUN to a new file, compared byte
 * for byte; on memory and file backends, and with CHAP from the URL and from LIBISCSI_CHAP_*.
 * The bytes the LUN holds are also checked in the backend itself, so a copy that went wrong both
 * ways cannot pass.
 */
import { readFile, truncate } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Secret } from "../../src/core/auth/secret.js";
import { Opcode } from "../../src/core/pdu/opcodes.js";
import { parseText } from "../../src/core/text/codec.js";
import type { MemoryBackend } from "../../src/target/backends/memory.js";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { compareFiles, describeMismatch, firstDifference, verifyPatternFile, writePatternFile } from "../support/pattern.js";
import { type ChapCredentials, chapEnv, iscsiUrl, qemuImgConvert, qemuImgInfo } from "../support/peers.js";
import { checkOk, runCommand } from "../support/processes.js";
import { makeTempDir, type TempDir, useTempDir } from "../support/tmp.js";

const IQN = "iqn.2026-11.test.target:qemu";
const CHAP_IQN = "iqn.2026-11.test.target:qemu-chap";
const SIZE = 24 * 1024 * 1024;
const INITIATOR: ChapCredentials = { user: "qemu-user", secret: "qemu-chap-secret-1" };

describe("qemu-img convert to and from the embedded target", () => {
  const tmp = useTempDir("iscsi-ts-target-qemu-");
  let target: RunningTarget;
  let backing: TempDir;

  beforeAll(async () => {
    backing = await makeTempDir("iscsi-ts-target-qemu-lun-");
    target = await startTarget({
      targets: [
        {
          iqn: IQN,
          luns: [
            { lun: 0, backend: `mem:${SIZE}` },
            { lun: 1, backend: { kind: "file", path: backing.file("lun1.img"), size: SIZE, create: true } },
            { lun: 2, backend: `mem:${SIZE}`, blockSize: 4096 },
          ],
        },
        {
          iqn: CHAP_IQN,
          luns: [{ lun: 0, backend: `mem:${SIZE}` }, { lun: 1, backend: `mem:${SIZE}` }],
          chap: { users: [{ username: INITIATOR.user, secret: Secret.fromString(INITIATOR.secret) }] },
        },
      ],
    });
  });

  afterAll(async () => {
    await target?.close();
    await backing?.remove();
  });

  async function roundTrip(iqn: string, lun: number, seed: number, options: { chapInUrl?: ChapCredentials; env?: Record<string, string> } = {}): Promise<void> {
    const source = tmp().file(`source-${seed}.raw`);
    const copy = tmp().file(`copy-${seed}.raw`);
    await writePatternFile(source, SIZE, seed);
    const url = iscsiUrl({ host: target.host, port: target.port, iqn, lun, chap: options.chapInUrl });
    const env = options.env === undefined ? {} : { env: options.env };
    checkOk(await qemuImgConvert(source, url, env));
    // What the LUN holds, straight from its backend.
    const backend = target.backend(iqn, lun);
    expect(backend).toBeDefined();
    const head = await backend!.read(0, 1 << 20);
    const expected = new Uint8Array(await readFile(source)).subarray(0, 1 << 20);
    expect(firstDifference(expected, head)).toBe(-1);
    checkOk(await qemuImgConvert(url, copy, env));
    const mismatch = await compareFiles(source, copy);
    expect(mismatch === undefined ? "equal" : describeMismatch(mismatch)).toBe("equal");
  }

  it("copies a pattern onto a memory LUN and back, byte for byte", async () => {
    await roundTrip(IQN, 0, 0x0a0b_0001);
  });

  it("copies a pattern onto a file LUN and back, and the file holds it", async () => {
    await roundTrip(IQN, 1, 0x0a0b_0002);
    const mismatch = await verifyPatternFile(backing.file("lun1.img"), SIZE, 0x0a0b_0002);
    expect(mismatch === undefined ? "equal" : describeMismatch(mismatch)).toBe("equal");
  });

  it("copies through a LUN of 4096-byte blocks", async () => {
    await roundTrip(IQN, 2, 0x0a0b_0003);
  });

  it("copies with CHAP given in the URL", async () => {
    await roundTrip(CHAP_IQN, 0, 0x0a0b_0004, { chapInUrl: INITIATOR });
  });

  it("copies with CHAP given in LIBISCSI_CHAP_USERNAME and LIBISCSI_CHAP_PASSWORD", async () => {
    await roundTrip(CHAP_IQN, 1, 0x0a0b_0005, { env: chapEnv({ initiator: INITIATOR }) });
  });

  it("keeps a sparse image sparse: zeros cost no memory on the LUN and read back as zeros", async () => {
    const source = tmp().file("sparse.raw");
    const copy = tmp().file("sparse-copy.raw");
    await writePatternFile(source, 1 << 20, 0x0a0b_0006);
    await truncate(source, SIZE);
    const url = iscsiUrl({ host: target.host, port: target.port, iqn: CHAP_IQN, lun: 0, chap: INITIATOR });
    const lun = target.backend(CHAP_IQN, 0) as MemoryBackend;
    // Overwrite what an earlier test copied here, then copy the sparse image over it.
    await lun.unmap(0, SIZE);
    checkOk(await qemuImgConvert(source, url));
    expect(lun.allocatedBytes).toBeLessThanOrEqual((1 << 20) + 64 * 1024);
    checkOk(await qemuImgConvert(url, copy));
    const mismatch = await compareFiles(source, copy);
    expect(mismatch === undefined ? "equal" : describeMismatch(mismatch)).toBe("equal");
  });

  it("copies both ways with CRC32C header digests (QEMU's header-digest=crc32c)", async () => {
    const digests: string[] = [];
    const digested = await startTarget({
      targets: [{ iqn: IQN, luns: [{ lun: 0, backend: `mem:${SIZE}` }] }],
      trace: (direction, _id, pdu) => {
        if (direction === "send" && pdu.opcode === Opcode.LoginResponse && pdu.transit && pdu.nextStage === 3) {
          for (const [key, value] of parseText(pdu.data)) if (key === "HeaderDigest") digests.push(value);
        }
      },
    });
    try {
      const source = tmp().file("digest-source.raw");
      const copy = tmp().file("digest-copy.raw");
      await writePatternFile(source, SIZE, 0x0a0b_0007);
      const opts = `driver=iscsi,transport=tcp,portal=127.0.0.1:${digested.port},target=${IQN},lun=0,header-digest=crc32c`;
      checkOk(await runCommand("qemu-img", ["convert", "-n", "-f", "raw", "--target-image-opts", source, opts], { timeoutMs: 120_000 }));
      checkOk(await runCommand("qemu-img", ["convert", "--image-opts", opts, "-O", "raw", copy], { timeoutMs: 120_000 }));
      const mismatch = await compareFiles(source, copy);
      expect(mismatch === undefined ? "equal" : describeMismatch(mismatch)).toBe("equal");
      expect(digests.length).toBeGreaterThanOrEqual(2);
      expect(new Set(digests)).toEqual(new Set(["CRC32C"]));
      expect(digested.stats.rejects).toBe(0);
    } finally {
      await digested.close();
    }
  });

  it("reports the LUN's size to qemu-img info", async () => {
    const info = checkOk(await qemuImgInfo(iscsiUrl({ host: target.host, port: target.port, iqn: IQN, lun: 0 }))).stdout;
    expect(info).toMatch(new RegExp(`virtual size: 24 MiB \\(${SIZE} bytes\\)`));
  });
});

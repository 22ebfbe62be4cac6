/**
 * Lun.read and Lun.write take a lean path once the LUN's capacity and transfer limit are known
 * (one command, no signal): one async frame and no result object. These tests pin that the lean
 * path keeps every promise of the general one, against the embedded target over real sockets:
 * data lands where asked, a failing status becomes the same ScsiError, and nothing is sent twice.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type IscsiSession, openSession, ScsiError } from "../../src/node/index.js";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { patternBytes } from "../support/pattern.js";

const IQN = "iqn.2026-12.test.library:fast-path";
const BLOCK = 512;
/** 1 MiB of memory LUN: 2048 blocks. */
const BLOCKS = 2048;

describe("the read and write hot path, against the embedded target", () => {
  let target: RunningTarget | undefined;
  let session: IscsiSession | undefined;

  afterEach(async () => {
    await session?.logout().catch(() => session?.close());
    session = undefined;
    await target?.close();
    target = undefined;
  });

  async function open(trace?: (line: string) => void): Promise<IscsiSession> {
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:1M" }] }] });
    session = await openSession(`iscsi://127.0.0.1:${target.port}/${IQN}/1`, { keepAlive: false, ...(trace === undefined ? {} : { trace }) });
    // Learn capacity and limits first: every I/O below takes the hot path.
    await session.lun(1).maxTransferSize();
    return session;
  }

  it("reads into the caller's buffer (a view of the requested length) and writes what it was given", async () => {
    const lun = (await open()).lun(1);
    const data = patternBytes(0, 16 * BLOCK, 0x31);
    expect(await lun.write(8, data)).toBeUndefined();
    const into = new Uint8Array(32 * BLOCK);
    const back = await lun.read(8, 16, { into });
    expect(back.buffer).toBe(into.buffer);
    expect(back.length).toBe(16 * BLOCK);
    expect(Buffer.compare(Buffer.from(back), Buffer.from(data))).toBe(0);
    // Without `into`, a buffer of its own.
    const fresh = await lun.read(8, 16);
    expect(Buffer.compare(Buffer.from(fresh), Buffer.from(data))).toBe(0);
  });

  it("fails a read past the end with the ScsiError of the general path, having sent the command once", async () => {
    const trace: string[] = [];
    const lun = (await open((line) => trace.push(line))).lun(1);
    trace.length = 0;
    const outcome = await lun.read(BLOCKS - 4, 8).then(
      () => "completed",
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(ScsiError);
    expect((outcome as ScsiError).message).toMatch(/^READ\(10\) on LUN 1 of .* failed: .*ILLEGAL REQUEST/i);
    expect((outcome as ScsiError).sense?.key).toBe(0x05);
    expect(trace.filter((line) => line.startsWith(">>") && line.includes("ScsiCommand"))).toHaveLength(1);
  });

  it("fails a write past the end the same way, sent once, and the session carries on", async () => {
    const trace: string[] = [];
    const lun = (await open((line) => trace.push(line))).lun(1);
    trace.length = 0;
    const outcome = await lun.write(BLOCKS - 1, patternBytes(0, 2 * BLOCK, 0x32)).then(
      () => "completed",
      (error: unknown) => error,
    );
    expect(outcome).toBeInstanceOf(ScsiError);
    expect((outcome as ScsiError).message).toMatch(/^WRITE\(10\) on LUN 1 of .* failed/);
    expect(trace.filter((line) => line.startsWith(">>") && line.includes("ScsiCommand"))).toHaveLength(1);
    const data = patternBytes(0, BLOCK, 0x33);
    await lun.write(BLOCKS - 1, data);
    expect(Buffer.compare(Buffer.from(await lun.read(BLOCKS - 1, 1)), Buffer.from(data))).toBe(0);
  });

  it("rejects a bad address as the general path does, before sending anything", async () => {
    const trace: string[] = [];
    const lun = (await open((line) => trace.push(line))).lun(1);
    trace.length = 0;
    await expect(lun.read(-1, 1)).rejects.toThrow(/LBA -1 is not a non-negative integer/);
    await expect(lun.write(1.5, new Uint8Array(BLOCK))).rejects.toThrow(/LBA 1.5 is not a non-negative integer/);
    await expect(lun.read(0, 4, { into: new Uint8Array(BLOCK) })).rejects.toThrow(/read buffer of 512 bytes is smaller than 4 blocks/);
    expect(trace.filter((line) => line.startsWith(">>") && line.includes("ScsiCommand"))).toHaveLength(0);
  });
});

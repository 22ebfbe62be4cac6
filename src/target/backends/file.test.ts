import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { performStorage } from "./backend.js";
import { FileBackend } from "./file.js";
import { openBackend } from "./open.js";

let dir = "";
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "iscsi-ts-file-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("FileBackend", () => {
  it("creates a file of the size asked and writes and reads at positions", async () => {
    const path = join(dir, "disk.img");
    const file = await FileBackend.open({ path, size: 1 << 20, create: true });
    expect(file.size).toBe(1 << 20);
    expect((await stat(path)).size).toBe(1 << 20);
    await file.write(4096, Uint8Array.of(1, 2, 3), true);
    expect([...(await file.read(4095, 5))]).toEqual([0, 1, 2, 3, 0]);
    await file.close();
    const raw = await readFile(path);
    expect([...raw.subarray(4096, 4099)]).toEqual([1, 2, 3]);
  });

  it("takes the size of an existing file and refuses one that is too short unless told to extend it", async () => {
    const path = join(dir, "small.img");
    await writeFile(path, new Uint8Array(8192));
    const file = await FileBackend.open({ path });
    expect(file.size).toBe(8192);
    await file.close();
    await expect(FileBackend.open({ path, size: 16384 })).rejects.toThrow(/shorter than the size/);
    const grown = await FileBackend.open({ path, size: 16384, create: true });
    expect((await stat(path)).size).toBe(16384);
    await grown.close();
  });

  it("refuses a missing file without create, and says what to do", async () => {
    await expect(FileBackend.open({ path: join(dir, "none.img") })).rejects.toThrow(/does not exist \(give create: true/);
  });

  it("writes zeros for unmap and repeats a block for write-same", async () => {
    const path = join(dir, "d.img");
    await writeFile(path, new Uint8Array(64 * 1024).fill(7));
    const file = await FileBackend.open({ path });
    await file.unmap(1024, 2048);
    const block = Uint8Array.from({ length: 512 }, (_, i) => i & 0xff);
    await file.writeSame(8192, 512 * 4, block);
    const raw = await readFile(path);
    expect(raw.subarray(1024, 3072).every((b) => b === 0)).toBe(true);
    expect(raw[1023]).toBe(7);
    for (let i = 0; i < 4; i++) expect([...raw.subarray(8192 + i * 512, 8192 + (i + 1) * 512)]).toEqual([...block]);
    await file.close();
  });

  it("turns a failed read into a storage outcome instead of a rejection", async () => {
    const path = join(dir, "e.img");
    await writeFile(path, new Uint8Array(4096));
    const file = await openBackend(`file:${path}`);
    await file.close();
    const outcome = await performStorage(file, { op: "read", id: 1, unit: { target: "t", lun: 0, index: 0 }, offset: 0, length: 512 });
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.message).toMatch(/read failed/);
  });
});

/**
 * `iscsi nbd` in front of the embedded target, driven by real NBD clients (nbdinfo, nbdcopy,
 * qemu-io, qemu-img) and by a raw client for what they never send. What the LUN holds is
 * checked in the target's own memory, so a copy that went wrong both ways cannot pass.
 */
import { access, constants as fsConstants, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blockStatusChunk, errorChunk, request } from "../../src/nbd/engine/client.test-util.js";
import { openSession } from "../../src/node/index.js";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { patternBytes } from "../support/pattern.js";
import { runCommand, spawnTracked } from "../support/processes.js";
import { useTempDir } from "../support/tmp.js";
import { Bridge, RawNbdClient, peer } from "./nbd.test-util.js";

const IQN = "iqn.2026-11.test.nbd:embedded";
const SIZE = 64 << 20;
const MiB = 1 << 20;

describe("iscsi nbd in front of the embedded target", () => {
  const tmp = useTempDir("iscsi-ts-nbd-embedded-");
  let target: RunningTarget;
  let bridge: Bridge;
  const url = (lun: number): string => `iscsi://${target.host}:${target.port}/${IQN}/${lun}`;
  const lunBytes = async (lun: number, offset = 0, length = SIZE): Promise<Uint8Array> => (await target.backend(IQN, lun)?.read(offset, length)) ?? new Uint8Array(0);

  beforeAll(async () => {
    target = await startTarget({
      targets: [
        {
          iqn: IQN,
          luns: [
            { lun: 1, backend: `mem:${SIZE}` },
            { lun: 2, backend: `mem:${SIZE}` },
            { lun: 3, backend: `mem:${8 * MiB}`, blockSize: 4096 },
          ],
        },
      ],
    });
    bridge = await Bridge.start(url(1));
  });

  afterAll(async () => {
    await bridge?.stop();
    await target?.close();
  });

  it("nbdinfo shows the LUN's size, its block constraints and what the export can do", async () => {
    const session = await openSession(url(1));
    const limits = await session.lun(1).blockLimits();
    await session.logout();
    const maxTransfer = (limits?.maximumTransferLength ?? 0) * 512;
    const expectedMax = maxTransfer > 0 ? Math.min(maxTransfer, 32 * MiB) : 32 * MiB;

    const info = JSON.parse((await peer("nbdinfo", ["--json", bridge.uri()])).stdout) as { exports: Record<string, unknown>[] };
    expect(info.exports[0]).toMatchObject({
      "export-name": `${IQN}/1`,
      "export-size": SIZE,
      block_size_minimum: 512,
      block_size_preferred: 4096,
      block_size_maximum: expectedMax,
      is_read_only: false,
      can_flush: true,
      can_fua: true,
      can_trim: true,
      can_zero: true,
      can_multi_conn: true,
      can_cache: true,
      contexts: ["base:allocation"],
    });
    expect(bridge.doc).toMatchObject({ size: SIZE, blockSize: { minimum: 512, preferred: 4096, maximum: expectedMax }, thinProvisioned: true });
    // The default (empty) name reaches the same export.
    const byDefault = JSON.parse((await peer("nbdinfo", ["--json", `nbd://127.0.0.1:${bridge.port}`])).stdout) as { exports: Record<string, unknown>[] };
    expect(byDefault.exports[0]?.["export-size"]).toBe(SIZE);
  });

  it("nbdcopy writes the whole LUN and reads it back, byte for byte, checked in the target's memory", async () => {
    const source = tmp().file("source.img");
    const back = tmp().file("back.img");
    const data = patternBytes(0, SIZE, 11);
    await writeFile(source, data);
    const started = performance.now();
    await peer("nbdcopy", [source, bridge.uri()]);
    const wrote = performance.now() - started;
    expect(Buffer.compare(await lunBytes(1), data)).toBe(0);
    const readStarted = performance.now();
    await peer("nbdcopy", [bridge.uri(), back]);
    const read = performance.now() - readStarted;
    expect(Buffer.compare(await readFile(back), data)).toBe(0);
    console.log(`nbdcopy through the bridge, embedded target: ${SIZE / MiB} MiB written in ${(wrote / 1000).toFixed(2)} s, read in ${(read / 1000).toFixed(2)} s`);
  });

  it("a sparse LUN copied with nbdcopy moves only its data: base:allocation comes from GET LBA STATUS", async () => {
    const sparse = await Bridge.start(url(2));
    try {
      await peer("qemu-io", ["-f", "raw", "-c", "write -P 0x5a 8M 1M", sparse.uri()]);
      const map = (await peer("nbdinfo", ["--map", sparse.uri()])).stdout.trim().split("\n").map((l) => l.trim().split(/\s+/));
      expect(map).toEqual([
        ["0", String(8 * MiB), "3", "hole,zero"],
        [String(8 * MiB), String(MiB), "0", "data"],
        [String(9 * MiB), String(SIZE - 9 * MiB), "3", "hole,zero"],
      ]);
      const out = tmp().file("sparse.img");
      await peer("nbdcopy", [sparse.uri(), out]);
      const copy = await readFile(out);
      expect(copy.length).toBe(SIZE);
      expect(copy.subarray(8 * MiB, 9 * MiB).every((b) => b === 0x5a)).toBe(true);
      expect(copy.subarray(0, 8 * MiB).every((b) => b === 0) && copy.subarray(9 * MiB).every((b) => b === 0)).toBe(true);
      // The bridge counts what each client read: the copy read the 1 MiB of data, not 64.
      const line = await sparse.log(/client \d+ left: .*; \d+ request\(s\), 1 MiB read, 0 B written/);
      expect(line[0]).toBeTruthy();
      // And the copy is sparse itself: the holes were not written as zeros.
      const allocated = (await stat(out)).blocks * 512;
      expect(allocated, `nbdcopy's output holds ${allocated} bytes on disk`).toBeLessThan(4 * MiB);
    } finally {
      await sparse.stop();
    }
  });

  it("qemu-io's discard and write -z reach the LUN as UNMAP and WRITE SAME, and read back as zeros", async () => {
    const uri = bridge.uri();
    await peer("qemu-io", ["-f", "raw", "-c", "write -P 0x33 0 4M", uri]);
    await peer("qemu-io", ["-f", "raw", "-c", "discard 0 1M", "-c", "write -z 1M 1M", uri]);
    expect((await lunBytes(1, 0, 2 * MiB)).every((b) => b === 0)).toBe(true);
    expect((await lunBytes(1, 2 * MiB, 2 * MiB)).every((b) => b === 0x33)).toBe(true);
    const map = (await peer("nbdinfo", ["--map", uri])).stdout;
    expect(map).toMatch(/^\s*0\s+2097152\s+3\s+hole,zero$/m);
    await peer("qemu-io", ["-f", "raw", "-c", "read -P 0 0 2M", "-c", "read -P 0x33 2M 2M", uri]);
  });

  it("on a 4096-byte LUN refuses a 512-byte write with EINVAL and leaves the neighbouring blocks as they were", async () => {
    const big = await Bridge.start(url(3));
    const client = await RawNbdClient.connect(big.port);
    try {
      expect(big.doc.blockSize.minimum).toBe(4096);
      await client.negotiate({ structured: true });
      const before = patternBytes(0, 8192, 5);
      client.send(request({ type: 1, cookie: 1n, offset: 0, length: 8192 }, before));
      expect(await client.next((r) => r.reply())).toMatchObject({ kind: "simple", error: 0, cookie: 1n });
      client.send(request({ type: 1, cookie: 2n, offset: 512, length: 512 }, new Uint8Array(512).fill(0xee)));
      const refused = await client.next((r) => r.reply());
      if (refused.kind !== "structured") throw new Error("expected an error chunk");
      expect(errorChunk(refused.payload)).toEqual({ error: 22, message: expect.stringMatching(/not aligned to the 4096-byte minimum block size/) });
      expect(Buffer.compare(await lunBytes(3, 0, 8192), before)).toBe(0);
    } finally {
      client.close();
      await big.stop();
    }
  });

  it("a read-only export says so and refuses writes and trims with EPERM", async () => {
    const ro = await Bridge.start(url(1), ["--read-only"]);
    const client = await RawNbdClient.connect(ro.port);
    try {
      const info = JSON.parse((await peer("nbdinfo", ["--json", ro.uri()])).stdout) as { exports: Record<string, unknown>[] };
      expect(info.exports[0]).toMatchObject({ is_read_only: true, can_trim: false, can_zero: false });
      const before = await lunBytes(1, 0, 4096);
      await client.negotiate({ structured: true });
      client.send(request({ type: 1, cookie: 1n, offset: 0, length: 4096 }, new Uint8Array(4096).fill(1)), request({ type: 4, cookie: 2n, offset: 0, length: 4096 }));
      for (const cookie of [1n, 2n]) {
        const reply = await client.next((r) => r.reply());
        if (reply.kind !== "structured") throw new Error("expected an error chunk");
        expect([reply.cookie, errorChunk(reply.payload).error]).toEqual([cookie, 1]);
      }
      expect(Buffer.compare(await lunBytes(1, 0, 4096), before)).toBe(0);
      const write = await runCommand("qemu-io", ["-f", "raw", "-c", "write 0 4k", ro.uri()], { timeoutMs: 20_000 });
      // QEMU sees NBD_FLAG_READ_ONLY and will not open the export for writing.
      expect(write.code).not.toBe(0);
      expect(write.stdout + write.stderr).toMatch(/Permission denied/);
    } finally {
      client.close();
      await ro.stop();
    }
  });

  it("answers BLOCK_STATUS with one extent for REQ_ONE and several without", async () => {
    const client = await RawNbdClient.connect(bridge.port);
    try {
      await client.negotiate({ meta: true });
      client.send(request({ type: 7, cookie: 1n, offset: 0, length: 4 * MiB }), request({ type: 7, flags: 8, cookie: 2n, offset: 0, length: 4 * MiB }));
      const all = await client.next((r) => r.reply());
      const one = await client.next((r) => r.reply());
      if (all.kind !== "structured" || one.kind !== "structured") throw new Error("structured");
      // LUN 1 now: 0-2M unmapped (trimmed and zeroed above), 2M-4M data.
      expect(blockStatusChunk(all.payload).extents).toEqual([
        [2 * MiB, 3],
        [2 * MiB, 0],
      ]);
      expect(blockStatusChunk(one.payload).extents).toEqual([[2 * MiB, 3]]);
    } finally {
      client.close();
    }
  });

  it("refuses garbage, an old handshake, an unknown export name and requests past the end, one clear line each, and goes on serving", async () => {
    const garbage = await RawNbdClient.connect(bridge.port);
    await garbage.next((r) => r.greeting());
    garbage.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: example\r\n\r\n"));
    await garbage.expectClosed();
    await bridge.log(/client \d+ dropped: the client sent unknown flags 0x47455420: not an NBD newstyle client/);

    const oldstyle = await RawNbdClient.connect(bridge.port);
    await oldstyle.next((r) => r.greeting());
    oldstyle.send(request({ type: 0, offset: 0, length: 512 }));
    await oldstyle.expectClosed();
    await bridge.log(/client \d+ dropped: the client sent an NBD request instead of its flags: an oldstyle client\?/);

    const unknown = await runCommand("nbdinfo", [bridge.uri("nope")], { timeoutMs: 20_000 });
    expect(unknown.code).not.toBe(0);
    // libnbd 1.14 shows NBD_REP_ERR_UNKNOWN as ENOENT; the bridge's own line names the exports.
    expect(unknown.stderr).toMatch(/No such file or directory for export: nope/);
    await bridge.log(/client \d+: refused NBD_OPT_GO: no export named "nope"/);

    const client = await RawNbdClient.connect(bridge.port);
    try {
      await client.negotiate({ structured: true });
      client.send(request({ type: 0, cookie: 1n, offset: SIZE, length: 4096 }), request({ type: 1, cookie: 2n, offset: SIZE - 512, length: 1024 }, new Uint8Array(1024)));
      const read = await client.next((r) => r.reply());
      const write = await client.next((r) => r.reply());
      if (read.kind !== "structured" || write.kind !== "structured") throw new Error("expected error chunks");
      expect(errorChunk(read.payload)).toEqual({ error: 22, message: `NBD_CMD_READ past the end of the export: offset ${SIZE} + length 4096 > size ${SIZE}` });
      expect(errorChunk(write.payload).error).toBe(28);
      await bridge.log(/refused NBD_CMD_WRITE: ENOSPC: NBD_CMD_WRITE past the end of the export/);
      // The same connection goes on.
      client.send(request({ type: 0, cookie: 3n, offset: 2 * MiB, length: 4096 }));
      const ok = await client.next((r) => r.reply());
      if (ok.kind !== "structured") throw new Error("structured");
      expect(ok.payload.subarray(8).every((b) => b === 0x33)).toBe(true);
    } finally {
      client.close();
    }
    await peer("nbdinfo", [bridge.uri()]);
  });

  it("serves a Unix socket that only its owner may use, and removes it when stopped", async () => {
    const path = tmp().file("lun.sock");
    const onSocket = await Bridge.start(url(1), ["--socket", path]);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(onSocket.doc.uri).toBe(`nbd+unix:///${IQN}/1?socket=${path}`);
    const info = JSON.parse((await peer("nbdinfo", ["--json", `nbd+unix:///?socket=${path}`])).stdout) as { exports: Record<string, unknown>[] };
    expect(info.exports[0]?.["export-size"]).toBe(SIZE);
    expect(await onSocket.stop()).toEqual({ code: 0, signal: null });
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
  });

  it("nbdfuse shows the export as a file that mkfs.ext4 and e2fsck work on", async () => {
    // FUSE must be usable: a missing /dev/fuse fails here with its own message, never a skip.
    await access("/dev/fuse", fsConstants.R_OK | fsConstants.W_OK).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`FUSE is not usable here (/dev/fuse: ${error.code ?? error.message}): nbdfuse cannot show the export as a file`);
    });
    const disk = await Bridge.start(url(2));
    const mountpoint = tmp().file("fuse");
    await mkdir(mountpoint);
    const fuse = spawnTracked("nbdfuse", [`${mountpoint}/disk`, disk.uri()]);
    try {
      for (let i = 0; i < 100 && (await stat(`${mountpoint}/disk`).catch(() => undefined))?.size !== SIZE; i++) await new Promise((r) => setTimeout(r, 50));
      expect((await stat(`${mountpoint}/disk`).catch(() => undefined))?.size, `nbdfuse showed no ${SIZE}-byte file; its stderr: ${fuse.stderr()}`).toBe(SIZE);
      await peer("mkfs.ext4", ["-q", "-F", `${mountpoint}/disk`]);
      await peer("e2fsck", ["-f", "-n", `${mountpoint}/disk`]);
      // The ext4 superblock's magic (EF53h at byte 1080) is in the LUN itself.
      expect(Array.from(await lunBytes(2, 1080, 2))).toEqual([0x53, 0xef]);
    } finally {
      await runCommand("umount", [mountpoint], { timeoutMs: 10_000 });
      await Promise.race([fuse.exited, new Promise((r) => setTimeout(r, 5000))]);
      await fuse.kill();
      await disk.stop();
    }
  });

  it("on SIGTERM closes its clients, flushes, logs out and exits 0", async () => {
    const closed = new Promise<string>((resolve) => target.once("session-closed", (_s, reason) => resolve(reason)));
    const stopping = await Bridge.start(url(2));
    const client = await RawNbdClient.connect(stopping.port);
    await client.negotiate();
    expect(await stopping.stop()).toEqual({ code: 0, signal: null });
    await client.expectClosed();
    expect(stopping.stderr()).toMatch(/nbd: stopping: 1 client\(s\), 0 request\(s\) in flight/);
    expect(stopping.stderr()).toMatch(/nbd: stopped: every request answered, cache flushed; logging out/);
    expect(await closed).toBe("logout");
  });
});

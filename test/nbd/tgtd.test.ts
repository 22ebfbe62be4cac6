/**
 * `iscsi nbd` in front of tgtd, with real NBD clients on the other side: what nbdinfo sees, whole
 * disks copied both ways by nbdcopy and qemu-img and compared byte for byte with tgtd's backing
 * file, fio's nbd engine writing and verifying at QD 32, and a clean stop that leaves tgtd with no
 * session.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSession } from "../../src/node/index.js";
import { compareFiles, describeMismatch, writePatternFile } from "../support/pattern.js";
import { errorChunk, request } from "../../src/nbd/engine/client.test-util.js";
import { runCommand } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";
import { Bridge, RawNbdClient, peer } from "./nbd.test-util.js";

const IQN = "iqn.2026-11.test.nbd:tgtd";
const MiB = 1 << 20;
const SIZE = 64 * MiB;

describe("iscsi nbd in front of tgtd", () => {
  const tmp = useTempDir("iscsi-ts-nbd-tgtd-");
  let tgtd: Tgtd;
  let bridge: Bridge;

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: SIZE } }] });
    bridge = await Bridge.start(tgtd.url(IQN, 1));
  });

  afterAll(async () => {
    await bridge?.stop();
    await tgtd?.stop();
  });

  async function sameAsBacking(path: string): Promise<void> {
    const mismatch = await compareFiles(path, tgtd.lunPath(1, 1));
    expect(mismatch === undefined ? "identical" : describeMismatch(mismatch)).toBe("identical");
  }

  it("nbdinfo shows the LUN's size and the block constraints tgtd reports", async () => {
    const session = await openSession(tgtd.url(IQN, 1));
    const limits = await session.lun(1).blockLimits();
    await session.logout();
    const maxTransfer = (limits?.maximumTransferLength ?? 0) * 512;
    const granularity = (limits?.optimalTransferLengthGranularity ?? 0) * 512;
    const preferred = granularity >= 512 && (granularity & (granularity - 1)) === 0 ? granularity : 4096;
    const info = JSON.parse((await peer("nbdinfo", ["--json", bridge.uri()])).stdout) as { exports: Record<string, unknown>[] };
    expect(info.exports[0]).toMatchObject({
      "export-size": SIZE,
      block_size_minimum: 512,
      block_size_preferred: preferred,
      block_size_maximum: maxTransfer > 0 ? Math.min(maxTransfer, 32 * MiB) : 32 * MiB,
      can_flush: true,
      can_fua: true,
      can_multi_conn: true,
      is_read_only: false,
      contexts: ["base:allocation"],
    });
  });

  it("nbdcopy writes the whole LUN and reads it back, byte for byte with tgtd's backing file", async () => {
    const source = tmp().file("source.img");
    const back = tmp().file("back.img");
    await writePatternFile(source, SIZE, 21);
    const started = performance.now();
    await peer("nbdcopy", [source, bridge.uri()]);
    const wrote = performance.now() - started;
    await sameAsBacking(source);
    const readStarted = performance.now();
    await peer("nbdcopy", [bridge.uri(), back]);
    const read = performance.now() - readStarted;
    await sameAsBacking(back);
    console.log(`nbdcopy through the bridge, tgtd file LUN: ${SIZE / MiB} MiB written in ${(wrote / 1000).toFixed(2)} s, read in ${(read / 1000).toFixed(2)} s`);
  });

  it("qemu-img convert writes the whole LUN and reads it back, byte for byte with tgtd's backing file", async () => {
    const source = tmp().file("qemu-source.img");
    const back = tmp().file("qemu-back.img");
    await writePatternFile(source, SIZE, 22);
    await peer("qemu-img", ["convert", "-n", "-f", "raw", "-O", "raw", source, bridge.uri()]);
    await sameAsBacking(source);
    await peer("qemu-img", ["convert", "-f", "raw", "-O", "raw", bridge.uri(), back]);
    await sameAsBacking(back);
    expect((await readFile(back)).length).toBe(SIZE);
  });

  it("fio's nbd engine writes and verifies with crc32c at QD 32 without an error", async () => {
    const result = await runCommand(
      "fio",
      [
        "--name=nbd-verify",
        "--ioengine=nbd",
        `--uri=${bridge.uri()}`,
        "--rw=randwrite",
        "--bs=4k",
        "--iodepth=32",
        "--size=16m",
        "--verify=crc32c",
        "--do_verify=1",
        "--verify_fatal=1",
        "--verify_state_save=0",
        "--runtime=20",
        "--output-format=json",
      ],
      { timeoutMs: 60_000, cwd: tmp().path },
    );
    expect(result.code, result.stderr).toBe(0);
    const job = (JSON.parse(result.stdout.slice(result.stdout.indexOf("{"))) as { jobs: { error: number; write: { io_bytes: number; iops: number }; read: { io_bytes: number } }[] }).jobs[0];
    expect(job?.error).toBe(0);
    // Every byte written was read back and verified.
    expect(job?.write.io_bytes).toBe(16 * MiB);
    expect(job?.read.io_bytes).toBe(16 * MiB);
    console.log(`fio nbd engine through the bridge, tgtd file LUN: 4 KiB random writes at QD 32, ${Math.round(job?.write.iops ?? 0)} IOPS, then verified`);
  });

  it("on SIGTERM answers every request in flight, flushes, logs out and exits 0, leaving tgtd no session", async () => {
    await tgtd.waitForSessions(1, (s) => s.length === 1, { what: "the bridge's session" });
    const client = await RawNbdClient.connect(bridge.port);
    await client.negotiate({ structured: true });
    const count = 128;
    for (let i = 0; i < count; i++) client.send(request({ type: 0, cookie: BigInt(i + 1), offset: (i % 64) * MiB, length: MiB }));
    // The first answer is back: the bridge has read the requests, and an eighth of a GiB of reads is in flight.
    const replies = [await client.next((r) => r.reply())];
    expect(await bridge.stop()).toEqual({ code: 0, signal: null });
    while (replies.length < count) replies.push(await client.next((r) => r.reply()));
    await client.expectClosed();
    // Every request got exactly one final answer: its data, or NBD_ESHUTDOWN for one read after the signal.
    expect(new Set(replies.map((r) => r.cookie)).size).toBe(count);
    const outcomes = replies.map((r) => (r.kind === "structured" && r.type === 1 && r.payload.length === 8 + MiB ? "data" : r.kind === "structured" && r.type === 0x8001 ? `error ${errorChunk(r.payload).error}` : "other"));
    expect(outcomes.filter((o) => o !== "data" && o !== "error 108")).toEqual([]);
    const inFlight = Number(/nbd: stopping: 1 client\(s\), (\d+) request\(s\) in flight/.exec(bridge.stderr())?.[1] ?? "0");
    expect(inFlight).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o === "data").length).toBeGreaterThanOrEqual(inFlight);
    expect(bridge.stderr()).toMatch(/nbd: stopped: every request answered, cache flushed; logging out/);
    await tgtd.waitForSessions(1, (s) => s.length === 0, { what: "no session after the bridge stopped" });
  });
});

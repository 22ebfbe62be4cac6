/**
 * Short transfers end to end: the embedded target in hostile mode answers a READ with GOOD and
 * less data than asked (half its Data-In, with or without a residual, or none at all), or a
 * WRITE with GOOD before asking for its data. The library must reject each with a typed
 * ShortTransferError naming the shortfall, never hand back a buffer with stale bytes or report a
 * write that did not happen; the `iscsi` tool must exit 3 with one line, and `cp` must not leave a
 * destination file or call a copy verified.
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ShortTransferError } from "../../src/core/errors.js";
import type { TargetPolicy } from "../../src/core/text/parameters.js";
import { type IscsiSession, openSession } from "../../src/node/index.js";
import { type HostileBehaviour, type RunningTarget, startTarget } from "../../src/target/index.js";
import { ensureBuilt, expectFailure, iscsi } from "../cli/cli.test-util.js";
import { useTempDir } from "../support/tmp.js";

const IQN = "iqn.2026-11.test.short:disk";
/** Writes wait for an R2T: the only way a target can take a WRITE without its data. */
const R2T_ONLY: Partial<TargetPolicy> = { initialR2T: true, immediateData: false };

function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 13 + seed) & 0xff);
}

async function target(hostile: HostileBehaviour, policy?: Partial<TargetPolicy>): Promise<RunningTarget> {
  return startTarget({
    targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:1M" }], ...(policy === undefined ? {} : { policy }) }],
    nopIn: false,
    hostile,
  });
}

function url(t: RunningTarget): string {
  return `iscsi://${t.host}:${t.port}/${IQN}/1`;
}

async function rejection(promise: Promise<unknown>): Promise<ShortTransferError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a ShortTransferError, got ${String(error)}`).toBeInstanceOf(ShortTransferError);
  return error as ShortTransferError;
}

describe("the library against a target that shorts a transfer", () => {
  let running: RunningTarget | undefined;
  let session: IscsiSession | undefined;
  afterEach(async () => {
    session?.close();
    session = undefined;
    await running?.close();
    running = undefined;
  });

  it.each([
    ["half its Data-In with the U bit and a residual", "residual", 1024, 1024],
    ["half its Data-In and no residual", "no-residual", 1024, undefined],
    ["no Data-In at all", "no-data", 0, 2048],
  ] as const)("rejects a READ answered GOOD with %s, and the session goes on", async (_name, variant, transferred, residual) => {
    running = await target({ kind: "short-read", variant, skip: 1 });
    session = await openSession(url(running), { recovery: { enabled: false } });
    const lun = session.lun(1);
    const data = pattern(2048, 5);
    await lun.write(8, data);
    // The first READ is whole (skip: 1); the second is shorted.
    expect(await lun.read(8, 4)).toEqual(data);
    const error = await rejection(lun.read(8, 4));
    expect(error).toMatchObject({ code: "ISCSI_ERR_SHORT_TRANSFER", direction: "in", expected: 2048, transferred, residualUnderflow: residual });
    expect(error.message).toMatch(/READ\(10\) on LUN 1 .*of 2048 bytes of Data-In/);
    // Not a protocol error: the connection stays, and the next READ is whole.
    expect(await lun.read(8, 4)).toEqual(data);
    expect(session.recoveries).toHaveLength(0);
  });

  it.each([
    ["a residual for the whole transfer", "residual", 2048],
    ["no residual", "no-residual", undefined],
  ] as const)("rejects a WRITE answered GOOD before its R2T, with %s, and nothing was written", async (_name, variant, residual) => {
    running = await target({ kind: "write-good-early", variant }, R2T_ONLY);
    session = await openSession(url(running), { recovery: { enabled: false } });
    const lun = session.lun(1);
    const error = await rejection(lun.write(16, pattern(2048, 9)));
    expect(error).toMatchObject({ direction: "out", expected: 2048, transferred: 0, residualUnderflow: residual });
    expect(error.message).toMatch(/WRITE\(10\) on LUN 1 .*after 0 of 2048 bytes were sent/);
    // The target never had the data: the blocks still read as zeros, as the error said.
    expect(await lun.read(16, 4)).toEqual(new Uint8Array(2048));
  });
});

describe("the iscsi tool against a target that shorts a transfer", () => {
  const dir = useTempDir("iscsi-ts-short-");
  let running: RunningTarget | undefined;
  beforeAll(ensureBuilt, 180_000);
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it("read exits 3 and writes nothing when the READ comes back half empty", async () => {
    running = await target({ kind: "short-read", variant: "no-residual" });
    const out = dir().file("out.bin");
    const result = await iscsi(["read", url(running), "--lba", "0", "--blocks", "4", "-o", out]);
    expectFailure(result, 3, /READ\(10\).*1024 of 2048 bytes/);
    expect(existsSync(out)).toBe(false);
  });

  it("write exits 3 when the target says GOOD without taking the data", async () => {
    running = await target({ kind: "write-good-early", variant: "residual" }, R2T_ONLY);
    const input = dir().file("in.bin");
    await writeFile(input, pattern(2048, 3));
    const result = await iscsi(["write", url(running), "--lba", "0", "-i", input]);
    expectFailure(result, 3, /WRITE\(10\).*0 of 2048 bytes were sent/);
  });

  it.each([[[] as string[]], [["--verify"]]])("cp %j --bs 64k --qd 1 exits 3 and leaves no file when the second READ is short", async (extra) => {
    running = await target({ kind: "short-read", variant: "residual", skip: 1 });
    const out = dir().file("copy.img");
    const result = await iscsi(["cp", ...extra, url(running), out, "--bs", "64k", "--qd", "1"]);
    expectFailure(result, 3, /READ\(10\).*of 65536 bytes of Data-In/);
    expect(existsSync(out)).toBe(false);
  });
});

/**
 * `compare SRC DST` (as `qemu-img compare`) and `cp --offset/--count/--dst-offset`, against the
 * embedded target; what cp writes at an offset is read back through qemu-img (libiscsi).
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type IscsiSession, openSession } from "../../src/node/index.js";
import { type RunningTarget, startTarget } from "../../src/target/index.js";
import { qemuImgConvert } from "../support/peers.js";
import { firstDifference } from "../support/pattern.js";
import { checkOk } from "../support/processes.js";
import { useTempDir } from "../support/tmp.js";
import { ensureBuilt, expectFailure, expectOk, iscsi, jsonOf } from "./cli.test-util.js";

const IQN = "iqn.2026-12.test.compare:disk";
const MiB = 1 << 20;

/** Byte-for-byte equality of large buffers (memcmp), naming the first difference when there is one. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(firstDifference(actual, expected), `lengths ${actual.length} and ${expected.length}`).toBe(-1);
}

function pattern(bytes: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => ((i >> 2) * 31 + seed) & 0xff || 1);
}

describe("compare and partial copies", () => {
  let target: RunningTarget;
  let session: IscsiSession;
  const tmp = useTempDir("iscsi-compare-");
  const url = (lun: number): string => `iscsi://${target.host}:${target.port}/${IQN}/${lun}`;

  beforeAll(async () => {
    await ensureBuilt();
    target = await startTarget({
      targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:2M" }, { lun: 2, backend: "mem:2M" }, { lun: 3, backend: "mem:4M" }] }],
      nopIn: false,
    });
    session = await openSession(`iscsi://${target.host}:${target.port}/${IQN}`);
  }, 180_000);
  afterAll(async () => {
    await session?.logout();
    await target?.close();
  });

  it("says a LUN and the file copied from it are identical: 0", async () => {
    await session.lun(1).write(0, pattern(2 * MiB, 1));
    const file = tmp().file("one.img");
    expectOk(await iscsi(["cp", url(1), file]));
    expect(expectOk(await iscsi(["compare", url(1), file])).stdout).toMatch(/are identical/);
    expect(jsonOf(expectOk(await iscsi(["compare", file, url(1), "--json"])))).toMatchObject({ equal: true, sourceBytes: 2 * MiB, destinationBytes: 2 * MiB });
  });

  it("names the first differing byte and its LBA: 5, in text and --json", async () => {
    const data = pattern(2 * MiB, 1);
    await session.lun(1).write(0, data);
    const other = data.slice();
    other[1_234_567] = (other[1_234_567] as number) ^ 0xff;
    other[1_900_000] = (other[1_900_000] as number) ^ 0xff;
    await session.lun(2).write(0, other);
    expectFailure(await iscsi(["compare", url(1), url(2), "--bs", "64k", "--qd", "4"]), 5, /differ at byte 1234567 \(LBA 2411\)/);
    const json = await iscsi(["compare", url(1), url(2), "--json"]);
    expect(json.code).toBe(5);
    expect(jsonOf(json)).toMatchObject({ equal: false, firstDifference: 1_234_567, firstDifferenceLba: 2411 });
  });

  it("takes sides of different sizes as equal when the longer is zeros past the end, unless --strict", async () => {
    const data = pattern(2 * MiB, 4);
    await session.lun(1).write(0, data);
    const longer = tmp().file("longer.img");
    const padded = new Uint8Array(3 * MiB);
    padded.set(data);
    await writeFile(longer, padded);
    expectOk(await iscsi(["compare", url(1), longer]));
    expectFailure(await iscsi(["compare", url(1), longer, "--strict"]), 5, /differ at byte 2097152 \(LBA 4096\): sizes differ/);
    padded[2 * MiB + 10] = 1;
    await writeFile(longer, padded);
    expectFailure(await iscsi(["compare", url(1), longer]), 5, /differ at byte 2097162 \(LBA 4096\): the longer side is not zeros/);
  });

  it("cp --offset --count copies part of a LUN; --count past the end is refused: 3", async () => {
    const data = pattern(2 * MiB, 7);
    await session.lun(1).write(0, data);
    const file = tmp().file("part.bin");
    expectOk(await iscsi(["cp", url(1), file, "--offset", "64k", "--count", "8k"]));
    expect(new Uint8Array(readFileSync(file))).toEqual(data.subarray(64 * 1024, 72 * 1024));
    expectFailure(await iscsi(["cp", url(1), file, "--offset", "2040k", "--count", "16k"]), 3, /ends at LBA 4095/);
    expectFailure(await iscsi(["cp", url(1), file, "--offset", "100"]), 1, /not a multiple of the 512-byte blocks/);
  });

  it("cp --dst-offset writes a file into the middle of a LUN, leaving the rest as it was; qemu-img reads it", async () => {
    const base = pattern(4 * MiB, 9);
    await session.lun(3).write(0, base);
    const piece = pattern(192 * 1024, 33);
    const file = tmp().file("piece.bin");
    await writeFile(file, piece);
    expectOk(await iscsi(["cp", file, url(3), "--dst-offset", "1M", "--no-sparse"]));
    const expected = base.slice();
    expected.set(piece, MiB);
    const back = tmp().file("back.raw");
    checkOk(await qemuImgConvert(url(3), back));
    expectSameBytes(new Uint8Array(readFileSync(back)), expected);
    // A part of a file, to another place, and --count more than the file holds.
    expectOk(await iscsi(["cp", file, url(3), "--offset", "64k", "--count", "64k", "--dst-offset", "3M"]));
    expected.set(piece.subarray(64 * 1024, 128 * 1024), 3 * MiB);
    expectSameBytes(await session.lun(3).read(0, 8192), expected);
    expectFailure(await iscsi(["cp", file, url(3), "--count", "1M"]), 1, /holds only 196608 bytes/);
    expectFailure(await iscsi(["cp", file, tmp().file("x.bin"), "--dst-offset", "4k"]), 1, /--dst-offset needs a LUN/);
  });

  it("cp --count from standard input copies exactly that many bytes", async () => {
    const input = pattern(96 * 1024, 5);
    expectOk(await iscsi(["cp", "-", url(2), "--count", "32k"], { input }));
    expect(await session.lun(2).read(0, 64)).toEqual(input.subarray(0, 32 * 1024));
    expectFailure(await iscsi(["cp", "-", url(2), "--count", "128k"], { input }), 1, /ended after 98304 bytes/);
  });
});

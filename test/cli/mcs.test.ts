/**
 * `--connections` and `--connection-policy` on `iscsi perf` and `iscsi cp` against tgtd with
 * MaxConnections=4: every connection carries a share, the shares add up to what the run moved,
 * and the data a copy wrote over two connections reads back the same. No speed is asserted.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectionShare } from "../../src/cli/connection-shares.js";
import { writePatternFile } from "../support/pattern.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";
import { ensureBuilt, expectOk, iscsi, jsonOf } from "./cli.test-util.js";

const IQN = "iqn.2026-11.test.cli:mcs";
const FILE_BYTES = 16 << 20;
const QD = 16;
const BS = 4096;

/** One connection's share, as --json reports it. */
type Share = ConnectionShare;

const sum = (shares: readonly Share[], field: "commands" | "bytesIn" | "bytesOut" | "bytes" | "percent"): number => shares.reduce((n, s) => n + s[field], 0);

describe("MC/S from the command line against tgtd (MaxConnections=4)", () => {
  let tgtd: Tgtd;
  const tmp = useTempDir("iscsi-cli-mcs-");
  const url = (lun: number): string => `iscsi://${tgtd.portal}/${IQN}/${lun}`;

  beforeAll(async () => {
    await ensureBuilt();
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, null: true }, { lun: 2, file: { size: FILE_BYTES } }] });
    await tgtd.setParam(1, "MaxConnections", "4");
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  for (const policy of ["round-robin", "least-queue-depth"] as const) {
    it(`perf --connections 4 --connection-policy ${policy}: each of the four connections carries a share, and the shares add up to the run`, async () => {
      const run = expectOk(
        await iscsi(["perf", url(1), "--connections", "4", "--connection-policy", policy, "--time", "2s", "--qd", String(QD), "--bs", "4k", "--json"]),
      );
      const r = jsonOf<{ commands: number; bytes: number; connectionPolicy: string; connections: Share[] }>(run);
      expect(r.connectionPolicy).toBe(policy);
      expect(r.connections.map((c) => c.cid)).toEqual([0, 1, 2, 3]);
      for (const c of r.connections) {
        expect(c.commands, `CID ${c.cid}`).toBeGreaterThan(0);
        expect(c.bytesIn, `CID ${c.cid}`).toBe(c.commands * BS);
        expect(c.bytesOut).toBe(0);
      }
      // The shares run to the last answer; the run counts what finished inside its window: the
      // commands still in flight when it closed (fewer than the queue depth) are the difference.
      const commands = sum(r.connections, "commands");
      expect(commands).toBeGreaterThanOrEqual(r.commands);
      expect(commands).toBeLessThan(r.commands + QD);
      expect(sum(r.connections, "bytesIn") - r.bytes).toBe((commands - r.commands) * BS);
      expect(Math.abs(sum(r.connections, "percent") - 100)).toBeLessThan(0.5);
      if (policy === "round-robin") {
        const counts = r.connections.map((c) => c.commands);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(QD);
      }
    });
  }

  it("perf prints each connection's share as a table in text", async () => {
    const run = expectOk(await iscsi(["perf", url(1), "--connections", "2", "--time", "300ms", "--qd", "4"]));
    expect(run.stdout).toMatch(/^ {2}Connections: 2 \(least-queue-depth\)$/m);
    expect(run.stdout).toMatch(/^ {4}CID +Commands +Bytes +Share$/m);
    expect(run.stdout.match(/^ {4} *[01] +[\d,]+ +[\d.]+ \w+ +\d+\.\d%$/gm)).toHaveLength(2);
  });

  it("cp --connections 2 writes a 16 MiB file over both connections and reads back the same bytes", async () => {
    const source = join(tmp().path, "pattern.bin");
    await writePatternFile(source, FILE_BYTES, 0x3c5);
    const put = jsonOf<{ bytes: number; verified: boolean; connectionPolicy: string; connections: { destination: Share[] } }>(
      expectOk(await iscsi(["cp", source, url(2), "--connections", "2", "--verify", "--no-sparse", "--json"])),
    );
    expect(put.bytes).toBe(FILE_BYTES);
    expect(put.verified).toBe(true);
    const shares = put.connections.destination;
    expect(shares.map((c) => c.cid)).toEqual([0, 1]);
    for (const c of shares) {
      expect(c.commands, `CID ${c.cid}`).toBeGreaterThan(0);
      expect(c.bytesOut, `CID ${c.cid}`).toBeGreaterThan(0);
    }
    // Every byte written went on one of the two, and --verify read every one back on them too.
    expect(sum(shares, "bytesOut")).toBe(FILE_BYTES);
    expect(sum(shares, "bytesIn")).toBe(FILE_BYTES);

    const back = join(tmp().path, "back.bin");
    const get = jsonOf<{ bytes: number; connections: { source: Share[] } }>(
      expectOk(await iscsi(["cp", url(2), back, "--connections", "2", "--connection-policy", "least-queue-depth", "--json"])),
    );
    expect(get.bytes).toBe(FILE_BYTES);
    expect(get.connections.source.every((c) => c.bytesIn > 0)).toBe(true);
    expect(sum(get.connections.source, "bytesIn")).toBe(FILE_BYTES);
    expect(Buffer.compare(readFileSync(back), readFileSync(source))).toBe(0);
  });

  it("cp --no-batching --qd 32 copies a 16 MiB file and reads back the same bytes, every command written at once", async () => {
    const source = join(tmp().path, "unbatched.bin");
    await writePatternFile(source, FILE_BYTES, 0x5a1);
    const put = jsonOf<{ bytes: number; verified: boolean }>(
      expectOk(await iscsi(["cp", source, url(2), "--no-batching", "--qd", "32", "--bs", "64k", "--verify", "--no-sparse", "--json"])),
    );
    expect(put.bytes).toBe(FILE_BYTES);
    expect(put.verified).toBe(true);
    const run = expectOk(await iscsi(["perf", url(1), "--no-batching", "--time", "300ms", "--qd", "32", "--json"]));
    expect(jsonOf<{ commands: number }>(run).commands).toBeGreaterThan(0);
  });

  it("refuses a policy it does not know, before connecting", async () => {
    const run = await iscsi(["perf", url(1), "--connection-policy", "fastest", "--time", "100ms"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/round-robin, least-queue-depth/);
  });
});

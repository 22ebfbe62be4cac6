/**
 * The commands against the embedded target, served by the tool itself (`iscsi target`), and the
 * first run (`iscsi demo`).
 */
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { patternBytes, writePatternFile } from "../support/pattern.js";
import type { TrackedProcess } from "../support/processes.js";
import { makeTempDir, type TempDir, useTempDir } from "../support/tmp.js";
import { ensureBuilt, expectFailure, expectOk, iscsi, jsonOf, spawnIscsi } from "./cli.test-util.js";

const IQN = "iqn.2026-11.test.cli:embedded";
const MEM_BYTES = 16 << 20;
const FILE_BYTES = 4 << 20;

interface TargetDoc {
  readonly iqn: string;
  readonly host: string;
  readonly port: number;
  readonly portal: string;
  readonly luns: { lun: number; bytes: number; backend: string; url: string }[];
}

/** `iscsi target ... --json` running, with the document it printed once listening. */
async function serve(args: readonly string[], env: Record<string, string> = {}): Promise<{ process: TrackedProcess; doc: TargetDoc }> {
  const process = spawnIscsi(["target", "--listen", "127.0.0.1:0", "--json", ...args], env);
  await process.waitForOutput(/^}$/m, { timeoutMs: 15_000, what: "the target's JSON document" });
  return { process, doc: JSON.parse(process.stdout()) as TargetDoc };
}

describe("iscsi against its own embedded target", () => {
  let target: { process: TrackedProcess; doc: TargetDoc };
  let backing: TempDir;
  const tmp = useTempDir("iscsi-cli-embedded-");
  const url = (lun?: number): string => `iscsi://${target.doc.portal}/${IQN}${lun === undefined ? "" : `/${lun}`}`;

  beforeAll(async () => {
    await ensureBuilt();
    backing = await makeTempDir("iscsi-cli-embedded-backing-");
    writeFileSync(backing.file("disk.img"), "");
    truncateSync(backing.file("disk.img"), FILE_BYTES);
    target = await serve(["--iqn", IQN, "--lun", `1=mem:16M`, "--lun", "2=null:1G", "--lun", `3=${backing.file("disk.img")}`]);
  });

  afterAll(async () => {
    target?.process.signal("SIGTERM");
    await target?.process.exited;
    await backing?.remove();
  });

  it("target prints where it listens and what it serves", () => {
    expect(target.doc).toMatchObject({ iqn: IQN, host: "127.0.0.1" });
    expect(target.doc.port).toBeGreaterThan(0);
    expect(target.doc.luns.map((l) => [l.lun, l.bytes])).toEqual([
      [1, MEM_BYTES],
      [2, 1 << 30],
      [3, FILE_BYTES],
    ]);
    expect(target.doc.luns[0]?.url).toBe(`iscsi://${target.doc.portal}/${IQN}/1`);
  });

  it("discover, ls, luns, inquiry and readcap describe it, in text and JSON", async () => {
    expect(expectOk(await iscsi(["discover", target.doc.portal])).stdout).toContain(IQN);
    type Ls = { targets: { name: string; luns: { lun: number; bytes: number; blockSize: number; type: string }[] }[] };
    const ls = jsonOf<Ls>(expectOk(await iscsi(["ls", target.doc.portal, "--json"])));
    expect(ls.targets[0]?.luns.map((l) => [l.lun, l.type, l.bytes, l.blockSize])).toEqual([
      [1, "disk", MEM_BYTES, 512],
      [2, "disk", 1 << 30, 512],
      [3, "disk", FILE_BYTES, 512],
    ]);
    expect(expectOk(await iscsi(["ls", url()])).stdout).toMatch(/^ +1 +disk +16 MiB +32768 x 512/m);
    expect(jsonOf(expectOk(await iscsi(["luns", url(), "--json"])))).toMatchObject({ luns: [1, 2, 3] });
    expect(expectOk(await iscsi(["inquiry", url(1)])).stdout).toMatch(/^Device type: +direct access block device \(0x00\)$/m);
    const lbp = jsonOf<{ vpd: { lbpu: boolean } }>(expectOk(await iscsi(["inquiry", url(1), "--vpd", "provisioning", "--json"])));
    expect(typeof lbp.vpd.lbpu).toBe("boolean");
    expect(jsonOf(expectOk(await iscsi(["readcap", url(3), "--json"])))).toMatchObject({ bytes: FILE_BYTES, blockSize: 512 });
  });

  it("write and read round-trip, and the file backend holds exactly what was written", async () => {
    const data = patternBytes(0, 64 * 1024, 77);
    const input = tmp().file("in.bin");
    const output = tmp().file("out.bin");
    writeFileSync(input, data);
    expectOk(await iscsi(["write", url(3), "--lba", "16", "-i", input]));
    expectOk(await iscsi(["read", url(3), "--lba", "16", "--blocks", "128", "-o", output]));
    expect(Buffer.compare(readFileSync(output), data)).toBe(0);
    expect(Buffer.compare(readFileSync(backing.file("disk.img")).subarray(16 * 512, 16 * 512 + data.length), data)).toBe(0);
  });

  it("cp to a thin LUN skips zero chunks where unmapped blocks read as zeros, and verifies", async () => {
    const source = tmp().file("holes.img");
    await writePatternFile(source, MEM_BYTES, 78);
    const bytes = readFileSync(source);
    bytes.fill(0, 2 << 20, 10 << 20);
    writeFileSync(source, bytes);
    // Data already on the LUN must not survive where the source has zeros.
    const full = tmp().file("full.img");
    await writePatternFile(full, MEM_BYTES, 79);
    expectOk(await iscsi(["cp", full, url(1)]));
    const r = jsonOf<{ bytes: number; zeroBytesSkipped: number; zeroMethod?: string; verified: boolean }>(expectOk(await iscsi(["cp", "--verify", source, url(1), "--json"])));
    expect(r.bytes).toBe(MEM_BYTES);
    expect(r.verified).toBe(true);
    const readcap = jsonOf<{ thinProvisioned: boolean; unmappedReadsZero: boolean }>(expectOk(await iscsi(["readcap", url(1), "--json"])));
    if (readcap.thinProvisioned && readcap.unmappedReadsZero) {
      expect(r.zeroBytesSkipped).toBe(8 << 20);
      expect(r.zeroMethod).toMatch(/^(write-same-unmap|unmap)$/);
    } else {
      expect(r.zeroBytesSkipped).toBe(0);
    }
    const back = tmp().file("back.img");
    expectOk(await iscsi(["cp", url(1), back]));
    expect(Buffer.compare(readFileSync(back), bytes)).toBe(0);
  });

  it("perf and ping run against it", async () => {
    const perf = jsonOf<{ commands: number; iops: number }>(expectOk(await iscsi(["perf", url(2), "--time", "500ms", "--json"])));
    expect(perf.commands).toBeGreaterThan(0);
    const ping = jsonOf<{ received: number }>(expectOk(await iscsi(["ping", url(), "--count", "2", "--interval", "100ms", "--json"])));
    expect(ping.received).toBe(2);
  });

  it("a LUN it does not serve: 3", async () => {
    expectFailure(await iscsi(["readcap", url(7)]), 3, /LUN 7/);
  });

  it("target refuses a file that does not exist: 1, saying how to make one in the command line's terms", async () => {
    const r = await iscsi(["target", "--listen", "127.0.0.1:0", "--lun", "1=/nonexistent/iscsi-ts-disk.img"]);
    expectFailure(r, 1, /^iscsi: --lun 1=\/nonexistent\/iscsi-ts-disk\.img: \/nonexistent\/iscsi-ts-disk\.img does not exist \(make one first, e\.g\. truncate -s 1G \/nonexistent\/iscsi-ts-disk\.img, or serve memory with mem:SIZE\)$/);
    expect(r.stderr).not.toContain("create: true");
  });

  it("target refuses a port already in use: 1", async () => {
    const r = await iscsi(["target", "--listen", target.doc.portal, "--lun", "1=mem:1M"]);
    expectFailure(r, 1, new RegExp(`cannot listen on ${target.doc.portal.replace(/\./g, "\\.")}: the port is in use`));
  });
});

describe("iscsi target with CHAP", () => {
  const SECRET = "embedded-chap-secret-1";
  const MUTUAL = "embedded-mutual-secret-2";

  it("requires the initiator's secret, proves its own, and never prints either", async () => {
    const served = await serve(["--iqn", IQN, "--lun", "1=mem:1M", "--chap", "alice", "--mutual", "tgt"], {
      ISCSI_TARGET_CHAP_SECRET: SECRET,
      ISCSI_TARGET_MUTUAL_SECRET: MUTUAL,
    });
    try {
      expect(served.doc).toMatchObject({ chap: true, mutualChap: true });
      const lun = `iscsi://${served.doc.portal}/${IQN}/1`;
      const good = { ISCSI_CHAP_USERNAME: "alice", ISCSI_CHAP_SECRET: SECRET, ISCSI_CHAP_TARGET_USERNAME: "tgt", ISCSI_CHAP_TARGET_SECRET: MUTUAL };
      const ok = expectOk(await iscsi(["readcap", lun, "-v"], { env: good }));
      expect(ok.stdout).toMatch(/^Blocks: +2048$/m);
      expectFailure(await iscsi(["readcap", lun], { env: { ...good, ISCSI_CHAP_SECRET: "wrong-secret-000000" } }), 2, /authentication/);
      expectFailure(await iscsi(["readcap", lun], { env: { ...good, ISCSI_CHAP_TARGET_SECRET: "wrong-mutual-00000" } }), 2, /./);
      expectFailure(await iscsi(["readcap", lun]), 2, /authentication/);
      for (const text of [ok.stdout, ok.stderr, served.process.stdout(), served.process.stderr()]) {
        expect(text).not.toContain(SECRET);
        expect(text).not.toContain(MUTUAL);
      }
    } finally {
      served.process.signal("SIGINT");
      const status = await served.process.exited;
      expect(status.code).toBe(0);
    }
  });

  it("asks discovery sessions for the same CHAP: no listing without the secret", async () => {
    const served = await serve(["--iqn", IQN, "--lun", "1=mem:1M", "--chap", "alice"], { ISCSI_TARGET_CHAP_SECRET: SECRET });
    try {
      const portal = served.doc.portal;
      expectFailure(await iscsi(["discover", portal]), 2, /authentication/);
      expectFailure(await iscsi(["discover", `iscsi://alice%wrong-secret-0000@${portal}`]), 2, /authentication/);
      expect(expectOk(await iscsi(["discover", portal], { env: { ISCSI_CHAP_USERNAME: "alice", ISCSI_CHAP_SECRET: SECRET } })).stdout).toContain(IQN);
    } finally {
      served.process.signal("SIGINT");
      await served.process.exited;
    }
  });

  it("refuses --chap without a secret: 1", async () => {
    expectFailure(await iscsi(["target", "--listen", "127.0.0.1:0", "--lun", "1=mem:1M", "--chap", "alice"]), 1, /--chap alice needs a secret: set \$ISCSI_TARGET_CHAP_SECRET/);
  });
});

describe("iscsi demo", () => {
  it("runs the first-run tour and exits 0", async () => {
    const text = expectOk(await iscsi(["demo", "--time", "300ms"], { timeoutMs: 60_000 }));
    for (const step of ["target", "discover", "login", "inquiry", "capacity", "data", "randread", "write", "logout", "stopped"]) {
      expect(text.stdout).toMatch(new RegExp(`^${step} `, "m"));
    }
    expect(text.stdout).toMatch(/read it back: identical/);
    type Demo = { pattern: { verified: boolean }; benchmarks: { randread: { commands: number }; write: { commands: number } } };
    const json = jsonOf<Demo>(expectOk(await iscsi(["demo", "--time", "200ms", "--json"])));
    expect(json.pattern.verified).toBe(true);
    expect(json.benchmarks.randread.commands).toBeGreaterThan(0);
    expect(json.benchmarks.write.commands).toBeGreaterThan(0);
  });
});

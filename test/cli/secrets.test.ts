/**
 * CHAP secrets stay secret: given by environment or file they appear in no output (with -v
 * neither) and not in `ps`; given in a URL on the command line they are gone from
 * /proc/<pid>/cmdline (what ps reads) while the command runs.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand, type TrackedProcess } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";
import { pollUntil, sleep } from "../support/wait.js";
import { ensureBuilt, expectFailure, expectOk, iscsi, jsonOf, spawnIscsi } from "./cli.test-util.js";

const IQN = "iqn.2026-11.test.cli:secrets";
const USER = "secretuser";
const SECRET = "Sesame-0pen-4a7c91d2";
/** Mutual CHAP: the target proves this one. */
const TARGET_USER = "targetuser";
const TARGET_SECRET = "Target-Proof-88e1f0b3";

function expectNoSecret(text: string, ...secrets: string[]): void {
  for (const secret of secrets) expect(text.includes(secret), `the output contains a secret:\n${text.slice(0, 3000)}`).toBe(false);
}

async function cmdline(pid: number): Promise<string> {
  return readFileSync(`/proc/${pid}/cmdline`, "latin1").replace(/\0/g, " ");
}

async function psArgs(): Promise<string> {
  return (await runCommand("ps", ["-eo", "pid,args"])).stdout;
}

describe("CHAP secrets are never shown", () => {
  let tgtd: Tgtd;
  const tmp = useTempDir("iscsi-cli-secrets-");
  const url = (lun?: number): string => `iscsi://${tgtd.portal}/${IQN}${lun === undefined ? "" : `/${lun}`}`;

  beforeAll(async () => {
    await ensureBuilt();
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: 1 << 20 } }] });
    await tgtd.addAccount(USER, SECRET);
    await tgtd.bindAccount(1, USER);
    await tgtd.addAccount(TARGET_USER, TARGET_SECRET);
    await tgtd.bindAccount(1, TARGET_USER, { outgoing: true });
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  it("from ISCSI_CHAP_* in the environment: logs in, and no output shows the secret, even with -vv", async () => {
    const env = { ISCSI_CHAP_USERNAME: USER, ISCSI_CHAP_SECRET: SECRET };
    for (const args of [["readcap", url(1), "-vv"], ["readcap", url(1), "--json", "-vv"], ["ls", url(), "-vv"]]) {
      const r = expectOk(await iscsi(args, { env }));
      expectNoSecret(r.stdout + r.stderr, SECRET);
    }
    // The trace did show the CHAP exchange, with the values redacted.
    const traced = expectOk(await iscsi(["luns", url(), "-vv"], { env }));
    expect(traced.stderr).toMatch(/CHAP_N=secretuser CHAP_R=<redacted/);
  });

  it("from libiscsi's LIBISCSI_CHAP_* variables, mutual CHAP included", async () => {
    const env = {
      LIBISCSI_CHAP_USERNAME: USER,
      LIBISCSI_CHAP_PASSWORD: SECRET,
      LIBISCSI_CHAP_TARGET_USERNAME: TARGET_USER,
      LIBISCSI_CHAP_TARGET_PASSWORD: TARGET_SECRET,
    };
    const r = expectOk(await iscsi(["inquiry", url(1), "-vv", "--json"], { env }));
    expect(jsonOf<{ inquiry: { vendor: string } }>(r).inquiry.vendor).toBe("IET");
    expectNoSecret(r.stdout + r.stderr, SECRET, TARGET_SECRET);
  });

  it("from --chap-secret-file and --chap-target-secret-file", async () => {
    const secretFile = tmp().file("chap.secret");
    const targetFile = tmp().file("target.secret");
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    writeFileSync(targetFile, `${TARGET_SECRET}\n`, { mode: 0o600 });
    const args = ["readcap", url(1), "--chap-user", USER, "--chap-secret-file", secretFile, "--chap-target-user", TARGET_USER, "--chap-target-secret-file", targetFile, "-vv"];
    const r = expectOk(await iscsi(args));
    expect(r.stdout).toMatch(/^Blocks: +2048$/m);
    expectNoSecret(r.stdout + r.stderr, SECRET, TARGET_SECRET);
  });

  it("a wrong mutual secret fails the login (2) without showing either secret", async () => {
    const wrongTarget = "Not-The-Target-Secret-1";
    const r = await iscsi(["readcap", url(1)], {
      env: { ISCSI_CHAP_USERNAME: USER, ISCSI_CHAP_SECRET: SECRET, ISCSI_CHAP_TARGET_USERNAME: TARGET_USER, ISCSI_CHAP_TARGET_SECRET: wrongTarget },
    });
    expect(r.code).toBe(2);
    expectNoSecret(r.stdout + r.stderr, SECRET, wrongTarget, TARGET_SECRET);
  });

  it("from the environment or a file: not in ps while the command runs", async () => {
    const secretFile = tmp().file("ps.secret");
    writeFileSync(secretFile, SECRET, { mode: 0o600 });
    const runs: TrackedProcess[] = [
      spawnIscsi(["ping", url(), "--count", "3", "--interval", "1s"], { ISCSI_CHAP_USERNAME: USER, ISCSI_CHAP_SECRET: SECRET }),
      spawnIscsi(["ping", url(), "--count", "3", "--interval", "1s", "--chap-user", USER, "--chap-secret-file", secretFile]),
    ];
    try {
      for (const run of runs) await run.waitForOutput(/seq=1/, { timeoutMs: 15_000 });
      const ps = await psArgs();
      for (const run of runs) expect(ps).toContain(String(run.pid));
      expectNoSecret(ps, SECRET);
      for (const run of runs) {
        const status = await run.exited;
        expect(status.code).toBe(0);
        expectNoSecret(run.stdout() + run.stderr(), SECRET);
      }
    } finally {
      for (const run of runs) await run.kill();
    }
  });

  it("given as user:password@ (RFC 3986's form, beside libiscsi's user%secret@): logs in, and no output shows it", async () => {
    for (const args of [["readcap", `iscsi://${USER}:${SECRET}@${tgtd.portal}/${IQN}/1`, "--json"], ["luns", `iscsi://${USER}:${SECRET}@${tgtd.portal}/${IQN}`, "-vv"]]) {
      const r = expectOk(await iscsi(args));
      expectNoSecret(r.stdout + r.stderr, SECRET);
    }
  });

  it("a URL whose credentials lost their '@host' is refused (1) without echoing any part of them, in text or --json", async () => {
    for (const text of [`iscsi://${USER}%${SECRET}`, `iscsi://${USER}:${SECRET}/${IQN}/1`, `iscsi://${USER}%${SECRET}/${IQN}/1`]) {
      const r = await iscsi(["readcap", text]);
      expectFailure(r, 1, /^iscsi: invalid iSCSI URL "iscsi:\/\/\*\*\*[^"]*": /);
      const json = await iscsi(["readcap", text, "--json"]);
      expect(json.code).toBe(1);
      expect(jsonOf<{ error: { code: string } }>(json).error.code).toBe("ISCSI_ERR_CONFIG");
      for (const out of [r, json]) expectNoSecret(out.stdout + out.stderr, SECRET, USER);
    }
  });

  it("a secret file without end (/dev/zero) is refused at once: 1, one line naming the bound", async () => {
    const r = await iscsi(["readcap", url(1), "--chap-user", USER, "--chap-secret-file", "/dev/zero"], { timeoutMs: 15_000 });
    expectFailure(r, 1, /^iscsi: the secret file \/dev\/zero is longer than 1024 bytes/);
    expect(r.durationMs).toBeLessThan(5_000);
  });

  it("the embedded target's secret files are bounded the same way: 1, at once", async () => {
    for (const flags of [["--chap", USER, "--chap-secret-file", "/dev/zero"], ["--chap", USER, "--mutual", "tgt", "--mutual-secret-file", "/dev/zero"]]) {
      const env = flags.includes("--mutual") ? { ISCSI_TARGET_CHAP_SECRET: "target-side-secret-1" } : {};
      const r = await iscsi(["target", "--listen", "127.0.0.1:0", "--iqn", IQN, "--lun", "1=mem:1M", ...flags], { timeoutMs: 15_000, env });
      expectFailure(r, 1, /^iscsi: the secret file \/dev\/zero is longer than 1024 bytes/);
      expect(r.durationMs).toBeLessThan(5_000);
    }
  });

  it("given as user:password@ in the URL: hidden from /proc/<pid>/cmdline and ps while the command runs", async () => {
    const run = spawnIscsi(["ping", `iscsi://${USER}:${SECRET}@${tgtd.portal}/${IQN}`, "--count", "2", "--interval", "1s"]);
    try {
      await pollUntil(async () => ((await cmdline(run.pid)).includes(`${USER}:***@`) ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: "the process title to be rewritten",
      });
      expectNoSecret(await cmdline(run.pid), SECRET);
      expectNoSecret(await psArgs(), SECRET);
      const status = await run.exited;
      expect(status.code, run.stderr()).toBe(0);
      expectNoSecret(run.stdout() + run.stderr(), SECRET);
    } finally {
      await run.kill();
    }
  });

  it("given in the URL: hidden from /proc/<pid>/cmdline and ps while the command runs", async () => {
    const withSecret = `iscsi://${USER}%${SECRET}@${tgtd.portal}/${IQN}`;
    const run = spawnIscsi(["ping", withSecret, "--count", "3", "--interval", "1s"]);
    try {
      // The tool rewrites its title first thing; wait until it has, then watch the whole run.
      await pollUntil(async () => ((await cmdline(run.pid)).includes(`${USER}%***@`) ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: "the process title to be rewritten",
      });
      let samples = 0;
      while (run.running) {
        let line: string;
        try {
          line = await cmdline(run.pid);
        } catch {
          break; // exited between the check and the read
        }
        expectNoSecret(line, SECRET);
        expect(line).toContain("ping");
        samples++;
        if (samples === 3) expectNoSecret(await psArgs(), SECRET);
        await sleep(150);
      }
      expect(samples).toBeGreaterThan(5);
      const status = await run.exited;
      expect(status.code, run.stderr()).toBe(0);
      expect(run.stdout()).toMatch(/3 NOP-Outs sent, 3 NOP-Ins received/);
      expectNoSecret(run.stdout() + run.stderr(), SECRET);
    } finally {
      await run.kill();
    }
  });
});

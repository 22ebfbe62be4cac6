/**
 * The --json contract, for every command, on success and on failure: standard output holds
 * exactly one JSON document, every `code` in it is one of the tool's (ISCSI_CLI_* or ISCSI_ERR_*,
 * never commander's), and no number carries more than 6 fractional digits. Against the embedded
 * target, started here; the tool runs in-process (runCli), so a long-running command (target,
 * nbd) is stopped as SIGINT would stop it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCaptured, type CapturedRun } from "../../src/cli/cli.test-util.js";
import { Interrupts } from "../../src/cli/interrupt.js";
import { startTarget, type RunningTarget } from "../../src/target/server.js";

const IQN = "iqn.2026-11.test.cli:json";
const CODE = /^ISCSI_(CLI|ERR)_[A-Z_]+$/;

/** Every problem with one run's stdout as a --json document; empty when it keeps the contract. */
function contractProblems(r: CapturedRun): string[] {
  const problems: string[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(r.stdout);
  } catch (error) {
    return [`stdout is not one JSON document (${(error as Error).message}): ${r.stdout.slice(0, 300)}`];
  }
  if (typeof doc !== "object" || doc === null) problems.push(`the document is not an object: ${r.stdout.slice(0, 100)}`);
  const walk = (value: unknown, path: string): void => {
    if (typeof value === "number") {
      const text = String(value);
      const fraction = /\.(\d+)$/.exec(text)?.[1] ?? "";
      if (/e-/i.test(text) || fraction.length > 6) problems.push(`${path} = ${text} has more than 6 fractional digits`);
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${path}[${i}]`));
    } else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        if (k === "code" && v !== null && (typeof v !== "string" || !CODE.test(v))) problems.push(`${path}.code = ${JSON.stringify(v)} is not an ISCSI_* code`);
        walk(v, `${path}.${k}`);
      }
    }
  };
  walk(doc, "$");
  return problems;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A command that serves until interrupted: stopped once its document is out. */
async function runServer(args: readonly string[], env: Record<string, string> = {}): Promise<CapturedRun> {
  const interrupts = new Interrupts();
  return runCaptured([...args, "--json"], {
    env,
    interrupts,
    onStdout: (text) => {
      try {
        JSON.parse(text);
        setTimeout(() => interrupts.abort("SIGINT"), 50);
      } catch {
        // not whole yet
      }
    },
  });
}

describe("every command's --json output", () => {
  let target: RunningTarget;
  let dir: string;
  let portal: string;
  let closed: number;
  const lun = (n = 1): string => `iscsi://${portal}/${IQN}/${n}`;
  const tgt = (): string => `iscsi://${portal}/${IQN}`;

  beforeAll(async () => {
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:4M" }, { lun: 2, backend: "mem:1M" }] }] });
    portal = `${target.host}:${target.port}`;
    closed = await closedPort();
    dir = mkdtempSync(join(tmpdir(), "iscsi-json-contract-"));
    writeFileSync(join(dir, "in.bin"), new Uint8Array(64 * 1024).map((_, i) => i & 0xff));
    writeFileSync(join(dir, "odd.bin"), new Uint8Array(1000));
  });

  afterAll(async () => {
    await target?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const env = (): Record<string, string> => ({ ISCSI_TS_CONFIG_DIR: join(dir, "config"), ISCSI_TS_RUNTIME_DIR: join(dir, "run"), ISCSI_INITIATOR_NAME: "iqn.2026-11.test.cli:json-initiator" });

  /** [arguments, expected exit status] */
  const cases = (): readonly (readonly [readonly string[], number])[] => [
    [["discover", portal], 0],
    [["discover", `127.0.0.1:${closed}`], 4],
    [["ls", portal], 0],
    [["ls", `iscsi://${portal}/iqn.2026-11.test.cli:absent`], 2],
    [["luns", tgt()], 0],
    [["luns", "iscsi://127.0.0.1"], 1],
    [["inquiry", lun()], 0],
    [["inquiry", lun(), "--vpd", "device-id"], 0],
    [["inquiry", lun(), "--vpd", "block-limits"], 0],
    [["inquiry", lun(), "--vpd", "colour"], 1],
    [["inquiry", lun(9)], 3],
    [["readcap", lun()], 0],
    [["readcap"], 1],
    [["readcap", lun(), "--frobnicate"], 1],
    [["read", lun(), "--lba", "0", "--blocks", "128", "-o", join(dir, "out.bin")], 0],
    [["read", lun(), "--lba", "8191", "--blocks", "8", "-o", join(dir, "past.bin")], 3],
    [["read", lun(), "--lba", "0", "--blocks", "1"], 1],
    [["write", lun(), "--lba", "0", "-i", join(dir, "in.bin")], 0],
    [["write", lun(), "--lba", "0", "-i", join(dir, "odd.bin")], 1],
    [["cp", lun(2), join(dir, "copy.img")], 0],
    [["cp", join(dir, "absent.img"), lun(2)], 1],
    [["compare", lun(1), lun(1)], 0],
    [["compare", lun(1), lun(2), "--strict"], 5],
    [["perf", lun(), "--time", "200ms", "--qd", "4"], 0],
    [["perf", lun(), "--rw", "randwrite"], 1],
    [["ping", tgt(), "--count", "2", "--interval", "10ms"], 0],
    [["ping", `iscsi://127.0.0.1:${closed}/${IQN}`, "--count", "1"], 4],
    [["sync", lun()], 0],
    [["tur", lun()], 0],
    [["tur", lun(9)], 3],
    [["discard", lun(), "--lba", "0", "--blocks", "8"], 0],
    [["zero", lun(), "--lba", "0", "--blocks", "8"], 0],
    [["zero", lun(), "--lba", "99999999", "--blocks", "8"], 3],
    [["reset", lun()], 0],
    [["reset", "--target", tgt()], 0],
    [["reset"], 1],
    [["cdb", lun(), "00 00 00 00 00 00"], 0],
    [["cdb", lun(), "12 01 80 00 ff 00", "--in", "255"], 0],
    [["cdb", lun(), "zz"], 1],
    [["node", "list"], 0],
    [["node", "show", "absent"], 1],
    [["status"], 1],
    [["completion", "bash"], 0],
    [["completion", "tcsh"], 1],
    [["demo", "--time", "200ms"], 0],
    [["target", "--lun", "1=frob:1M"], 1],
    [["nbd", lun(), "--listen", "127.0.0.1:99999"], 1],
    [["gateway"], 1],
    [["gateway", "--listen", "127.0.0.1:0", "--allow", "nowhere:port"], 1],
    [["frob"], 1],
    [[], 1],
    [["--version"], 0],
  ];

  it("is one document with ISCSI_* codes only and rounded numbers, on success and on failure", { timeout: 120_000 }, async () => {
    const failures: string[] = [];
    const seen = new Set<string>();
    for (const [args, expected] of cases()) {
      const r = await runCaptured([...args, "--json"], { env: env() });
      const what = `iscsi ${args.join(" ")} --json`;
      if (r.status !== expected) failures.push(`${what}: exit ${r.status}, expected ${expected}; stderr: ${r.stderr.slice(0, 300)}`);
      for (const p of contractProblems(r)) failures.push(`${what}: ${p}`);
      if (args[0] !== undefined) seen.add(args[0]);
    }
    expect(failures).toEqual([]);
    // Every command of the program was run at least once.
    const help = (await runCaptured(["--help"])).stdout;
    const commands = [...help.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1] ?? "").filter((c) => c !== "help");
    expect(commands.filter((c) => !seen.has(c) && c !== "up")).toEqual([]);
  });

  it("holds for the servers too: target, nbd and gateway print their document, and stop on SIGINT with nothing more on stdout", { timeout: 60_000 }, async () => {
    const served = await runServer(["target", "--listen", "127.0.0.1:0", "--iqn", IQN, "--lun", "1=mem:1M"]);
    expect(served.status).toBe(0);
    expect(contractProblems(served)).toEqual([]);
    const nbd = await runServer(["nbd", lun(), "--listen", "127.0.0.1:0"], env());
    expect(nbd.status, nbd.stderr).toBe(0);
    expect(contractProblems(nbd)).toEqual([]);
    const gateway = await runServer(["gateway", "--listen", "127.0.0.1:0", "--allow", portal]);
    expect(gateway.status, gateway.stderr).toBe(0);
    expect(contractProblems(gateway)).toEqual([]);
  });

  it("rounds what it measures: read, write and cp give elapsed milliseconds to 3 decimals at most", async () => {
    const r = await runCaptured(["read", lun(), "--lba", "0", "--blocks", "16", "-o", join(dir, "small.bin"), "--json"]);
    const doc = JSON.parse(r.stdout) as { elapsedMs: number };
    expect(String(doc.elapsedMs)).toMatch(/^\d+(\.\d{1,3})?$/);
  });

  it("draws no progress bar in --json or with -q, even on a terminal, and draws one on a terminal otherwise", async () => {
    const args = ["read", lun(), "--lba", "0", "--blocks", "8192", "-o", join(dir, "whole.bin")];
    const drawn = await runCaptured(args, { stderrIsTty: true });
    expect(drawn.status).toBe(0);
    expect(drawn.stderr).toMatch(/reading/);
    for (const extra of ["--json", "-q"]) {
      const quiet = await runCaptured([...args, extra], { stderrIsTty: true });
      expect(quiet.status).toBe(0);
      expect(quiet.stderr, extra).toBe("");
    }
    // Piped (not a terminal): nothing either.
    expect((await runCaptured(args)).stderr).toBe("");
  });
});

import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { runCaptured } from "./cli.test-util.js";
import { verbosityOf } from "./options.js";

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function expectOneErrorLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.split("\n").filter((l) => l !== "");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^iscsi: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe("help", () => {
  it("lists every command and the exit statuses", async () => {
    const r = await runCaptured(["--help"]);
    expect(r.status).toBe(0);
    for (const command of ["discover", "ls", "luns", "inquiry", "readcap", "read", "write", "cp", "perf", "ping", "target", "compare", "nbd", "gateway", "demo"]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    }
    expect(r.stdout).toMatch(/Exit status:/);
    expect(r.stdout).toMatch(/^ {2}5 {4}verification mismatch/m);
    expect(r.stdout).toMatch(/ISCSI_CHAP_SECRET/);
  });

  it("lays out the connection options and the CHAP paragraph within 80 columns, as commander does its own lists", async () => {
    const r = await runCaptured(["--help"]);
    const block = r.stdout.slice(r.stdout.indexOf("Connection options"), r.stdout.indexOf("Exit status:"));
    for (const flag of ["--initiator-name <iqn>", "--timeout <duration>", "--chap-target-secret-file <file>"]) expect(block).toMatch(new RegExp(`^ {2}${flag}`, "m"));
    expect(block).toMatch(/LIBISCSI_CHAP_TARGET_PASSWORD/);
    expect(block.split("\n").filter((l) => l.length > 80)).toEqual([]);
  });

  it("keeps every line of iscsi --help within 80 columns, the exit statuses included", async () => {
    const r = await runCaptured(["--help"]);
    expect(r.stdout).toMatch(/^ {2}4 {4}connection failed/m);
    expect(r.stdout.split("\n").filter((l) => l.length > 80)).toEqual([]);
  });

  it("has a row in docs/CLI.md's command table for every command it lists", async () => {
    const r = await runCaptured(["--help"]);
    const commands = [...r.stdout.slice(r.stdout.indexOf("Commands:")).matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]).filter((c) => c !== "help");
    expect(commands).toContain("gateway");
    const doc = await readFile(new URL("../../docs/CLI.md", import.meta.url), "utf8");
    expect(commands.filter((c) => !new RegExp(`^\\| \`iscsi ${c}[ \`]`, "m").test(doc))).toEqual([]);
  });

  it("gives each command its own options and examples, then one line pointing to the global options", async () => {
    for (const command of ["discover", "ls", "luns", "inquiry", "readcap", "read", "write", "cp", "perf", "ping", "nbd"]) {
      const r = await runCaptured([command, "--help"]);
      expect(r.status, command).toBe(0);
      expect(r.stdout, command).toMatch(/Examples:/);
      expect(r.stdout, command).toMatch(/^ {2}--header-digest <digest>/m);
      expect(r.stdout, command).toMatch(/^Global options: --json, -q\/--quiet, -v\/--verbose .*iscsi --help$/m);
      // The global options and the exit table are the program's help, not repeated here.
      expect(r.stdout, command).not.toMatch(/^ {2}--json/m);
      expect(r.stdout, command).not.toMatch(/Exit status:/);
    }
  });

  it("shows only what a target takes in target --help, and whose secret --chap-secret-file reads", async () => {
    const r = await runCaptured(["target", "--help"]);
    expect(r.status).toBe(0);
    for (const initiatorOnly of ["--header-digest", "--initiator-name", "--chap-user", "--chap-target-user", "--timeout"]) expect(r.stdout).not.toContain(initiatorOnly);
    expect(r.stdout.replace(/\s+/g, " ")).toMatch(/--chap-secret-file <file> read the secret initiators must prove for --chap USER/);
    expect(r.stdout).toMatch(/^Global options: /m);
  });

  it("takes the global options anywhere on the command line, and -vv as two -v", async () => {
    const before = await runCaptured(["--json", "readcap"]);
    const after = await runCaptured(["readcap", "--json"]);
    expect(JSON.parse(before.stdout)).toEqual(JSON.parse(after.stdout));
    expect([verbosityOf(["-q"]), verbosityOf([]), verbosityOf(["-v"]), verbosityOf(["-vv"]), verbosityOf(["-v", "--verbose"]), verbosityOf(["--", "-vv"])]).toEqual([-1, 0, 1, 2, 2, 0]);
  });

  it("prints the version, as JSON with --json", async () => {
    expect((await runCaptured(["--version"])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const r = await runCaptured(["--json", "--version"]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ version: expect.stringMatching(/^\d+\.\d+\.\d+$/) });
  });

  it("prints the help on stderr and exits 1 when no command is given", async () => {
    const r = await runCaptured([]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Usage: iscsi/);
  });
});

describe("usage errors", () => {
  it("reports an unknown option in one line naming the command's help", async () => {
    const r = await runCaptured(["discover", "127.0.0.1", "--frobnicate"]);
    expect(r.status).toBe(1);
    expectOneErrorLine(r.stderr, /unknown option '--frobnicate' \(see iscsi discover --help\)/);
  });

  it("gives commander's usage errors the one code namespace in --json, keeping commander's words", async () => {
    for (const args of [["readcap", "--json"], ["discover", "127.0.0.1", "--frobnicate", "--json"], ["frob", "--json"], ["read", "iscsi://127.0.0.1/iqn.2026-11.example:disk/1", "--json", "--lba"], ["--json"]]) {
      const r = await runCaptured(args);
      expect(r.status, args.join(" ")).toBe(1);
      const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
      expect(doc.error.code, args.join(" ")).toBe("ISCSI_CLI_USAGE");
      expect(doc.error.message).toMatch(/missing required argument|unknown option|unknown command|argument missing|no command given/);
    }
  });

  it("reports --ndjson given to a command without it as an unknown option on stderr only, while perf still ends its stream with an error line", async () => {
    for (const args of [["ping", "iscsi://127.0.0.1:1/iqn.2026-11.example:disk", "--ndjson"], ["-q", "luns", "iscsi://127.0.0.1:1/iqn.2026-11.example:disk", "--ndjson"]]) {
      const r = await runCaptured(args);
      expect(r.status, args.join(" ")).toBe(1);
      expect(r.stdout, args.join(" ")).toBe("");
      expectOneErrorLine(r.stderr, /unknown option '--ndjson'.*\(see iscsi (ping|luns) --help\)$/);
    }
    const perf = await runCaptured(["perf", "iscsi://127.0.0.1:1/iqn.2026-11.example:disk/1", "--ndjson", "--no-such-option"]);
    expect(perf.status).toBe(1);
    expect(JSON.parse(perf.stdout)).toMatchObject({ type: "error", code: "ISCSI_CLI_USAGE", exitCode: 1 });
  });

  it("reports a missing argument and an unknown command", async () => {
    const missing = await runCaptured(["readcap"]);
    expect(missing.status).toBe(1);
    expectOneErrorLine(missing.stderr, /missing required argument 'lun-url'/);
    const unknown = await runCaptured(["frob"]);
    expect(unknown.status).toBe(1);
    expectOneErrorLine(unknown.stderr, /unknown command 'frob'/);
  });

  it("reports a malformed URL without showing its secret", async () => {
    const r = await runCaptured(["readcap", "iscsi://alice%s3cretvalue@127.0.0.1/not-an-iqn/1"]);
    expect(r.status).toBe(1);
    expectOneErrorLine(r.stderr, /invalid iSCSI URL "iscsi:\/\/\*\*\*@127.0.0.1\/not-an-iqn\/1"/);
    expect(r.stderr + r.stdout).not.toContain("s3cretvalue");
  });

  it("refuses a URL without a LUN for a command that works on one", async () => {
    const r = await runCaptured(["inquiry", "iscsi://127.0.0.1/iqn.2026-11.example:disk"]);
    expect(r.status).toBe(1);
    expectOneErrorLine(r.stderr, /the LUN number is missing/);
  });

  it("refuses bad sizes, durations and digests, naming the option", async () => {
    const url = "iscsi://127.0.0.1/iqn.2026-11.example:disk/1";
    expectOneErrorLine((await runCaptured(["perf", url, "--bs", "4x"])).stderr, /--bs "4x": unknown unit "x"/);
    expectOneErrorLine((await runCaptured(["perf", url, "--time", "soon"])).stderr, /--time "soon" is not a duration/);
    expectOneErrorLine((await runCaptured(["readcap", url, "--timeout", "1 fortnight"])).stderr, /--timeout "1 fortnight"/);
    expectOneErrorLine((await runCaptured(["readcap", url, "--header-digest", "md5"])).stderr, /--header-digest "md5" must be none, crc32c/);
    expectOneErrorLine((await runCaptured(["read", url, "--lba", "-1", "--blocks", "1"])).stderr, /--lba "-1" is not a whole number/);
  });

  it("refuses a write workload without --force", async () => {
    const r = await runCaptured(["perf", "iscsi://127.0.0.1/iqn.2026-11.example:disk/1", "--rw", "randwrite"]);
    expect(r.status).toBe(1);
    expectOneErrorLine(r.stderr, /--rw randwrite overwrites the data on the LUN: add --force/);
  });

  it("refuses to write binary data to a terminal unless -o - insists", async () => {
    const r = await runCaptured(["read", "iscsi://127.0.0.1/iqn.2026-11.example:disk/1", "--lba", "0", "--blocks", "1"], { stdoutIsTty: true });
    expect(r.status).toBe(1);
    expectOneErrorLine(r.stderr, /refusing to write binary data to a terminal: use -o FILE, or -o - to insist/);
  });

  it("refuses --json with data on standard output", async () => {
    const r = await runCaptured(["read", "iscsi://127.0.0.1/iqn.2026-11.example:disk/1", "--lba", "0", "--blocks", "1", "--json"]);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: "ISCSI_CLI_USAGE", exitCode: 1 } });
  });

  it("reports a file that does not exist before connecting anywhere", async () => {
    const r = await runCaptured(["write", "iscsi://192.0.2.1/iqn.2026-11.example:disk/1", "--lba", "0", "-i", "/nonexistent/input.bin"]);
    expect(r.status).toBe(1);
    expectOneErrorLine(r.stderr, /^iscsi: cannot open \/nonexistent\/input.bin: no such file or directory$/);
  });

  it("reports a CHAP user without a secret as a login failure (2)", async () => {
    const r = await runCaptured(["readcap", "iscsi://alice@127.0.0.1/iqn.2026-11.example:disk/1"]);
    expect(r.status).toBe(2);
    expectOneErrorLine(r.stderr, /CHAP user "alice" \(from the URL\) has no secret/);
  });
});

describe("connection failures", () => {
  it("reports a refused port in one line with exit status 4", async () => {
    const port = await closedPort();
    const r = await runCaptured(["readcap", `iscsi://127.0.0.1:${port}/iqn.2026-11.example:disk/1`]);
    expect(r.status).toBe(4);
    expectOneErrorLine(r.stderr, new RegExp(`cannot connect to 127.0.0.1:${port}: connection refused \\(is a target listening there\\?\\)`));
  });

  it("gives the same failure as one JSON document with --json", async () => {
    const port = await closedPort();
    const r = await runCaptured(["discover", `127.0.0.1:${port}`, "--json"]);
    expect(r.status).toBe(4);
    const doc = JSON.parse(r.stdout) as { error: { code: string; exitCode: number; message: string } };
    expect(doc.error.code).toBe("ISCSI_ERR_TRANSPORT");
    expect(doc.error.exitCode).toBe(4);
    expect(doc.error.message).toMatch(/connection refused/);
  });

  it("masks an environment secret in everything it prints", async () => {
    const port = await closedPort();
    const secret = "env-secret-value-123";
    const r = await runCaptured(["readcap", `iscsi://127.0.0.1:${port}/iqn.2026-11.example:disk/1`, "-v"], {
      env: { ISCSI_CHAP_USERNAME: "alice", ISCSI_CHAP_SECRET: secret },
    });
    expect(r.status).toBe(4);
    expect(r.stdout + r.stderr).not.toContain(secret);
  });
});

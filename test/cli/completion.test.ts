/**
 * Shell completion and the man page come from the command definitions: the bash script loads in
 * bash and completes command names and options, and the man page lists every command and renders
 * without a groff warning. Written to a temporary directory: no tracked file is touched.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../support/processes.js";
import { useTempDir } from "../support/tmp.js";
import { ensureBuilt, expectOk, iscsi, MAIN, quote } from "./cli.test-util.js";

const COMMANDS = ["discover", "ls", "luns", "inquiry", "readcap", "read", "write", "cp", "perf", "ping", "target", "sync", "tur", "discard", "zero", "reset", "cdb", "nbd", "completion"];

describe("shell completion and the man page", () => {
  const tmp = useTempDir("iscsi-cli-completion-");
  let bin: string;

  beforeAll(async () => {
    await ensureBuilt();
    // An `iscsi` on PATH, as an installed package gives.
    bin = mkdtempSync(join(tmpdir(), "iscsi-cli-bin-"));
    const wrapper = join(bin, "iscsi");
    writeFileSync(wrapper, `#!/bin/sh\nexec ${quote(process.execPath)} ${quote(MAIN)} "$@"\n`);
    chmodSync(wrapper, 0o755);
  });

  afterAll(() => {
    rmSync(bin, { recursive: true, force: true });
  });

  /** Runs `script` in bash with the completion loaded; returns stdout. */
  async function inBash(script: string): Promise<string> {
    const r = await runCommand("bash", ["-c", `source <(iscsi completion bash) && ${script}`], { env: { PATH: `${bin}:${process.env.PATH ?? ""}` } });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  }

  it("loads in bash and registers a completion for iscsi", async () => {
    expect(await inBash("complete -p iscsi")).toMatch(/^complete .*-F _iscsi iscsi$/m);
  });

  it("completes command names, a command's options, subcommands and the global options", async () => {
    const complete = (words: string[]): Promise<string> =>
      inBash(`COMP_WORDS=(${words.map(quote).join(" ")}); COMP_CWORD=${words.length - 1}; _iscsi; printf '%s\\n' "\${COMPREPLY[@]}"`);
    expect((await complete(["iscsi", "rea"])).split("\n").filter(Boolean).sort()).toEqual(["read", "readcap"]);
    expect((await complete(["iscsi", "compl"])).trim()).toBe("completion");
    expect((await complete(["iscsi", "readcap", "--chap-s"])).trim()).toBe("--chap-secret-file");
    expect((await complete(["iscsi", "target", "--mu"])).split("\n").filter(Boolean).sort()).toEqual(["--mutual", "--mutual-secret-file"]);
    // target takes no initiator option.
    expect((await complete(["iscsi", "target", "--header"])).trim()).toBe("");
    expect((await complete(["iscsi", "node", "a"])).trim()).toBe("add");
    expect((await complete(["iscsi", "read", "--js"])).trim()).toBe("--json");
  });

  it("gives zsh and fish scripts naming every command, and refuses another shell", async () => {
    for (const shell of ["zsh", "fish"]) {
      const script = expectOk(await iscsi(["completion", shell])).stdout;
      for (const command of COMMANDS) expect(script, `${shell}: ${command}`).toContain(command);
    }
    const r = await iscsi(["completion", "tcsh", "--json"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: "ISCSI_CLI_USAGE" } });
  });

  it("writes a man page with every command that groff renders without a warning", async () => {
    const page = tmp().file("iscsi.1");
    const r = await runCommand(process.execPath, [join(MAIN, "..", "..", "..", "scripts", "man.mjs"), page]);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(page, "utf8");
    expect(text).toMatch(/^\.TH ISCSI 1 /);
    for (const command of COMMANDS) expect(text, command).toMatch(new RegExp(`^\\.B iscsi ${command}\\b`, "m"));
    expect(text).toMatch(/^\.SH EXIT STATUS$/m);
    const groff = await runCommand("groff", ["-man", "-Tutf8", "-ww", "-z", page]);
    expect(groff.code).toBe(0);
    expect(groff.stderr).toBe("");
  });
});

/** The process tracker's promise: nothing the harness starts outlives the test process. */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { HarnessError } from "./errors.js";
import { checkOk, runCommand, spawnTracked } from "./processes.js";
import { useTempDir } from "./tmp.js";
import { pollUntil } from "./wait.js";

const processesModule = fileURLToPath(new URL("./processes.ts", import.meta.url));
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Alive and not a zombie (a killed child whose new parent has not reaped it yet is dead to us). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

type Ending = "exits normally" | "is sent SIGTERM" | "is SIGKILLed";

describe("processes started by the harness", () => {
  const tmp = useTempDir("iscsi-ts-processes-");

  /** Runs a Node process that starts a tracked `sleep`, ends it as told, and returns the sleep's pid. */
  async function orphanAfter(ending: Ending): Promise<number> {
    const script = tmp().file("parent.mts");
    await writeFile(
      script,
      [
        `import { spawnTracked } from ${JSON.stringify(processesModule)};`,
        `const child = spawnTracked("sleep", ["1000"]);`,
        `console.log("sleeping pid " + child.pid);`,
        ending === "exits normally" ? `setTimeout(() => process.exit(0), 200);` : `setInterval(() => undefined, 1000);`,
      ].join("\n"),
    );
    const parent = spawnTracked(process.execPath, ["--import", "tsx", script], { cwd: repoRoot });
    const match = await parent.waitForOutput(/sleeping pid (\d+)/, { timeoutMs: 30_000 });
    const pid = Number(match[1]);
    expect(isAlive(pid)).toBe(true);
    if (ending === "is sent SIGTERM") parent.signal("SIGTERM");
    if (ending === "is SIGKILLed") parent.signal("SIGKILL");
    await parent.exited;
    return pid;
  }

  for (const ending of ["exits normally", "is sent SIGTERM", "is SIGKILLed"] as const) {
    it(`are killed when the test process ${ending}`, async () => {
      const pid = await orphanAfter(ending);
      await pollUntil(() => !isAlive(pid), { timeoutMs: 5_000, what: `pid ${pid} to die` });
    });
  }

  it("returns a failing command's status and throws it with the command and stderr on request", async () => {
    const result = await runCommand("sh", ["-c", "echo out; echo oops >&2; exit 3"]);
    expect(result).toMatchObject({ code: 3, stdout: "out\n", stderr: "oops\n", timedOut: false });
    expect(() => checkOk(result)).toThrow(HarnessError);
    expect(() => checkOk(result)).toThrow(/sh -c 'echo out; echo oops >&2; exit 3' exited with code 3; stderr: oops/);
  });

  it("kills a command that outlives its timeout, and masks secrets in its command and output", async () => {
    const timed = await runCommand("sleep", ["30"], { timeoutMs: 200 });
    const secret = await runCommand("echo", ["iscsi://u%hunter2@h/x", "tok-sesame"], { secrets: ["tok-sesame"] });

    expect(timed).toMatchObject({ timedOut: true, signal: "SIGKILL" });
    expect(secret.command).toBe("echo iscsi://u%***@h/x ***");
    expect(secret.stdout).toBe("iscsi://u%***@h/x ***\n");
  });
});

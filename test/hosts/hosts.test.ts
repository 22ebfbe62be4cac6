/**
 * The same library on three JavaScript runtimes, against tgtd: test/hosts/scenario.ts runs under
 * Node (through tsx, on dist/node), Bun (dist/bun, Bun's own sockets) and Deno (dist/deno,
 * Deno.connect), at once, each on a target, LUN and CHAP accounts of its own. Each run asks for
 * its connection to be deleted with tgtadm while its I/O is in flight; afterwards qemu-img, an
 * initiator we did not write, reads each LUN and finds exactly the pattern that runtime wrote.
 *
 * Bun and Deno come from npm (devDependencies), so a missing one is an install problem: the test
 * fails with the command to run, never skips.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writePatternFile } from "../support/pattern.js";
import { runCommand, spawnTracked } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { makeTempDir, type TempDir } from "../support/tmp.js";
import { pollUntil, within } from "../support/wait.js";
import type { ScenarioConfig, ScenarioResult } from "./scenario.js";

const LUN = 1;
const LUN_BYTES = 8 << 20;
const BIN = resolve("node_modules/.bin");
const SCENARIO = resolve("test/hosts/scenario.ts");

interface Runtime {
  readonly name: "node" | "bun" | "deno";
  readonly tid: number;
  readonly seed: number;
  /** The command that runs a TypeScript file under this runtime. */
  readonly command: readonly string[];
}

const RUNTIMES: readonly Runtime[] = [
  // Node 20 cannot run TypeScript itself; tsx transpiles the scenario, the library is dist's JavaScript.
  { name: "node", tid: 1, seed: 101, command: [`${BIN}/tsx`] },
  { name: "bun", tid: 2, seed: 202, command: [`${BIN}/bun`] },
  // --sloppy-imports: the scenario imports test/support's TypeScript by the .js names tsc wants.
  { name: "deno", tid: 3, seed: 303, command: [`${BIN}/deno`, "run", "-A", "--sloppy-imports"] },
];

const iqn = (runtime: Runtime): string => `iqn.2026-11.test.hosts:${runtime.name}`;
const initiator = (runtime: Runtime): string => `iqn.2026-11.test.hosts.initiator:${runtime.name}`;
const chap = (runtime: Runtime) => ({ user: `in-${runtime.name}`, secret: `in-secret-${runtime.name}-1` });
const targetChap = (runtime: Runtime) => ({ user: `out-${runtime.name}`, secret: `out-secret-${runtime.name}-2` });

describe("the library under Node, Bun and Deno against tgtd", () => {
  let tgtd: Tgtd;
  let dir: TempDir;
  const results = new Map<string, ScenarioResult>();

  beforeAll(async () => {
    for (const runtime of RUNTIMES) {
      const binary = runtime.command[0] as string;
      if (!existsSync(binary)) throw new Error(`${runtime.name} is missing (${binary}): run \`npm install\` (${runtime.name === "node" ? "tsx" : runtime.name} is a devDependency)`);
      if (!existsSync(`dist/${runtime.name}/index.js`)) throw new Error(`dist/${runtime.name}/index.js is missing: run \`npm run build\` first (npm test does)`);
    }
    dir = await makeTempDir("iscsi-ts-hosts-");
    tgtd = await Tgtd.start();
    for (const runtime of RUNTIMES) {
      await tgtd.addTarget({ tid: runtime.tid, iqn: iqn(runtime), luns: [{ lun: LUN, file: { size: LUN_BYTES } }] });
      // tgtd offers no digests unless told (PEERS.md).
      await tgtd.setParam(runtime.tid, "HeaderDigest", "CRC32C,None");
      await tgtd.setParam(runtime.tid, "DataDigest", "CRC32C,None");
      await tgtd.addAccount(chap(runtime).user, chap(runtime).secret);
      await tgtd.bindAccount(runtime.tid, chap(runtime).user);
      await tgtd.addAccount(targetChap(runtime).user, targetChap(runtime).secret);
      await tgtd.bindAccount(runtime.tid, targetChap(runtime).user, { outgoing: true });
    }
  });

  afterAll(async () => {
    await tgtd?.stop();
    await dir?.remove();
  });

  /** Runs the scenario under `runtime`, deletes its connection when it asks, and returns its result line. */
  async function runScenario(runtime: Runtime): Promise<ScenarioResult> {
    const config: ScenarioConfig = {
      entry: resolve(`dist/${runtime.name}/index.js`),
      portal: tgtd.portal,
      targetName: iqn(runtime),
      initiatorName: initiator(runtime),
      lun: LUN,
      lunBytes: LUN_BYTES,
      seed: runtime.seed,
      chap: chap(runtime),
      targetChap: targetChap(runtime),
    };
    const [file, ...args] = runtime.command as [string, ...string[]];
    const child = spawnTracked(file, [...args, SCENARIO, JSON.stringify(config)], { secrets: [chap(runtime).secret, targetChap(runtime).secret] });
    const what = `${runtime.name}: ${child.command}`;
    await pollUntil(() => child.stdout().includes('"drop"') || !child.running, { timeoutMs: 40_000, what: `${what} to ask for the drop` }, () => child.stderr());
    if (child.running) {
      const session = (await tgtd.sessions(runtime.tid)).find((s) => s.initiator === initiator(runtime));
      const connection = session?.connections[0];
      if (session === undefined || connection === undefined) throw new Error(`${what}: no session of ${initiator(runtime)} on tgtd: ${await tgtd.show()}`);
      await tgtd.deleteConnection(runtime.tid, session.sid, connection.cid);
    }
    const exit = await within(child.exited, 55_000);
    const last = child.stdout().trim().split("\n").pop() ?? "";
    if (exit === undefined || !last.startsWith("{")) {
      throw new Error(`${what} ${exit === undefined ? "did not exit" : `exited ${exit.code ?? exit.signal}`}; stdout: ${child.stdout()}; stderr: ${child.stderr()}`);
    }
    return JSON.parse(last) as ScenarioResult;
  }

  it("runs one scenario under each runtime, all three at once: discovery, CHAP and mutual CHAP, CRC32C digests, verified writes, ABORT TASK, LUN RESET, and recovery after tgtadm deletes the connection", async () => {
    const outcomes = await Promise.all(RUNTIMES.map(runScenario));
    for (const [i, runtime] of RUNTIMES.entries()) {
      const result = outcomes[i] as ScenarioResult;
      results.set(runtime.name, result);
      expect(result, `${runtime.name}: ${result.error ?? ""}`).toMatchObject({
        ok: true,
        runtime: runtime.name,
        host: runtime.name,
        discovered: true,
        oneWayChap: true,
        mutualChap: true,
        digests: { header: true, data: true },
        lunReset: true,
        recovery: { cause: "connection-lost", outcome: "recovered" },
      });
      // RFC 7143 §11.6.1: function complete, or task does not exist when the read won the race.
      expect([0, 1], runtime.name).toContain(result.abortTaskResponse);
      expect(result.recovery?.ioAfter, runtime.name).toBeGreaterThan(0);
      // At least the LUN once over, plus the read-backs.
      expect(result.verifiedBytes, runtime.name).toBeGreaterThanOrEqual(LUN_BYTES);
    }
  });

  it("qemu-img finds each LUN identical to the pattern its runtime wrote", async () => {
    expect([...results.keys()].sort(), "the scenario runs above must have finished").toEqual(["bun", "deno", "node"]);
    for (const runtime of RUNTIMES) {
      const expected = dir.file(`${runtime.name}.img`);
      await writePatternFile(expected, LUN_BYTES, runtime.seed);
      const url = tgtd.url(iqn(runtime), LUN, chap(runtime));
      const compare = await runCommand("qemu-img", ["compare", "-f", "raw", "-F", "raw", expected, url], { secrets: [chap(runtime).secret], timeoutMs: 30_000 });
      expect(compare.code, `${runtime.name}: ${compare.command}: ${compare.stdout} ${compare.stderr}`).toBe(0);
      expect(compare.stdout).toContain("Images are identical");
    }
  });
});

/**
 * `iscsi perf --workers N --sessions M`: the workload spread over sessions on worker threads
 * (src/node/workers), against the embedded target as a process of its own. What it must show is
 * that the sessions are there and carry the commands, and that a write workload through them
 * lands: the data is read back afterwards through a session on the main thread.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLun } from "../../src/node/index.js";
import type { TrackedProcess } from "../support/processes.js";
import { ensureBuilt, expectFailure, expectOk, iscsi, jsonOf, spawnIscsi } from "./cli.test-util.js";

const IQN = "iqn.2026-12.test.cli:perf-workers";

interface SpreadDoc {
  readonly commands: number;
  readonly workers: number;
  readonly sessions: ReadonlyArray<{ session: number; connections: ReadonlyArray<{ commands: number }> }>;
}

describe("iscsi perf on worker threads", () => {
  let target: TrackedProcess;
  let portal = "";
  const url = (): string => `iscsi://${portal}/${IQN}/1`;

  beforeAll(async () => {
    await ensureBuilt();
    target = spawnIscsi(["target", "--listen", "127.0.0.1:0", "--json", "--iqn", IQN, "--lun", "1=mem:16M"]);
    await target.waitForOutput(/^}$/m, { timeoutMs: 15_000, what: "the target's JSON document" });
    portal = (JSON.parse(target.stdout()) as { portal: string }).portal;
  });

  afterAll(async () => {
    target?.signal("SIGTERM");
    await target?.exited;
  });

  it("spreads the commands over the sessions asked for, each on a worker, and says so in --json", async () => {
    const doc = jsonOf<SpreadDoc>(expectOk(await iscsi(["perf", url(), "--workers", "2", "--time", "1500ms", "--qd", "8", "--json"])));
    expect(doc.workers).toBe(2);
    expect(doc.sessions).toHaveLength(2);
    const perSession = doc.sessions.map((s) => s.connections.reduce((a, c) => a + c.commands, 0));
    // Commands go to the sessions in turn: each carried a fair part of them.
    for (const n of perSession) expect(n).toBeGreaterThan(doc.commands / 4);
  });

  it("writes through sessions on workers land: a sequential write workload is read back from the main thread", async () => {
    expectOk(await iscsi(["perf", url(), "--rw", "write", "--force", "--bs", "64k", "--size", "4M", "--workers", "1", "--sessions", "2", "--time", "1s", "--qd", "4", "--json"]));
    const lun = await openLun(url(), { keepAlive: false });
    try {
      const data = await lun.read(0, (4 << 20) / 512);
      // The workload writes a pattern of its own; a LUN that was never written reads as zeros.
      expect(data.some((b) => b !== 0)).toBe(true);
    } finally {
      await lun.session.logout();
    }
  });

  it("refuses a --workers or --sessions count out of range before logging in", async () => {
    expectFailure(await iscsi(["perf", url(), "--workers", "-1"]), 1, /--workers/);
    expectFailure(await iscsi(["perf", url(), "--sessions", "0"]), 1, /--sessions/);
  });
});

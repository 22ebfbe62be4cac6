import { writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { startTarget, type RunningTarget } from "../target/server.js";
import type { NodeRecord } from "../node/records/record.js";
import { NodeStore } from "../node/records/store.js";
import { makeTempDirSync } from "../../test/support/tmp.js";
import { Service } from "./service.js";

const IQN = "iqn.2026-11.test.service:disk";

describe("the service's set of nodes", () => {
  let target: RunningTarget | undefined;
  let service: Service | undefined;

  afterEach(async () => {
    await service?.stop(2000);
    await target?.close();
    service = undefined;
    target = undefined;
  });

  async function setup(): Promise<{ store: NodeStore; log: string[]; record: (name: string, extra?: Partial<NodeRecord>) => NodeRecord }> {
    target = await startTarget({ listen: { host: "127.0.0.1", port: 0 }, targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:16M" }, { lun: 2, backend: "mem:8M" }] }] });
    const dir = makeTempDirSync();
    const store = new NodeStore(dir.file("config"));
    const log: string[] = [];
    service = new Service(
      store,
      {
        // A short replacement time, so that the library gives up on a target gone for good within the test.
        sessionOptions: async (r) => ({ portal: r.portal, targetName: r.targetName, initiatorName: "iqn.2026-12.test:service", recovery: { replacementTimeoutMs: 400, initialBackoffMs: 50, maxBackoffMs: 100 } }),
        runtimeDir: dir.path,
        backoff: { initialMs: 50, maxMs: 200 },
        log: (line) => log.push(line),
      },
      { initiatorName: "iqn.2026-12.test:service", controlSocket: dir.file("control.sock"), stopDeadlineMs: 2000 },
    );
    const port = target.port;
    return {
      store,
      log,
      record: (name, extra = {}) => ({ name, portal: { host: "127.0.0.1", port }, targetName: IQN, lun: 1, startup: "automatic", ...extra }),
    };
  }

  async function exporting(names: readonly string[]): Promise<void> {
    const deadline = performance.now() + 10_000;
    for (;;) {
      const nodes = service?.status().nodes ?? [];
      if (names.every((n) => nodes.find((x) => x.name === n)?.state === "exporting") && nodes.length === names.length) return;
      if (performance.now() > deadline) throw new Error(`not exporting: ${JSON.stringify(nodes.map((n) => [n.name, n.state, n.lastError]))}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  function sessionOf(name: string): string | undefined {
    const s = service?.status().nodes.find((n) => n.name === name)?.session;
    return s === undefined ? undefined : `${s.isid}/${s.tsih}`;
  }

  it("starts automatic nodes only; a reload starts new ones, restarts changed ones, stops removed ones and keeps the rest", async () => {
    const { store, record } = await setup();
    store.save(record("a"));
    store.save(record("b", { lun: 2, startup: "manual" }));
    expect(await service?.reload()).toMatchObject({ started: ["a"], kept: [], damaged: [] });
    await exporting(["a"]);
    const first = sessionOf("a");

    store.save(record("b", { lun: 2 }), { replace: true });
    store.save(record("c", { lun: 2 }));
    expect(await service?.reload()).toMatchObject({ started: ["b", "c"], stopped: [], restarted: [], kept: ["a"] });
    await exporting(["a", "b", "c"]);
    expect(sessionOf("a")).toBe(first);

    store.save(record("a", { nbd: { readOnly: true, socket: `${store.dir}/a-ro.sock` } }), { replace: true });
    store.remove("c");
    expect(await service?.reload()).toMatchObject({ started: [], stopped: ["c"], restarted: ["a"], kept: ["b"] });
    await exporting(["a", "b"]);
    expect(sessionOf("a")).not.toBe(first);
    expect(service?.status().nodes.find((n) => n.name === "a")?.nbd).toMatchObject({ readOnly: true, uri: expect.stringContaining("a-ro.sock") as unknown });
  });

  it("a secret that changes restarts its node", async () => {
    const { store, record } = await setup();
    store.save(record("a"));
    await service?.reload();
    await exporting(["a"]);
    const first = sessionOf("a");
    store.setSecret("a", "chap-secret", "a-new-secret-value");
    expect(await service?.reload()).toMatchObject({ restarted: ["a"] });
    await exporting(["a"]);
    expect(sessionOf("a")).not.toBe(first);
  });

  it("keeps a running node whose record became damaged, and reports the damage with file and line", async () => {
    const { store, record, log } = await setup();
    store.save(record("a"));
    await service?.reload();
    await exporting(["a"]);
    const first = sessionOf("a");
    writeFileSync(store.recordFile("a"), "url = iscsi://127.0.0.1/iqn.2026-11.x:y/1\nstartup = often\n");
    const report = await service?.reload();
    expect(report?.kept).toEqual(["a"]);
    expect(report?.damaged).toEqual([`${store.recordFile("a")}:2: startup: "often" is not automatic or manual`]);
    expect(sessionOf("a")).toBe(first);
    expect(service?.status().damaged).toEqual(report?.damaged);
    expect(log.some((l) => l.startsWith("damaged record skipped: ") && l.includes("a.conf:2"))).toBe(true);
  });

  it("when the library gives up on a lost session, closes the export and logs in again once the target is back", async () => {
    const { store, record, log } = await setup();
    store.save(record("a"));
    await service?.reload();
    await exporting(["a"]);
    const port = target?.port ?? 0;
    await target?.close();
    const deadline = performance.now() + 10_000;
    while (service?.status().nodes[0]?.state === "exporting" && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(service?.status().nodes[0]?.state).toMatch(/^(waiting|connecting)$/);
    expect(service?.status().nodes[0]?.nbd).toBeUndefined();
    expect(log.some((l) => /^a: session to .* lost for good; closing the NBD export and logging in again$/.test(l))).toBe(true);
    target = await startTarget({ listen: { host: "127.0.0.1", port }, targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:16M" }] }] });
    await exporting(["a"]);
    expect(service?.status().nodes[0]?.logins).toBe(2);
  });

  it("stops every node cleanly: cache flushed, logged out", async () => {
    const { store, record } = await setup();
    store.save(record("a"));
    store.save(record("b", { lun: 2 }));
    await service?.reload();
    await exporting(["a", "b"]);
    const reports = await service?.stop(2000);
    service = undefined;
    expect(reports?.map((r) => [r.name, r.clean, r.flushed, r.loggedOut])).toEqual([
      ["a", true, true, true],
      ["b", true, true, true],
    ]);
  });
});

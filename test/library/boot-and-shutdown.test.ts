import { describe, expect, it } from "vitest";
import { openSession } from "../../src/node/index.js";
import { startTarget } from "../../src/target/server.js";
import { freeTcpPort } from "../support/ports.js";

const IQN = "iqn.2026-11.test.library:boot";

describe("a disk that must survive a boot before the network and a shutdown after it", () => {
  it("waits for a target that comes up after the first login attempt (waitForTargetMs)", async () => {
    const port = await freeTcpPort();
    let target: Awaited<ReturnType<typeof startTarget>> | undefined;
    const late = new Promise<void>((resolve) =>
      setTimeout(async () => {
        target = await startTarget({ listen: { host: "127.0.0.1", port }, targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:8M" }] }] });
        resolve();
      }, 1500),
    );
    try {
      const started = performance.now();
      const session = await openSession(`iscsi://127.0.0.1:${port}/${IQN}/1`, { waitForTargetMs: 10_000, keepAlive: false });
      expect(performance.now() - started).toBeGreaterThanOrEqual(1400);
      expect((await session.lun(1).readCapacity()).bytes).toBe(8 * 1024 * 1024);
      await session.logout();
    } finally {
      await late;
      await target?.close();
    }
  });

  it("fails at once without waitForTargetMs, naming the portal", async () => {
    const port = await freeTcpPort();
    await expect(openSession(`iscsi://127.0.0.1:${port}/${IQN}/1`)).rejects.toMatchObject({
      code: "ISCSI_ERR_TRANSPORT",
      message: expect.stringContaining(`127.0.0.1:${port}`),
    });
  });

  it("gives up waiting at the deadline with the last transport error", async () => {
    const port = await freeTcpPort();
    const started = performance.now();
    await expect(openSession(`iscsi://127.0.0.1:${port}/${IQN}/1`, { waitForTargetMs: 1200 })).rejects.toMatchObject({ code: "ISCSI_ERR_TRANSPORT" });
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("logs out at once, without reconnecting, while the session is down because its target went away", async () => {
    const target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:8M" }] }] });
    const session = await openSession(`iscsi://127.0.0.1:${target.port}/${IQN}/1`, { keepAlive: false });
    const phases: string[] = [];
    session.on("recovery", (phase) => phases.push(phase));
    await target.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(phases).toEqual(["started"]);
    const started = performance.now();
    await session.logout();
    expect(performance.now() - started).toBeLessThan(500);
    await new Promise((r) => setTimeout(r, 3000));
    expect(phases).toEqual(["started", "gave-up"]);
    expect(session.recoveries[0]?.attempts ?? 0).toBe(0);
  });
});

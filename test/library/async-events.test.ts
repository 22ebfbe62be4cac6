import { afterEach, describe, expect, it } from "vitest";
import { openSession } from "../../src/node/index.js";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { patternBytes } from "../support/pattern.js";
import { pollUntil } from "../support/wait.js";

const IQN = "iqn.2026-11.test.library:async";

describe("a target's asynchronous messages (RFC 7143 §11.9), over real sockets", () => {
  let target: RunningTarget | undefined;

  afterEach(async () => {
    await target?.close();
    target = undefined;
  });

  it("renegotiates when the target asks (AsyncEvent 4): a Text Request on that connection, and I/O carries on", async () => {
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:16M" }] }] });
    const loggedIn: number[] = [];
    target.on("login-complete", (connectionId) => loggedIn.push(connectionId));
    const trace: string[] = [];
    const session = await openSession(`iscsi://127.0.0.1:${target.port}/${IQN}/1`, { keepAlive: false, trace: (line) => trace.push(line) });
    try {
      const events: number[] = [];
      session.on("async-event", (event) => events.push(event.asyncEvent));
      const [connectionId] = loggedIn;
      target.act((engine) => engine.requestRenegotiation(connectionId as number, 5));
      const lun = session.lun(1);
      const data = patternBytes(0, 64 * 1024, 0x4e);
      await lun.write(0, data);
      expect(Buffer.compare(Buffer.from(await lun.read(0, 128)), Buffer.from(data))).toBe(0);
      expect(events).toEqual([4]);
      const requests = trace.filter((line) => line.startsWith(">>") && line.includes("TextRequest"));
      expect(requests).toHaveLength(1);
      expect(requests[0]).toContain(`MaxRecvDataSegmentLength=${session.connections[0]?.maxRecvDataSegmentLength}`);
      // The answer may come after the I/O's: wait for it.
      await pollUntil(() => trace.some((line) => line.startsWith("<<") && line.includes("TextResponse")) || undefined, {
        timeoutMs: 5_000,
        intervalMs: 10,
        what: "the target's Text Response",
      });
      expect(await session.ping()).toBeGreaterThanOrEqual(0);
    } finally {
      await session.logout();
    }
  });
});

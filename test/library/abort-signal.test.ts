/**
 * AbortSignal on the client's operations, and `Symbol.asyncDispose` on sessions, against the
 * embedded target over real sockets. A backend that holds reads until released makes the abort
 * land while the target has the command, so ABORT TASK (RFC 7143 §11.5.1) decides the outcome.
 */
import { afterEach, describe, expect, it } from "vitest";
import { AbortedError, discover, type IscsiSession, openSession } from "../../src/node/index.js";
import type { BlockBackend } from "../../src/target/index.js";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { patternBytes } from "../support/pattern.js";
import { HeldBackend } from "../support/held-backend.js";
import { pollUntil } from "../support/wait.js";

const IQN = "iqn.2026-12.test.library:abort";

describe("AbortSignal and asyncDispose on the client, against the embedded target", () => {
  let target: RunningTarget | undefined;
  let session: IscsiSession | undefined;

  afterEach(async () => {
    await session?.logout().catch(() => session?.close());
    session = undefined;
    await target?.close();
    target = undefined;
  });

  async function start(backend: BlockBackend | string = "mem:16M"): Promise<string> {
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend }] }] });
    return `iscsi://127.0.0.1:${target.port}/${IQN}/1`;
  }

  it("aborts a read the target holds: ABORT TASK, an AbortedError naming the signal, and the session carries on", async () => {
    const backend = new HeldBackend();
    const url = await start(backend);
    const trace: string[] = [];
    session = await openSession(url, { keepAlive: false, trace: (line) => trace.push(line) });
    const lun = session.lun(1);
    const data = patternBytes(0, 64 * 1024, 0x5a);
    await lun.write(0, data);

    backend.holding = true;
    const controller = new AbortController();
    const read = lun.read(0, 128, { signal: controller.signal }).then(
      () => "completed",
      (error: unknown) => error,
    );
    await pollUntil(() => backend.readsWaiting > 0 || undefined, { timeoutMs: 5_000, intervalMs: 5, what: "the target to hold the read" });
    controller.abort(new Error("the user pressed Ctrl-C"));
    const outcome = await read;
    backend.release();

    expect(outcome).toBeInstanceOf(AbortedError);
    expect((outcome as AbortedError).code).toBe("ISCSI_ERR_ABORTED");
    expect((outcome as AbortedError).message).toMatch(/^READ\(10\) on LUN 1 of .* was aborted by its signal$/);
    expect(((outcome as AbortedError).cause as Error).message).toBe("the user pressed Ctrl-C");
    expect(trace.some((line) => line.startsWith(">>") && line.includes("TaskManagementRequest") && line.includes("AbortTask"))).toBe(true);

    const back = await lun.read(0, 128);
    expect(Buffer.compare(Buffer.from(back), Buffer.from(data))).toBe(0);
  });

  it("sends nothing for an operation whose signal is already aborted", async () => {
    const url = await start();
    session = await openSession(url, { keepAlive: false });
    const trace: string[] = [];
    const controller = new AbortController();
    controller.abort();
    await expect(session.lun(1).read(0, 8, { signal: controller.signal })).rejects.toMatchObject({ code: "ISCSI_ERR_ABORTED" });
    await expect(openSession(url, { signal: controller.signal, trace: (line) => trace.push(line) })).rejects.toMatchObject({ code: "ISCSI_ERR_ABORTED" });
    await expect(discover(`127.0.0.1:${target?.port}`, { signal: controller.signal })).rejects.toMatchObject({ code: "ISCSI_ERR_ABORTED" });
    expect(trace).toEqual([]);
  });

  it("aborts a login that waits for a target that is not there yet, and leaves nothing open", async () => {
    const controller = new AbortController();
    // Nothing listens on this port: with waitForTargetMs the login keeps trying until aborted.
    const url = await start();
    await target?.close();
    target = undefined;
    const opening = openSession(url, { waitForTargetMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await expect(opening).rejects.toMatchObject({ code: "ISCSI_ERR_ABORTED" });
  });

  it("logs out when an `await using` scope ends (Symbol.asyncDispose)", async () => {
    const url = await start();
    const ended: string[] = [];
    target?.on("session-closed", (_session, reason) => ended.push(String(reason)));
    {
      const opened = await openSession(url, { keepAlive: false });
      await opened.lun(1).write(0, patternBytes(0, 4096, 1));
      await opened[Symbol.asyncDispose]();
    }
    await pollUntil(() => ended.length > 0 || undefined, { timeoutMs: 5_000, intervalMs: 10, what: "the target to see the session end" });
    expect(ended[0]).toMatch(/logout/i);
  });
});

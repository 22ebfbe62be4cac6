/**
 * The bridge across the iSCSI session's own recovery, in one process: the embedded target drops
 * the session while NBD requests arrive, and the clients see a pause, not an error; then the
 * target goes away for good, and a request the session finally fails comes back as an NBD error
 * (EIO) on a connection that stays open, never as a silence.
 */
import { afterEach, describe, expect, it } from "vitest";
import { errorChunk, request } from "../../src/nbd/engine/client.test-util.js";
import { LunExport } from "../../src/nbd/lun-export.js";
import { NbdServer } from "../../src/nbd/server.js";
import type { RecoveryRecord, RecoverySettings } from "../../src/core/session/recovery.js";
import { openSession, type IscsiSession } from "../../src/node/index.js";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { patternBytes } from "../support/pattern.js";
import { RawNbdClient } from "./nbd.test-util.js";

const IQN = "iqn.2026-11.test.nbd:recovery";

describe("the NBD bridge across iSCSI session recovery", () => {
  let target: RunningTarget | undefined;
  let session: IscsiSession | undefined;
  let server: NbdServer | undefined;
  let client: RawNbdClient | undefined;

  afterEach(async () => {
    client?.close();
    await server?.close(1000);
    await session?.logout().catch(() => session?.close());
    await target?.close();
    target = session = server = client = undefined;
  });

  async function bridge(recovery: Partial<RecoverySettings>): Promise<void> {
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:16M" }] }] });
    session = await openSession(`iscsi://127.0.0.1:${target.port}/${IQN}/1`, { keepAlive: false, recovery });
    const lun = await LunExport.open(session.lun(1), { name: "lun" });
    server = await NbdServer.listen({ listen: { host: "127.0.0.1", port: 0 }, backends: [lun] });
    client = await RawNbdClient.connect("port" in server.address ? server.address.port : 0);
    await client.negotiate({ structured: true });
  }

  function phase(which: "started" | "recovered" | "gave-up"): Promise<RecoveryRecord> {
    return new Promise((resolve) => session?.on("recovery", (p, record) => p === which && resolve(record)));
  }

  it("holds NBD requests while the session is re-established, then answers them all", async () => {
    await bridge({ initialBackoffMs: 300, maxBackoffMs: 300 });
    const started = phase("started");
    const recovered = phase("recovered");
    const [first] = (target as RunningTarget).engine.sessions;
    target?.act((engine) => engine.dropSession(first?.tsih as number, false));
    await started;
    const data = patternBytes(0, 64 * 1024, 3);
    // Sent while the session is down: they wait for it (replies may come in any order).
    client?.send(request({ type: 1, cookie: 1n, offset: 0, length: data.length }, data), request({ type: 3, cookie: 2n }));
    const replies = [await (client as RawNbdClient).next((r) => r.reply(), 20_000), await (client as RawNbdClient).next((r) => r.reply(), 20_000)];
    expect(replies.map((r) => [r.cookie, r.kind === "simple" ? r.error : r.type]).sort()).toEqual([
      [1n, 0],
      [2n, 0],
    ]);
    const record = await recovered;
    client?.send(request({ type: 0, cookie: 3n, offset: 0, length: data.length }));
    const read = await (client as RawNbdClient).next((r) => r.reply());
    if (read.kind !== "structured") throw new Error("structured");
    expect(Buffer.compare(read.payload.subarray(8), data)).toBe(0);
    expect(record.failed).toBe(0);
    expect(session?.recoveries).toHaveLength(1);
  });

  it("answers a request the session finally fails with EIO, and keeps the NBD connection open", async () => {
    await bridge({ initialBackoffMs: 50, maxBackoffMs: 100, replacementTimeoutMs: 600 });
    const gaveUp = phase("gave-up");
    const started = phase("started");
    await target?.close();
    target = undefined;
    await started;
    client?.send(request({ type: 0, cookie: 1n, offset: 0, length: 4096 }));
    const reply = await (client as RawNbdClient).next((r) => r.reply(), 20_000);
    await gaveUp;
    if (reply.kind !== "structured") throw new Error("structured");
    expect(reply.cookie).toBe(1n);
    expect(errorChunk(reply.payload).error).toBe(5);
    expect(client?.isClosed).toBe(false);
    client?.send(request({ type: 1, cookie: 2n, offset: 0, length: 512 }, new Uint8Array(512)));
    const again = await (client as RawNbdClient).next((r) => r.reply(), 10_000);
    if (again.kind !== "structured") throw new Error("structured");
    expect([again.cookie, errorChunk(again.payload).error]).toEqual([2n, 5]);
  });
});

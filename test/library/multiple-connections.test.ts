import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSession } from "../../src/node/index.js";
import { startTarget } from "../../src/target/server.js";
import { patternBytes } from "../support/pattern.js";
import { Tgtd } from "../support/tgtd.js";

const IQN = "iqn.2026-11.test.library:mcs";

async function writeAndReadAcross(url: string, connections: number) {
  const session = await openSession(url, { connections, keepAlive: false });
  try {
    const lun = session.lun(1);
    await lun.readCapacity();
    const chunks = Array.from({ length: 16 }, (_, i) => patternBytes(i << 20, 256 * 1024, 0x3c5 + i));
    await Promise.all(chunks.map((data, i) => lun.write(i * 512, data)));
    const back = await Promise.all(chunks.map((_, i) => lun.read(i * 512, 512)));
    return { session, same: back.every((b, i) => Buffer.compare(Buffer.from(b), Buffer.from(chunks[i] as Uint8Array)) === 0) };
  } catch (error) {
    session.close();
    throw error;
  }
}

describe("several TCP connections in one session (MC/S, RFC 7143 §4.3.1)", () => {
  let tgtd: Tgtd;

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: 16 << 20 } }] });
    await tgtd.setParam(1, "MaxConnections", "4");
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  it("logs in four connections to tgtd, spreads commands over them, and reads back what it wrote", async () => {
    const { session, same } = await writeAndReadAcross(tgtd.url(IQN, 1), 4);
    expect(session.params.maxConnections).toBe(4);
    expect(session.connections.map((c) => c.cid).sort()).toEqual([0, 1, 2, 3]);
    const [listed] = await tgtd.sessions(1);
    expect(listed).toBeDefined();
    const onTarget = await tgtd.connections(1, listed?.sid ?? -1);
    expect(onTarget.map((c) => c.cid)).toEqual([0, 1, 2, 3]);
    expect(same).toBe(true);
    await session.logout();
    await tgtd.waitForSessions(1, (s) => s.length === 0, { what: "the session to end" });
  });

  it("uses what the target allows when it allows fewer connections than asked", async () => {
    await tgtd.setParam(1, "MaxConnections", "2");
    try {
      const { session, same } = await writeAndReadAcross(tgtd.url(IQN, 1), 4);
      expect(session.params.maxConnections).toBe(2);
      expect(session.connections).toHaveLength(2);
      expect(same).toBe(true);
      await session.logout();
    } finally {
      await tgtd.setParam(1, "MaxConnections", "4");
    }
  });

  it("brings all connections back after the session is re-established", async () => {
    const target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:16M" }], policy: { maxConnections: 3 } }] });
    try {
      const session = await openSession(`iscsi://127.0.0.1:${target.port}/${IQN}/1`, {
        connections: 3,
        keepAlive: false,
        recovery: { initialBackoffMs: 50, maxBackoffMs: 200 },
      });
      expect(session.connections).toHaveLength(3);
      const recovered = new Promise<void>((resolve) => session.on("recovery", (phase) => phase === "recovered" && resolve()));
      const [first] = target.engine.sessions;
      target.act((engine) => engine.dropSession(first?.tsih as number, true, { time2Wait: 0 }));
      await recovered;
      for (let i = 0; i < 50 && session.connections.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
      expect(session.connections).toHaveLength(3);
      const data = patternBytes(0, 64 * 1024, 9);
      await session.lun(1).write(0, data);
      expect(Buffer.compare(Buffer.from(await session.lun(1).read(0, 128)), Buffer.from(data))).toBe(0);
      await session.logout();
    } finally {
      await target.close();
    }
  });
});

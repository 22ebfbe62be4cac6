/**
 * The library starts a renegotiation (RFC 7143 §6.2), not only answers one: a Text Request
 * declaring a new MaxRecvDataSegmentLength (§13.12) mid-session, against the embedded target over
 * real sockets; the target's Data-In then comes in pieces of the new size and I/O carries on.
 */
import { afterEach, describe, expect, it } from "vitest";
import { openSession } from "../../src/node/index.js";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { patternBytes } from "../support/pattern.js";

const IQN = "iqn.2026-12.test.library:renegotiate";

describe("a renegotiation the library starts", () => {
  let target: RunningTarget | undefined;

  afterEach(async () => {
    await target?.close();
    target = undefined;
  });

  it("declares a smaller MaxRecvDataSegmentLength, and the target's Data-In then comes in pieces no larger", async () => {
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:16M" }] }] });
    const trace: string[] = [];
    const session = await openSession(`iscsi://127.0.0.1:${target.port}/${IQN}/1`, { keepAlive: false, trace: (line) => trace.push(line) });
    try {
      const lun = session.lun(1);
      const data = patternBytes(0, 256 * 1024, 0x3c);
      await lun.write(0, data);
      const before = session.connections[0]?.maxRecvDataSegmentLength ?? 0;
      expect(before).toBeGreaterThan(4096);

      const answer = await session.renegotiate({ maxRecvDataSegmentLength: 4096 });
      expect(session.connections[0]?.maxRecvDataSegmentLength).toBe(4096);
      expect(trace.some((line) => line.startsWith(">>") && line.includes("TextRequest") && line.includes("MaxRecvDataSegmentLength=4096"))).toBe(true);
      expect(Array.isArray(answer)).toBe(true);

      trace.length = 0;
      const back = await lun.read(0, 512);
      expect(Buffer.compare(Buffer.from(back), Buffer.from(data))).toBe(0);
      const dataIns = trace.filter((line) => line.startsWith("<<") && line.includes("DataIn"));
      expect(dataIns.length).toBeGreaterThanOrEqual(64);
      const lengths = dataIns.map((line) => Number(/ len=(\d+)/.exec(line)?.[1] ?? Number.NaN));
      expect(lengths.filter((n) => !(n >= 0 && n <= 4096))).toEqual([]);
    } finally {
      await session.logout();
    }
  });

  it("refuses a value out of range before sending anything", async () => {
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:1M" }] }] });
    const session = await openSession(`iscsi://127.0.0.1:${target.port}/${IQN}/1`, { keepAlive: false });
    try {
      await expect(session.renegotiate({ maxRecvDataSegmentLength: 100 })).rejects.toMatchObject({
        code: "ISCSI_ERR_LOCAL_PROTOCOL",
        message: expect.stringMatching(/MaxRecvDataSegmentLength=100 is outside 512\.\.16777215/),
      });
      expect(await session.ping()).toBeGreaterThanOrEqual(0);
    } finally {
      await session.logout();
    }
  });
});

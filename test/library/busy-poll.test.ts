/**
 * Busy polling (SessionOptions.busyPollUs): after each write, while commands are outstanding, the
 * driver keeps the event loop turning through the host's `spin` (Node's setImmediate) instead of
 * letting it sleep, for at most busyPollUs after the last write. Pinned over real sockets against
 * tgtd, with the Node host's spins counted: a queue-depth-1 loop of writes read back spins, keeps
 * every byte, and stops spinning once nothing is outstanding; a command the target does not
 * answer (the fault proxy stalls the link) is polled for the budget only; 0 never spins. What it
 * buys (QD1 latency) and costs (CPU) is measured by `npm run bench`, not here.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ClientHost } from "../../src/client/host.js";
import { openSessionOn } from "../../src/client/session.js";
import { FaultProxy } from "../../src/faults/proxy.js";
import { type IscsiSession, nodeHost } from "../../src/node/index.js";
import { patternBytes } from "../support/pattern.js";
import { Tgtd } from "../support/tgtd.js";

const IQN = "iqn.2026-12.test.library:busy-poll";
const BLOCK = 512;
const BLOCKS_PER_IO = 8;

/** The Node host, counting the turns it was asked to spin. */
function countingHost(): { host: ClientHost; spins: () => number } {
  const inner = nodeHost();
  let spins = 0;
  const spin = inner.spin;
  if (spin === undefined) throw new Error("test: the Node host has no spin");
  return {
    host: { ...inner, spin: (callback) => (spins++, spin(callback)) },
    spins: () => spins,
  };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("busy polling, against tgtd", () => {
  let tgtd: Tgtd;
  let session: IscsiSession | undefined;
  let proxy: FaultProxy | undefined;

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: 4 << 20 } }] });
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  afterEach(async () => {
    proxy?.release();
    await session?.logout().catch(() => session?.close());
    session = undefined;
    await proxy?.close();
    proxy = undefined;
  });

  async function open(host: ClientHost, busyPollUs: number | undefined, url = tgtd.url(IQN, 1)): Promise<IscsiSession> {
    session = await openSessionOn(host, url, { keepAlive: false, ...(busyPollUs === undefined ? {} : { busyPollUs }) });
    return session;
  }

  /** Writes then reads back `rounds` blocks one at a time (queue depth 1), checking every byte. */
  async function writeAndReadBack(s: IscsiSession, rounds: number): Promise<void> {
    const lun = s.lun(1);
    const into = new Uint8Array(BLOCKS_PER_IO * BLOCK);
    for (let round = 0; round < rounds; round++) {
      const lba = round * BLOCKS_PER_IO;
      const data = patternBytes(lba, into.length, 7);
      await lun.write(lba, data);
      const back = await lun.read(lba, BLOCKS_PER_IO, { into });
      expect(Buffer.compare(Buffer.from(back), Buffer.from(data)), `round ${round}`).toBe(0);
    }
  }

  it("spins while commands are outstanding, keeps every byte, and stops once none is", async () => {
    const { host, spins } = countingHost();
    const s = await open(host, 500);
    await writeAndReadBack(s, 200);
    // At least one turn for each of the 400 commands: none is answered within the turn that wrote it.
    expect(spins()).toBeGreaterThanOrEqual(400);
    const after = spins();
    await pause(30);
    expect(spins()).toBe(after);
  });

  it("polls a command the target does not answer for the budget only, then lets the loop sleep", async () => {
    proxy = await FaultProxy.start({ target: { host: tgtd.host, port: tgtd.port } });
    const { host, spins } = countingHost();
    const s = await open(host, 20_000, `iscsi://${proxy.portal}/${IQN}/1`);
    await s.lun(1).maxTransferSize();
    proxy.stall();
    const read = s.lun(1).read(0, BLOCKS_PER_IO, { into: new Uint8Array(BLOCKS_PER_IO * BLOCK) });
    await pause(100);
    const polled = spins();
    expect(polled).toBeGreaterThan(0);
    await pause(50);
    // 20 ms after the write the spinning stopped, though the read is still outstanding.
    expect(spins()).toBe(polled);
    proxy.release();
    await read;
  });

  it("never spins without busyPollUs, nor with 0", async () => {
    for (const busyPollUs of [undefined, 0]) {
      const { host, spins } = countingHost();
      const s = await open(host, busyPollUs);
      await writeAndReadBack(s, 20);
      expect(spins(), `busyPollUs ${busyPollUs}`).toBe(0);
      await s.logout();
      session = undefined;
    }
  });
});

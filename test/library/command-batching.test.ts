/**
 * At queue depth a closed loop of callers answers each completion with one new command; the
 * session lets those wait for a few more and writes them together (core/session/batching.ts).
 * Pinned over real sockets against tgtd (a target in another process, as in use), with the Node
 * host's writes counted: a 32-deep loop of reads, and one of writes read back (every byte
 * checked), leave four or more commands to a write; with batching off the same loops complete.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ByteStream, ClientHost, StreamSink } from "../../src/client/host.js";
import { openSessionOn } from "../../src/client/session.js";
import { type IscsiSession, nodeHost } from "../../src/node/index.js";
import { PduStream } from "../../src/faults/pdu-stream.js";
import { patternBytes } from "../support/pattern.js";
import { Tgtd } from "../support/tgtd.js";

const IQN = "iqn.2026-12.test.library:batching";
const BLOCK = 512;
const BLOCKS_PER_IO = 8;
const DEPTH = 32;
const ROUNDS = 40;
const NO_DIGESTS = { header: false, data: false } as const;

/**
 * The Node host, counting the batches written to its sockets, and handing what it reads to the
 * session one PDU per turn of the event loop: each completion then comes alone, as from a target
 * that answers commands one by one (tgtd does, once the initiator keeps up with it; in a test
 * worker it often does not, and reads come several PDUs at a time, which batches by itself).
 * No digests are negotiated (the stream below is told so).
 */
function pacedHost(): { host: ClientHost; writes: () => number } {
  const inner = nodeHost();
  let writes = 0;
  const host: ClientHost = {
    ...inner,
    connect: (portal, sink, options): ByteStream => {
      // The PDU boundaries as the fault proxy finds them; each PDU is copied out of the host's
      // reused read buffer and handed on in a turn of its own.
      const stream = new PduStream(() => NO_DIGESTS);
      let pieces: Uint8Array[] = [];
      const paced: StreamSink = {
        connected: () => sink.connected(),
        directTarget: () => undefined,
        headerReadLength: () => 0,
        receivedDirectly: (count) => sink.receivedDirectly(count),
        received: (bytes) =>
          stream.push(bytes, (piece) => {
            pieces.push(piece.bytes.slice());
            if (!piece.end) return;
            const pdu = Buffer.concat(pieces);
            pieces = [];
            setImmediate(() => sink.received(pdu));
          }),
        closed: (error) => setImmediate(() => sink.closed(error)),
      };
      const socket = inner.connect(portal, paced, options);
      return { ...socket, write: (out, length) => (writes++, socket.write(out, length)) };
    },
  };
  return { host, writes: () => writes };
}

describe("commands at queue depth, against tgtd", () => {
  let tgtd: Tgtd;
  let session: IscsiSession | undefined;

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: 8 << 20 } }, { lun: 2, null: true }] });
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  afterEach(async () => {
    await session?.logout().catch(() => session?.close());
    session = undefined;
  });

  /** Each of DEPTH workers writes its own blocks then reads them back, ROUNDS times. Returns commands sent. */
  async function loop(s: IscsiSession): Promise<number> {
    const lun = s.lun(1);
    await lun.maxTransferSize();
    const worker = async (w: number): Promise<void> => {
      const into = new Uint8Array(BLOCKS_PER_IO * BLOCK);
      for (let round = 0; round < ROUNDS; round++) {
        const lba = (w * ROUNDS + round) * BLOCKS_PER_IO;
        const data = patternBytes(lba, BLOCKS_PER_IO * BLOCK, w);
        await lun.write(lba, data);
        const back = await lun.read(lba, BLOCKS_PER_IO, { into });
        expect(Buffer.compare(Buffer.from(back), Buffer.from(data)), `worker ${w} round ${round}`).toBe(0);
      }
    };
    await Promise.all(Array.from({ length: DEPTH }, (_, w) => worker(w)));
    return DEPTH * ROUNDS * 2;
  }

  /** DEPTH workers reading tgtd's null LUN (answered at once, nothing stored), `each` reads apiece. */
  async function reads(s: IscsiSession, each: number): Promise<number> {
    const lun = s.lun(2);
    await lun.maxTransferSize();
    const worker = async (w: number): Promise<void> => {
      const into = new Uint8Array(BLOCKS_PER_IO * BLOCK);
      for (let round = 0; round < each; round++) await lun.read((w * each + round) * BLOCKS_PER_IO, BLOCKS_PER_IO, { into });
    };
    await Promise.all(Array.from({ length: DEPTH }, (_, w) => worker(w)));
    return DEPTH * each;
  }

  async function open(host: ClientHost, batching: false | undefined): Promise<IscsiSession> {
    session = await openSessionOn(host, tgtd.url(IQN, 1), {
      keepAlive: false,
      headerDigest: "None",
      dataDigest: "None",
      // 4 KiB writes go as immediate data with their command: no R2T, no Data-Out to flush early.
      proposal: { immediateData: true, initialR2T: true },
      ...(batching === false ? { commandBatching: false as const } : {}),
    });
    return session;
  }

  // With batching working, every write but those of the loop's first and last turns (below the
  // depth) carries four commands or more, whatever the timing. Without it a warm initiator
  // against tgtd's null LUN writes about once per command (one completion per socket read).
  const bound = (commands: number): number => commands / 4 + 64;

  it("writes four or more commands to a socket write once 16 are outstanding", async () => {
    const { host, writes } = pacedHost();
    const s = await open(host, undefined);
    await reads(s, 100); // warm up: the counted loop below runs on optimised code
    const before = writes();
    const commands = await reads(s, 200);
    expect(writes() - before).toBeLessThanOrEqual(bound(commands));
  });

  it("keeps every byte written and read back intact while commands wait", async () => {
    const { host, writes } = pacedHost();
    const s = await open(host, undefined);
    const before = writes();
    const commands = await loop(s);
    expect(writes() - before).toBeLessThanOrEqual(bound(commands));
  });

  it("completes the same loops, every byte intact, with batching off", async () => {
    const { host, writes } = pacedHost();
    const s = await open(host, false);
    const before = writes();
    await loop(s);
    await reads(s, 100);
    expect(writes() - before).toBeGreaterThan(0);
  });
});

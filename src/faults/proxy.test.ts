import * as net from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { crc32c } from "../core/digest/crc32c.js";
import { IscsiError } from "../core/errors.js";
import { arbInitiatorPdu, arbTargetPdu } from "../core/pdu/arbitraries.test-util.js";
import type { DigestSettings } from "../core/pdu/encode.js";
import { Framer } from "../core/pdu/framer.js";
import { concatBytes, encodeToBytes } from "../core/pdu/frames.test-util.js";
import { Opcode } from "../core/pdu/opcodes.js";
import type { DataInPdu, LoginRequestPdu, LoginResponsePdu, NopOutPdu, Pdu } from "../core/pdu/types.js";
import { encodeText } from "../core/text/codec.js";
import { FaultProxy } from "./proxy.js";

/** One end of a TCP connection that records what it receives. */
class Peer {
  private chunks: Uint8Array[] = [];
  private length = 0;
  private waiters: Array<() => void> = [];
  readonly ended: Promise<"end" | "reset">;
  error: NodeJS.ErrnoException | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.chunks.push(new Uint8Array(chunk));
      this.length += chunk.length;
      this.wake();
    });
    this.ended = new Promise((resolve) => {
      socket.on("error", (error: NodeJS.ErrnoException) => {
        this.error = error;
      });
      socket.on("end", () => resolve("end"));
      socket.on("close", (hadError) => resolve(hadError ? "reset" : "end"));
    });
    void this.ended.then(() => this.wake());
  }

  get received(): Uint8Array {
    return concatBytes(this.chunks);
  }

  get receivedLength(): number {
    return this.length;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once `n` bytes are in, or rejects after `ms`. */
  async waitFor(n: number, ms = 5_000): Promise<Uint8Array> {
    const deadline = performance.now() + ms;
    while (this.length < n) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`test: ${this.length} of ${n} bytes arrived within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received;
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }
}

interface Rig {
  proxy: FaultProxy;
  initiator: Peer;
  target: Peer;
  targetServer: net.Server;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

async function targetServer(): Promise<{ server: net.Server; port: number; accepted: Peer[]; nextPeer: () => Promise<Peer> }> {
  const accepted: Peer[] = [];
  let waiting: ((p: Peer) => void) | undefined;
  const server = net.createServer((socket) => {
    const peer = new Peer(socket);
    accepted.push(peer);
    waiting?.(peer);
    waiting = undefined;
  });
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  open.push(
    () =>
      new Promise<void>((resolve) => {
        for (const p of accepted) p.socket.destroy();
        server.close(() => resolve());
      }),
  );
  const nextPeer = (): Promise<Peer> =>
    new Promise((resolve) => {
      const already = accepted[accepted.length - 1];
      if (already !== undefined && !already.socket.destroyed && accepted.length > used) {
        used = accepted.length;
        resolve(already);
        return;
      }
      waiting = (p) => {
        used = accepted.length;
        resolve(p);
      };
    });
  let used = 0;
  return { server, port, accepted, nextPeer };
}

async function connect(port: number): Promise<Peer> {
  const socket = net.connect({ host: "127.0.0.1", port });
  const peer = new Peer(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return peer;
}

async function rig(options: { seed?: number; digests?: "auto" | { header: boolean; data: boolean } } = {}): Promise<Rig> {
  const t = await targetServer();
  const proxy = await FaultProxy.start({ target: { host: "127.0.0.1", port: t.port }, seed: options.seed ?? 7, digests: options.digests ?? "auto" });
  open.push(() => proxy.close());
  const initiator = await connect(proxy.port);
  open.push(async () => void initiator.socket.destroy());
  const target = await t.nextPeer();
  // The proxy counts a connection once both of its sockets are up.
  while (proxy.stats.active < 1) await new Promise((resolve) => setTimeout(resolve, 5));
  return { proxy, initiator, target, targetServer: t.server };
}

const PLAIN: DigestSettings = { headerDigest: false, dataDigest: false, crc32c };
const BOTH: DigestSettings = { headerDigest: true, dataDigest: true, crc32c };

function loginRequest(): LoginRequestPdu {
  return {
    opcode: Opcode.LoginRequest,
    transit: true,
    continue: false,
    currentStage: 1,
    nextStage: 3,
    versionMax: 0,
    versionMin: 0,
    isid: 0x80_00_00_00_00_01,
    tsih: 0,
    initiatorTaskTag: 1,
    cid: 0,
    cmdSN: 1,
    expStatSN: 0,
    data: encodeText([
      ["HeaderDigest", "CRC32C,None"],
      ["DataDigest", "CRC32C,None"],
    ]),
  };
}

function loginResponse(): LoginResponsePdu {
  return {
    opcode: Opcode.LoginResponse,
    transit: true,
    continue: false,
    currentStage: 1,
    nextStage: 3,
    versionMax: 0,
    versionActive: 0,
    isid: 0x80_00_00_00_00_01,
    tsih: 9,
    initiatorTaskTag: 1,
    statSN: 1,
    expCmdSN: 1,
    maxCmdSN: 32,
    statusClass: 0,
    statusDetail: 0,
    data: encodeText([
      ["HeaderDigest", "CRC32C"],
      ["DataDigest", "CRC32C"],
    ]),
  };
}

function nopOut(itt: number, data = new Uint8Array(0)): NopOutPdu {
  return { opcode: Opcode.NopOut, immediate: true, lun: 0, initiatorTaskTag: itt, targetTransferTag: 0xffff_ffff, cmdSN: 1, expStatSN: 2, data };
}

function dataIn(itt: number, data: Uint8Array): DataInPdu {
  return {
    opcode: Opcode.DataIn,
    final: true,
    acknowledge: false,
    residualOverflow: false,
    residualUnderflow: false,
    hasStatus: false,
    status: 0,
    lun: 1,
    initiatorTaskTag: itt,
    targetTransferTag: 0xffff_ffff,
    statSN: 0,
    expCmdSN: 2,
    maxCmdSN: 33,
    dataSN: 0,
    bufferOffset: 0,
    residualCount: 0,
    data,
  };
}

/** Runs a login with both digests through the rig. */
async function logIn(r: Rig): Promise<void> {
  const request = encodeToBytes(loginRequest(), PLAIN);
  r.initiator.write(request);
  await r.target.waitFor(request.length);
  const response = encodeToBytes(loginResponse(), PLAIN);
  r.target.write(response);
  await r.initiator.waitFor(response.length);
}

function differingBits(a: Uint8Array, b: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < a.length; i++) {
    let x = (a[i] as number) ^ (b[i] as number);
    while (x !== 0) {
      bits += x & 1;
      x >>>= 1;
    }
  }
  return bits;
}

describe("FaultProxy", () => {
  it("passes PDUs both ways byte for byte and counts them", async () => {
    const r = await rig();
    const toTarget = fc.sample(arbInitiatorPdu, { numRuns: 40, seed: 11 });
    const toInitiator = fc.sample(arbTargetPdu, { numRuns: 40, seed: 12 }).filter((p) => p.opcode !== Opcode.LoginResponse);
    const up = concatBytes(toTarget.filter((p) => p.opcode !== Opcode.LoginRequest).map((p) => encodeToBytes(p, PLAIN)));
    const down = concatBytes(toInitiator.map((p) => encodeToBytes(p, PLAIN)));
    // Odd chunk sizes, so PDUs straddle chunks.
    for (let i = 0; i < up.length; i += 97) r.initiator.write(up.subarray(i, i + 97));
    for (let i = 0; i < down.length; i += 61) r.target.write(down.subarray(i, i + 61));
    expect(await r.target.waitFor(up.length)).toEqual(up);
    expect(await r.initiator.waitFor(down.length)).toEqual(down);
    expect(r.proxy.stats.pdus).toEqual({ "to-target": toTarget.filter((p) => p.opcode !== Opcode.LoginRequest).length, "to-initiator": toInitiator.length });
    expect(r.proxy.faultsInjected).toBe(0);
  });

  it("learns digests from the login and flips one header bit that the receiver's header digest catches", async () => {
    const r = await rig();
    await logIn(r);
    const flipped = r.proxy.flip({ direction: "to-target", where: "header", match: { opcode: Opcode.NopOut } });
    const sent = concatBytes([encodeToBytes(nopOut(5, Uint8Array.of(1, 2, 3)), BOTH), encodeToBytes(nopOut(6), BOTH)]);
    const before = r.target.receivedLength;
    r.initiator.write(sent);
    const got = (await r.target.waitFor(before + sent.length)).subarray(before);
    expect(differingBits(got, sent)).toBe(1);
    const event = await flipped.applied;
    expect(event).toMatchObject({ kind: "flip", direction: "to-target", pdu: { index: 1, opcode: Opcode.NopOut, initiatorTaskTag: 5 } });
    expect(event.detail).toMatch(/header digest on, data digest on/);
    const framer = new Framer({ maxDataSegmentLength: 8192, headerDigest: true, dataDigest: true }, crc32c);
    framer.push(got);
    let caught: unknown;
    try {
      framer.next();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IscsiError);
    expect(caught).toMatchObject({ code: "ISCSI_ERR_DIGEST", which: "header" });
    expect(r.proxy.stats.faults.flip).toBe(1);
  });

  it("flips one data bit of a Data-In that the data digest catches, and leaves the next one alone", async () => {
    const r = await rig();
    await logIn(r);
    r.proxy.flip({ direction: "to-initiator", where: "data", match: { opcode: Opcode.DataIn } });
    const payload = new Uint8Array(1000).map((_, i) => i & 0xff);
    const sent = concatBytes([encodeToBytes(dataIn(1, payload), BOTH), encodeToBytes(dataIn(2, payload), BOTH)]);
    const before = r.initiator.receivedLength;
    r.target.write(sent);
    const got = (await r.initiator.waitFor(before + sent.length)).subarray(before);
    expect(differingBits(got, sent)).toBe(1);
    const framer = new Framer({ maxDataSegmentLength: 8192, headerDigest: true, dataDigest: true }, crc32c);
    framer.push(got);
    expect(framer.next()?.dataDigestError).toBe(true);
    expect(framer.next()?.dataDigestError).toBe(false);
  });

  it("cuts a PDU after the given number of bytes and closes both sides", async () => {
    const r = await rig();
    const cut = r.proxy.cut({ direction: "to-initiator", match: { opcode: Opcode.DataIn }, at: 100 });
    const nop = encodeToBytes({ ...dataIn(1, new Uint8Array(512)) }, PLAIN);
    r.target.write(concatBytes([nop, nop]));
    expect(await r.initiator.ended).toBe("end");
    expect(r.initiator.received).toEqual(nop.subarray(0, 100));
    expect((await cut.applied).detail).toMatch(/after 100 of 560 bytes/);
    await r.target.ended;
    expect(r.proxy.stats.active).toBe(0);
  });

  it("drops every connection with RST", async () => {
    const r = await rig();
    expect(r.proxy.drop({ mode: "rst" })).toBe(1);
    expect(await r.initiator.ended).toBe("reset");
    expect(r.initiator.error?.code).toBe("ECONNRESET");
    expect(r.proxy.stats.faults.drop).toBe(1);
  });

  it("drops with FIN: both peers see an orderly end", async () => {
    const r = await rig();
    r.proxy.drop({ mode: "fin" });
    expect(await r.initiator.ended).toBe("end");
    expect(await r.target.ended).toBe("end");
  });

  it("stalls without closing and forwards what was held once released", async () => {
    const r = await rig();
    const stall = r.proxy.stall();
    const bytes = encodeToBytes(nopOut(1), PLAIN);
    r.initiator.write(bytes);
    await expect(r.target.waitFor(bytes.length, 300)).rejects.toThrow(/0 of 48 bytes/);
    expect(r.initiator.socket.destroyed).toBe(false);
    stall.release();
    await stall.released;
    expect(await r.target.waitFor(bytes.length)).toEqual(bytes);
  });

  it("ends a timed stall by itself", async () => {
    const r = await rig();
    const started = performance.now();
    const stall = r.proxy.stall({ durationMs: 200 });
    r.initiator.write(encodeToBytes(nopOut(1), PLAIN));
    await r.target.waitFor(48);
    await stall.released;
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
  });

  it("delays every PDU by the given time and counts the PDUs it held", async () => {
    const r = await rig();
    r.proxy.setDelay(150, "to-target");
    const started = performance.now();
    r.initiator.write(concatBytes([encodeToBytes(nopOut(1), PLAIN), encodeToBytes(nopOut(2), PLAIN)]));
    await r.target.waitFor(96);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(r.proxy.stats.faults.delay).toBe(2);
    r.proxy.setDelay(0);
    const quick = performance.now();
    r.target.write(encodeToBytes(dataIn(1, new Uint8Array(8)), PLAIN));
    await r.initiator.waitFor(56);
    expect(performance.now() - quick).toBeLessThan(140);
  });

  it("throttles a direction to a rate, in bursts, and lifts it", async () => {
    const r = await rig();
    r.proxy.throttle(256 * 1024, "to-initiator", 16 * 1024);
    const big = encodeToBytes(dataIn(1, new Uint8Array(64 * 1024)), PLAIN);
    const started = performance.now();
    r.target.write(big);
    // 64 KiB at 256 KiB/s: about 250 ms, in four bursts.
    await r.initiator.waitFor(16 * 1024);
    expect(r.initiator.receivedLength).toBeLessThan(big.length);
    expect(await r.initiator.waitFor(big.length)).toEqual(big);
    expect(performance.now() - started).toBeGreaterThanOrEqual(230);
    expect(r.proxy.stats.faults.throttle).toBe(1);
    r.proxy.throttle(undefined);
    const quick = performance.now();
    r.target.write(big);
    await r.initiator.waitFor(2 * big.length);
    expect(performance.now() - quick).toBeLessThan(200);
  });

  it("swallows the matching PDUs only", async () => {
    const r = await rig();
    const swallowed = r.proxy.swallow({ direction: "to-target", match: { opcode: Opcode.NopOut, initiatorTaskTag: 2 } });
    const keep1 = encodeToBytes(nopOut(1), PLAIN);
    const keep3 = encodeToBytes(nopOut(3, Uint8Array.of(7)), PLAIN);
    r.initiator.write(concatBytes([keep1, encodeToBytes(nopOut(2, Uint8Array.of(1, 2, 3, 4, 5)), PLAIN), keep3]));
    expect(await r.target.waitFor(keep1.length + keep3.length)).toEqual(concatBytes([keep1, keep3]));
    expect((await swallowed.applied).pdu).toEqual({ index: 1, opcode: Opcode.NopOut, initiatorTaskTag: 2 });
  });

  it("resets connections while refusing and counts them, and resets when the target is down", async () => {
    const r = await rig();
    r.proxy.refuse(true);
    const refused = net.connect({ host: "127.0.0.1", port: r.proxy.port });
    const outcome = await new Promise<string>((resolve) => {
      refused.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      refused.on("close", () => resolve("closed"));
    });
    expect(["ECONNRESET", "closed"]).toContain(outcome);
    expect(r.proxy.stats.refused).toBe(1);

    // A proxy in front of nothing: the target's port is closed.
    const nothing = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen({ host: "127.0.0.1", port: 0 }, () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const lonely = await FaultProxy.start({ target: { host: "127.0.0.1", port: nothing } });
    open.push(() => lonely.close());
    const peer = await connect(lonely.port);
    expect(await peer.ended).toBe("reset");
    expect(lonely.stats).toMatchObject({ connections: 1, upstreamFailures: 1, active: 0 });
  });

  it("picks the same bits with the same seed", async () => {
    const details: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await rig({ seed: 1234, digests: { header: true, data: true } });
      const handle = r.proxy.flip({ direction: "to-initiator", where: "data" });
      r.target.write(encodeToBytes(dataIn(1, new Uint8Array(4000)), BOTH));
      details.push((await handle.applied).detail);
      for (const close of open.splice(0)) await close();
    }
    expect(details[0]).toBe(details[1]);
    expect(details[0]).toMatch(/flipped bit \d of data byte \d+ in DataIn #0/);
  });

  it("forwards a PDU sequence unchanged when digests are forced on from the start", async () => {
    const r = await rig({ digests: { header: true, data: true } });
    // Forced digests apply after login only: a proxy that never saw a login keeps framing plain.
    const pdus: Pdu[] = [nopOut(1, Uint8Array.of(1)), nopOut(2)];
    const bytes = concatBytes(pdus.map((p) => encodeToBytes(p, PLAIN)));
    r.initiator.write(bytes);
    expect(await r.target.waitFor(bytes.length)).toEqual(bytes);
    expect(r.proxy.stats.pdus["to-target"]).toBe(2);
  });
});

import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ScsiError } from "../core/errors.js";
import type { NbdBackend } from "./backend.js";
import { EXPORT, ServerReader, clientFlags, errorChunk, infoData, option, request } from "./engine/client.test-util.js";
import type { NbdExtent } from "./engine/connection.js";
import { NbdServer, nbdUri } from "./server.js";

/** A backend in memory whose answers wait until the test releases them. */
class HeldBackend implements NbdBackend {
  readonly export = { ...EXPORT, size: 16 << 20 };
  readonly data = new Uint8Array(16 << 20);
  inFlight = 0;
  maxInFlight = 0;
  hold = false;
  fail: unknown;
  private waiting: (() => void)[] = [];

  release(): void {
    this.hold = false;
    for (const w of this.waiting.splice(0)) w();
  }

  private async run<T>(body: () => T): Promise<T> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise<void>((resolve) => (this.hold ? this.waiting.push(resolve) : setImmediate(resolve)));
      if (this.fail !== undefined) throw this.fail;
      return body();
    } finally {
      this.inFlight--;
    }
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.run(() => this.data.slice(offset, offset + length));
  }
  write(offset: number, data: Uint8Array): Promise<void> {
    return this.run(() => this.data.set(data, offset));
  }
  flush(): Promise<void> {
    return this.run(() => undefined);
  }
  trim(): Promise<void> {
    return this.run(() => undefined);
  }
  writeZeroes(offset: number, length: number): Promise<void> {
    return this.run(() => {
      this.data.fill(0, offset, offset + length);
    });
  }
  cache(): Promise<void> {
    return this.run(() => undefined);
  }
  blockStatus(_offset: number, length: number): Promise<readonly NbdExtent[]> {
    return this.run(() => [{ length, flags: 0 }]);
  }
}

/** A socket client that reads whole server messages. */
class Client {
  private reader = new ServerReader();
  private wake: (() => void) | undefined;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.reader.push(new Uint8Array(chunk));
      this.wake?.();
    });
    this.closed = new Promise((resolve) => socket.on("close", () => resolve()));
    socket.on("close", () => this.wake?.());
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(new Client(socket)));
      socket.once("error", reject);
    });
  }

  async next<T>(parse: (r: ServerReader) => T): Promise<T> {
    for (;;) {
      const attempt = ServerReader.over(this.reader.unread());
      try {
        const value = parse(attempt);
        const consumed = this.reader.remaining - attempt.remaining;
        const rest = this.reader.unread().subarray(consumed);
        this.reader = new ServerReader();
        this.reader.push(rest);
        return value;
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
      }
      if (this.socket.destroyed) throw new Error("closed");
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async go(): Promise<void> {
    await this.next((r) => r.greeting());
    this.socket.write(clientFlags(3));
    this.socket.write(option(8));
    await this.next((r) => r.optionReplies());
    this.socket.write(option(7, infoData("", [3])));
    await this.next((r) => r.optionReplies());
  }
}

describe("NbdServer on a socket", () => {
  let server: NbdServer | undefined;
  afterEach(async () => {
    await server?.close(100);
    server = undefined;
  });

  async function serve(backend: NbdBackend, options: Partial<Parameters<typeof NbdServer.listen>[0]> = {}): Promise<NbdServer> {
    server = await NbdServer.listen({ listen: { host: "127.0.0.1", port: 0 }, backends: [backend], ...options });
    return server;
  }

  const port = (s: NbdServer): number => ("port" in s.address ? s.address.port : 0);

  it("keeps many requests in flight at once and answers each exactly once", async () => {
    const backend = new HeldBackend();
    const s = await serve(backend);
    const client = await Client.connect(port(s));
    await client.go();
    backend.hold = true;
    for (let i = 0; i < 32; i++) client.socket.write(request({ type: 0, cookie: BigInt(i + 1), offset: i * 4096, length: 4096 }));
    while (backend.inFlight < 32) await new Promise((r) => setTimeout(r, 5));
    backend.release();
    const cookies = new Set<bigint>();
    for (let i = 0; i < 32; i++) cookies.add((await client.next((r) => r.reply())).cookie);
    expect(cookies.size).toBe(32);
    expect(backend.maxInFlight).toBe(32);
  });

  it("stops reading a connection while too many of its requests are in flight", async () => {
    const backend = new HeldBackend();
    const s = await serve(backend, { maxInFlightRequests: 4 });
    const client = await Client.connect(port(s));
    await client.go();
    for (let i = 0; i < 64; i++) client.socket.write(request({ type: 0, cookie: BigInt(i + 1), offset: 0, length: 512 }));
    for (let i = 0; i < 64; i++) await client.next((r) => r.reply());
    expect(backend.maxInFlight).toBeLessThanOrEqual(4);
  });

  it("on close answers the requests in flight, refuses new ones with ESHUTDOWN, then closes the connection", async () => {
    const backend = new HeldBackend();
    const s = await serve(backend);
    const client = await Client.connect(port(s));
    await client.go();
    backend.hold = true;
    client.socket.write(request({ type: 0, cookie: 1n, offset: 0, length: 512 }));
    while (backend.inFlight < 1) await new Promise((r) => setTimeout(r, 5));
    const closing = s.close(5000);
    client.socket.write(request({ type: 0, cookie: 2n, offset: 0, length: 512 }));
    const refused = await client.next((r) => r.reply());
    expect(refused.cookie).toBe(2n);
    if (refused.kind !== "structured") throw new Error("structured");
    expect(errorChunk(refused.payload).error).toBe(108);
    backend.release();
    expect(await client.next((r) => r.reply())).toMatchObject({ cookie: 1n, type: 1 });
    expect(await closing).toEqual({ unfinished: 0, forced: 0 });
    await client.closed;
    server = undefined;
  });

  it("on close cuts off, and counts, requests that outlive the deadline", async () => {
    const backend = new HeldBackend();
    const s = await serve(backend);
    const client = await Client.connect(port(s));
    await client.go();
    backend.hold = true;
    client.socket.write(request({ type: 1, cookie: 1n, offset: 0, length: 512 }, new Uint8Array(512)));
    while (backend.inFlight < 1) await new Promise((r) => setTimeout(r, 5));
    expect(await s.close(100)).toEqual({ unfinished: 1, forced: 1 });
    await client.closed;
    backend.release();
    server = undefined;
  });

  it("answers a backend failure with the errno it maps to, and reports it", async () => {
    const backend = new HeldBackend();
    const s = await serve(backend);
    const failures: number[] = [];
    s.on("request-failed", (_c, _r, errno) => failures.push(errno));
    const client = await Client.connect(port(s));
    await client.go();
    backend.fail = new ScsiError(0x02, "WRITE(10) failed: DATA PROTECT, WRITE PROTECTED", { key: 0x07, asc: 0x27, ascq: 0, description: "WRITE PROTECTED" });
    client.socket.write(request({ type: 1, cookie: 1n, offset: 0, length: 512 }, new Uint8Array(512)));
    const reply = await client.next((r) => r.reply());
    if (reply.kind !== "structured") throw new Error("structured");
    expect(errorChunk(reply.payload)).toEqual({ error: 1, message: "write at 0+512: EPERM: WRITE(10) failed: DATA PROTECT, WRITE PROTECTED" });
    expect(failures).toEqual([1]);
  });

  it("drops a client that does not finish its handshake in time", async () => {
    const s = await serve(new HeldBackend(), { handshakeTimeoutMs: 100 });
    const ended = new Promise<string>((resolve) => s.on("client-closed", (_c, reason) => resolve(reason)));
    const client = await Client.connect(port(s));
    await client.next((r) => r.greeting());
    await client.closed;
    expect(await ended).toBe("timeout");
  });

  it("gives URIs in libnbd's forms", () => {
    expect(nbdUri({ host: "127.0.0.1", port: 10809 }, "iqn.2026-11.test:disk/1")).toBe("nbd://127.0.0.1:10809/iqn.2026-11.test:disk/1");
    expect(nbdUri({ host: "::1", port: 10809 }, "")).toBe("nbd://[::1]:10809/");
    expect(nbdUri({ socket: "/run/lun.sock" }, "a b?")).toBe("nbd+unix:///a%20b%3F?socket=/run/lun.sock");
  });
});

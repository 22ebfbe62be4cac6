/**
 * The browser host on Node, with the `ws` package as its WebSocket: the same code as in a page
 * (test/browser runs it in Chromium), here against the real gateway, real sockets and the
 * embedded target, with no browser needed.
 */
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket as NodeWebSocket } from "ws";
import { Secret } from "../core/auth/secret.js";
import type { IscsiError } from "../core/errors.js";
import { startGateway, type Gateway } from "../gateway/index.js";
import { startTarget, type RunningTarget } from "../target/server.js";
import type { StreamSink } from "../client/host.js";
import { browserHost, closeError, type WebSocketConstructor } from "./host.js";
import { connectVia } from "./index.js";

const IQN = "iqn.2026-11.test:browser-host";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `ws`'s WebSocket as a page's: one URL argument, the page's Origin sent with it. */
function pageWebSocket(origin: string | undefined): WebSocketConstructor {
  return class extends NodeWebSocket {
    constructor(url: string) {
      super(url, origin === undefined ? {} : { origin });
    }
  } as unknown as WebSocketConstructor;
}

async function gatewayTo(allow: string[]): Promise<Gateway> {
  const g = await startGateway({ host: "127.0.0.1", port: 0, allow, webRoot: null });
  cleanups.push(() => g.close());
  return g;
}

async function tcpServer(onConnection: (socket: net.Socket) => void): Promise<number> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on("error", () => undefined);
    onConnection(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return (server.address() as net.AddressInfo).port;
}

/** A sink that records what the host tells it. */
function recordingSink(): StreamSink & { events: string[]; bytes: number[]; closedWith: Promise<IscsiError | undefined> } {
  const events: string[] = [];
  const bytes: number[] = [];
  let closed: (e: IscsiError | undefined) => void = () => undefined;
  const closedWith = new Promise<IscsiError | undefined>((resolve) => (closed = resolve));
  return {
    events,
    bytes,
    closedWith,
    connected: () => events.push("connected"),
    received: (b) => bytes.push(...b),
    directTarget: () => undefined,
    headerReadLength: () => 0,
    receivedDirectly: () => undefined,
    closed: (error) => {
      events.push(error === undefined ? "closed" : `closed: ${error.code}`);
      closed(error);
    },
  };
}

describe("the browser host's streams", () => {
  it("is connected only once the gateway's TCP connection is up, and sends what was written before, in order", async () => {
    const port = await tcpServer((s) => s.pipe(s));
    const g = await gatewayTo([`127.0.0.1:${port}`]);
    const host = browserHost({ gateway: `ws://127.0.0.1:${g.port}`, WebSocket: pageWebSocket(`http://127.0.0.1:${g.port}`) });
    const sink = recordingSink();
    const stream = host.connect({ host: "127.0.0.1", port }, sink, { timeoutMs: 5_000 });
    expect(sink.events).toEqual([]);
    const piece = new Uint8Array([1, 2, 3]);
    stream.write([piece, new Uint8Array([4])], 4);
    // The core reuses its pieces once write returns: the host must have copied.
    piece.fill(9);
    while (sink.bytes.length < 4) await new Promise((r) => setTimeout(r, 5));
    expect(sink.events).toEqual(["connected"]);
    expect(sink.bytes).toEqual([1, 2, 3, 4]);
    // A batch larger than one gateway message goes in parts and arrives whole.
    const big = new Uint8Array(3 * (1 << 20) + 5).map((_, i) => i * 7);
    stream.write([big], big.length);
    while (sink.bytes.length < 4 + big.length) await new Promise((r) => setTimeout(r, 5));
    expect(Uint8Array.from(sink.bytes.slice(4)).every((b, i) => b === big[i])).toBe(true);
    stream.end();
    expect(await sink.closedWith).toBeUndefined();
  });

  it("closes with a TransportError naming the portal and the gateway's reason when the destination is not allowed", async () => {
    const g = await gatewayTo(["127.0.0.1:1"]);
    const gateway = `ws://127.0.0.1:${g.port}`;
    const host = browserHost({ gateway, WebSocket: pageWebSocket(`http://127.0.0.1:${g.port}`) });
    const sink = recordingSink();
    host.connect({ host: "127.0.0.1", port: 3260 }, sink, { timeoutMs: 5_000 });
    const error = await sink.closedWith;
    expect(error?.code).toBe("ISCSI_ERR_TRANSPORT");
    expect(error?.message).toBe(
      `cannot connect to 127.0.0.1:3260: refused by the gateway: 127.0.0.1:3260 is not on its --allow list (gateway ${gateway}; start it with --allow 127.0.0.1:3260)`,
    );
    expect(sink.events).toEqual(["closed: ISCSI_ERR_TRANSPORT"]);
  });

  it("says the gateway refused the page or cannot be reached when the handshake fails (as a browser sees a foreign origin)", async () => {
    const g = await gatewayTo(["127.0.0.1:3260"]);
    const gateway = `ws://127.0.0.1:${g.port}`;
    const host = browserHost({ gateway, WebSocket: pageWebSocket("http://evil.example") });
    const sink = recordingSink();
    host.connect({ host: "127.0.0.1", port: 3260 }, sink, { timeoutMs: 5_000 });
    expect((await sink.closedWith)?.message).toBe(
      `cannot connect to 127.0.0.1:3260: no relay from the gateway at ${gateway} (is it running there, and does it allow this page's origin? see iscsi gateway --allow-origin)`,
    );
  });

  it("gives up with a TimeoutError when the gateway does not answer within the connect timeout", async () => {
    // A TCP server that never answers the WebSocket handshake.
    const silent = await tcpServer(() => undefined);
    const host = browserHost({ gateway: `ws://127.0.0.1:${silent}`, WebSocket: pageWebSocket("http://127.0.0.1") });
    const sink = recordingSink();
    const started = performance.now();
    host.connect({ host: "10.0.0.1", port: 3260 }, sink, { timeoutMs: 300 });
    const error = await sink.closedWith;
    expect(error?.code).toBe("ISCSI_ERR_TIMEOUT");
    expect(error?.message).toBe(`cannot connect to 10.0.0.1:3260 through the gateway at ws://127.0.0.1:${silent}: no answer within 300 ms`);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it("tells of a malformed gateway URL later, never from inside connect", async () => {
    const host = browserHost({ gateway: "not a url", WebSocket: pageWebSocket(undefined) });
    const sink = recordingSink();
    host.connect({ host: "127.0.0.1", port: 3260 }, sink, { timeoutMs: 1_000 });
    expect(sink.events).toEqual([]);
    expect((await sink.closedWith)?.message).toMatch(/^cannot connect to 127.0.0.1:3260: cannot open a WebSocket to the gateway at not a url: /);
  });

  it("drops the connection on destroy (the target sees a reset) and closes the stream after the call", async () => {
    let seen: (what: string) => void = () => undefined;
    const outcome = new Promise<string>((resolve) => (seen = resolve));
    const port = await tcpServer((s) => {
      s.on("error", (e: NodeJS.ErrnoException) => seen(e.code ?? "error"));
      s.on("end", () => seen("fin"));
    });
    const g = await gatewayTo([`127.0.0.1:${port}`]);
    const host = browserHost({ gateway: `ws://127.0.0.1:${g.port}`, WebSocket: pageWebSocket(`http://127.0.0.1:${g.port}`) });
    const sink = recordingSink();
    const stream = host.connect({ host: "127.0.0.1", port }, sink, { timeoutMs: 5_000 });
    while (!sink.events.includes("connected")) await new Promise((r) => setTimeout(r, 5));
    stream.destroy();
    expect(sink.events).toEqual(["connected"]);
    expect(await sink.closedWith).toBeUndefined();
    expect(await outcome).toBe("ECONNRESET");
  });
});

describe("closeError", () => {
  const portal = { host: "10.0.0.5", port: 3260 };
  const gw = "wss://gw.example";

  it("reads an orderly close after the connection as the end of the stream, and before it as a failure", () => {
    expect(closeError(1000, "the target closed the connection", "connected", portal, gw)).toBeUndefined();
    expect(closeError(1000, "", "opening", portal, gw)?.message).toBe("cannot connect to 10.0.0.5:3260: the gateway at wss://gw.example closed the relay before it was open");
  });

  it("names the gateway in what it reports of the target's side, and makes its connect timeout a TimeoutError", () => {
    expect(closeError(4502, "cannot connect to 10.0.0.5:3260: connection refused", "opening", portal, gw)?.message).toBe(
      "cannot connect to 10.0.0.5:3260: connection refused (through the gateway at wss://gw.example)",
    );
    expect(closeError(4504, "cannot connect to 10.0.0.5:3260: no answer within 10000 ms", "opening", portal, gw)?.code).toBe("ISCSI_ERR_TIMEOUT");
    expect(closeError(4503, "connection to 10.0.0.5:3260 lost: connection reset by the target", "connected", portal, gw)?.code).toBe("ISCSI_ERR_TRANSPORT");
    expect(closeError(1001, "the gateway is stopping", "connected", portal, gw)?.message).toBe("connection to 10.0.0.5:3260 lost: the gateway at wss://gw.example is stopping");
    expect(closeError(1013, "", "opening", portal, gw)?.message).toMatch(/too many relays open/);
  });
});

describe("the client on the browser host", () => {
  let target: RunningTarget;

  it("discovers, logs in with CHAP, writes and reads back through the gateway", async () => {
    target = await startTarget({
      targets: [{ iqn: IQN, luns: [{ lun: 0, backend: "mem:8M" }], chap: { users: [{ username: "alice", secret: Secret.fromString("alice-secret-1") }] } }],
    });
    cleanups.push(() => target.close());
    const g = await gatewayTo([`127.0.0.1:${target.port}`]);
    const iscsi = connectVia(`ws://127.0.0.1:${g.port}`, { WebSocket: pageWebSocket(`http://127.0.0.1:${g.port}`) });
    expect(iscsi.host.name).toBe("browser");
    const found = await iscsi.discover(`127.0.0.1:${target.port}`, { chap: { username: "alice", secret: "alice-secret-1" } });
    expect(found.map((t) => t.name)).toEqual([IQN]);
    const lun = await iscsi.openLun(`iscsi://alice%alice-secret-1@127.0.0.1:${target.port}/${IQN}/0`);
    const data = new Uint8Array(64 * 1024).map((_, i) => (i * 13) & 0xff);
    await lun.write(100, data);
    expect(await lun.read(100, 128)).toEqual(data);
    await lun.session.logout();
  });

  it("fails the login with an authentication error, not a transport one, when the secret is wrong", async () => {
    target = await startTarget({
      targets: [{ iqn: IQN, luns: [{ lun: 0, backend: "mem:1M" }], chap: { users: [{ username: "alice", secret: Secret.fromString("alice-secret-1") }] } }],
    });
    cleanups.push(() => target.close());
    const g = await gatewayTo([`127.0.0.1:${target.port}`]);
    const iscsi = connectVia(`ws://127.0.0.1:${g.port}`, { WebSocket: pageWebSocket(`http://127.0.0.1:${g.port}`) });
    await expect(
      iscsi.openSession({ portal: `127.0.0.1:${target.port}`, targetName: IQN, chap: { username: "alice", secret: "wrong-secret-1" }, recovery: { enabled: false } }),
    ).rejects.toMatchObject({ code: "ISCSI_ERR_AUTH" });
  });
});

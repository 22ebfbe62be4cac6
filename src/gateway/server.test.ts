import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { startGateway, type Gateway, type GatewayOptions } from "./index.js";
import { CloseCode, INFO_PATH } from "./protocol.js";
import type { RelayClosed } from "./relay.js";

/** A TCP server on loopback whose connections the test drives. */
async function tcpServer(onConnection: (socket: net.Socket) => void): Promise<{ port: number; server: net.Server; connections: net.Socket[] }> {
  const connections: net.Socket[] = [];
  const server = net.createServer((socket) => {
    connections.push(socket);
    socket.on("error", () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, server, connections };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const { port, server } = await tcpServer(() => undefined);
  await new Promise((r) => server.close(r));
  return port;
}

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function gateway(options: Partial<GatewayOptions> & { allow: readonly string[] }): Promise<Gateway> {
  const g = await startGateway({ host: "127.0.0.1", port: 0, webRoot: null, ...options });
  cleanups.push(() => g.close());
  return g;
}

interface Client {
  readonly ws: WebSocket;
  readonly received: Buffer[];
  readonly texts: string[];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly connected: Promise<void>;
}

function client(g: Gateway, host: string, port: number, origin: string | undefined = `http://127.0.0.1:${g.port}`): Client {
  const ws = new WebSocket(`ws://127.0.0.1:${g.port}/tcp?host=${encodeURIComponent(host)}&port=${port}`, origin === undefined ? {} : { origin });
  const received: Buffer[] = [];
  const texts: string[] = [];
  let onConnected: () => void = () => undefined;
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  ws.on("message", (data: Buffer, isBinary) => {
    if (isBinary) received.push(data);
    else {
      texts.push(data.toString());
      onConnected();
    }
  });
  ws.on("error", () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  cleanups.push(() => ws.terminate());
  return { ws, received, texts, closed, connected };
}

function nextClosed(g: Gateway): Promise<RelayClosed> {
  return new Promise((resolve) => g.once("relay-closed", (_relay, closed) => resolve(closed)));
}

function bytes(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe("the gateway's relay", () => {
  it("says connected once the TCP connection is up, then carries bytes both ways unchanged", async () => {
    const echo = await tcpServer((socket) => socket.pipe(socket));
    cleanups.push(() => new Promise((r) => echo.server.close(r)));
    const g = await gateway({ allow: [`127.0.0.1:${echo.port}`] });
    const c = client(g, "127.0.0.1", echo.port);
    await c.connected;
    expect(JSON.parse(c.texts[0] ?? "")).toEqual({ connected: { host: "127.0.0.1", port: echo.port } });
    const sent = [bytes(48, 1), bytes(70_000, 2), bytes(1, 3)];
    for (const b of sent) c.ws.send(b);
    const total = sent.reduce((n, b) => n + b.length, 0);
    while (c.received.reduce((n, b) => n + b.length, 0) < total) await new Promise((r) => setTimeout(r, 5));
    expect(Buffer.concat(c.received).equals(Buffer.concat(sent))).toBe(true);
    const closed = nextClosed(g);
    c.ws.close(CloseCode.Normal);
    expect(await closed).toMatchObject({ by: "page", code: 1000, bytesToTarget: total, bytesToPage: total, connected: true });
  });

  it("refuses a destination not on its --allow list with close 4403 and a reason naming it, and never connects", async () => {
    const target = await tcpServer(() => undefined);
    cleanups.push(() => new Promise((r) => target.server.close(r)));
    const g = await gateway({ allow: ["127.0.0.1:1"] });
    const refusals: string[] = [];
    g.on("refused", (r) => refusals.push(`${r.code} ${r.destination}`));
    for (const host of ["127.0.0.1", "127.1", "localhost"]) {
      const c = client(g, host, target.port);
      const closed = await c.closed;
      expect(closed.code).toBe(CloseCode.NotAllowed);
      expect(closed.reason).toBe(`refused by the gateway: ${host}:${target.port} is not on its --allow list`);
      expect(c.texts).toEqual([]);
    }
    expect(target.connections).toHaveLength(0);
    expect(refusals).toEqual([`4403 127.0.0.1:${target.port}`, `4403 127.1:${target.port}`, `4403 localhost:${target.port}`]);
  });

  it("refuses the handshake of a page from another origin, and of a client that sends no Origin, with a bare 403", async () => {
    const target = await tcpServer(() => undefined);
    cleanups.push(() => new Promise((r) => target.server.close(r)));
    const g = await gateway({ allow: [`127.0.0.1:${target.port}`], allowOrigins: ["https://tools.example.com"] });
    for (const origin of ["http://evil.example", `http://127.0.0.1:${g.port + 1}`, undefined]) {
      const ws = new WebSocket(`ws://127.0.0.1:${g.port}/tcp?host=127.0.0.1&port=${target.port}`, origin === undefined ? {} : { origin });
      const status = await new Promise<number>((resolve) => {
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("open", () => resolve(101));
        ws.on("error", () => undefined);
      });
      ws.terminate();
      expect(status, `origin ${origin}`).toBe(403);
    }
    // An origin given with --allow-origin is let in.
    const c = client(g, "127.0.0.1", target.port, "https://tools.example.com");
    await c.connected;
    expect(target.connections).toHaveLength(1);
  });

  it("closes with 4502 and the socket's reason when the destination refuses the connection", async () => {
    const port = await closedPort();
    const g = await gateway({ allow: [`127.0.0.1:${port}`] });
    const closedRelay = nextClosed(g);
    const c = client(g, "127.0.0.1", port);
    expect(await c.closed).toEqual({ code: CloseCode.ConnectFailed, reason: `cannot connect to 127.0.0.1:${port}: connection refused` });
    expect(await closedRelay).toMatchObject({ by: "gateway", connected: false });
  });

  it("closes a relay over --max-connections with 1013 and keeps the ones it has", async () => {
    const target = await tcpServer(() => undefined);
    cleanups.push(() => new Promise((r) => target.server.close(r)));
    const g = await gateway({ allow: [`127.0.0.1:${target.port}`], maxConnections: 1 });
    const first = client(g, "127.0.0.1", target.port);
    await first.connected;
    const second = client(g, "127.0.0.1", target.port);
    expect(await second.closed).toEqual({ code: 1013, reason: "refused by the gateway: 1 relays are open (--max-connections)" });
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
    expect(g.relayCount).toBe(1);
  });

  it("ends the page's WebSocket in order when the target closes, after the bytes the target sent before", async () => {
    const target = await tcpServer((socket) => socket.end(bytes(5000, 9)));
    cleanups.push(() => new Promise((r) => target.server.close(r)));
    const g = await gateway({ allow: [`127.0.0.1:${target.port}`] });
    const c = client(g, "127.0.0.1", target.port);
    expect(await c.closed).toEqual({ code: 1000, reason: "the target closed the connection" });
    expect(Buffer.concat(c.received).equals(bytes(5000, 9))).toBe(true);
  });

  it("ends the TCP connection with a FIN when the page closes, and drops it at once when the page aborts", async () => {
    const ends: string[] = [];
    const target = await tcpServer((socket) => {
      socket.on("end", () => ends.push("fin"));
      socket.on("error", (e: NodeJS.ErrnoException) => ends.push(e.code ?? "error"));
      socket.on("close", () => ends.push("close"));
    });
    cleanups.push(() => new Promise((r) => target.server.close(r)));
    const g = await gateway({ allow: [`127.0.0.1:${target.port}`] });
    const orderly = client(g, "127.0.0.1", target.port);
    await orderly.connected;
    orderly.ws.close(1000);
    while (!ends.includes("fin")) await new Promise((r) => setTimeout(r, 5));
    expect(ends[0]).toBe("fin");
    ends.length = 0;
    const aborted = client(g, "127.0.0.1", target.port);
    await aborted.connected;
    // Data queued towards the target, then an abort: a reset, not a FIN.
    target.connections.at(-1)?.pause();
    aborted.ws.close(CloseCode.Abort);
    while (!ends.includes("close")) await new Promise((r) => setTimeout(r, 5));
    expect(ends).not.toContain("fin");
  });

  it("stops reading the target while the page does not read, then delivers every byte in order", async () => {
    const total = 96 << 20;
    const source = bytes(1 << 20, 5);
    let written = 0;
    const target = await tcpServer((socket) => {
      const pump = (): void => {
        while (written < total) {
          written += source.length;
          if (!socket.write(source)) return void socket.once("drain", pump);
        }
        socket.end();
      };
      pump();
    });
    cleanups.push(() => new Promise((r) => target.server.close(r)));
    const g = await gateway({ allow: [`127.0.0.1:${target.port}`] });
    const c = client(g, "127.0.0.1", target.port);
    await c.connected;
    c.ws.pause();
    await new Promise((r) => setTimeout(r, 1000));
    // The kernel's buffers on both legs, plus the gateway's 1 MiB high-water mark: far from 96 MiB.
    expect(written).toBeLessThan(48 << 20);
    c.ws.resume();
    await c.closed;
    const got = Buffer.concat(c.received);
    expect(got.length).toBe(total);
    for (let at = 0; at < total; at += source.length) expect(got.subarray(at, at + source.length).equals(source)).toBe(true);
  });

  it("stops reading the page while the target does not read, then delivers every byte in order", async () => {
    const total = 96 << 20;
    const chunk = bytes(1 << 20, 7);
    let receivedByTarget = 0;
    let ok = true;
    const target = await tcpServer((socket) => {
      socket.pause();
      let at = 0;
      socket.on("data", (data: Buffer) => {
        for (const b of data) {
          if (b !== chunk[at % chunk.length]) ok = false;
          at++;
        }
        receivedByTarget += data.length;
      });
    });
    cleanups.push(() => new Promise((r) => target.server.close(r)));
    const g = await gateway({ allow: [`127.0.0.1:${target.port}`] });
    const c = client(g, "127.0.0.1", target.port);
    await c.connected;
    let handedOver = 0;
    for (let sent = 0; sent < total; sent += chunk.length) c.ws.send(chunk, () => (handedOver += chunk.length));
    await new Promise((r) => setTimeout(r, 1000));
    // What left the page's client: the kernel's buffers on both legs, one message in the gateway
    // and the socket's own write buffer; the rest waits in the client.
    expect(handedOver).toBeLessThan(48 << 20);
    target.connections[0]?.resume();
    while (receivedByTarget < total) await new Promise((r) => setTimeout(r, 20));
    expect(receivedByTarget).toBe(total);
    expect(ok).toBe(true);
  }, 60_000);
});

describe("the gateway's web server", () => {
  it("serves the page with a strict content security policy, the allow list as JSON, and nothing outside its folder", async () => {
    const root = await mkdtemp(join(tmpdir(), "iscsi-gateway-"));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    await writeFile(join(root, "index.html"), "<!doctype html><title>t</title>");
    const g = await gateway({ allow: ["127.0.0.1:3261", "[::1]:3262"], webRoot: root });
    const page = await fetch(`http://127.0.0.1:${g.port}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toMatch(/connect-src 'self'/);
    expect(page.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
    expect(await page.text()).toBe("<!doctype html><title>t</title>");
    const info = await fetch(`http://127.0.0.1:${g.port}${INFO_PATH}`);
    expect(await info.json()).toEqual({ allow: ["127.0.0.1:3261", "[::1]:3262"], maxMessageBytes: 1 << 20 });
    for (const path of ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/missing.js"]) {
      const r = await new Promise<number>((resolve) => {
        // fetch would normalise the dots away: send the path as written.
        const s = net.connect(g.port, "127.0.0.1", () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
        let text = "";
        s.on("data", (d) => (text += d.toString()));
        s.on("end", () => resolve(Number(/^HTTP\/1.1 (\d+)/.exec(text)?.[1])));
      });
      expect(r, path).toBe(404);
    }
  });

  it("says how to build the page when its folder has none", async () => {
    const root = await mkdtemp(join(tmpdir(), "iscsi-gateway-"));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const g = await gateway({ allow: ["127.0.0.1:3261"], webRoot: root });
    const page = await fetch(`http://127.0.0.1:${g.port}/`);
    expect(page.status).toBe(404);
    expect(await page.text()).toMatch(/the web page is not built .*node scripts\/build-web.mjs/);
  });

  it("refuses to start on a port in use, saying so", async () => {
    const g = await gateway({ allow: ["127.0.0.1:3261"] });
    await expect(startGateway({ host: "127.0.0.1", port: g.port, allow: ["127.0.0.1:3261"], webRoot: null })).rejects.toThrow(
      `cannot listen on 127.0.0.1:${g.port}: the port is in use (choose another with --listen HOST:PORT, or :0 for any free port)`,
    );
  });
});

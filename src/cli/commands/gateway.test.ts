import * as net from "node:net";
import { describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { runCaptured } from "../cli.test-util.js";
import { Interrupts } from "../interrupt.js";
import { parseGatewayListen } from "./gateway.js";

describe("parseGatewayListen", () => {
  it("reads host:port, :port and [v6]:port, and gives a bare host the gateway's port 8260", () => {
    expect(parseGatewayListen("127.0.0.1:9000")).toEqual({ host: "127.0.0.1", port: 9000 });
    expect(parseGatewayListen(":0")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(parseGatewayListen("0.0.0.0")).toEqual({ host: "0.0.0.0", port: 8260 });
    expect(parseGatewayListen("[::1]")).toEqual({ host: "::1", port: 8260 });
  });
});

describe("iscsi gateway", () => {
  it("is listed by iscsi --help, and its own help explains the allow list and the origin check, with examples", async () => {
    expect((await runCaptured(["--help"])).stdout).toMatch(/^ {2}gateway\b.*web browser/m);
    const r = await runCaptured(["gateway", "--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--allow <host:port,...>/);
    expect(r.stdout).toMatch(/--allow-origin <origin,...>/);
    expect(r.stdout).toMatch(/--max-connections <n>/);
    expect(r.stdout).toMatch(/only pages of the gateway's own origin/i);
    expect(r.stdout).toMatch(/Examples:\n {2}iscsi gateway --allow 127.0.0.1:3260/);
  });

  it("refuses to start without --allow, in one line, exit 1", async () => {
    const r = await runCaptured(["gateway", "--listen", "127.0.0.1:0"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("iscsi: give --allow HOST:PORT[,...]: the gateway relays only to the destinations listed (e.g. --allow 127.0.0.1:3260)\n");
  });

  it("refuses a malformed --allow or --allow-origin, naming the entry, with a JSON error document under --json", async () => {
    const bad = await runCaptured(["gateway", "--listen", "127.0.0.1:0", "--allow", "127.0.0.1:3260,10.0.0.1:99999"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('iscsi: --allow "10.0.0.1:99999": port "99999" is not a number from 1 to 65535\n');
    const origin = await runCaptured(["gateway", "--listen", "127.0.0.1:0", "--allow", "127.0.0.1:3260", "--allow-origin", "*", "--json"]);
    expect(origin.status).toBe(1);
    expect(JSON.parse(origin.stdout)).toMatchObject({ error: { code: "ISCSI_ERR_CONFIG", exitCode: 1 } });
    expect(origin.stderr).toMatch(/^iscsi: --allow-origin "\*": list each origin/);
  });

  it("says the port is in use rather than failing with a stack", async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const r = await runCaptured(["gateway", "--listen", `127.0.0.1:${port}`, "--allow", "127.0.0.1:3260"]);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`iscsi: cannot listen on 127.0.0.1:${port}: the port is in use (choose another with --listen HOST:PORT, or :0 for any free port)\n`);
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });

  it("prints one JSON document once listening, logs each refusal on stderr, and stops on SIGINT with status 0", async () => {
    const interrupts = new Interrupts();
    let announced: (doc: { url: string; listen: { port: number }; allow: string[]; origins: string[] }) => void = () => undefined;
    const listening = new Promise<{ url: string; listen: { port: number }; allow: string[]; origins: string[] }>((resolve) => (announced = resolve));
    const running = runCaptured(["gateway", "--listen", "127.0.0.1:0", "--allow", "127.0.0.1:3261", "--no-page", "--json"], {
      interrupts,
      onStdout: (text) => {
        if (text.endsWith("\n")) announced(JSON.parse(text));
      },
    });
    const doc = await listening;
    expect(doc.allow).toEqual(["127.0.0.1:3261"]);
    expect(doc.origins).toEqual([`http://127.0.0.1:${doc.listen.port}`, `http://localhost:${doc.listen.port}`]);
    const ws = new WebSocket(`ws://127.0.0.1:${doc.listen.port}/tcp?host=10.9.9.9&port=3260`, { origin: `http://127.0.0.1:${doc.listen.port}` });
    ws.on("error", () => undefined);
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    expect(closed).toEqual({ code: 4403, reason: "refused by the gateway: 10.9.9.9:3260 is not on its --allow list" });
    interrupts.abort("interrupted by SIGINT");
    const r = await running;
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^gateway: refused 127\.0\.0\.1:\d+ \(http:\/\/127\.0\.0\.1:\d+\) to 10\.9\.9\.9:3260: refused by the gateway: 10\.9\.9\.9:3260 is not on its --allow list$/m);
  });
});

import * as net from "node:net";
import { describe, expect, it } from "vitest";
import { listenTcp, whyListenFailed } from "./listen.js";

function listenError(host: string, port: number): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", resolve);
    server.listen({ host, port, exclusive: true }, () => {
      server.close();
      reject(new Error(`listening on ${host}:${port} worked`));
    });
  });
}

describe("whyListenFailed", () => {
  it("says a port in use, an unknown host and an address this machine lacks in words, from real listens", async () => {
    const first = net.createServer();
    await new Promise<void>((resolve) => first.listen({ host: "127.0.0.1", port: 0 }, resolve));
    const port = (first.address() as net.AddressInfo).port;
    try {
      expect(whyListenFailed(await listenError("127.0.0.1", port), "127.0.0.1")).toBe("the port is in use");
    } finally {
      first.close();
    }
    expect(whyListenFailed(await listenError("nohost.invalid", 0), "nohost.invalid")).toBe('unknown host "nohost.invalid"');
    // TEST-NET-1 (RFC 5737): never an address of this machine.
    expect(whyListenFailed(await listenError("192.0.2.1", 0), "192.0.2.1")).toBe("this machine has no such address");
  });

  it("passes an error it does not know on by its code", () => {
    expect(whyListenFailed(Object.assign(new Error("x"), { code: "EMFILE" }), "h")).toBe("EMFILE");
  });

  it("listenTcp resolves with the port bound for 0, and names the address and the hint when the port is taken", async () => {
    const first = net.createServer();
    const bound = await listenTcp(first, "127.0.0.1", 0);
    expect(bound.port).toBeGreaterThan(0);
    try {
      await expect(listenTcp(net.createServer(), "127.0.0.1", bound.port, " (choose another)")).rejects.toThrow(
        `cannot listen on 127.0.0.1:${bound.port}: the port is in use (choose another)`,
      );
    } finally {
      first.close();
    }
  });
});

import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { IsnsConnection } from "../core/isns/client.js";
import { type IsnsMessage, readString, readU32, stringAttr, u32Attr, delimiter } from "../core/isns/codec.js";
import { IsnsFunction, IsnsStatus, IsnsTag, RESPONSE_BIT } from "../core/isns/constants.js";
import { discoverIsns, registerWithIsns } from "./isns.js";

/** A scripted iSNS server: records each request and answers it with `answer`. */
async function scriptedServer(answer: (request: IsnsMessage) => IsnsMessage): Promise<{ server: Server; port: number; requests: IsnsMessage[]; peers: string[] }> {
  const requests: IsnsMessage[] = [];
  const peers: string[] = [];
  const server = createServer((socket) => {
    const core = new IsnsConnection();
    socket.on("error", () => undefined);
    socket.on("data", (chunk) => {
      core.receive(chunk);
      for (let e = core.nextEvent(); e !== undefined; e = core.nextEvent()) {
        if (e.type !== "request") continue;
        requests.push(e.message);
        peers.push(socket.localAddress ?? "");
        core.respond(answer(e.message));
      }
      for (const pdu of core.pollTransmit() ?? []) socket.write(pdu);
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, () => resolve()));
  const a = server.address();
  return { server, port: typeof a === "object" && a !== null ? a.port : 0, requests, peers };
}

const ok = (request: IsnsMessage, attributes: IsnsMessage["attributes"] = []): IsnsMessage => ({
  functionId: request.functionId | RESPONSE_BIT,
  transactionId: request.transactionId,
  flags: 0x4000,
  status: IsnsStatus.Successful,
  attributes,
});

let open: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (open === undefined ? resolve() : open.close(() => resolve())));
  open = undefined;
});

describe("registerWithIsns", () => {
  it("honours the period the server grants, refreshing before it ends, and deregisters on close", async () => {
    const s = await scriptedServer((r) => ok(r, r.functionId === IsnsFunction.DevAttrReg ? [stringAttr(IsnsTag.EntityIdentifier, "e"), delimiter(), u32Attr(IsnsTag.RegistrationPeriod, 2)] : []));
    open = s.server;
    const started = Date.now();
    const reg = await registerWithIsns(`127.0.0.1:${s.port}`, { entityId: "e", registrationPeriod: 900, portals: [{ host: "0.0.0.0", port: 3260 }], nodes: [{ name: "iqn.2026-11.test:t", type: 1 }] });
    expect(reg.registrationPeriod).toBe(2);
    const asked = s.requests[0]!.attributes.find((a) => a.tag === IsnsTag.RegistrationPeriod);
    expect(readU32(asked!, "period")).toBe(900);
    // A wildcard portal is registered as the address the server sees us on.
    const portal = s.requests[0]!.attributes.find((a) => a.tag === IsnsTag.PortalIpAddress);
    expect([...portal!.value.subarray(12)]).toEqual([127, 0, 0, 1]);
    while (reg.refreshes < 1) await new Promise((r) => setTimeout(r, 50));
    const elapsed = Date.now() - started;
    // Two thirds of the 2 s granted, not of the 900 s asked; and before the 2 s end.
    expect(elapsed).toBeGreaterThanOrEqual(1_300);
    expect(elapsed).toBeLessThan(2_000);
    await reg.close();
    const last = s.requests.at(-1)!;
    expect(last.functionId).toBe(IsnsFunction.DevDereg);
    expect(readString(last.attributes.at(-1)!, "entity")).toBe("e");
    const count = s.requests.length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(s.requests.length).toBe(count);
  });

  it("rejects with the server's status when the registration is refused", async () => {
    const s = await scriptedServer((r) => ({ ...ok(r), status: IsnsStatus.InvalidRegistration }));
    open = s.server;
    await expect(registerWithIsns(`127.0.0.1:${s.port}`, { entityId: "e", portals: [], nodes: [{ name: "iqn.2026-11.test:t", type: 1 }] })).rejects.toThrow(
      `iSNS server at 127.0.0.1:${s.port}: the iSNS server refused DevAttrReg: Invalid Registration (status 3)`,
    );
  });
});

describe("discoverIsns", () => {
  it("times out a server that never answers, naming the request", async () => {
    const silent = createServer((socket) => socket.on("error", () => undefined).resume());
    await new Promise<void>((resolve) => silent.listen({ host: "127.0.0.1", port: 0 }, () => resolve()));
    open = silent;
    const a = silent.address();
    const port = typeof a === "object" && a !== null ? a.port : 0;
    await expect(discoverIsns(`127.0.0.1:${port}`, { timeoutMs: 300 })).rejects.toMatchObject({ code: "ISCSI_ERR_TIMEOUT", message: expect.stringMatching(/did not answer DevAttrQry in 300 ms/) });
  });
});

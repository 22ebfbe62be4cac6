import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { CONTROL_PORT_MAX, CONTROL_PORT_MIN, freeTcpPort, randomControlPort } from "./ports.js";

describe("freeTcpPort", () => {
  it("gives a port on loopback that can be bound at once", async () => {
    const port = await freeTcpPort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port, exclusive: true }, resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });
});

describe("randomControlPort", () => {
  it("draws tgtd control ports from the upper half of tgtd's range, away from the hand-run 9001", () => {
    for (let i = 0; i < 200; i++) {
      const ctl = randomControlPort();
      expect(Number.isInteger(ctl)).toBe(true);
      expect(ctl).toBeGreaterThanOrEqual(CONTROL_PORT_MIN);
      expect(ctl).toBeLessThanOrEqual(CONTROL_PORT_MAX);
    }
    expect(CONTROL_PORT_MIN).toBeGreaterThan(9001);
    expect(CONTROL_PORT_MAX).toBe(32767);
  });
});

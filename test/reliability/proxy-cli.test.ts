/**
 * The fault proxy's command-line tool (src/faults/proxy-cli.ts, built to dist/faults/proxy-cli.js):
 * it listens, forwards libiscsi's session to tgtd, takes fault commands on standard input and on
 * its control port, and prints what it did.
 */
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { iscsiInq } from "../support/peers.js";
import { checkOk, spawnTracked, type TrackedProcess } from "../support/processes.js";
import type { Tgtd } from "../support/tgtd.js";
import { freeTcpPort } from "../support/ports.js";
import { IQN, LUN, startTgtd } from "./reliability.test-util.js";

/** Sends one line to the control port and returns the answer line. */
function control(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let answer = "";
    socket.on("data", (chunk) => {
      answer += chunk.toString();
      if (answer.endsWith("\n")) {
        socket.end();
        resolve(answer.trim());
      }
    });
    socket.on("error", reject);
    socket.write(`${line}\n`);
  });
}

describe("the fault proxy CLI", () => {
  let tgtd: Tgtd;
  let cli: TrackedProcess;
  let portal: string;
  let controlPort: number;

  beforeAll(async () => {
    tgtd = await startTgtd();
    controlPort = await freeTcpPort();
    cli = spawnTracked("npx", ["tsx", "src/faults/proxy-cli.ts", "--target", tgtd.portal, "--listen", "0", "--seed", "9", "--control-port", String(controlPort)]);
    const listening = await cli.waitForOutput(/listening on (127\.0\.0\.1:\d+)/, { timeoutMs: 30_000, what: "the proxy CLI listening" });
    portal = listening[1] as string;
    await cli.waitForOutput(/control on 127\.0\.0\.1:\d+/, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await cli?.kill();
    await tgtd?.stop();
  });

  it("forwards a libiscsi session and reports it in stats", async () => {
    const url = tgtd.url(IQN, LUN).replace(tgtd.portal, portal);
    expect(checkOk(await iscsiInq(url)).stdout).toMatch(/VIRTUAL-DISK/);
    const stats = JSON.parse(await control(controlPort, "stats")) as { connections: number; pdus: Record<string, number> };
    expect(stats.connections).toBeGreaterThanOrEqual(1);
    expect(stats.pdus["to-target"]).toBeGreaterThan(2);
  });

  it("refuses connections on command, counts them, and accepts again", async () => {
    expect(await control(controlPort, "refuse on")).toBe("refusing new connections");
    const url = tgtd.url(IQN, LUN).replace(tgtd.portal, portal);
    const refused = await iscsiInq(url, [], { timeoutMs: 20_000 });
    expect(refused.code).not.toBe(0);
    const stats = JSON.parse(await control(controlPort, "stats")) as { refused: number };
    expect(stats.refused).toBeGreaterThanOrEqual(1);
    expect(await control(controlPort, "refuse off")).toBe("accepting new connections");
    checkOk(await iscsiInq(url));
  });

  it("answers a malformed command with an error line, and arms faults from standard input", async () => {
    expect(await control(controlPort, "flip sideways header")).toMatch(/^error: proxy command "flip sideways header": expected a direction/);
    cli.stdin.write("delay 5\n");
    await cli.waitForOutput(/delay both 5 ms/, { timeoutMs: 10_000 });
    const url = tgtd.url(IQN, LUN).replace(tgtd.portal, portal);
    checkOk(await iscsiInq(url));
    const stats = JSON.parse(await control(controlPort, "stats")) as { faults: { delay: number } };
    expect(stats.faults.delay).toBeGreaterThan(0);
  });
});

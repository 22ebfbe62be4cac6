import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningTarget, startTarget } from "../../target/server.js";
import { runCaptured } from "../cli.test-util.js";
import { parseNbdListen } from "./nbd.js";

describe("parseNbdListen", () => {
  it("reads host:port, :port and [v6]:port, and gives a bare host NBD's port 10809", () => {
    expect(parseNbdListen("127.0.0.1:10810")).toEqual({ host: "127.0.0.1", port: 10810 });
    expect(parseNbdListen(":0")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(parseNbdListen("localhost")).toEqual({ host: "localhost", port: 10809 });
    expect(parseNbdListen("[::1]")).toEqual({ host: "::1", port: 10809 });
    expect(parseNbdListen("[::1]:10811")).toEqual({ host: "::1", port: 10811 });
  });

  it("refuses a port out of range, naming the option", () => {
    expect(() => parseNbdListen("127.0.0.1:70000")).toThrow(/--listen "127.0.0.1:70000"/);
  });
});

describe("iscsi nbd", () => {
  it("is listed by iscsi --help, and its own help has examples and a line pointing to the global options", async () => {
    expect((await runCaptured(["--help"])).stdout).toMatch(/^ {2}nbd\b.*NBD export/m);
    const r = await runCaptured(["nbd", "--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Examples:/);
    expect(r.stdout).toMatch(/nbdinfo nbd:\/\/127\.0\.0\.1:10809/);
    expect(r.stdout).toMatch(/--socket <path>/);
    expect(r.stdout).toMatch(/^Global options: --json, .*iscsi --help$/m);
  });

  it("refuses --listen with --socket in one line, exit 1, before connecting anywhere", async () => {
    const r = await runCaptured(["nbd", "iscsi://127.0.0.1:1/iqn.2026-11.test:x/1", "--listen", "127.0.0.1:0", "--socket", "/tmp/x.sock"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("iscsi: --listen and --socket exclude each other: give one\n");
  });

  it("refuses a URL without a LUN", async () => {
    const r = await runCaptured(["nbd", "iscsi://127.0.0.1:1/iqn.2026-11.test:x"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^iscsi: .*LUN/);
  });
});

/**
 * The LUN is opened before the NBD listener, so a listen that fails needs a target to log in to.
 * The target's own port is the one "in use". Fixed ports: this suite's range is 14400-14449.
 */
describe("iscsi nbd when it cannot listen", () => {
  const IQN = "iqn.2026-11.test.cli:nbd-listen";
  let target: RunningTarget;
  const url = (): string => `iscsi://127.0.0.1:${target.port}/${IQN}/1`;

  beforeAll(async () => {
    target = await startTarget({ listen: { host: "127.0.0.1", port: 14410 }, targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:1M" }] }] });
  });

  afterAll(async () => {
    await target?.close();
  });

  it("says the port is in use, as iscsi target does, instead of EADDRINUSE", async () => {
    const r = await runCaptured(["nbd", url(), "--listen", `127.0.0.1:${target.port}`]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`iscsi: cannot listen on 127.0.0.1:${target.port}: the port is in use\n`);
  });

  it("says a host it cannot resolve is unknown, and gives no exposure warning for a listener that never was", async () => {
    const r = await runCaptured(["nbd", url(), "--listen", "nohost.invalid:14411"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('iscsi: cannot listen on nohost.invalid:14411: unknown host "nohost.invalid"\n');
  });
});

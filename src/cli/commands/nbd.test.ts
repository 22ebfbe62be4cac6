import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { embeddedTarget, runCaptured } from "../cli.test-util.js";
import { Interrupts } from "../interrupt.js";
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
 * The target's own port is the one "in use".
 */
describe("iscsi nbd when it cannot listen", () => {
  const target = embeddedTarget("iqn.2026-11.test.cli:nbd-listen");
  const url = (): string => target.url(1);

  it("says the port is in use, as iscsi target does, instead of EADDRINUSE", async () => {
    const r = await runCaptured(["nbd", url(), "--listen", `127.0.0.1:${target.port()}`]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`iscsi: cannot listen on 127.0.0.1:${target.port()}: the port is in use\n`);
  });

  describe("on a Unix socket", () => {
    let dir: string;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "iscsi-nbd-socket-"));
    });

    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it("says the directory does not exist instead of ENOENT or EACCES", async () => {
      const path = join(dir, "missing", "lun.sock");
      const r = await runCaptured(["nbd", url(), "--socket", path]);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`iscsi: cannot listen on ${path}: the directory ${join(dir, "missing")} does not exist\n`);
    });

    it("says a path through a file has a component that is not a directory", async () => {
      writeFileSync(join(dir, "plain"), "x");
      const path = join(dir, "plain", "lun.sock");
      const r = await runCaptured(["nbd", url(), "--socket", path]);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`iscsi: cannot listen on ${path}: a component of the path is not a directory\n`);
    });

    it("says another server listens on the socket instead of EADDRINUSE, and leaves it be", async () => {
      const path = join(dir, "live.sock");
      const other: Server = createServer();
      await new Promise<void>((resolve) => other.listen(path, resolve));
      try {
        const r = await runCaptured(["nbd", url(), "--socket", path]);
        expect(r.status).toBe(1);
        expect(r.stderr).toBe(`iscsi: cannot listen on ${path}: another server is listening there\n`);
        expect(existsSync(path)).toBe(true);
      } finally {
        await new Promise<void>((resolve) => other.close(() => resolve()));
      }
    });

    it("refuses a path that holds a file, keeping the file", async () => {
      const path = join(dir, "precious.txt");
      writeFileSync(path, "keep me");
      const r = await runCaptured(["nbd", url(), "--socket", path]);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`iscsi: cannot listen on ${path}: something other than a socket is there (remove it, or give another path)\n`);
      expect(readFileSync(path, "utf8")).toBe("keep me");
    });

    it("replaces a stale socket that a server killed left behind, and serves on it", async () => {
      const path = join(dir, "stale.sock");
      // A server killed with SIGKILL never unlinks its socket.
      spawnSync(process.execPath, ["-e", 'require("node:net").createServer().listen(process.argv[1], () => process.kill(process.pid, "SIGKILL"))', path]);
      expect(lstatSync(path).isSocket()).toBe(true);
      const interrupts = new Interrupts();
      let listening: () => void = () => undefined;
      const announced = new Promise<void>((resolve) => (listening = resolve));
      const running = runCaptured(["nbd", url(), "--socket", path, "--json"], { interrupts, onStdout: (text) => text.trimEnd().endsWith("}") && listening() });
      await announced;
      interrupts.abort("interrupted by SIGINT");
      const r = await running;
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ uri: expect.stringContaining(`socket=${path}`) });
    });

    it("refuses a path longer than a Unix socket's 107 bytes instead of binding a shortened one", async () => {
      const path = join(dir, `${"a".repeat(120)}.sock`);
      const r = await runCaptured(["nbd", url(), "--socket", path]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^iscsi: cannot listen on \/.*: the path is \d+ bytes long, and a Unix socket's may be at most 107 \(give a shorter one\)\n$/);
    });
  });

  it("says a host it cannot resolve is unknown, and gives no exposure warning for a listener that never was", async () => {
    const r = await runCaptured(["nbd", url(), "--listen", "nohost.invalid:14411"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('iscsi: cannot listen on nohost.invalid:14411: unknown host "nohost.invalid"\n');
  });
});

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Secret } from "../core/auth/secret.js";
import { LogoutReason } from "../core/pdu/opcodes.js";
import { buildRead10Cdb, buildTestUnitReadyCdb, buildWrite10Cdb } from "../core/scsi/cdb.js";
import { SessionHost } from "../node/host.js";
import { DEFAULT_INITIATOR_PROPOSAL } from "../core/text/parameters.js";
import { MemoryBackend } from "./backends/memory.js";
import { type RunningTarget, type TargetServerConfig, startTarget } from "./server.js";

const IQN = "iqn.2026-11.test:server";
const INITIATOR = "iqn.2026-11.test:server-initiator";

const running: RunningTarget[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function start(config: Partial<TargetServerConfig> = {}): Promise<RunningTarget> {
  const target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 0, backend: "mem:16M" }] }], ...config });
  running.push(target);
  return target;
}

function host(target: RunningTarget, extra: Partial<ConstructorParameters<typeof SessionHost>[0]> = {}): SessionHost {
  return new SessionHost(
    { initiatorName: INITIATOR, targetName: IQN, sessionType: "Normal", keepAlive: false, recovery: { enabled: false }, ...extra },
    { host: target.host, port: target.port },
  );
}

describe("startTarget", () => {
  it("listens on a free port and serves the initiator's Node host over TCP", async () => {
    const target = await start();
    expect(target.port).toBeGreaterThan(0);
    const h = host(target);
    await h.login();
    const data = Uint8Array.from({ length: 128 * 1024 }, (_, i) => (i * 7) & 0xff);
    const written = await h.execute(0, buildWrite10Cdb({ lba: 8, blocks: 256 }), undefined, data, "safe", undefined);
    expect(written.status).toBe(0);
    const back = new Uint8Array(data.length);
    const read = await h.execute(0, buildRead10Cdb({ lba: 8, blocks: 256 }), back, undefined, "safe", undefined);
    expect(read.bytesIn).toBe(data.length);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    expect(target.stats.bytesWritten).toBe(data.length);
    await h.logout(LogoutReason.CloseSession);
    await new Promise((r) => setTimeout(r, 20));
    expect(target.stats.sessionsOpen).toBe(0);
    expect(target.stats.connectionsOpen).toBe(0);
  });

  it("carries one session over two TCP connections (MC/S)", async () => {
    const target = await start();
    const h = host(target, { proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxConnections: 2 } });
    await h.login();
    await h.login();
    expect(target.engine.sessions[0]?.connections).toHaveLength(2);
    const data = new Uint8Array(4096).fill(0x5c);
    await h.execute(0, buildWrite10Cdb({ lba: 0, blocks: 8 }), undefined, data, "safe", undefined);
    const reads = Array.from({ length: 16 }, () => {
      const back = new Uint8Array(4096);
      return h.execute(0, buildRead10Cdb({ lba: 0, blocks: 8 }), back, undefined, "safe", undefined).then((r) => [r.status, back.every((b) => b === 0x5c)]);
    });
    expect(await Promise.all(reads)).toEqual(Array(16).fill([0, true]));
    await h.logout();
  });

  it("reports sessions and connections as events", async () => {
    const target = await start();
    const seen: string[] = [];
    target.on("session-created", (s) => seen.push(`created ${s.initiatorName}`));
    target.on("session-closed", (s, reason) => seen.push(`closed ${reason}`));
    target.on("connection-opened", () => seen.push("opened"));
    const h = host(target);
    await h.login();
    await h.logout();
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(["opened", `created ${INITIATOR}`, "closed logout"]);
  });

  it("authenticates with CHAP over TCP and refuses the wrong secret", async () => {
    const target = await start({
      targets: [{ iqn: IQN, luns: [{ lun: 0, backend: "mem:1M" }], chap: { users: [{ username: "alice", secret: Secret.fromString("alice-secret-1") }] } }],
    });
    const ok = host(target, { chap: { username: "alice", secret: Secret.fromString("alice-secret-1") } });
    await ok.login();
    expect((await ok.execute(0, buildTestUnitReadyCdb(), undefined, undefined, "safe", undefined)).status).toBe(0);
    await ok.logout();
    const bad = host(target, { chap: { username: "alice", secret: Secret.fromString("wrong-secret-9") } });
    await expect(bad.login()).rejects.toThrow(/authentication/i);
    bad.close();
  });

  it("answers SendTargets in a discovery session with the bound port", async () => {
    const target = await start();
    const h = new SessionHost({ initiatorName: INITIATOR, sessionType: "Discovery", keepAlive: false }, { host: target.host, port: target.port });
    await h.login();
    expect(await h.text([["SendTargets", "All"]])).toEqual([
      ["TargetName", IQN],
      ["TargetAddress", `127.0.0.1:${target.port},1`],
    ]);
    await h.logout();
  });

  it("answers SendTargets with the address the initiator reached when it listens on every address", async () => {
    const target = await start({ listen: { host: "0.0.0.0", port: 0 } });
    const h = new SessionHost({ initiatorName: INITIATOR, sessionType: "Discovery", keepAlive: false }, { host: "127.0.0.1", port: target.port });
    await h.login();
    expect(await h.text([["SendTargets", "All"]])).toEqual([
      ["TargetName", IQN],
      ["TargetAddress", `127.0.0.1:${target.port},1`],
    ]);
    await h.logout();
  });

  it("stores to a file backend it creates, durable after the session", async () => {
    const dir = await mkdtemp(join(tmpdir(), "iscsi-ts-server-"));
    dirs.push(dir);
    const path = join(dir, "lun.img");
    const target = await start({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: { kind: "file", path, size: 1 << 20, create: true } }] }] });
    const h = host(target);
    await h.login();
    const data = new Uint8Array(4096).fill(0xab);
    expect((await h.execute(1, buildWrite10Cdb({ lba: 2, blocks: 8, fua: true }), undefined, data, "safe", undefined)).status).toBe(0);
    await h.logout();
    await target.close();
    const raw = await readFile(path);
    expect(raw.length).toBe(1 << 20);
    expect(raw.subarray(1024, 1024 + 4096).every((b) => b === 0xab)).toBe(true);
    expect(raw[1023]).toBe(0);
  });

  it("uses a backend the caller gives it and leaves it open at close", async () => {
    const mem = new MemoryBackend(1 << 20);
    mem.write(0, Uint8Array.of(42));
    const target = await start({ targets: [{ iqn: IQN, luns: [{ lun: 0, backend: mem }] }] });
    expect(target.backend(IQN, 0)).toBe(mem);
    const h = host(target);
    await h.login();
    const back = new Uint8Array(512);
    await h.execute(0, buildRead10Cdb({ lba: 0, blocks: 1 }), back, undefined, "safe", undefined);
    expect(back[0]).toBe(42);
    h.close();
    await target.close();
    expect(mem.read(0, 1)[0]).toBe(42);
  });

  it("refuses a bad configuration before taking a port", async () => {
    await expect(startTarget({ targets: [{ iqn: "not-an-iqn", luns: [] }] })).rejects.toThrow(/not an iSCSI name/);
    await expect(startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 0, backend: "nope:1" }] }] })).rejects.toThrow(/not a backend/);
  });

  it("closes every connection on close(), and an initiator sees its connection go", async () => {
    const target = await start();
    const h = host(target);
    await h.login();
    const gone = new Promise<void>((resolve) => h.once("connection-closed", () => resolve()));
    await target.close();
    await gone;
    expect(target.stats.connectionsOpen).toBe(0);
  });
});

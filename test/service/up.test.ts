/**
 * `iscsi up` as a service, against tgtd, with a real NBD client: started before tgtd listens, it
 * logs in once tgtd comes up; `iscsi status --json` shows the session and the export; nbdinfo
 * sees it; SIGTERM in the middle of a stream of NBD writes leaves every acknowledged write in
 * tgtd's backing file and tgtd with no session; the records survive a restart; SIGHUP adds a new
 * record's export without dropping the session it already had.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "../../src/nbd/engine/client.test-util.js";
import { ensureBuilt, expectOk, iscsi, jsonOf, spawnIscsi } from "../cli/cli.test-util.js";
import { RawNbdClient, blocksMissingFrom, peer, writeStreamUntilStopped } from "../nbd/nbd.test-util.js";
import { patternBytes } from "../support/pattern.js";
import { freeTcpPort } from "../support/ports.js";
import type { TrackedProcess } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { makeTempDir, type TempDir } from "../support/tmp.js";
import { pollUntil, sleep } from "../support/wait.js";

const IQN = "iqn.2026-11.test.up:disk";
const IQN2 = "iqn.2026-11.test.up:second";
const MiB = 1 << 20;
const SIZE = 32 * MiB;

interface NodeStatusDoc {
  name: string;
  state: string;
  loginAttempts: number;
  logins: number;
  lastError?: string;
  session?: { initiatorName: string; targetName: string; tsih: number; isid: string; loggedInAt: string; connections: unknown[] };
  nbd?: { uri: string; export: string; size: number; clients: number; io: { writes: number; bytesWritten: number } };
}

interface StatusDoc {
  pid: number;
  initiatorName: string;
  nodes: NodeStatusDoc[];
}

describe("iscsi up in front of tgtd", () => {
  let dir: TempDir;
  let env: Record<string, string>;
  let tgtd: Tgtd | undefined;
  let up: TrackedProcess | undefined;
  let portalPort = 0;
  let nbdPort = 0;
  let nbdPort2 = 0;

  beforeAll(async () => {
    await ensureBuilt();
    dir = await makeTempDir("iscsi-ts-up-");
    env = { ISCSI_TS_CONFIG_DIR: dir.file("config"), ISCSI_TS_RUNTIME_DIR: dir.file("run"), ISCSI_TS_SYSTEM_INITIATORNAME: dir.file("no-etc-file") };
    portalPort = await freeTcpPort();
    nbdPort = await freeTcpPort();
    nbdPort2 = await freeTcpPort();
  });

  afterAll(async () => {
    up?.signal("SIGKILL");
    await tgtd?.stop();
    await dir?.remove();
  });

  async function status(): Promise<StatusDoc> {
    return jsonOf<StatusDoc>(expectOk(await iscsi(["status", "--json"], { env })));
  }

  async function startUp(args: readonly string[] = ["--stop-timeout", "10s"]): Promise<TrackedProcess> {
    const child = spawnIscsi(["up", "--max-backoff", "1s", "--json", ...args], env);
    await child.waitForOutput(/^}$/m, { timeoutMs: 15_000, what: "iscsi up's JSON document" });
    return child;
  }

  async function exporting(names: readonly string[]): Promise<StatusDoc> {
    let last: StatusDoc | undefined;
    return pollUntil(
      async () => {
        last = await status();
        return names.every((n) => last?.nodes.find((x) => x.name === n)?.state === "exporting") ? last : undefined;
      },
      { what: `nodes ${names.join(", ")} exporting`, timeoutMs: 20_000, intervalMs: 200 },
      () => JSON.stringify(last?.nodes.map((n) => ({ name: n.name, state: n.state, lastError: n.lastError }))),
    );
  }

  it("started before tgtd listens, logs in once tgtd comes up and serves the LUN over NBD", async () => {
    expectOk(await iscsi(["node", "add", `iscsi://127.0.0.1:${portalPort}/${IQN}/1`, "--name", "disk", "--startup", "automatic", "--nbd", `listen=127.0.0.1:${nbdPort}`], { env }));
    up = await startUp();
    await up.waitForOutput(/up: disk: cannot bring up .*: .*retrying/, { timeoutMs: 10_000, what: "the first failed login" });
    await sleep(1500);
    const before = await status();
    expect(before.nodes[0]).toMatchObject({ name: "disk", state: expect.stringMatching(/^(waiting|connecting)$/) as unknown });
    expect(before.nodes[0]?.loginAttempts).toBeGreaterThanOrEqual(2);

    tgtd = await Tgtd.start({ port: portalPort });
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: SIZE } }] });
    const after = await exporting(["disk"]);
    const node = after.nodes[0];
    expect(node?.session).toMatchObject({ initiatorName: after.initiatorName, targetName: IQN });
    expect(after.initiatorName).toMatch(/^iqn\.2026-12\.io\.iscsi-ts:[0-9a-f]{24}$/);
    expect(node?.nbd).toMatchObject({ uri: `nbd://127.0.0.1:${nbdPort}/${IQN}/1`, size: SIZE });
    const sessions = await tgtd.sessions(1);
    expect(sessions.map((s) => s.initiator)).toEqual([after.initiatorName]);
    const info = JSON.parse((await peer("nbdinfo", ["--json", node?.nbd?.uri ?? ""])).stdout) as { exports: Record<string, unknown>[] };
    expect(info.exports[0]).toMatchObject({ "export-size": SIZE, block_size_minimum: 512, is_read_only: false });
    // Writes through the export show in the status: the client, the requests, the bytes.
    const client = await RawNbdClient.connect(nbdPort);
    await client.negotiate();
    for (let i = 0; i < 4; i++) client.send(request({ type: 1, cookie: BigInt(i), offset: i * 4096, length: 4096 }, patternBytes(i * 4096, 4096, 3)));
    for (let i = 0; i < 4; i++) expect(await client.next((r) => r.reply())).toMatchObject({ error: 0 });
    const busy = (await status()).nodes[0]?.nbd;
    expect(busy).toMatchObject({ clients: 1, io: { writes: 4, bytesWritten: 4 * 4096 } });
    client.close();
    console.log(`iscsi up: logged in after ${node?.loginAttempts} attempt(s) once tgtd came up; ${node?.nbd?.uri}`);
  });

  it("SIGTERM during a stream of NBD writes: every acknowledged write is in tgtd's backing file, and tgtd has no session left", async () => {
    const t = tgtd as Tgtd;
    const service = up as TrackedProcess;
    const client = await RawNbdClient.connect(nbdPort);
    await client.negotiate();
    const BLOCK = 64 * 1024;
    const SEED = 91;
    const depth = 16;
    const { acknowledged, refused, sent, blocks } = await writeStreamUntilStopped(client, { size: SIZE, block: BLOCK, seed: SEED, depth, stop: () => service.signal("SIGTERM") });
    expect(await service.exited, service.stderr()).toEqual({ code: 0, signal: null });
    up = undefined;
    expect(acknowledged.length).toBeGreaterThan(depth);
    expect(acknowledged.length).toBeLessThan(blocks);
    // Only NBD_ESHUTDOWN (108) for requests that came after the stop began.
    expect([...refused.keys()].filter((errno) => errno !== 108)).toEqual([]);
    const lost = await blocksMissingFrom(t.lunPath(1, 1), acknowledged, BLOCK, SEED);
    expect(lost, `acknowledged blocks missing from tgtd's backing file: ${lost.slice(0, 20).join(", ")}`).toEqual([]);
    expect(service.stderr()).toMatch(/up: stopped in .*: disk \(flushed, logged out\)/);
    expect(await t.sessions(1)).toEqual([]);
    console.log(`iscsi up, SIGTERM during writes: ${acknowledged.length} of ${sent} writes acknowledged, all in the backing file; ${refused.get(108) ?? 0} refused with ESHUTDOWN`);
  });

  it("keeps its records across a restart, and SIGHUP adds a new record's export without dropping the existing session", async () => {
    const t = tgtd as Tgtd;
    up = await startUp();
    const first = await exporting(["disk"]);
    const session = first.nodes[0]?.session;
    const [tgtdSession] = await t.sessions(1);
    expect(tgtdSession).toBeDefined();

    await t.addTarget({ tid: 2, iqn: IQN2, luns: [{ lun: 1, file: { size: 16 * MiB } }] });
    expectOk(await iscsi(["node", "add", `iscsi://127.0.0.1:${portalPort}/${IQN2}/1`, "--name", "second", "--startup", "automatic", "--nbd", `listen=127.0.0.1:${nbdPort2}`], { env }));
    up.signal("SIGHUP");
    await up.waitForOutput(/up: records re-read: started second; stopped none; restarted none; kept disk/, { what: "the reload's report" });
    const both = await exporting(["disk", "second"]);
    const disk = both.nodes.find((n) => n.name === "disk");
    expect(disk?.session).toEqual(session);
    expect(disk?.logins).toBe(1);
    expect((await t.sessions(1)).map((s) => s.sid)).toEqual([tgtdSession?.sid]);
    expect(await t.sessions(2)).toHaveLength(1);
    const info = JSON.parse((await peer("nbdinfo", ["--json", `nbd://127.0.0.1:${nbdPort2}`])).stdout) as { exports: Record<string, unknown>[] };
    expect(info.exports[0]).toMatchObject({ "export-size": 16 * MiB });

    // A manual node, logged in by hand through the running service, served on its default Unix socket.
    expectOk(await iscsi(["node", "add", `iscsi://127.0.0.1:${portalPort}/${IQN2}/1`, "--name", "third"], { env }));
    expect(jsonOf(expectOk(await iscsi(["node", "login", "third", "--json"], { env })))).toMatchObject({ service: true });
    const three = await exporting(["disk", "second", "third"]);
    expect(three.nodes.find((n) => n.name === "third")?.nbd?.uri).toBe(`nbd+unix:///${IQN2}/1?socket=${dir.file("run")}/third.sock`);
    await peer("nbdinfo", ["--json", `nbd+unix:///?socket=${dir.file("run")}/third.sock`]);
    expect(await t.sessions(2)).toHaveLength(2);
    expectOk(await iscsi(["node", "logout", "third"], { env }));
    expect((await status()).nodes.map((n) => n.name).sort()).toEqual(["disk", "second"]);
    expect(await t.sessions(2)).toHaveLength(1);

    const child = up;
    child.signal("SIGTERM");
    expect(await child.exited, child.stderr()).toEqual({ code: 0, signal: null });
    up = undefined;
    expect(await t.sessions(1)).toEqual([]);
    expect(await t.sessions(2)).toEqual([]);
  });

  it("when the stop deadline passes (tgtd frozen with SIGSTOP), says what was left and exits 4", async () => {
    const t = tgtd as Tgtd;
    up = await startUp(["--stop-timeout", "1s"]);
    await exporting(["disk", "second"]);
    const client = await RawNbdClient.connect(nbdPort);
    await client.negotiate();
    const pid = t.pid as number;
    process.kill(pid, "SIGSTOP");
    try {
      for (let i = 0; i < 8; i++) client.send(request({ type: 1, cookie: BigInt(i), offset: i * 65536, length: 65536 }, patternBytes(i * 65536, 65536, 5)));
      await sleep(300);
      const child = up;
      const started = performance.now();
      child.signal("SIGTERM");
      const exit = await child.exited;
      const took = performance.now() - started;
      up = undefined;
      expect(exit, child.stderr()).toEqual({ code: 4, signal: null });
      const line = child.stderr().split("\n").find((l) => l.startsWith("iscsi: ")) ?? "";
      expect(line).toMatch(/^iscsi: stopping took more than 1s: /);
      expect(line).toMatch(/disk: 8 NBD request\(s\) on 1 connection\(s\) were still in flight at the deadline; those clients were cut off/);
      expect(line).toMatch(/disk: SYNCHRONIZE CACHE did not complete before the deadline/);
      expect(line).toMatch(/second: the logout did not complete before the deadline/);
      expect(took).toBeLessThan(4000);
      console.log(`iscsi up, stop deadline passed: ${line}`);
    } finally {
      process.kill(pid, "SIGCONT");
      client.close();
    }
    await t.waitForSessions(1, (s) => s.length === 0, { what: "tgtd dropping the session we closed", timeoutMs: 20_000 });
  });
});

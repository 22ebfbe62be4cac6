/**
 * Sessions on worker threads (src/node/workers), against the embedded target over real sockets:
 * each worker runs the Node library's own sessions; the caller's thread gets the same API. Run
 * from the TypeScript sources, the pool starts its workers under tsx's loader (see
 * src/node/workers/entry.ts), so these tests exercise the sources, never a stale dist.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  AbortedError,
  AuthenticationError,
  ConfigError,
  IscsiError,
  LocalProtocolError,
  LoginError,
  openSession,
  ScsiError,
  Secret,
  SessionClosedError,
} from "../../src/node/index.js";
import { createWorkerPool, type LunApi, type SessionApi, type WorkerPool, WorkerSession, withSpreadLun } from "../../src/node/workers/index.js";
import { buildRead10Cdb, buildWrite10Cdb } from "../../src/core/scsi/cdb.js";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { patternBytes } from "../support/pattern.js";
import { HeldBackend } from "../support/held-backend.js";
import { pollUntil } from "../support/wait.js";

const IQN = "iqn.2026-12.test.workers:disk";
const CHAP_IQN = "iqn.2026-12.test.workers:chap";
const MiB = 1024 * 1024;

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

describe("sessions on worker threads, against the embedded target", () => {
  let target: RunningTarget;
  let pool: WorkerPool;
  const held = new HeldBackend();
  let url: string;
  const sessions: SessionApi[] = [];

  /** A session on the pool, logged out after the test. */
  async function open(overrides = {}): Promise<SessionApi> {
    const session = await pool.openSession(url, { keepAlive: false, ...overrides });
    sessions.push(session);
    return session;
  }

  beforeAll(async () => {
    target = await startTarget({
      targets: [
        { iqn: IQN, luns: [{ lun: 1, backend: "mem:16M" }, { lun: 2, backend: held }] },
        { iqn: CHAP_IQN, luns: [{ lun: 1, backend: "mem:1M" }], chap: { users: [{ username: "alice", secret: Secret.fromString("alice-secret-1") }] } },
      ],
    });
    url = `iscsi://127.0.0.1:${target.port}/${IQN}/1`;
    pool = createWorkerPool({ workers: 2 });
  });

  afterEach(async () => {
    held.release();
    await Promise.allSettled(sessions.splice(0).map((s) => s.logout().catch(() => s.close())));
  });

  afterAll(async () => {
    await pool?.close();
    await target?.close();
  });

  it("writes through a session on a worker and reads the same bytes back, through the worker and through a session on this thread", async () => {
    const session = await open();
    expect(session).toBeInstanceOf(WorkerSession);
    const lun = session.lun(1);
    const data = patternBytes(3 * MiB, 2 * MiB, 11);
    await lun.write((3 * MiB) / 512, data);
    expect(same(await lun.read((3 * MiB) / 512, (2 * MiB) / 512), data)).toBe(true);

    // Not a self-consistent illusion: the target has the bytes, as a session of this thread reads them.
    const here = await openSession(url, { keepAlive: false });
    try {
      expect(same(await here.lun(1).read((3 * MiB) / 512, (2 * MiB) / 512), data)).toBe(true);
    } finally {
      await here.logout();
    }
    const connections = session.connections;
    expect(connections).toHaveLength(1);
    expect(connections[0]?.bytesOut).toBe(2 * MiB);
    expect(connections[0]?.bytesIn).toBeGreaterThanOrEqual(2 * MiB);
  });

  it("reads into the caller's SharedArrayBuffer where it is: the same memory holds the data, no copy", async () => {
    const lun = (await open()).lun(1);
    const data = patternBytes(0, MiB, 12);
    const source = pool.allocate(MiB);
    source.set(data);
    await lun.write(0, source);
    const into = pool.allocate(MiB);
    const sab = into.buffer;
    const got = await lun.read(0, MiB / 512, { into });
    expect(got).toBe(into);
    expect(sab).toBeInstanceOf(SharedArrayBuffer);
    expect(same(new Uint8Array(sab), data)).toBe(true);
  });

  it("moves a plain buffer to the worker and back with transfer: the result is the data and the caller's array is detached", async () => {
    const lun = (await open()).lun(1);
    const data = patternBytes(MiB, 64 * 1024, 13);
    const out = data.slice();
    await lun.write(MiB / 512, out, { transfer: true });
    expect(out.length).toBe(0);
    const into = new Uint8Array(64 * 1024);
    const got = await lun.read(MiB / 512, 128, { into, transfer: true });
    expect(into.length).toBe(0);
    expect(same(got, data)).toBe(true);
  });

  it("fills a plain buffer given without transfer by one copy, and leaves it the caller's", async () => {
    const lun = (await open()).lun(1);
    const data = patternBytes(2 * MiB, 8192, 14);
    await lun.write((2 * MiB) / 512, data);
    expect(data.length).toBe(8192);
    const into = new Uint8Array(16384);
    const got = await lun.read((2 * MiB) / 512, 16, { into });
    expect(got.buffer).toBe(into.buffer);
    expect(got.length).toBe(8192);
    expect(same(got, data)).toBe(true);
    await expect(lun.read(0, 64, { into: new Uint8Array(512) })).rejects.toSatisfy((e) => e instanceof ConfigError && /smaller than 64 blocks/.test(e.message));
  });

  it("carries a queue of small reads and writes of plain buffers, more than the staging slots, each to its own place", async () => {
    const lun = (await open()).lun(1);
    await lun.readCapacity();
    const count = 100;
    const base = (8 * MiB) / 512;
    const blocks = Array.from({ length: count }, (_, i) => patternBytes((8 * MiB) + i * 4096, 4096, 19));
    await Promise.all(blocks.map((data, i) => lun.write(base + i * 8, data)));
    const intos = blocks.map(() => new Uint8Array(4096));
    const got = await Promise.all(intos.map((into, i) => lun.read(base + i * 8, 8, { into })));
    got.forEach((view, i) => {
      expect(view).toBe(intos[i]);
      expect(same(view, blocks[i] as Uint8Array)).toBe(true);
    });
    const fresh = await Promise.all(blocks.map((_, i) => lun.read(base + i * 8, 8)));
    fresh.forEach((view, i) => expect(same(view, blocks[i] as Uint8Array)).toBe(true));
  });

  it("carries plain buffers without a staging area too (stagingBytes: 0), by a copy moved across", async () => {
    const unstaged = createWorkerPool({ workers: 1, stagingBytes: 0 });
    try {
      const lun = await unstaged.openLun(url, { keepAlive: false });
      const data = patternBytes(6 * MiB, 8192, 20);
      await lun.write((6 * MiB) / 512, data);
      const into = new Uint8Array(8192);
      expect(await lun.read((6 * MiB) / 512, 16, { into })).toBe(into);
      expect(same(into, data)).toBe(true);
      expect(same(await lun.read((6 * MiB) / 512, 16), data)).toBe(true);
    } finally {
      await unstaged.close();
    }
  });

  it("runs any CDB with execute: Data-Out, Data-In into shared memory, and the task tag told here", async () => {
    const session = await open();
    const data = patternBytes(4 * MiB, 4096, 15);
    const tags: number[] = [];
    await session.execute(1, buildWrite10Cdb({ lba: (4 * MiB) / 512, blocks: 8 }), { dataOut: data, onTag: (tag) => tags.push(tag) });
    const into = pool.allocate(4096);
    const result = await session.lun(1).execute(buildRead10Cdb({ lba: (4 * MiB) / 512, blocks: 8 }), { dataIn: into });
    expect(result.status).toBe(0);
    expect(result.bytesIn).toBe(4096);
    expect(result.data).toBe(into);
    expect(same(into, data)).toBe(true);
    const allocated = await session.execute(1, buildRead10Cdb({ lba: (4 * MiB) / 512, blocks: 8 }), { dataIn: 4096 });
    expect(same(allocated.data, data)).toBe(true);
    expect(tags).toHaveLength(1);
  });

  it("answers inquiry, readCapacity, flush, reportLuns and ping as a session on this thread does", async () => {
    const session = await open();
    const lun = session.lun(1);
    expect(lun.capacity).toBeUndefined();
    const capacity = await lun.readCapacity();
    expect(capacity).toMatchObject({ blocks: (16 * MiB) / 512, blockSize: 512, bytes: 16 * MiB });
    expect(lun.capacity).toEqual(capacity);
    const inquiry = await lun.inquiry();
    const here = await openSession(url, { keepAlive: false });
    try {
      expect(inquiry).toEqual(await here.lun(1).inquiry());
      expect(session.params).toEqual(here.params);
    } finally {
      await here.logout();
    }
    await lun.flush();
    expect(await session.reportLuns()).toEqual([1, 2]);
    expect(await session.ping()).toBeGreaterThanOrEqual(0);
    expect(session.targetName).toBe(IQN);
    expect(session.portal).toEqual({ host: "127.0.0.1", port: target.port });
    expect(session.tsih).toBeGreaterThan(0);
  });

  it("learns the capacity here when the worker's LUN learns it on its first read", async () => {
    const lun = (await open()).lun(1);
    await lun.read(0, 1);
    expect(lun.capacity?.blockSize).toBe(512);
  });

  it("rejects a READ beyond the end with a ScsiError carrying its sense, rebuilt on this thread", async () => {
    const lun = (await open()).lun(1);
    const error = await lun.read((16 * MiB) / 512, 8).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ScsiError);
    expect(error).toBeInstanceOf(IscsiError);
    expect((error as ScsiError).code).toBe("ISCSI_ERR_SCSI");
    expect((error as ScsiError).sense).toMatchObject({ key: 5, asc: 0x21, ascq: 0 });
    expect((error as ScsiError).senseData?.length).toBeGreaterThan(0);
  });

  it("rejects a wrong CHAP secret with an AuthenticationError of code ISCSI_ERR_AUTH", async () => {
    const chapUrl = `iscsi://127.0.0.1:${target.port}/${CHAP_IQN}/1`;
    const error = await pool.openSession(chapUrl, { keepAlive: false, chap: { username: "alice", secret: "not-the-secret" } }).then(
      (s) => (sessions.push(s), undefined),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toBeInstanceOf(LoginError);
    expect((error as LoginError).code).toBe("ISCSI_ERR_AUTH");
    expect((error as LoginError).statusClass).toBe(2);
    // The right secret, as a Secret object (its bytes cross; the object cannot), logs in.
    const ok = await pool.openSession(chapUrl, { keepAlive: false, chap: { username: "alice", secret: Secret.fromString("alice-secret-1") } });
    sessions.push(ok);
    expect(await ok.ping()).toBeGreaterThanOrEqual(0);
  });

  it("refuses a LUN number out of range at once, as IscsiSession.lun does", async () => {
    const session = await open();
    expect(() => session.lun(16384)).toThrow(ConfigError);
  });

  it("forwards the login's trace lines to the caller's trace function", async () => {
    const lines: string[] = [];
    await open({ trace: (line: string) => lines.push(line) });
    expect(lines.some((line) => line.startsWith(">>") && line.includes("LoginRequest"))).toBe(true);
    expect(lines.some((line) => line.startsWith("<<") && line.includes("LoginResponse"))).toBe(true);
  });

  it("forwards async-event, recovery and closed, and follows the session's state through a recovery", async () => {
    const loggedIn: number[] = [];
    const onLogin = (connectionId: number): number => loggedIn.push(connectionId);
    target.on("login-complete", onLogin);
    const session = await open();
    target.off("login-complete", onLogin);
    const events: string[] = [];
    session.on("async-event", (event) => events.push(`async-event ${event.asyncEvent}`));
    session.on("recovery", (phase) => events.push(`recovery ${phase}`));
    session.on("closed", (error) => events.push(`closed ${error === undefined ? "cleanly" : error.code}`));
    const tsihBefore = session.tsih;

    target.act((engine) => engine.requestRenegotiation(loggedIn[0] as number, 5));
    await pollUntil(() => events.includes("async-event 4") || undefined, { timeoutMs: 5_000, intervalMs: 10, what: "the async event" });

    target.act((engine, now) => engine.dropConnection(loggedIn[0] as number, now, false));
    await pollUntil(() => events.includes("recovery recovered") || undefined, { timeoutMs: 10_000, intervalMs: 10, what: "the session to recover" });
    expect(events.filter((e) => e.startsWith("recovery"))).toEqual(["recovery started", "recovery recovered"]);
    expect(session.recoveries).toHaveLength(1);
    expect(session.recoveries[0]?.outcome).toBe("recovered");
    expect(session.tsih).not.toBe(tsihBefore);
    const data = patternBytes(5 * MiB, 4096, 16);
    await session.lun(1).write((5 * MiB) / 512, data);
    expect(same(await session.lun(1).read((5 * MiB) / 512, 8), data)).toBe(true);

    await session.logout();
    await pollUntil(() => events.includes("closed cleanly") || undefined, { timeoutMs: 5_000, intervalMs: 10, what: "the closed event" });
    await expect(session.ping()).rejects.toBeInstanceOf(SessionClosedError);
  });

  it("forwards unit-attention when the worker's session retries a command after one", async () => {
    const uaTarget = await startTarget({ unitAttentionOnNewNexus: true, targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:1M" }] }] });
    try {
      const session = await pool.openSession(`iscsi://127.0.0.1:${uaTarget.port}/${IQN}/1`, { keepAlive: false });
      sessions.push(session);
      const attentions: Array<[number, string]> = [];
      session.on("unit-attention", (lun, description) => attentions.push([lun, description]));
      await session.lun(1).testUnitReady();
      expect(attentions).toHaveLength(1);
      expect(attentions[0]?.[0]).toBe(1);
      await session.logout();
    } finally {
      await uaTarget.close();
    }
  });

  it("aborts a read the target holds when the caller's signal aborts: ABORT TASK, an AbortedError with the signal's reason as cause", async () => {
    const lun = (await open()).lun(2);
    const data = patternBytes(0, 64 * 1024, 17);
    await lun.write(0, data);
    held.holding = true;
    const controller = new AbortController();
    const read = lun.read(0, 128, { signal: controller.signal }).then(
      () => "completed",
      (error: unknown) => error,
    );
    await pollUntil(() => held.readsWaiting > 0 || undefined, { timeoutMs: 5_000, intervalMs: 5, what: "the target to hold the read" });
    const reason = new Error("the user pressed Ctrl-C");
    controller.abort(reason);
    const outcome = await read;
    held.release();
    expect(outcome).toBeInstanceOf(AbortedError);
    expect((outcome as AbortedError).message).toMatch(/^READ\(10\) on LUN 2 of .* was aborted by its signal$/);
    expect((outcome as AbortedError).cause).toBe(reason);
    expect(same(await lun.read(0, 128), data)).toBe(true);
  });

  it("spreads sessions over the workers, the least loaded first", async () => {
    const before = pool.loads;
    const opened = [await open(), await open()];
    expect(new Set(opened.map((s) => (s as WorkerSession).worker))).toEqual(new Set([0, 1]));
    expect(pool.loads.reduce((a, b) => a + b, 0)).toBe(before.reduce((a, b) => a + b, 0) + 2);
  });
});

describe("closing a worker pool", () => {
  let target: RunningTarget | undefined;
  afterEach(async () => {
    await target?.close();
    target = undefined;
  });

  it("logs out every session, ends the workers, and refuses what comes after", async () => {
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:1M" }] }] });
    const pool = createWorkerPool({ workers: 2 });
    const luns: LunApi[] = [];
    for (let i = 0; i < 3; i++) luns.push(await pool.openLun(`iscsi://127.0.0.1:${target.port}/${IQN}/1`, { keepAlive: false }));
    expect(target.stats.sessionsOpen).toBe(3);
    const closed: string[] = [];
    for (const lun of luns) lun.session.on("closed", (error) => closed.push(error === undefined ? "cleanly" : error.code));
    const ended: string[] = [];
    target.on("session-closed", (_s, reason) => ended.push(String(reason)));

    await pool.close();

    expect(closed).toEqual(["cleanly", "cleanly", "cleanly"]);
    await pollUntil(() => target?.stats.sessionsOpen === 0 || undefined, { timeoutMs: 5_000, intervalMs: 10, what: "the target to see every session end" });
    expect(ended.every((reason) => /logout/i.test(reason))).toBe(true);
    await expect(luns[0]?.read(0, 1)).rejects.toBeInstanceOf(SessionClosedError);
    await expect(pool.openSession(`iscsi://127.0.0.1:${target.port}/${IQN}/1`)).rejects.toBeInstanceOf(LocalProtocolError);
  });

  it("gives sessions on this thread through the same API when the pool has no workers", async () => {
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:1M" }] }] });
    const pool = createWorkerPool({ workers: 0 });
    const lun = await pool.openLun(`iscsi://127.0.0.1:${target.port}/${IQN}/1`, { keepAlive: false });
    expect(lun.session).not.toBeInstanceOf(WorkerSession);
    const data = patternBytes(0, 4096, 18);
    await lun.write(0, data, { transfer: true });
    expect(same(await lun.read(0, 8), data)).toBe(true);
    await pool.close();
    await pollUntil(() => target?.stats.sessionsOpen === 0 || undefined, { timeoutMs: 5_000, intervalMs: 10, what: "the session to end" });
  });
});

describe("one LUN spread over sessions on workers (what iscsi perf --workers N runs)", () => {
  it("opens a session per worker, sends the I/O to each in turn, and ends every session and worker after", async () => {
    const target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:4M" }] }] });
    try {
      const closed: string[] = [];
      const perSession = await withSpreadLun(`iscsi://127.0.0.1:${target.port}/${IQN}/1`, 1, { workers: 2, overrides: { keepAlive: false } }, async (spread) => {
        expect(spread.sessions).toHaveLength(2);
        expect(new Set(spread.sessions.map((s) => (s as WorkerSession).worker))).toEqual(new Set([0, 1]));
        for (const s of spread.sessions) s.on("closed", (error) => closed.push(error === undefined ? "cleanly" : error.code));
        expect((await spread.readCapacity()).blockSize).toBe(512);
        const data = patternBytes(0, 64 * 1024, 21);
        await Promise.all(Array.from({ length: 16 }, (_, i) => spread.write(i * 8, data.subarray(i * 4096, (i + 1) * 4096))));
        const back = await Promise.all(Array.from({ length: 16 }, (_, i) => spread.read(i * 8, 8)));
        back.forEach((view, i) => expect(same(view, data.subarray(i * 4096, (i + 1) * 4096))).toBe(true));
        return spread.sessions.map((s) => s.connections[0]?.commands ?? 0);
      });
      // Each session carried its share (16 writes and 16 reads in turn, plus what each LUN learned first).
      expect(perSession.every((commands) => commands >= 16)).toBe(true);
      expect(closed).toEqual(["cleanly", "cleanly"]);
      await pollUntil(() => target.stats.sessionsOpen === 0 || undefined, { timeoutMs: 5_000, intervalMs: 10, what: "the sessions to end" });
    } finally {
      await target.close();
    }
  });
});

describe("the pool as the package runs it, from dist", () => {
  it("starts dist/node/workers/worker.js with no loader, and a session on it reads back what it wrote", async () => {
    expect(existsSync("dist/node/workers/worker.js"), "run `npm run build` first (npm test does)").toBe(true);
    const script = `
      import { createWorkerPool } from "./dist/node/workers/index.js";
      import { workerEntry } from "./dist/node/workers/entry.js";
      import { startTarget } from "./dist/target/server.js";
      const target = await startTarget({ targets: [{ iqn: "${IQN}", luns: [{ lun: 1, backend: "mem:1M" }] }] });
      const pool = createWorkerPool({ workers: 1 });
      const lun = await pool.openLun(\`iscsi://127.0.0.1:\${target.port}/${IQN}/1\`, { keepAlive: false });
      const data = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);
      await lun.write(8, data);
      const back = await lun.read(8, 8);
      const entry = workerEntry();
      await pool.close();
      await target.close();
      console.log(JSON.stringify({ same: back.every((b, i) => b === data[i]), entry: String(entry.script), eval: entry.eval }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { timeout: 60_000 });
    const result = JSON.parse(stdout.trim().split("\n").pop() as string) as { same: boolean; entry: string; eval: boolean };
    expect(result.same).toBe(true);
    expect(result.eval).toBe(false);
    expect(result.entry).toMatch(/\/dist\/node\/workers\/worker\.js$/);
  });
});

/**
 * One interop scenario for every JavaScript host: the same steps under Node (`tsx`), Bun and Deno,
 * each through its runtime's library entry (dist/node, dist/bun, dist/deno) against tgtd, so a
 * host differs from another only in what it is: its sockets, timers and services.
 *
 *   <runtime> test/hosts/scenario.ts '<ScenarioConfig as JSON>'
 *
 * Steps: SendTargets discovery; a one-way CHAP login, a write and its read-back; a mutual CHAP
 * login with header and data digests (CRC32C) on; writes of 4 KiB (16 at once), of several MiB
 * (split at the target's transfer limit) and their read-back; ABORT TASK of a read in flight and
 * LOGICAL UNIT RESET (the UNIT ATTENTION after it is retried by the library); then, with I/O in
 * flight, a line `{"drop": <initiator name>}` asks the test to delete the connection with tgtadm,
 * and the session must recover and go on verified. Every byte written is the pattern of
 * test/support/pattern.ts for its offset and the runtime's seed, and the whole LUN ends filled
 * with it, so qemu-img can check it afterwards. The last stdout line is the JSON result.
 */
import { pathToFileURL } from "node:url";
import { patternBytes } from "../support/pattern.js";
import type * as NodeEntry from "../../src/node/index.js";
import type { IscsiSession, Lun } from "../../src/node/index.js";

export interface ScenarioConfig {
  /** Absolute path of the library entry to test (dist/<host>/index.js). */
  readonly entry: string;
  readonly portal: string;
  readonly targetName: string;
  readonly initiatorName: string;
  readonly lun: number;
  /** The LUN's size: the scenario fills all of it. */
  readonly lunBytes: number;
  readonly seed: number;
  readonly chap: { readonly user: string; readonly secret: string };
  /** What the target proves in mutual CHAP (tgtd's outgoing account). */
  readonly targetChap: { readonly user: string; readonly secret: string };
}

export interface ScenarioResult {
  readonly ok: boolean;
  readonly runtime: string;
  readonly runtimeVersion: string;
  /** The ClientHost the entry bound: "node", "bun", "deno". */
  readonly host: string;
  readonly discovered: boolean;
  readonly oneWayChap: boolean;
  readonly mutualChap: boolean;
  readonly digests: { readonly header: boolean; readonly data: boolean };
  readonly abortTaskResponse: number;
  readonly lunReset: boolean;
  readonly recovery: { readonly cause: string; readonly outcome: string; readonly ioDuringDrop: number; readonly ioAfter: number } | undefined;
  readonly verifiedBytes: number;
  readonly elapsedMs: number;
  readonly error?: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 512;
/** Layout of the LUN: [0, 64 KiB) one-way CHAP; then 4 KiB writes to 1 MiB; large writes to half; the rest across the drop. */
const SMALL_END = 1 * MiB;

type Entry = typeof NodeEntry;

const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
const runtimeVersion =
  runtime === "bun"
    ? (globalThis as unknown as { Bun: { version: string } }).Bun.version
    : runtime === "deno"
      ? (globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno
      : process.versions.node;

const config = JSON.parse(process.argv[process.argv.length - 1] ?? "{}") as ScenarioConfig;
const started = performance.now();
let verifiedBytes = 0;

/** Reads `length` bytes at `offset` and checks them against the pattern. */
async function verify(lun: Lun, offset: number, length: number, what: string): Promise<void> {
  const actual = await lun.read(offset / BLOCK, length / BLOCK);
  const expected = patternBytes(offset, length, config.seed);
  for (let i = 0; i < length; i++) {
    if (actual[i] !== expected[i]) throw new Error(`${what}: byte ${offset + i} reads ${actual[i]}, pattern has ${expected[i]}`);
  }
  verifiedBytes += length;
}

function write(lun: Lun, offset: number, length: number): Promise<void> {
  return lun.write(offset / BLOCK, patternBytes(offset, length, config.seed));
}

/** READ(10) (SBC-3 §5.11): the entries export no CDB builders, and this one is ten bytes. */
function read10(lba: number, blocks: number): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = 0x28;
  new DataView(cdb.buffer).setUint32(2, lba);
  new DataView(cdb.buffer).setUint16(7, blocks);
  return cdb;
}

/** Runs `count` jobs, `depth` at a time. */
async function parallel(count: number, depth: number, job: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(depth, count) }, worker));
}

function untilRecovered(session: IscsiSession, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no recovery within ${timeoutMs} ms of asking for the drop`)), timeoutMs);
    session.on("recovery", (phase) => {
      if (phase === "started") return;
      clearTimeout(timer);
      if (phase === "recovered") resolve();
      else reject(new Error("recovery gave up"));
    });
  });
}

async function run(lib: Entry, result: Record<string, unknown>): Promise<void> {
  const base = { portal: config.portal, targetName: config.targetName, initiatorName: config.initiatorName, keepAlive: false as const };
  const oneWay = { username: config.chap.user, secret: config.chap.secret };

  const targets = await lib.discover(config.portal, { initiatorName: config.initiatorName });
  result["discovered"] = targets.some((t) => t.name === config.targetName);

  const first = await lib.openSession({ ...base, chap: oneWay });
  result["host"] = first.host.host.name;
  const firstLun = first.lun(config.lun);
  await firstLun.readCapacity();
  await write(firstLun, 0, 64 * KiB);
  await verify(firstLun, 0, 64 * KiB, "after a one-way CHAP login");
  await first.logout();
  result["oneWayChap"] = true;

  const session = await lib.openSession({
    ...base,
    chap: { ...oneWay, targetUsername: config.targetChap.user, targetSecret: config.targetChap.secret },
    headerDigest: "CRC32C",
    dataDigest: "CRC32C",
  });
  try {
    result["mutualChap"] = true;
    const connection = session.connections[0];
    result["digests"] = { header: connection?.headerDigest === true, data: connection?.dataDigest === true };
    const lun = session.lun(config.lun);
    await lun.readCapacity();

    // 4 KiB writes, 16 in flight, then their read-back in another order.
    const smalls = (SMALL_END - 64 * KiB) / (4 * KiB);
    await parallel(smalls, 16, (i) => write(lun, 64 * KiB + i * 4 * KiB, 4 * KiB));
    await parallel(smalls, 16, (i) => verify(lun, 64 * KiB + (smalls - 1 - i) * 4 * KiB, 4 * KiB, "a 4 KiB read-back"));

    // Large writes: split at the target's transfer limit and into many Data-Out PDUs and R2Ts.
    const half = config.lunBytes / 2;
    await write(lun, SMALL_END, half - SMALL_END);
    await verify(lun, SMALL_END, half - SMALL_END, "a multi-MiB read-back");

    // ABORT TASK races its read: either outcome is the protocol's; the data must be right if it completes.
    let tag: number | undefined;
    const into = new Uint8Array(half);
    const read = session.execute(config.lun, read10(0, half / BLOCK), { dataIn: into, onTag: (t) => (tag = t) }).then(
      () => "completed",
      (error: { code?: string }) => error.code ?? "rejected",
    );
    while (tag === undefined) await new Promise((resolve) => setTimeout(resolve, 0));
    result["abortTaskResponse"] = await session.abortTask(tag);
    const readOutcome = await read;
    if (readOutcome === "completed") {
      const expected = patternBytes(0, half, config.seed);
      for (let i = 0; i < half; i++) if (into[i] !== expected[i]) throw new Error(`a read raced by ABORT TASK: byte ${i} differs`);
      verifiedBytes += half;
    } else if (readOutcome !== "ISCSI_ERR_ABORTED") throw new Error(`a read raced by ABORT TASK failed with ${readOutcome}`);

    await session.lunReset(config.lun);
    result["lunReset"] = true;
    await verify(lun, 0, 256 * KiB, "after LOGICAL UNIT RESET");

    // Across a dropped connection: writes and read-backs in flight while tgtadm deletes it.
    const dropStart = half;
    const chunk = 64 * KiB;
    const chunks = (config.lunBytes - dropStart) / chunk;
    const firstHalf = chunks / 2;
    await parallel(firstHalf, 4, (i) => write(lun, dropStart + i * chunk, chunk));
    const recovered = untilRecovered(session, 30_000);
    let settled = false;
    recovered.then(
      () => (settled = true),
      () => (settled = true),
    );
    console.log(JSON.stringify({ drop: config.initiatorName }));
    let ioDuringDrop = 0;
    await Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        for (let round = 0; !settled; round++) {
          const i = (round * 4 + w) % firstHalf;
          await write(lun, dropStart + i * chunk, chunk);
          await verify(lun, dropStart + i * chunk, chunk, "a read-back while the connection drops");
          ioDuringDrop++;
        }
      }),
    );
    await recovered;
    let ioAfter = 0;
    await parallel(chunks - firstHalf, 4, async (i) => {
      await write(lun, dropStart + (firstHalf + i) * chunk, chunk);
      ioAfter++;
    });
    await verify(lun, dropStart, config.lunBytes - dropStart, "the region written across the drop");
    const record = session.recoveries[0];
    result["recovery"] = { cause: record?.cause ?? "none", outcome: record?.outcome ?? "none", ioDuringDrop, ioAfter };
  } finally {
    await session.logout();
  }
}

async function main(): Promise<void> {
  const result: Record<string, unknown> = { ok: false, runtime, runtimeVersion, host: "unknown", recovery: undefined };
  // A hang is a failure with a result line too; the timer must not hold a finished run open.
  const watchdog = setTimeout(() => {
    console.log(JSON.stringify({ ...result, verifiedBytes, elapsedMs: performance.now() - started, error: "the scenario did not finish in 50 s" }));
    process.exit(1);
  }, 50_000);
  watchdog.unref();
  try {
    const lib = (await import(pathToFileURL(config.entry).href)) as Entry;
    await run(lib, result);
    result["ok"] = true;
  } catch (error) {
    const e = error as Error & { code?: string };
    result["error"] = `${e.code ?? e.name}: ${e.message}`;
  }
  clearTimeout(watchdog);
  console.log(JSON.stringify({ ...result, verifiedBytes, elapsedMs: Math.round(performance.now() - started) }));
}

await main();

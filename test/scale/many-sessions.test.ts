/**
 * Many sessions in one process (issue 11): 64 sessions to 16 targets on two tgtd instances, each
 * session running a closed loop of verified writes and reads on a region of its own. Then one
 * tgtd is killed: the 32 sessions to the other must keep their pace (p50/p99 before and during
 * the outage are reported) and lose nothing, while the 32 to the dead one fail with a typed
 * IscsiError once their replacement timeout has passed, without holding the others up.
 *
 * Figures go to the output (one summary line) and to test-results/many-sessions.json.
 */
import { open } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IscsiError, type IscsiSession, openSession, type SessionOptions } from "../../src/node/index.js";
import { Tgtd } from "../support/tgtd.js";
import { findGc, type LatencySummary, type MemorySample, sampleMemory, summarise, writeFigures } from "./figures.js";
import { BLOCK, errorCode, type Region, VerifiedLoop } from "./verified-loop.js";

const TGTDS = 2;
const TARGETS_PER_TGTD = 8;
const SESSIONS_PER_TARGET = 4;
const SESSIONS = TGTDS * TARGETS_PER_TGTD * SESSIONS_PER_TARGET;
const LUN = 1;
const LUN_BYTES = 32 << 20;
/** Commands each session keeps in flight (one worker each, on slots of its own). */
const DEPTH = 2;
/** Each session's region: 128 slots of 4 KiB, 4 MiB apart from its neighbours on the same LUN. */
const SLOTS = 128;
const SLOT_BLOCKS = 8;
const REGION_SPACING_BLOCKS = (4 << 20) / BLOCK;
const REGION_BASE_LBA = 2048;
/** How long sessions to a dead target wait for it before giving up (recovery.replacementTimeoutMs). */
const REPLACEMENT_MS = 3_000;
/** Slack beyond the replacement timeout for the failure to reach the caller (a slow machine's, not ours). */
const FAIL_SLACK_MS = 5_000;
const WARMUP_MS = 1_000;
const BEFORE_MS = 3_000;
const INITIATOR = "iqn.2026-11.test.scale:many-sessions";
/** Codes a command may fail with when its session's target is gone for good. */
const DEAD_TARGET_CODES = ["ISCSI_ERR_SESSION_CLOSED", "ISCSI_ERR_TRANSPORT", "ISCSI_ERR_TIMEOUT"];

const iqnOf = (instance: number, tid: number): string => `iqn.2026-11.test.scale:tgtd${instance}-disk${tid}`;

function sessionOptions(tgtd: Tgtd, iqn: string): SessionOptions {
  return {
    portal: tgtd.portal,
    targetName: iqn,
    initiatorName: INITIATOR,
    connectTimeoutMs: 2_000,
    loginTimeoutMs: 5_000,
    recovery: { replacementTimeoutMs: REPLACEMENT_MS, initialBackoffMs: 100, maxBackoffMs: 500 },
  };
}

interface Seat {
  readonly instance: number;
  readonly tid: number;
  readonly session: IscsiSession;
  readonly loop: VerifiedLoop;
  closedAt?: number;
  closedWith?: unknown;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
  const file = await open(path, "r");
  try {
    const bytes = new Uint8Array(length);
    const { bytesRead } = await file.read(bytes, 0, length, offset);
    return bytes.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** Latencies of the commands of `seats` that completed in [from, to). */
function latenciesBetween(seats: readonly Seat[], from: number, to: number): number[] {
  const out: number[] = [];
  for (const seat of seats) {
    for (const op of seat.loop.ops) {
      const done = op.startedAt + op.ms;
      if (done >= from && done < to) out.push(op.ms);
    }
  }
  return out;
}

/** The longest time a loop went without completing a command within [from, to). */
function longestGap(loop: VerifiedLoop, from: number, to: number): number {
  let last = from;
  let gap = 0;
  for (const op of loop.ops) {
    const done = op.startedAt + op.ms;
    if (done < from || done >= to) continue;
    gap = Math.max(gap, done - last);
    last = done;
  }
  return Math.max(gap, to - last);
}

describe("64 sessions from one process to 16 targets on two tgtd instances", () => {
  const tgtds: Tgtd[] = [];
  const seats: Seat[] = [];
  const gc = findGc();
  const figures: Record<string, unknown> = {
    sessions: SESSIONS,
    targets: TGTDS * TARGETS_PER_TGTD,
    tgtdInstances: TGTDS,
    commandsInFlightPerSession: DEPTH,
    ioBytes: SLOT_BLOCKS * BLOCK,
    replacementTimeoutMs: REPLACEMENT_MS,
  };
  let beforeFrom = 0;
  let killAt = 0;
  let outageEnd = 0;

  const survivors = (): Seat[] => seats.filter((s) => s.instance === 0);
  const doomed = (): Seat[] => seats.filter((s) => s.instance === 1);

  beforeAll(async () => {
    await Promise.all(
      Array.from({ length: TGTDS }, async (_, instance) => {
        const tgtd = await Tgtd.start();
        tgtds[instance] = tgtd;
        for (let tid = 1; tid <= TARGETS_PER_TGTD; tid++) {
          await tgtd.addTarget({ tid, iqn: iqnOf(instance, tid), luns: [{ lun: LUN, file: { size: LUN_BYTES } }] });
        }
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(seats.map((s) => s.loop.stop()));
    for (const seat of seats) seat.session.close();
    for (const tgtd of tgtds) await tgtd?.stop();
    const path = await writeFigures("many-sessions", figures);
    const f = figures as {
      memoryPerIdleSession?: { heapBytes: number; externalBytes: number; rssBytes: number; exact: boolean };
      survivors?: { before: LatencySummary; during: LatencySummary };
      dead?: { failedAfterMs: { min: number; max: number } };
    };
    const m = f.memoryPerIdleSession;
    const b = f.survivors?.before;
    const d = f.survivors?.during;
    console.log(
      `many-sessions: ${SESSIONS} sessions; idle session ${m === undefined ? "?" : `${(m.heapBytes / 1024).toFixed(1)} KiB heap + ${(m.externalBytes / 1024).toFixed(1)} KiB external, ${(m.rssBytes / 1024).toFixed(1)} KiB RSS${m.exact ? "" : " (approximate, no gc)"}`}; ` +
        `survivors before p50 ${b?.p50Ms ?? "?"} ms p99 ${b?.p99Ms ?? "?"} ms ${b?.opsPerSecond ?? "?"} cmd/s, during p50 ${d?.p50Ms ?? "?"} ms p99 ${d?.p99Ms ?? "?"} ms ${d?.opsPerSecond ?? "?"} cmd/s; ` +
        `dead sessions failed ${f.dead?.failedAfterMs.min ?? "?"}-${f.dead?.failedAfterMs.max ?? "?"} ms after the kill; figures in ${path}`,
    );
  });

  it("opens 4 sessions to each of the 16 targets, each seen by its tgtd, and states the memory an idle session holds", async () => {
    // One session first, so the memory figure leaves out what the first login loads once.
    const first = await openSession(sessionOptions(tgtds[0] as Tgtd, iqnOf(0, 1)));
    await first.lun(LUN).readCapacity();
    await first.logout();
    const before: MemorySample = await sampleMemory(gc);

    const opened = await Promise.all(
      Array.from({ length: SESSIONS }, async (_, i) => {
        const instance = Math.floor(i / (TARGETS_PER_TGTD * SESSIONS_PER_TARGET));
        const tid = 1 + (Math.floor(i / SESSIONS_PER_TARGET) % TARGETS_PER_TGTD);
        const session = await openSession(sessionOptions(tgtds[instance] as Tgtd, iqnOf(instance, tid)));
        const lun = session.lun(LUN);
        await lun.readCapacity();
        const region: Region = { startLba: REGION_BASE_LBA + (i % SESSIONS_PER_TARGET) * REGION_SPACING_BLOCKS, slots: SLOTS, slotBlocks: SLOT_BLOCKS };
        return { instance, tid, session, loop: new VerifiedLoop(i, lun, region, DEPTH) } satisfies Seat;
      }),
    );
    seats.push(...opened);
    await sleep(500);
    const after = await sampleMemory(gc);
    figures["memoryPerIdleSession"] = {
      heapBytes: Math.round((after.heapUsed - before.heapUsed) / SESSIONS),
      externalBytes: Math.round((after.external - before.external) / SESSIONS),
      rssBytes: Math.round((after.rss - before.rss) / SESSIONS),
      exact: gc !== undefined,
      how: gc === undefined ? "process.memoryUsage() delta without a forced GC: approximate" : "process.memoryUsage() delta from 0 to 64 idle sessions, each after two full GCs",
    };

    expect(seats).toHaveLength(SESSIONS);
    for (let instance = 0; instance < TGTDS; instance++) {
      const tgtd = tgtds[instance] as Tgtd;
      for (let tid = 1; tid <= TARGETS_PER_TGTD; tid++) {
        const ours = seats.filter((s) => s.instance === instance && s.tid === tid);
        // Four sessions of one initiator to one target are told apart by their ISIDs (RFC 7143 §4.4.3).
        expect(new Set(ours.map((s) => s.session.isid)).size).toBe(SESSIONS_PER_TARGET);
        expect((await tgtd.sessions(tid)).filter((s) => s.initiator === INITIATOR)).toHaveLength(SESSIONS_PER_TARGET);
      }
    }
  });

  it("runs verified writes and reads on all 64 sessions at once", async () => {
    expect(seats).toHaveLength(SESSIONS);
    for (const seat of seats) {
      seat.session.on("closed", (error) => {
        seat.closedAt ??= performance.now();
        seat.closedWith ??= error;
      });
      seat.loop.start();
    }
    await sleep(WARMUP_MS);
    const from = performance.now();
    await sleep(BEFORE_MS);
    killAt = performance.now();
    beforeFrom = from;
    figures["allSessionsBefore"] = summarise(latenciesBetween(seats, from, killAt), killAt - from);

    const trouble = seats.flatMap((s) => [...s.loop.mismatches, ...s.loop.failures.map((f) => `session ${s.loop.id}: ${errorCode(f.error)}`)]);
    expect(trouble).toEqual([]);
    for (const seat of seats) expect(seat.loop.pairsIssuedBetween(from, killAt), `session ${seat.loop.id}`).toBeGreaterThan(0);
  });

  it("keeps the 32 sessions to the surviving tgtd at pace while the other is killed, and fails the 32 to it with a typed error after their replacement timeout", async () => {
    expect(killAt).toBeGreaterThan(0);
    await (tgtds[1] as Tgtd).kill();
    const failures = await within(
      Promise.all(doomed().map((s) => s.loop.whenFailed())),
      REPLACEMENT_MS + FAIL_SLACK_MS,
      "every session to the killed tgtd failing",
    );
    outageEnd = performance.now();
    const failedAfter = failures.map((f) => f.at - killAt);
    await Promise.all(survivors().map((s) => s.loop.stop()));

    const before = summarise(latenciesBetween(survivors(), beforeFrom, killAt), killAt - beforeFrom);
    const during = summarise(latenciesBetween(survivors(), killAt, outageEnd), outageEnd - killAt);
    const gaps = survivors().map((s) => longestGap(s.loop, killAt, outageEnd));
    const codes: Record<string, number> = {};
    for (const seat of doomed()) for (const f of seat.loop.failures) codes[errorCode(f.error)] = (codes[errorCode(f.error)] ?? 0) + 1;
    figures["survivors"] = { before, during, longestGapDuringMs: Math.round(Math.max(...gaps)) };
    figures["dead"] = {
      failedAfterMs: { min: Math.round(Math.min(...failedAfter)), max: Math.round(Math.max(...failedAfter)) },
      closedAfterMsMax: Math.round(Math.max(...doomed().map((s) => (s.closedAt ?? Number.NaN) - killAt))),
      codes,
    };

    // The survivors: no error, every read-back right, and every one still completing commands
    // through the outage, at a pace near their own from before (a stall would show as a gap and a
    // latency of the order of the replacement timeout).
    const trouble = survivors().flatMap((s) => [...s.loop.mismatches, ...s.loop.failures.map((f) => `session ${s.loop.id}: ${errorCode(f.error)}`)]);
    expect(trouble).toEqual([]);
    for (const seat of survivors()) expect(seat.loop.pairsIssuedBetween(killAt, outageEnd), `session ${seat.loop.id}`).toBeGreaterThanOrEqual(5);
    // A survivor held up by the dead target would wait about the replacement timeout; the floor
    // of a tenth of it keeps a burst of load from a neighbour on a shared machine (4 busy processes
    // started at the kill took p99 from 16 to 100 ms here) from failing the test.
    expect(during.p99Ms).toBeLessThan(Math.max(10 * before.p99Ms, REPLACEMENT_MS / 10));
    expect(Math.max(...gaps)).toBeLessThan(REPLACEMENT_MS / 2);

    // The dead: each fails with a typed error once the replacement timeout has passed, not before.
    for (const [i, failure] of failures.entries()) {
      const seat = doomed()[i] as Seat;
      expect(failure.error, `session ${seat.loop.id}`).toBeInstanceOf(IscsiError);
      expect(DEAD_TARGET_CODES, `session ${seat.loop.id}: ${String(failure.error)}`).toContain((failure.error as IscsiError).code);
      expect(failure.at - killAt).toBeGreaterThanOrEqual(REPLACEMENT_MS * 0.95);
      expect(failure.at - killAt).toBeLessThan(REPLACEMENT_MS + FAIL_SLACK_MS);
      expect(seat.closedWith, `session ${seat.loop.id}`).toBeInstanceOf(IscsiError);
      expect(seat.session.recoveries.at(-1)?.outcome).toBe("gave-up");
    }
  });

  it("loses no acknowledged write: the survivors' regions read back through their sessions, the dead target's from its files", async () => {
    expect(outageEnd).toBeGreaterThan(0);
    const problems: string[] = [];
    let written = 0;
    for (const seat of survivors()) {
      problems.push(...(await seat.loop.verifyThroughSession()));
      written += seat.loop.slotCounts.written;
    }
    // tgtd acknowledged a write once it was in its backing file (page cache survives SIGKILL).
    const victim = tgtds[1] as Tgtd;
    let unacknowledged = 0;
    for (const seat of doomed()) {
      const { startLba, slots, slotBlocks } = seat.loop.region;
      problems.push(...seat.loop.checkRegion(await readRange(victim.lunPath(seat.tid, LUN), startLba * BLOCK, slots * slotBlocks * BLOCK)));
      written += seat.loop.slotCounts.written;
      unacknowledged += seat.loop.slotCounts.unacknowledged;
    }
    figures["verified"] = { slotsWritten: written, slotsWithUnacknowledgedWrite: unacknowledged, bytesChecked: SESSIONS * SLOTS * SLOT_BLOCKS * BLOCK };
    expect(problems).toEqual([]);
    // The check covered written data on every session, not only never-written zeros.
    for (const seat of seats) expect(seat.loop.slotCounts.written, `session ${seat.loop.id}`).toBeGreaterThan(0);

    await Promise.all(survivors().map((s) => s.session.logout()));
    for (let tid = 1; tid <= TARGETS_PER_TGTD; tid++) {
      await (tgtds[0] as Tgtd).waitForSessions(tid, (s) => s.length === 0, { what: `the sessions to target ${tid} to log out` });
    }
  });
});

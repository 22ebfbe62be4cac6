/**
 * Task management against tgtd (RFC 7143 §11.5, §11.6): ABORT TASK of a command in flight, ABORT
 * TASK of a tag that names nothing, and LOGICAL UNIT RESET followed by the UNIT ATTENTION the next
 * command meets (SAM-5 §5.14), which the library retries transparently.
 *
 * The abort races the command. Against tgtd the command always wins here (tgtd finishes the read
 * before it handles the immediate TMF, even with the target stopped while both are queued), so the
 * test asserts the protocol for either outcome rather than one of them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRead10Cdb } from "../../src/core/scsi/cdb.js";
import { openSession, type IscsiSession } from "../../src/node/index.js";
import { patternBytes } from "../support/pattern.js";
import { Tgtd } from "../support/tgtd.js";
import { pollUntil } from "../support/wait.js";
import { MiB, num, sameBytes, settle, TraceLog } from "./interop.test-util.js";

const IQN = "iqn.2026-11.test.initiator:tmf";
const FILE_LUN = 1;
const NULL_LUN = 2;
const BLOCK = 512;
/** RFC 7143 §11.6.1 response codes. */
const FUNCTION_COMPLETE = 0;
const TASK_DOES_NOT_EXIST = 1;

describe("task management against tgtd", () => {
  let tgtd: Tgtd;
  let session: IscsiSession;
  const log = new TraceLog();

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: FILE_LUN, file: { size: 16 * MiB } }, { lun: NULL_LUN, null: true }] });
    session = await settle(openSession(tgtd.url(IQN), { trace: log.trace, keepAlive: false }), "login");
    // Meet the power-on UNIT ATTENTION of both LUNs now, so later tests see only their own.
    await settle(session.lun(FILE_LUN).readCapacity(), "READ CAPACITY");
    await settle(session.lun(NULL_LUN).readCapacity(), "READ CAPACITY");
  });

  afterAll(async () => {
    await session?.logout().catch(() => session?.close());
    await tgtd?.stop();
  });

  /** A write and read back on the file LUN: the session still carries commands correctly. */
  async function stillWorks(seed: number): Promise<void> {
    const data = patternBytes(64 * BLOCK, 128 * 1024, seed);
    await settle(session.lun(FILE_LUN).write(64, data), "write after task management");
    expect(sameBytes(await settle(session.lun(FILE_LUN).read(64, 256), "read after task management"), data)).toBe("equal");
    expect(await settle(session.ping(), "NOP-Out ping")).toBeGreaterThanOrEqual(0);
  }

  it("ABORT TASK of a large read in flight answers 'function complete' or 'task does not exist', and the read ends accordingly", async () => {
    const outcomes: string[] = [];
    for (let round = 0; round < 3; round++) {
      let tag: number | undefined;
      const read = session
        .execute(NULL_LUN, buildRead10Cdb({ lba: round * 16384, blocks: 16384 }), { dataIn: 8 * MiB, onTag: (t) => (tag = t) })
        .then(
          (result) => ({ completed: true as const, result }),
          (error: unknown) => ({ completed: false as const, error }),
        );
      await pollUntil(() => tag !== undefined, { timeoutMs: 2_000, what: "the read's tag (ExecuteOptions.onTag)" });
      log.clear();
      const response = await settle(session.abortTask(tag as number), "ABORT TASK");
      const outcome = await settle(read, "the aborted read");

      expect([FUNCTION_COMPLETE, TASK_DOES_NOT_EXIST], `TMF response in round ${round}`).toContain(response);
      // The request named the read by its tag, on its LUN, as an immediate PDU (RFC 7143 §11.5).
      const request = log.of("TaskManagementRequest", "send").at(-1);
      expect(request?.fields["function"]).toBe("AbortTask");
      expect(num(request, "RTT")).toBe(tag);
      expect(num(request, "LUN")).toBe(NULL_LUN);
      expect(request?.flags).toContain("I");
      if (outcome.completed) {
        // The target finished the read first: the data is all there.
        expect(outcome.result.bytesIn).toBe(8 * MiB);
        outcomes.push(`completed (response ${response})`);
      } else {
        // Aborted: only "function complete" may take a command away (RFC 7143 §11.6.1).
        expect(response).toBe(FUNCTION_COMPLETE);
        expect(outcome.error).toMatchObject({ code: "ISCSI_ERR_ABORTED" });
        outcomes.push("aborted");
      }
      // "Task does not exist" means the target no longer had it: it must have completed.
      if (response === TASK_DOES_NOT_EXIST) expect(outcome.completed).toBe(true);
    }
    expect(outcomes).toHaveLength(3);
    await stillWorks(11);
  });

  it("ABORT TASK of a tag that names no task answers 'task does not exist' (RFC 7143 §11.6.1) and the session carries on", async () => {
    const response = await settle(session.abortTask(0x00c0ffee), "ABORT TASK of an unknown tag");

    expect(response).toBe(TASK_DOES_NOT_EXIST);
    await stillWorks(12);
  });

  it("LOGICAL UNIT RESET completes, and the next command's UNIT ATTENTION is retried transparently", async () => {
    const data = patternBytes(0, 64 * 1024, 13);
    await settle(session.lun(FILE_LUN).write(0, data), "write before the reset");
    const attentions: Array<[number, string]> = [];
    const onAttention = (lun: number, description: string): void => void attentions.push([lun, description]);
    session.on("unit-attention", onAttention);
    try {
      log.clear();
      await settle(session.lunReset(FILE_LUN), "LOGICAL UNIT RESET");
      const tmf = log.of("TaskManagementResponse", "receive");
      expect(tmf.map((e) => num(e, "response"))).toEqual([FUNCTION_COMPLETE]);

      const back = await settle(session.lun(FILE_LUN).read(0, 128), "the first read after the reset");
      expect(sameBytes(back, data)).toBe("equal");
      // It really met the UNIT ATTENTION (CHECK CONDITION), and the retry succeeded.
      const statuses = log.entries().filter((e) => e.direction === "receive" && e.fields["status"] !== undefined).map((e) => e.fields["status"]);
      expect(statuses, log.tail()).toContain("0x02");
      expect(statuses.at(-1)).toBe("0x00");
      expect(attentions.map(([lun]) => lun)).toEqual([FILE_LUN]);
      expect(attentions[0]?.[1]).toMatch(/RESET/);
      expect(attentions[0]?.[1]).toMatch(/0x29/);
    } finally {
      session.off("unit-attention", onAttention);
    }
    await stillWorks(14);
  });
});

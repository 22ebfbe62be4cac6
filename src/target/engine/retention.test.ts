import { describe, expect, it } from "vitest";
import { scsiResponse } from "../../core/pdu/frames.test-util.js";
import { Opcode, RESERVED_TAG } from "../../core/pdu/opcodes.js";
import type { ScsiResponsePdu } from "../../core/pdu/types.js";
import { type DataInOptions, sendDataIn } from "./data-in.js";
import { Retention, RetentionBudget } from "./retention.js";

function options(itt: number, statSN: number | undefined): DataInOptions {
  return {
    lun: 0,
    initiatorTaskTag: itt,
    statSN: statSN ?? 0,
    expCmdSN: 1,
    maxCmdSN: 10,
    maxSegment: 512,
    maxBurst: 1024,
    status: statSN === undefined ? undefined : { status: 0, statSN, residualOverflow: false, residualUnderflow: false, residualCount: 0 },
  };
}

function response(itt: number, statSN: number): ScsiResponsePdu {
  return scsiResponse({ status: 2, initiatorTaskTag: itt, statSN, expCmdSN: 1, maxCmdSN: 10, sense: new Uint8Array(18) });
}

/** Keeps a read and sends its Data-In through the retention, as a connection does. */
function read(retention: Retention, itt: number, length: number, statSN: number | undefined): void {
  let tag = 500;
  const kept = retention.keepRead(itt, new Uint8Array(length).fill(itt), options(itt, statSN), () => tag++);
  sendDataIn((pdu) => retention.sent(pdu), new Uint8Array(length), kept?.options ?? options(itt, statSN));
}

describe("Retention", () => {
  it("gives every byte back to the budget once ExpStatSN passes the statuses", () => {
    const budget = new RetentionBudget(1 << 20);
    const retention = new Retention(budget);
    read(retention, 1, 3000, 10);
    retention.sent(response(2, 11));
    read(retention, 3, 100, undefined);
    retention.sent(response(3, 12));
    expect(retention.reads).toBe(2);
    expect(retention.statuses).toBe(3);
    retention.acknowledge(11);
    expect(retention.read(1)).toBeUndefined();
    expect(retention.status(11)).toBeDefined();
    retention.acknowledge(13);
    expect([retention.reads, retention.statuses, budget.used]).toEqual([0, 0, 0]);
  });

  it("acknowledges across the StatSN wrap", () => {
    const budget = new RetentionBudget(1 << 20);
    const retention = new Retention(budget);
    retention.sent(response(1, 0xffff_fffe));
    retention.sent(response(2, 0xffff_ffff));
    retention.sent(response(3, 0));
    retention.acknowledge(0);
    expect([retention.status(0xffff_fffe), retention.status(0xffff_ffff)]).toEqual([undefined, undefined]);
    expect(retention.status(0)?.opcode).toBe(Opcode.ScsiResponse);
  });

  it("frees whole sequences below a DataACK's BegRun and keeps the rest", () => {
    const budget = new RetentionBudget(1 << 20);
    const retention = new Retention(budget);
    read(retention, 4, 3000, 20);
    const kept = retention.read(4)!;
    expect(kept.options.ackTag).toBe(500);
    const before = budget.used;
    // Sequences of 1024 bytes: PDUs 0-1, 2-3, 4-5. BegRun 3 frees only the first.
    expect(retention.dataAck(500, 3)).toBe(true);
    expect(before - budget.used).toBe(1024);
    expect(kept.ackedBelow).toBe(3);
    expect(kept.slice(2048, 2560)).toEqual(new Uint8Array(512).fill(4));
    expect(retention.dataAck(RESERVED_TAG, 1)).toBe(false);
  });

  it("keeps nothing past its budget, says so once per run, and remembers what it skipped", () => {
    const budget = new RetentionBudget(2000);
    const skips: Array<[string, boolean]> = [];
    const retention = new Retention(budget, (what, first) => skips.push([what, first]));
    read(retention, 1, 1500, 30);
    read(retention, 2, 1500, 31);
    read(retention, 3, 1500, 32);
    expect(retention.read(1)).toBeDefined();
    expect([retention.skippedTask(2), retention.skippedTask(3), retention.skippedStatus(32)]).toEqual([true, true, true]);
    // Two reads not kept (their statuses with them): told once, counted twice.
    expect(skips.map(([, first]) => first)).toEqual([true, false]);
    expect(skips[0]![0]).toMatch(/1500 bytes read for ITT 0x2 were not kept/);
    expect(retention.skips).toBe(2);
    retention.clear();
    expect(budget.used).toBe(0);
  });
});

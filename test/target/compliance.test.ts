/**
 * libiscsi's compliance suite (`iscsi-test-cu`) against the embedded target: every SCSI and
 * iSCSI suite a simple thin-provisioned disk should pass, run one suite per invocation so that a
 * failure names its suite. Suites for commands the target does not implement (persistent
 * reservations, RESERVE(6), EXTENDED COPY and RECEIVE COPY RESULTS, ORWRITE, WRITE ATOMIC, READ
 * DEFECT DATA) pass by recognising INVALID COMMAND OPERATION CODE and skipping: they are kept to
 * pin that answer, and a skip for any other command as not implemented fails the suite. (SANITIZE
 * is skipped for want of --allow-sanitize, before it is sent.) WRITE AND VERIFY, PRE-FETCH and
 * REPORT SUPPORTED OPERATION CODES run: their suites, the residual tests of WRITE AND VERIFY and
 * the DPO/FUA checks of the READ, WRITE, VERIFY and COMPARE AND WRITE suites against the CDB usage
 * data.
 *
 * Known failures, left out below: CompareAndWrite.Simple and .Miscompare send 256 blocks in the
 * one-byte NUMBER OF LOGICAL BLOCKS field, which arrives as 0; SBC-3 makes a zero-block COMPARE AND
 * WRITE a no-op with GOOD status, and the suite expects INVALID FIELD IN CDB.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { iscsiUrl } from "../support/peers.js";
import { runCommand } from "../support/processes.js";
import { tail } from "../support/redact.js";

const IQN = "iqn.2026-11.test.target:compliance";

/** Suites (or single tests) run against a 128 MiB thin memory LUN. */
const ON_DISK = [
  "SCSI.CompareAndWrite.DpoFua",
  "SCSI.CompareAndWrite.Unwritten",
  "SCSI.CompareAndWrite.InvalidDataOutSize",
  "SCSI.ExtendedCopy",
  "SCSI.GetLBAStatus",
  "SCSI.Inquiry",
  "SCSI.Mandatory",
  "SCSI.ModeSense6",
  "SCSI.NoMedia",
  "SCSI.OrWrite",
  "SCSI.Prefetch10",
  "SCSI.Prefetch16",
  "SCSI.PreventAllow",
  "SCSI.PrinReadKeys",
  "SCSI.PrinServiceactionRange",
  "SCSI.PrinReportCapabilities",
  "SCSI.ProutRegister",
  "SCSI.ProutReserve",
  "SCSI.ProutClear",
  "SCSI.ProutPreempt",
  "SCSI.Read6",
  "SCSI.Read10",
  "SCSI.Read12",
  "SCSI.Read16",
  "SCSI.ReadCapacity10",
  "SCSI.ReadCapacity16",
  "SCSI.ReadDefectData10",
  "SCSI.ReadDefectData12",
  "SCSI.ReceiveCopyResults",
  "SCSI.ReportSupportedOpcodes",
  "SCSI.Reserve6",
  "SCSI.Sanitize",
  "SCSI.StartStopUnit",
  "SCSI.TestUnitReady",
  "SCSI.Unmap",
  "SCSI.Verify10",
  "SCSI.Verify12",
  "SCSI.Verify16",
  "SCSI.Write10",
  "SCSI.Write12",
  "SCSI.Write16",
  "SCSI.WriteAtomic16",
  "SCSI.WriteSame10",
  "SCSI.WriteSame16",
  "SCSI.WriteVerify10",
  "SCSI.WriteVerify12",
  "SCSI.WriteVerify16",
  "SCSI.MultipathIO",
  "iSCSI.iSCSIcmdsn",
  "iSCSI.iSCSIdatasn",
  "iSCSI.iSCSIResiduals",
  "iSCSI.iSCSITMF",
];

interface Summary {
  readonly total: number;
  readonly ran: number;
  readonly passed: number;
  readonly failed: number;
}

/**
 * The commands the suite may find not implemented (its "[SKIPPED] <name> is not implemented" lines,
 * after INVALID COMMAND OPERATION CODE): what the target's README lists as not implemented.
 */
const NOT_IMPLEMENTED: ReadonlySet<string> = new Set([
  "PERSISTENT RESERVE IN",
  "RESERVE6",
  "EXTENDEDCOPY",
  "RECEIVE_COPY_RESULTS",
  "RECEIVECOPYRESULT",
  "ORWRITE",
  "WRITEATOMIC16",
  "READDEFECTDATA10",
  "READDEFECTDATA12",
]);

/** Commands the suite skipped as not implemented, once each. */
function skippedAsNotImplemented(stdout: string): string[] {
  return [...new Set([...stdout.matchAll(/\[SKIPPED\] (.+?) is not implemented/g)].map((m) => m[1] ?? ""))].sort();
}

/** CUnit's "tests" row of the run summary. */
function summary(stdout: string): Summary | undefined {
  const m = /^\s+tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(stdout);
  return m === null ? undefined : { total: Number(m[1]), ran: Number(m[2]), passed: Number(m[3]), failed: Number(m[4]) };
}

describe("iscsi-test-cu against the embedded target", () => {
  let target: RunningTarget;

  beforeAll(async () => {
    target = await startTarget({
      targets: [
        {
          iqn: IQN,
          luns: [
            { lun: 0, backend: "mem:128M" },
            { lun: 1, backend: "mem:16M", readOnly: true },
          ],
        },
      ],
    });
  });

  afterAll(async () => {
    await target?.close();
  });

  async function suite(test: string, lun: number): Promise<void> {
    const url = iscsiUrl({ host: target.host, port: target.port, iqn: IQN, lun });
    const result = await runCommand("iscsi-test-cu", ["--dataloss", "--normal", `--test=${test}`, url], { timeoutMs: 120_000 });
    const s = summary(result.stdout);
    // CUnit lists each failed assertion as "  1. test_x.c:123  - CU_ASSERT(...)"; the suite's own
    // "[FAILED] ... command failed" lines log expected refusals and are not failures.
    const failures = result.stdout.split("\n").filter((line) => /^\s+\d+\. \S+\.c:\d+/.test(line));
    expect(s, `${test}: no run summary; stdout: ${tail(result.stdout)}; stderr: ${tail(result.stderr)}`).toBeDefined();
    expect({ test, failed: s?.failed, failures }).toEqual({ test, failed: 0, failures: [] });
    expect({ test, skipped: skippedAsNotImplemented(result.stdout).filter((name) => !NOT_IMPLEMENTED.has(name)) }).toEqual({ test, skipped: [] });
    expect(s?.ran).toBe(s?.total);
    expect(s?.ran).toBeGreaterThan(0);
  }

  for (const test of ON_DISK) {
    it(`passes ${test}`, async () => {
      await suite(test, 0);
    });
  }

  it("passes SCSI.ReadOnly on a read-only LUN", async () => {
    await suite("SCSI.ReadOnly", 1);
  });
});

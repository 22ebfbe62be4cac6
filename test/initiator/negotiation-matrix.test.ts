/**
 * The negotiation matrix against tgtd: InitialR2T x ImmediateData x HeaderDigest x DataDigest,
 * each with small and large data segment and burst lengths, set on both sides. Every case proves
 * the combination was in force three ways: the parameters the session reports, the shape of the
 * data path in our PDU trace (immediate data, unsolicited Data-Out, R2T sequences, segment sizes),
 * and data written and read back intact across the burst boundaries.
 *
 * One tgtd, reconfigured between cases with `tgtadm --op update` (it applies to new sessions).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSession, type IscsiSession } from "../../src/node/index.js";
import type { DigestName } from "../../src/core/text/parameters.js";
import { patternBytes } from "../support/pattern.js";
import { Tgtd } from "../support/tgtd.js";
import { KiB, MiB, num, rejectionOf, sameBytes, settle, TraceLog } from "./interop.test-util.js";

const IQN = "iqn.2026-11.test.initiator:negotiation";
const BLOCK = 512;
const LUN = 1;
const UNSOLICITED_TTT = "0xffffffff";

/** What one side brings: its MaxRecvDataSegmentLength and its limits for the two bursts. */
interface SideLimits {
  readonly maxRecvDataSegmentLength: number;
  readonly firstBurstLength: number;
  readonly maxBurstLength: number;
}

interface Profile {
  readonly name: string;
  readonly target: SideLimits;
  readonly ours: SideLimits;
}

/**
 * "small": tgtd's limits are the lower ones, so its values must win the min() (RFC 7143 §13.13,
 * §13.14); data segments of 1 KiB out and 2 KiB in. "large": ours are lower, so ours must win;
 * bursts of 256 KiB and 1 MiB, segments of 128 KiB out and 256 KiB in.
 */
const PROFILES: readonly Profile[] = [
  {
    name: "small",
    target: { maxRecvDataSegmentLength: 1024, firstBurstLength: 4 * KiB, maxBurstLength: 8 * KiB },
    ours: { maxRecvDataSegmentLength: 2048, firstBurstLength: 8 * KiB, maxBurstLength: 16 * KiB },
  },
  {
    name: "large",
    target: { maxRecvDataSegmentLength: 128 * KiB, firstBurstLength: 512 * KiB, maxBurstLength: 4 * MiB },
    ours: { maxRecvDataSegmentLength: 256 * KiB, firstBurstLength: 256 * KiB, maxBurstLength: 1 * MiB },
  },
];

interface Combination {
  readonly initialR2T: boolean;
  readonly immediateData: boolean;
  readonly headerDigest: DigestName;
  readonly dataDigest: DigestName;
}

const COMBINATIONS: readonly Combination[] = [true, false].flatMap((initialR2T) =>
  [true, false].flatMap((immediateData) =>
    (["None", "CRC32C"] as const).flatMap((headerDigest) =>
      (["None", "CRC32C"] as const).map((dataDigest) => ({ initialR2T, immediateData, headerDigest, dataDigest })),
    ),
  ),
);

const yesNo = (b: boolean): string => (b ? "Yes" : "No");

function describeCombination(c: Combination): string {
  return `InitialR2T=${yesNo(c.initialR2T)} ImmediateData=${yesNo(c.immediateData)} HeaderDigest=${c.headerDigest} DataDigest=${c.dataDigest}`;
}

/** What must be in force after login (RFC 7143 §13: OR, AND, min, declarative). */
function expected(p: Profile) {
  return {
    firstBurstLength: Math.min(p.target.firstBurstLength, p.ours.firstBurstLength),
    maxBurstLength: Math.min(p.target.maxBurstLength, p.ours.maxBurstLength),
    /** What we may send: tgtd's declaration. */
    maxSend: p.target.maxRecvDataSegmentLength,
    /** What tgtd may send us: our declaration. */
    maxRecv: p.ours.maxRecvDataSegmentLength,
  };
}

/** One block; one block past the first burst; three bursts and a block. */
function sizesFor(p: Profile): number[] {
  const e = expected(p);
  return [BLOCK, e.firstBurstLength + BLOCK, 3 * e.maxBurstLength + BLOCK];
}

describe("the negotiation matrix against tgtd", () => {
  let tgtd: Tgtd;
  let seed = 1;
  const open: IscsiSession[] = [];

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: LUN, file: { size: 64 * MiB } }] });
  });

  afterAll(async () => {
    for (const s of open) s.close();
    await tgtd?.stop();
  });

  async function configureTarget(p: Profile, c: Combination): Promise<void> {
    await tgtd.setParam(1, "InitialR2T", yesNo(c.initialR2T));
    await tgtd.setParam(1, "ImmediateData", yesNo(c.immediateData));
    await tgtd.setParam(1, "HeaderDigest", c.headerDigest);
    await tgtd.setParam(1, "DataDigest", c.dataDigest);
    await tgtd.setParam(1, "MaxRecvDataSegmentLength", p.target.maxRecvDataSegmentLength);
    await tgtd.setParam(1, "FirstBurstLength", p.target.firstBurstLength);
    await tgtd.setParam(1, "MaxBurstLength", p.target.maxBurstLength);
  }

  /** Checks the PDUs of one write of `size` bytes against the negotiated data path. */
  function checkWritePath(log: TraceLog, size: number, p: Profile, c: Combination): void {
    const e = expected(p);
    const commands = log.of("ScsiCommand", "send").filter((x) => x.flags.includes("W") && num(x, "EDTL") === size);
    expect(commands, `one WRITE of ${size} bytes in:\n${log.tail()}`).toHaveLength(1);
    const command = commands[0];
    const itt = command?.fields["ITT"];
    const dataOut = log.of("DataOut", "send").filter((x) => x.fields["ITT"] === itt);
    const r2ts = log.of("R2T", "receive").filter((x) => x.fields["ITT"] === itt);

    // RFC 7143 §13.11: immediate data rides on the command, up to FirstBurstLength and one segment.
    const immediate = c.immediateData ? Math.min(size, e.firstBurstLength, e.maxSend) : 0;
    expect(num(command, "len"), `immediate data of the ${size}-byte WRITE`).toBe(immediate);
    // RFC 7143 §13.10: with InitialR2T=No the rest of the first burst follows unsolicited.
    const unsolicitedTotal = c.initialR2T ? immediate : Math.min(size, e.firstBurstLength);
    const unsolicited = dataOut.filter((x) => x.fields["TTT"] === UNSOLICITED_TTT).reduce((sum, x) => sum + num(x, "len"), 0);
    expect(unsolicited, `unsolicited Data-Out bytes of the ${size}-byte WRITE`).toBe(unsolicitedTotal - immediate);
    // The rest is solicited, in R2T bursts of at most MaxBurstLength (RFC 7143 §13.13).
    const solicited = r2ts.reduce((sum, x) => sum + num(x, "length"), 0);
    expect(solicited, `bytes solicited by R2T for the ${size}-byte WRITE`).toBe(size - unsolicitedTotal);
    for (const r2t of r2ts) expect(num(r2t, "length")).toBeLessThanOrEqual(e.maxBurstLength);
    // RFC 7143 §13.12: no Data-Out segment longer than the target declared.
    for (const pdu of dataOut) expect(num(pdu, "len")).toBeLessThanOrEqual(e.maxSend);
    expect(immediate + dataOut.reduce((sum, x) => sum + num(x, "len"), 0), "every byte sent once").toBe(size);
  }

  function checkReadPath(log: TraceLog, size: number, p: Profile): void {
    const e = expected(p);
    const commands = log.of("ScsiCommand", "send").filter((x) => x.flags.includes("R") && num(x, "EDTL") === size);
    expect(commands, `one READ of ${size} bytes in:\n${log.tail()}`).toHaveLength(1);
    const dataIn = log.of("DataIn", "receive").filter((x) => x.fields["ITT"] === commands[0]?.fields["ITT"]);
    for (const pdu of dataIn) expect(num(pdu, "len"), "a Data-In segment").toBeLessThanOrEqual(e.maxRecv);
    expect(dataIn.reduce((sum, x) => sum + num(x, "len"), 0)).toBe(size);
  }

  for (const p of PROFILES) {
    describe(`with ${p.name} segments and bursts`, () => {
      for (const c of COMBINATIONS) {
        it(`${describeCombination(c)}: data crossing the burst boundaries round-trips over the negotiated data path`, async () => {
          await configureTarget(p, c);
          const log = new TraceLog();
          const session = await settle(
            openSession(tgtd.url(IQN), {
              trace: log.trace,
              headerDigest: c.headerDigest,
              dataDigest: c.dataDigest,
              keepAlive: false,
              proposal: { initialR2T: c.initialR2T, immediateData: c.immediateData, ...p.ours },
            }),
            `login with ${describeCombination(c)}`,
          );
          open.push(session);
          const e = expected(p);

          expect(session.params.initialR2T).toBe(c.initialR2T);
          expect(session.params.immediateData).toBe(c.immediateData);
          expect(session.params.maxBurstLength).toBe(e.maxBurstLength);
          // RFC 7143 §13.14: FirstBurstLength is irrelevant with InitialR2T=Yes and ImmediateData=No.
          if (!c.initialR2T || c.immediateData) expect(session.params.firstBurstLength).toBe(e.firstBurstLength);
          expect(session.connections).toHaveLength(1);
          expect(session.connections[0]).toMatchObject({
            headerDigest: c.headerDigest === "CRC32C",
            dataDigest: c.dataDigest === "CRC32C",
            maxRecvDataSegmentLength: e.maxRecv,
            maxSendDataSegmentLength: e.maxSend,
          });

          const lun = session.lun(LUN);
          await settle(lun.readCapacity(), "READ CAPACITY");
          let lba = 0;
          for (const size of sizesFor(p)) {
            const data = patternBytes(lba * BLOCK, size, seed++);
            log.clear();
            await settle(lun.write(lba, data), `write of ${size} bytes`);
            checkWritePath(log, size, p, c);

            log.clear();
            const back = await settle(lun.read(lba, size / BLOCK), `read of ${size} bytes`);
            checkReadPath(log, size, p);
            expect(sameBytes(back, data), `${size} bytes at LBA ${lba}`).toBe("equal");
            lba += Math.ceil(size / BLOCK) + 8;
          }
          await settle(session.logout(), "logout");
        });
      }
    });
  }

  it("offering only CRC32C to a target that allows only None fails the login with a negotiation error naming HeaderDigest", async () => {
    await configureTarget(PROFILES[0] as Profile, { initialR2T: true, immediateData: true, headerDigest: "None", dataDigest: "None" });
    const error = await rejectionOf(openSession(tgtd.url(IQN), { headerDigest: "CRC32C", keepAlive: false }), "login insisting on CRC32C");

    expect(error).toMatchObject({ code: "ISCSI_ERR_NEGOTIATION", key: "HeaderDigest" });
    expect(String(error)).toMatch(/HeaderDigest/);
    expect(String(error)).toMatch(/CRC32C/);
  });
});

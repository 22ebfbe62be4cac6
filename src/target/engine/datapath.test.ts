import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Opcode } from "../../core/pdu/opcodes.js";
import { buildRead10Cdb, buildWrite10Cdb } from "../../core/scsi/cdb.js";
import { DEFAULT_INITIATOR_PROPOSAL, type OperationalProposal, type TargetPolicy } from "../../core/text/parameters.js";
import { TargetPair, pattern } from "./pair.test-util.js";

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Small bursts, so that every path (immediate, unsolicited, several R2Ts, several Data-In) runs. */
const SMALL: Partial<TargetPolicy> = {
  maxRecvDataSegmentLength: 512,
  firstBurstLength: 1024,
  maxBurstLength: 2048,
  maxOutstandingR2T: 2,
};

function proposal(o: Partial<OperationalProposal>): OperationalProposal {
  return { ...DEFAULT_INITIATOR_PROPOSAL, maxRecvDataSegmentLength: 512, ...o };
}

describe("write and read round trips over every data path", () => {
  for (const initialR2T of [false, true]) {
    for (const immediateData of [false, true]) {
      for (const digest of [false, true]) {
        const name = `InitialR2T=${initialR2T ? "Yes" : "No"} ImmediateData=${immediateData ? "Yes" : "No"} digests=${digest ? "CRC32C" : "None"}`;
        it(`moves data intact with ${name} and small bursts`, () => {
          const pair = new TargetPair({ target: { policy: { ...SMALL, initialR2T, immediateData } }, trace: true, split: digest ? 61 : 0 });
          const digests = digest ? (["CRC32C"] as const) : (["None"] as const);
          const side = pair.initiator({ proposal: proposal({ initialR2T, immediateData, headerDigest: digests, dataDigest: digests }) }).login();
          expect(side.session.params.initialR2T).toBe(initialR2T);
          expect(side.session.params.immediateData).toBe(immediateData);
          for (const [i, blocks] of [1, 3, 17, 64].entries()) {
            const data = pattern(blocks * 512, 100 + i);
            const lba = 40 * i;
            expect(side.run({ cdb: buildWrite10Cdb({ lba, blocks }), dataOut: data }).status).toBe(0);
            const back = new Uint8Array(data.length);
            const read = side.run({ cdb: buildRead10Cdb({ lba, blocks }), dataIn: back });
            expect(read.status).toBe(0);
            expect(same(back, data)).toBe(true);
            expect(same(pair.memory().read(lba * 512, data.length), data)).toBe(true);
          }
          // Every PDU the target sent respects the initiator's 512-byte limit and MaxBurstLength.
          for (const dataIn of pair.sent(Opcode.DataIn)) expect(dataIn.data.length).toBeLessThanOrEqual(512);
          const r2ts = pair.sent(Opcode.R2T);
          for (const r2t of r2ts) expect(r2t.desiredDataTransferLength).toBeLessThanOrEqual(2048);
          // Without unsolicited data everything is solicited; the first write (one block) needs an R2T only then.
          if (initialR2T && !immediateData) expect(r2ts.length).toBeGreaterThanOrEqual(1 + 2 + 9 + 32 / 4);
          expect(pair.received(Opcode.DataOut).every((d) => d.data.length <= 512)).toBe(true);
          if (immediateData) expect(pair.received(Opcode.ScsiCommand).some((c) => c.data.length > 0)).toBe(true);
          else expect(pair.received(Opcode.ScsiCommand).every((c) => c.data.length === 0)).toBe(true);
        });
      }
    }
  }

  it("ends a Data-In sequence (F bit) at every MaxBurstLength and puts status on the last PDU only", () => {
    const pair = new TargetPair({ target: { policy: SMALL }, trace: true });
    const side = pair.initiator({ proposal: proposal({}) }).login();
    side.run({ cdb: buildRead10Cdb({ lba: 0, blocks: 16 }), dataIn: new Uint8Array(8192) });
    const pdus = pair.sent(Opcode.DataIn);
    expect(pdus).toHaveLength(16);
    expect(pdus.map((p) => p.dataSN)).toEqual([...Array(16).keys()]);
    expect(pdus.filter((p) => p.final).map((p) => p.bufferOffset + p.data.length)).toEqual([2048, 4096, 6144, 8192]);
    expect(pdus.filter((p) => p.hasStatus)).toHaveLength(1);
    expect(pdus[15]?.hasStatus).toBe(true);
  });

  it("keeps writes intact for any size, offset and chunking (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 8000 }),
        fc.integer({ min: 1, max: 300 }),
        fc.boolean(),
        fc.boolean(),
        (blocks, lba, split, initialR2T, immediateData) => {
          const pair = new TargetPair({ target: { policy: { ...SMALL, initialR2T, immediateData } }, split });
          const side = pair.initiator({ proposal: proposal({ initialR2T, immediateData }) }).login();
          const start = Math.min(lba, 8192 - blocks);
          const data = pattern(blocks * 512, lba + blocks);
          expect(side.run({ cdb: buildWrite10Cdb({ lba: start, blocks }), dataOut: data }).status).toBe(0);
          const back = new Uint8Array(data.length);
          side.run({ cdb: buildRead10Cdb({ lba: start, blocks }), dataIn: back });
          expect(same(back, data)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("the command window", () => {
  it("holds the initiator to the queue depth and opens a slot as each command completes", () => {
    const pair = new TargetPair({ engine: { queueDepth: 2 }, storage: "manual" });
    const side = pair.initiator().login();
    const ids = [0, 1, 2, 3, 4].map((i) => side.submit({ cdb: buildRead10Cdb({ lba: i, blocks: 1 }), dataIn: new Uint8Array(512) }));
    pair.pump();
    // Two commands reached storage; three wait at the initiator for MaxCmdSN to move.
    expect(pair.pending).toHaveLength(2);
    expect(side.session.outstanding).toBe(5);
    pair.completeStorage(1);
    expect(side.outcome(ids[0]!)?.type).toBe("command-complete");
    expect(pair.pending).toHaveLength(2);
    pair.completeStorage();
    pair.completeStorage();
    pair.completeStorage();
    for (const id of ids) expect(side.outcome(id)?.type).toBe("command-complete");
    const session = pair.engine.sessions[0]!;
    const window = side.session.commandWindow;
    expect(window.expCmdSN).toBe(session.expCmdSN);
    expect(window.maxCmdSN).toBe((session.expCmdSN + 1) >>> 0);
  });

  it("runs storage for many commands at once when the depth allows (SIMPLE tasks overlap)", () => {
    const pair = new TargetPair({ engine: { queueDepth: 64 }, storage: "manual" });
    const side = pair.initiator().login();
    for (let i = 0; i < 20; i++) side.submit({ cdb: buildRead10Cdb({ lba: i, blocks: 1 }), dataIn: new Uint8Array(512) });
    pair.pump();
    expect(pair.pending).toHaveLength(20);
    // Completing them in reverse order is fine: each answers on its own.
    const reversed = pair.pending.splice(0).reverse();
    pair.pending.push(...reversed);
    pair.completeStorage();
    expect(side.types().filter((t) => t === "command-complete")).toHaveLength(20);
  });
});

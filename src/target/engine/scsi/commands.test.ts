import { describe, expect, it } from "vitest";
import { hexOf } from "../../../core/hex.js";
import { cdbLengthForOpcode } from "../../../core/scsi/opcodes.js";
import { decodeSense } from "../../../core/scsi/sense.js";
import { ScsiStatus, SenseKey } from "../../../core/scsi/status.js";
import { buildUnmapParameterList } from "../../../core/scsi/unmap.js";
import { type InitiatorSide, TargetPair } from "../pair.test-util.js";
import { COMMANDS, type ScsiCommand } from "./commands.js";

/** Opcodes whose byte 1 (bits 4-0) is a service action. */
const WITH_SERVICE_ACTIONS = new Set([0x9e, 0xa3]);

const key = (opcode: number, serviceAction?: number): string =>
  serviceAction === undefined ? opcode.toString(16) : `${opcode.toString(16)}/${serviceAction.toString(16)}`;

/** What REPORT SUPPORTED OPERATION CODES lists for LUN `lun`, as keys. */
function listed(side: InitiatorSide, lun: number): Set<string> {
  const buffer = new Uint8Array(4096);
  const cdb = new Uint8Array([0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]);
  const result = side.run({ lun, cdb, dataIn: buffer });
  expect(result.status).toBe(ScsiStatus.Good);
  const out = new Set<string>();
  for (let at = 4; at < result.bytesIn; at += 8) out.add(key(buffer[at]!, (buffer[at + 5]! & 1) === 1 ? buffer[at + 3]! : undefined));
  return out;
}

function isInvalidOpcode(side: InitiatorSide, lun: number, cdb: Uint8Array): boolean {
  const result = side.run({ lun, cdb, shortTransfer: "allow" });
  if (result.status !== ScsiStatus.CheckCondition) return false;
  const sense = decodeSense(result.sense);
  return sense.key === SenseKey.IllegalRequest && sense.asc === 0x20 && sense.ascq === 0;
}

describe("the command table", () => {
  it("answers INVALID COMMAND OPERATION CODE for exactly the opcodes and service actions REPORT SUPPORTED OPERATION CODES leaves out", () => {
    const pair = new TargetPair({ target: { luns: [{ lun: 0, blocks: 8192, thinProvisioned: true }, { lun: 1, blocks: 8192, thinProvisioned: false }] } });
    const side = pair.initiator().login();
    for (const lun of [0, 1]) {
      const supported = listed(side, lun);
      const refused: string[] = [];
      const ran: string[] = [];
      for (let opcode = 0; opcode < 256; opcode++) {
        for (const serviceAction of WITH_SERVICE_ACTIONS.has(opcode) ? Array.from({ length: 32 }, (_, i) => i) : [undefined]) {
          // All fields zero: whatever a supported command makes of them, it is not an unknown opcode.
          const cdb = new Uint8Array(cdbLengthForOpcode(opcode) ?? 16);
          cdb[0] = opcode;
          if (serviceAction !== undefined) cdb[1] = serviceAction;
          (isInvalidOpcode(side, lun, cdb) ? refused : ran).push(key(opcode, serviceAction));
        }
      }
      expect(ran.sort(), `LUN ${lun}`).toEqual([...supported].sort());
      expect(refused.some((k) => supported.has(k))).toBe(false);
    }
  });

  it("gives each command CDB usage data as long as its CDB, with its opcode, its service action and NACA", () => {
    for (const command of COMMANDS) {
      const name = command.name;
      expect(command.usage.length, name).toBe(cdbLengthForOpcode(command.opcode));
      expect(command.usage[0], name).toBe(command.opcode);
      expect(command.serviceAction === undefined, name).toBe(!WITH_SERVICE_ACTIONS.has(command.opcode));
      if (command.serviceAction !== undefined) expect(command.usage[1], name).toBe(command.serviceAction);
      expect(command.usage.at(-1), name).toBe(0x04);
    }
    const keys = COMMANDS.map((c) => key(c.opcode, c.serviceAction));
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("ignores every CDB bit its usage data marks unused: flipping one changes nothing in the outcome", () => {
    const pair = new TargetPair();
    const side = pair.initiator().login();
    const missing = COMMANDS.filter((c) => BASELINES[key(c.opcode, c.serviceAction)] === undefined).map((c) => c.name);
    expect(missing, "every command needs a baseline below").toEqual([]);
    for (const command of COMMANDS) {
      const baseline = BASELINES[key(command.opcode, command.serviceAction)]!;
      baseline.cdb[0] = command.opcode;
      const expected = outcome(side, baseline, baseline.cdb);
      expect([ScsiStatus.Good, ScsiStatus.ConditionMet], `${command.name} baseline: ${expected}`).toContain(JSON.parse(expected).status);
      for (const [byte, bit] of unusedBits(command)) {
        const cdb = baseline.cdb.slice();
        cdb[byte]! ^= 1 << bit;
        expect(outcome(side, baseline, cdb), `${command.name}: byte ${byte} bit ${bit}`).toBe(expected);
      }
    }
  });
});

interface Baseline {
  readonly cdb: Uint8Array;
  readonly dataIn?: number;
  readonly dataOut?: Uint8Array;
}

function outcome(side: InitiatorSide, baseline: Baseline, cdb: Uint8Array): string {
  const dataIn = baseline.dataIn === undefined ? undefined : new Uint8Array(baseline.dataIn);
  const result = side.run({ cdb, ...(dataIn === undefined ? {} : { dataIn }), ...(baseline.dataOut === undefined ? {} : { dataOut: baseline.dataOut }) });
  return JSON.stringify({
    status: result.status,
    sense: hexOf(result.sense),
    residual: [result.residualOverflow, result.residualUnderflow, result.residualCount],
    data: dataIn === undefined ? "" : hexOf(dataIn.subarray(0, result.bytesIn)),
  });
}

/** [byte, bit] of every bit the usage data marks unused, past the opcode and any service action. */
function unusedBits(command: ScsiCommand): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  command.usage.forEach((mask, byte) => {
    if (byte === 0) return;
    const used = byte === 1 && command.serviceAction !== undefined ? 0x1f : mask;
    for (let bit = 0; bit < 8; bit++) if ((used & (1 << bit)) === 0) out.push([byte, bit]);
  });
  return out;
}

function cdb(length: number, fields: Record<number, number>): Uint8Array {
  const bytes = new Uint8Array(length);
  for (const [at, value] of Object.entries(fields)) bytes[Number(at)] = value;
  return bytes;
}

const BLOCK = new Uint8Array(512);
/** LBA 1, one block, in each CDB size: ten-byte [2..5] LBA, [7..8] length; twelve [6..9]; sixteen [2..9], [10..13]. */
const ONE_BLOCK_10 = { 5: 1, 8: 1 };
const ONE_BLOCK_12 = { 5: 1, 9: 1 };
const ONE_BLOCK_16 = { 9: 1, 13: 1 };
const UNMAP_LIST = buildUnmapParameterList([{ lba: 1, blocks: 1 }]);

/** Each command with fields it runs with GOOD (or CONDITION MET), over and over alike; the opcode goes in byte 0. */
const BASELINES: Record<string, Baseline> = {
  "0": { cdb: cdb(6, {}) },
  "3": { cdb: cdb(6, { 4: 18 }), dataIn: 18 },
  "8": { cdb: cdb(6, { 3: 1, 4: 1 }), dataIn: 512 },
  a: { cdb: cdb(6, { 3: 1, 4: 1 }), dataOut: BLOCK },
  "12": { cdb: cdb(6, { 4: 96 }), dataIn: 96 },
  "1a": { cdb: cdb(6, { 2: 0x3f, 4: 255 }), dataIn: 255 },
  "1b": { cdb: cdb(6, {}) },
  "1e": { cdb: cdb(6, {}) },
  "25": { cdb: cdb(10, {}), dataIn: 8 },
  "28": { cdb: cdb(10, ONE_BLOCK_10), dataIn: 512 },
  "2a": { cdb: cdb(10, ONE_BLOCK_10), dataOut: BLOCK },
  "2e": { cdb: cdb(10, { ...ONE_BLOCK_10, 1: 0x02 }), dataOut: BLOCK },
  "2f": { cdb: cdb(10, { ...ONE_BLOCK_10, 1: 0x02 }), dataOut: BLOCK },
  "34": { cdb: cdb(10, ONE_BLOCK_10) },
  "35": { cdb: cdb(10, {}) },
  "41": { cdb: cdb(10, ONE_BLOCK_10), dataOut: BLOCK },
  "42": { cdb: cdb(10, { 8: UNMAP_LIST.length }), dataOut: UNMAP_LIST },
  "5a": { cdb: cdb(10, { 2: 0x3f, 8: 255 }), dataIn: 255 },
  "88": { cdb: cdb(16, ONE_BLOCK_16), dataIn: 512 },
  "89": { cdb: cdb(16, { 9: 1, 13: 1 }), dataOut: new Uint8Array(1024) },
  "8a": { cdb: cdb(16, ONE_BLOCK_16), dataOut: BLOCK },
  "8e": { cdb: cdb(16, { ...ONE_BLOCK_16, 1: 0x02 }), dataOut: BLOCK },
  "8f": { cdb: cdb(16, { ...ONE_BLOCK_16, 1: 0x02 }), dataOut: BLOCK },
  "90": { cdb: cdb(16, ONE_BLOCK_16) },
  "91": { cdb: cdb(16, {}) },
  "93": { cdb: cdb(16, ONE_BLOCK_16), dataOut: BLOCK },
  "9e/10": { cdb: cdb(16, { 1: 0x10, 13: 32 }), dataIn: 32 },
  "9e/12": { cdb: cdb(16, { 1: 0x12, 13: 64 }), dataIn: 64 },
  a0: { cdb: cdb(12, { 9: 64 }), dataIn: 64 },
  "a3/c": { cdb: cdb(12, { 1: 0x0c, 8: 0x10 }), dataIn: 4096 },
  a8: { cdb: cdb(12, ONE_BLOCK_12), dataIn: 512 },
  aa: { cdb: cdb(12, ONE_BLOCK_12), dataOut: BLOCK },
  ae: { cdb: cdb(12, { ...ONE_BLOCK_12, 1: 0x02 }), dataOut: BLOCK },
  af: { cdb: cdb(12, { ...ONE_BLOCK_12, 1: 0x02 }), dataOut: BLOCK },
};

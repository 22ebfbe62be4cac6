import { describe, expect, it } from "vitest";
import { hex } from "../../../core/hex.js";
import { decodeSense } from "../../../core/scsi/sense.js";
import { ScsiStatus, SenseKey } from "../../../core/scsi/status.js";
import type { CommandResult } from "../../../core/session/command.js";
import { type InitiatorSide, TargetPair } from "../pair.test-util.js";

function senseOf(result: CommandResult): [number, number, number] {
  expect(result.status).toBe(ScsiStatus.CheckCondition);
  const s = decodeSense(result.sense);
  return [s.key, s.asc, s.ascq];
}

function rsocCdb(o: { options: number; rctd?: boolean; opcode?: number; serviceAction?: number; allocationLength?: number }): Uint8Array {
  const cdb = new Uint8Array(12);
  const view = new DataView(cdb.buffer);
  cdb[0] = 0xa3;
  cdb[1] = 0x0c;
  cdb[2] = (o.rctd === true ? 0x80 : 0) | o.options;
  cdb[3] = o.opcode ?? 0;
  view.setUint16(4, o.serviceAction ?? 0);
  view.setUint32(6, o.allocationLength ?? 4096);
  return cdb;
}

function rsoc(side: InitiatorSide, o: Parameters<typeof rsocCdb>[0], lun = 0): { result: CommandResult; data: Uint8Array } {
  const buffer = new Uint8Array(o.allocationLength ?? 4096);
  const result = side.run({ lun, cdb: rsocCdb(o), dataIn: buffer });
  return { result, data: buffer.subarray(0, result.bytesIn) };
}

interface Descriptor {
  readonly opcode: number;
  readonly serviceAction: number;
  readonly servactv: boolean;
  readonly ctdp: boolean;
  readonly cdbLength: number;
  readonly timeoutsLength?: number;
}

/** SPC-4 §6.35.2 all_commands parameter data. */
function descriptors(data: Uint8Array): Descriptor[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const end = 4 + view.getUint32(0);
  expect(end).toBe(data.length);
  const out: Descriptor[] = [];
  for (let at = 4; at < end; ) {
    const ctdp = (data[at + 5]! & 0x02) !== 0;
    out.push({
      opcode: data[at]!,
      serviceAction: view.getUint16(at + 2),
      servactv: (data[at + 5]! & 0x01) !== 0,
      ctdp,
      cdbLength: view.getUint16(at + 6),
      ...(ctdp ? { timeoutsLength: view.getUint16(at + 8) } : {}),
    });
    at += ctdp ? 20 : 8;
  }
  return out;
}


/** What this device server runs on a thin unit, as (opcode/service action, CDB length). */
const THIN_UNIT = [
  "0x00 6", "0x03 6", "0x08 6", "0x0a 6", "0x12 6", "0x1a 6", "0x1b 6", "0x1e 6",
  "0x25 10", "0x28 10", "0x2a 10", "0x2e 10", "0x2f 10", "0x34 10", "0x35 10", "0x41 10", "0x42 10", "0x5a 10",
  "0x88 16", "0x89 16", "0x8a 16", "0x8e 16", "0x8f 16", "0x90 16", "0x91 16", "0x93 16", "0x9e/0x10 16", "0x9e/0x12 16",
  "0xa0 12", "0xa3/0x0c 12", "0xa8 12", "0xaa 12", "0xae 12", "0xaf 12",
];

describe("REPORT SUPPORTED OPERATION CODES, every command (reporting options 000b)", () => {
  it("lists every command the unit runs, service actions only where there are some", () => {
    const side = new TargetPair().initiator().login();
    const { result, data } = rsoc(side, { options: 0 });
    expect(result.status).toBe(ScsiStatus.Good);
    const list = descriptors(data);
    expect(list.map((d) => `${hex(d.opcode, 2)}${d.servactv ? `/${hex(d.serviceAction, 2)}` : ""} ${d.cdbLength}`)).toEqual(THIN_UNIT);
    expect(list.filter((d) => !d.servactv).every((d) => d.serviceAction === 0 && !d.ctdp)).toBe(true);
  });

  it("leaves out UNMAP and GET LBA STATUS on a unit that is not thin, as it refuses them there", () => {
    const pair = new TargetPair({ target: { luns: [{ lun: 0, blocks: 64, thinProvisioned: false }] } });
    const side = pair.initiator().login();
    const listed = descriptors(rsoc(side, { options: 0 }).data).map((d) => `${hex(d.opcode, 2)}${d.servactv ? `/${hex(d.serviceAction, 2)}` : ""} ${d.cdbLength}`);
    expect(listed).toEqual(THIN_UNIT.filter((c) => c !== "0x42 10" && c !== "0x9e/0x12 16"));
  });

  it("adds a command timeouts descriptor to each with RCTD", () => {
    const side = new TargetPair().initiator().login();
    const list = descriptors(rsoc(side, { options: 0, rctd: true }).data);
    expect(list).toHaveLength(THIN_UNIT.length);
    expect(list.every((d) => d.ctdp && d.timeoutsLength === 0x0a)).toBe(true);
  });

  it("cuts the data at the allocation length, with COMMAND DATA LENGTH saying how much there is", () => {
    const side = new TargetPair().initiator().login();
    const { result, data } = rsoc(side, { options: 0, allocationLength: 12 });
    expect(result.status).toBe(ScsiStatus.Good);
    expect(data.length).toBe(12);
    expect(new DataView(data.buffer, data.byteOffset).getUint32(0)).toBe(8 * THIN_UNIT.length);
    expect([...data.subarray(4, 12)]).toEqual([0x00, 0, 0, 0, 0, 0, 0, 6]);
  });
});

describe("REPORT SUPPORTED OPERATION CODES, one command (reporting options 001b and 010b)", () => {
  it("gives WRITE AND VERIFY(10)'s CDB usage data: WRPROTECT, DPO, BYTCHK, LBA, length and NACA", () => {
    const side = new TargetPair().initiator().login();
    const { result, data } = rsoc(side, { options: 1, opcode: 0x2e });
    expect(result.status).toBe(ScsiStatus.Good);
    // SUPPORT 011b, CDB SIZE 10, then the usage data.
    expect([...data]).toEqual([0, 0b011, 0, 10, 0x2e, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x00, 0xff, 0xff, 0x04]);
  });

  it("marks DPO and FUA used for READ and WRITE, as MODE SENSE reports DPOFUA", () => {
    const side = new TargetPair().initiator().login();
    for (const opcode of [0x28, 0x2a, 0x88, 0x8a, 0xa8, 0xaa, 0x89]) {
      expect((rsoc(side, { options: 1, opcode }).data[5]! & 0x18).toString(16), hex(opcode, 2)).toBe("18");
    }
  });

  it("puts the service action into the usage data, and a timeouts descriptor after it with RCTD", () => {
    const side = new TargetPair().initiator().login();
    const { data } = rsoc(side, { options: 2, opcode: 0x9e, serviceAction: 0x10, rctd: true });
    expect(data[1]).toBe(0x80 | 0b011);
    expect(new DataView(data.buffer, data.byteOffset).getUint16(2)).toBe(16);
    expect([...data.subarray(4, 6)]).toEqual([0x9e, 0x10]);
    expect(data.length).toBe(4 + 16 + 12);
    expect(new DataView(data.buffer, data.byteOffset).getUint16(20)).toBe(0x0a);
  });

  it("says SUPPORT 001b for what it does not run", () => {
    const side = new TargetPair().initiator().login();
    expect([...rsoc(side, { options: 1, opcode: 0x5e }).data]).toEqual([0, 0b001, 0, 0]);
    expect([...rsoc(side, { options: 2, opcode: 0x9e, serviceAction: 0x11 }).data]).toEqual([0, 0b001, 0, 0]);
    expect([...rsoc(side, { options: 2, opcode: 0xa4, serviceAction: 0x06 }).data]).toEqual([0, 0b001, 0, 0]);
  });

  it("refuses an opcode with service actions asked by opcode alone, one without asked by service action, and reserved options", () => {
    const side = new TargetPair().initiator().login();
    expect(senseOf(rsoc(side, { options: 1, opcode: 0x9e }).result)).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
    expect(senseOf(rsoc(side, { options: 1, opcode: 0xa3, serviceAction: 0x0c }).result)).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
    expect(senseOf(rsoc(side, { options: 2, opcode: 0x28 }).result)).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
    for (const options of [3, 4, 5, 6, 7]) {
      const refused = rsoc(side, { options }).result;
      expect(senseOf(refused)).toEqual([SenseKey.IllegalRequest, 0x24, 0]);
      expect(decodeSense(refused.sense).senseKeySpecific).toMatchObject({ kind: "field-pointer", commandData: true, fieldPointer: 2 });
    }
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import {
  PrType,
  buildPrOutParameterList,
  buildReadFullStatusData,
  buildReadKeysData,
  buildReadReservationData,
  buildReportCapabilitiesData,
  parsePrOutParameterList,
  parseReadFullStatusData,
  parseReadKeysData,
  parseReadReservationData,
  parseReportCapabilitiesData,
  prTypeName,
} from "./persistent-reservation.js";
import { hexOf } from "../hex.js";
import { U64_MAX } from "./wire.js";

const h = (spaced: string): string => spaced.replace(/\s+/g, "");
const key = fc.bigInt({ min: 0n, max: U64_MAX });
const ALL_TYPES = [1, 3, 5, 6, 7, 8] as const;

describe("PERSISTENT RESERVE OUT parameter list", () => {
  it("is 24 bytes: reservation key, service action key, then SPEC_I_PT/ALL_TG_PT/APTPL in byte 20", () => {
    // The bytes libiscsi sent for PREEMPT (fixtures/libiscsi-cdbs.hex).
    expect(hexOf(buildPrOutParameterList({ reservationKey: 0x477ad343n, serviceActionReservationKey: 0x62484662n }))).toBe(
      h("00000000477ad343 0000000062484662 00000000 00 00 0000"),
    );
    expect(hexOf(buildPrOutParameterList({ reservationKey: 1n, serviceActionReservationKey: 0n, allTargetPorts: true, aptpl: true }).subarray(20))).toBe("05000000");
  });

  it("round-trips through the target-side parser", () => {
    fc.assert(
      fc.property(key, key, fc.boolean(), fc.boolean(), (reservationKey, serviceActionReservationKey, allTargetPorts, aptpl) => {
        expect(parsePrOutParameterList(buildPrOutParameterList({ reservationKey, serviceActionReservationKey, allTargetPorts, aptpl }))).toEqual({
          kind: "pr-out-parameters",
          reservationKey,
          serviceActionReservationKey,
          specifyInitiatorPorts: false,
          allTargetPorts,
          aptpl,
          transportIds: undefined,
        });
      }),
    );
  });

  it("returns the TransportID list when SPEC_I_PT is set", () => {
    const list = new Uint8Array(28 + 24);
    list[20] = 0x08;
    list[27] = 24;
    list.fill(7, 28);
    const parsed = parsePrOutParameterList(list);
    expect(parsed.kind).toBe("pr-out-parameters");
    if (parsed.kind === "pr-out-parameters") expect(Array.from(parsed.transportIds ?? [])).toEqual(new Array<number>(24).fill(7));
  });

  it("gives PARAMETER LIST LENGTH ERROR for a list that is not 24 bytes or whose TransportIDs run past it", () => {
    expect(parsePrOutParameterList(new Uint8Array(23))).toMatchObject({ kind: "invalid", asc: 0x1a, ascq: 0 });
    expect(parsePrOutParameterList(new Uint8Array(25))).toMatchObject({ kind: "invalid", asc: 0x1a });
    const bad = new Uint8Array(32);
    bad[20] = 0x08;
    bad[27] = 8;
    expect(parsePrOutParameterList(bad)).toMatchObject({ kind: "invalid", asc: 0x1a, field: 24 });
  });

  it("refuses a key that is not a 64-bit bigint", () => {
    expect(() => buildPrOutParameterList({ reservationKey: 1n << 64n, serviceActionReservationKey: 0n })).toThrow(LocalProtocolError);
  });
});

describe("READ KEYS data", () => {
  it("is PRGENERATION, ADDITIONAL LENGTH, then 8-byte keys", () => {
    expect(hexOf(buildReadKeysData({ generation: 12, keys: [0x62484662n, 0x477ad343n] }))).toBe(h("0000000c 00000010 0000000062484662 00000000477ad343"));
  });

  it("round-trips any keys, full 64-bit range included", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.array(key, { maxLength: 20 }), (generation, keys) => {
        expect(parseReadKeysData(buildReadKeysData({ generation, keys }))).toEqual({ generation, keys, truncated: false });
      }),
    );
  });

  it("returns the keys that arrived when the allocation length cut the list", () => {
    const data = buildReadKeysData({ generation: 1, keys: [1n, 2n, 3n] });
    expect(parseReadKeysData(data.subarray(0, 20))).toEqual({ generation: 1, keys: [1n], truncated: true });
    expect(() => parseReadKeysData(data.subarray(0, 7))).toThrow(RemoteProtocolError);
  });
});

describe("READ RESERVATION data", () => {
  it("is the header alone without a reservation, and 24 bytes with one", () => {
    expect(hexOf(buildReadReservationData({ generation: 4 }))).toBe("0000000400000000");
    expect(hexOf(buildReadReservationData({ generation: 1, reservation: { key: 0x1f2d40a1n, type: PrType.WriteExclusive } }))).toBe(
      h("00000001 00000010 000000001f2d40a1 00000000 00 01 0000"),
    );
  });

  it("round-trips every type", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), key, fc.constantFrom(...ALL_TYPES), (generation, k, type) => {
        expect(parseReadReservationData(buildReadReservationData({ generation, reservation: { key: k, type } }))).toEqual({
          generation,
          reservation: { key: k, scope: 0, type, typeName: prTypeName(type) },
          truncated: false,
        });
      }),
    );
  });

  it("says truncated when the reservation was cut off", () => {
    const data = buildReadReservationData({ generation: 1, reservation: { key: 5n, type: PrType.ExclusiveAccess } });
    expect(parseReadReservationData(data.subarray(0, 16))).toEqual({ generation: 1, reservation: undefined, truncated: true });
  });
});

describe("REPORT CAPABILITIES data", () => {
  it("builds the flags and the type mask tgtd reports", () => {
    expect(hexOf(buildReportCapabilitiesData({ supportedTypes: [...ALL_TYPES] }))).toBe("00080080ea010000");
    expect(hexOf(buildReportCapabilitiesData({ allTargetPortsCapable: true, persistThroughPowerLossCapable: true, typeMaskValid: false, allowCommands: 1, supportedTypes: [PrType.WriteExclusive] }))).toBe(
      "0008051002000000",
    );
  });

  it("round-trips the capability bits and any set of types", () => {
    const bit = fc.boolean();
    fc.assert(
      fc.property(
        fc.record({
          replaceLostReservationCapable: bit,
          compatibleReservationHandling: bit,
          specifyInitiatorPortsCapable: bit,
          allTargetPortsCapable: bit,
          persistThroughPowerLossCapable: bit,
          typeMaskValid: bit,
          allowCommands: fc.integer({ min: 0, max: 7 }),
          persistThroughPowerLossActivated: bit,
        }),
        fc.subarray([...ALL_TYPES]),
        (flags, types) => {
          expect(parseReportCapabilitiesData(buildReportCapabilitiesData({ ...flags, supportedTypes: types }))).toEqual({ ...flags, supportedTypes: types });
        },
      ),
    );
  });
});

describe("READ FULL STATUS data", () => {
  it("round-trips registrations with their TransportIDs", () => {
    const registrations = [
      { key: 0xabn, reservationHolder: true, scope: 0, type: 1, relativeTargetPortId: 1, transportId: Uint8Array.of(0x05, 0, 0, 4, 0x69, 0x71, 0x6e, 0) },
      { key: 0xcdn, allTargetPorts: true, relativeTargetPortId: 2, transportId: new Uint8Array(0) },
    ];
    const parsed = parseReadFullStatusData(buildReadFullStatusData({ generation: 9, registrations }));
    expect(parsed.generation).toBe(9);
    expect(parsed.truncated).toBe(false);
    expect(parsed.registrations.map((r) => ({ ...r, transportId: Array.from(r.transportId) }))).toEqual([
      { key: 0xabn, allTargetPorts: false, reservationHolder: true, scope: 0, type: 1, relativeTargetPortId: 1, transportId: [5, 0, 0, 4, 0x69, 0x71, 0x6e, 0] },
      { key: 0xcdn, allTargetPorts: true, reservationHolder: false, scope: 0, type: 0, relativeTargetPortId: 2, transportId: [] },
    ]);
  });

  it("stops at a descriptor that runs past the data", () => {
    const data = buildReadFullStatusData({ generation: 1, registrations: [{ key: 1n, relativeTargetPortId: 1, transportId: new Uint8Array(8) }] });
    expect(parseReadFullStatusData(data.subarray(0, 30))).toMatchObject({ registrations: [], truncated: true });
  });
});

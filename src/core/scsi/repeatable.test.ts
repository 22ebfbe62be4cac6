import { describe, expect, it } from "vitest";
import { buildCompareAndWriteCdb, buildPersistentReserveOutCdb, buildRead10Cdb, buildReadCapacity16Cdb, buildWrite16Cdb } from "./cdb.js";
import { isRepeatable } from "./repeatable.js";

describe("isRepeatable", () => {
  it("lets reads, writes and READ CAPACITY(16) be sent again after a reconnect", () => {
    expect(isRepeatable(buildRead10Cdb({ lba: 0, blocks: 1 }))).toBe(true);
    expect(isRepeatable(buildWrite16Cdb({ lba: 5, blocks: 8 }))).toBe(true);
    expect(isRepeatable(buildReadCapacity16Cdb())).toBe(true);
  });

  it("refuses COMPARE AND WRITE, PERSISTENT RESERVE OUT and unknown commands", () => {
    expect(isRepeatable(buildCompareAndWriteCdb({ lba: 0, blocks: 1 }))).toBe(false);
    expect(isRepeatable(buildPersistentReserveOutCdb({ serviceAction: 0, scope: 0, type: 1, parameterListLength: 24 } as never))).toBe(false);
    expect(isRepeatable(new Uint8Array([0xc0, 0, 0, 0, 0, 0]))).toBe(false);
    expect(isRepeatable(new Uint8Array([0x9e, 0x11]))).toBe(false);
    expect(isRepeatable(new Uint8Array(0))).toBe(false);
  });
});

/**
 * A host that reads every chunk into one buffer and uses it again (the Node server does, through
 * `onread`) delivers with `receiveTransient`: the bytes are valid during the call only. Here the
 * pair scribbles over its read buffer after every call, so anything the engine kept a view of
 * (write data, a ping's data, a PDU waiting for its CmdSN) would come out as garbage.
 */
import { describe, expect, it } from "vitest";
import { buildRead10Cdb, buildWrite10Cdb } from "../../core/scsi/cdb.js";
import { DEFAULT_INITIATOR_PROPOSAL, type TargetPolicy } from "../../core/text/parameters.js";
import { TargetPair, pattern } from "./pair.test-util.js";

const SMALL: Partial<TargetPolicy> = { maxRecvDataSegmentLength: 512, firstBurstLength: 1024, maxBurstLength: 2048, maxOutstandingR2T: 2 };

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe("bytes delivered through a reused read buffer", () => {
  for (const split of [0, 61, 4103]) {
    for (const immediateData of [false, true]) {
      for (const digest of [false, true]) {
        it(`moves write data intact (chunks of ${split || "whole batches"}, ImmediateData=${immediateData ? "Yes" : "No"}, digests ${digest ? "on" : "off"})`, () => {
          const pair = new TargetPair({ target: { policy: { ...SMALL, initialR2T: false, immediateData } }, split, transient: true });
          const digests = digest ? (["CRC32C"] as const) : (["None"] as const);
          const side = pair
            .initiator({ proposal: { ...DEFAULT_INITIATOR_PROPOSAL, maxRecvDataSegmentLength: 512, initialR2T: false, immediateData, headerDigest: digests, dataDigest: digests } })
            .login();
          for (const [i, blocks] of [1, 2, 9, 64, 200].entries()) {
            const data = pattern(blocks * 512, 7 + i);
            const lba = 300 * i;
            expect(side.run({ cdb: buildWrite10Cdb({ lba, blocks }), dataOut: data }).status).toBe(0);
            expect(same(pair.memory().read(lba * 512, data.length), data)).toBe(true);
            const back = new Uint8Array(data.length);
            expect(side.run({ cdb: buildRead10Cdb({ lba, blocks }), dataIn: back }).status).toBe(0);
            expect(same(back, data)).toBe(true);
          }
        });
      }
    }
  }

  it("echoes a ping's data from its own copy", () => {
    const pair = new TargetPair({ transient: true });
    const side = pair.initiator().login();
    const data = pattern(3000, 5);
    const id = side.ping(data);
    pair.pump();
    const event = side.events.find((e) => "context" in e && e.context === id);
    expect(event?.type).toBe("ping-complete");
    if (event?.type === "ping-complete") expect(same(event.result.data, data)).toBe(true);
  });
});

import { describe, expect, it } from "vitest";
import { ConfigError, ScsiError, SessionClosedError, ShortTransferError, TimeoutError, TransportError } from "../core/errors.js";
import { NbdRequestError, nbdErrnoOf } from "./errno.js";

function scsi(key: number, asc: number, ascq = 0): ScsiError {
  return new ScsiError(0x02, "CHECK CONDITION", { key, asc, ascq, description: "" });
}

describe("nbdErrnoOf", () => {
  it("gives EPERM for a write-protected LUN, and ENOSPC when a thin LUN ran out of space", () => {
    expect(nbdErrnoOf(scsi(0x07, 0x27, 0x00), "write")).toBe(1);
    expect(nbdErrnoOf(scsi(0x07, 0x27, 0x07), "write")).toBe(28);
  });

  it("gives ENOSPC for a write past the LUN's end, EINVAL for a read there", () => {
    expect(nbdErrnoOf(scsi(0x05, 0x21), "write")).toBe(28);
    expect(nbdErrnoOf(scsi(0x05, 0x21), "write-zeroes")).toBe(28);
    expect(nbdErrnoOf(scsi(0x05, 0x21), "read")).toBe(22);
  });

  it("gives EINVAL for other ILLEGAL REQUESTs and for the caller's own mistakes", () => {
    expect(nbdErrnoOf(scsi(0x05, 0x24), "trim")).toBe(22);
    expect(nbdErrnoOf(new ConfigError("bad"), "read")).toBe(22);
  });

  it("gives EIO for medium and hardware errors, lost sessions, timeouts and short transfers", () => {
    expect(nbdErrnoOf(scsi(0x03, 0x11), "read")).toBe(5);
    expect(nbdErrnoOf(scsi(0x04, 0x44), "write")).toBe(5);
    expect(nbdErrnoOf(new ScsiError(0x08, "BUSY"), "read")).toBe(5);
    expect(nbdErrnoOf(new SessionClosedError("gone"), "write")).toBe(5);
    expect(nbdErrnoOf(new TransportError("reset"), "flush")).toBe(5);
    expect(nbdErrnoOf(new TimeoutError("slow"), "read")).toBe(5);
    expect(nbdErrnoOf(new ShortTransferError("in", 512, 0, 512, "short"), "read")).toBe(5);
    expect(nbdErrnoOf(new Error("bug"), "read")).toBe(5);
  });

  it("keeps the value of an error raised with one", () => {
    expect(nbdErrnoOf(new NbdRequestError(95, "no"), "write-zeroes")).toBe(95);
  });
});

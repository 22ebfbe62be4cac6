import { describe, expect, it } from "vitest";
import { parseTgtadmParams, tgtadmArgs, tgtdArgs, tgtdProbeArgs, tgtdStartProblem } from "./tgtadm.js";

describe("tgtd's command lines", () => {
  it("runs tgtd in the foreground on one portal with its own control port", () => {
    expect(tgtdArgs("127.0.0.1", 40000, 20000)).toEqual(["-f", "-C", "20000", "--iscsi", "portal=127.0.0.1:40000"]);
  });

  it("addresses tgtadm to one tgtd's control port and the iSCSI driver", () => {
    expect(tgtadmArgs(20000, ["--op", "delete", "--mode", "target", "--tid", "1"])).toEqual([
      "-C", "20000", "--lld", "iscsi", "--op", "delete", "--mode", "target", "--tid", "1",
    ]);
    expect(tgtdProbeArgs(20000)).toEqual(["-C", "20000", "--lld", "iscsi", "--op", "show", "--mode", "target"]);
  });
});

describe("tgtd's start-up messages", () => {
  it("tell a control port held by another tgtd from a portal that could not be bound", () => {
    // tgtd 1.0.x, as printed to stderr in foreground mode.
    expect(tgtdStartProblem("tgtd: another tgtd is using /var/run/tgtd/socket.20000\n")).toBe("control-port-taken");
    expect(tgtdStartProblem("tgtd: iser_ib_init(3431) Failed to initialize RDMA\ntgtd: failed to create/bind to portal 127.0.0.1:40000\n")).toBe("portal-taken");
  });

  it("say nothing while tgtd has not complained", () => {
    expect(tgtdStartProblem("")).toBeUndefined();
    expect(tgtdStartProblem("tgtd: iser_ib_init(3431) Failed to initialize RDMA; load kernel modules?\n")).toBeUndefined();
  });
});

describe("tgtadm's target parameters", () => {
  it("reads the Name=value lines and nothing else", () => {
    const show = [
      "MaxRecvDataSegmentLength=8192",
      "HeaderDigest=None",
      "InitiatorAlias=",
      "    MaxBurstLength = 262144 ",
      "Target 1: iqn.2026-11.test:x",
    ].join("\n");
    expect(parseTgtadmParams(show)).toEqual({ MaxRecvDataSegmentLength: "8192", HeaderDigest: "None", InitiatorAlias: "", MaxBurstLength: "262144" });
  });
});

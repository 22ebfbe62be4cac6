import { describe, expect, it } from "vitest";
import { ConfigError } from "../../core/errors.js";
import { parseListen, parseLunOption } from "./target.js";

describe("parseLunOption", () => {
  it("splits N=BACKEND at the first '='", () => {
    expect(parseLunOption("1=mem:256M")).toEqual({ lun: 1, backend: "mem:256M" });
    expect(parseLunOption("2=null:1T")).toEqual({ lun: 2, backend: "null:1T" });
    expect(parseLunOption("3=/srv/a=b.img")).toEqual({ lun: 3, backend: "/srv/a=b.img" });
  });

  it("refuses a missing number, a missing backend and a LUN out of range", () => {
    expect(() => parseLunOption("mem:256M")).toThrow(ConfigError);
    expect(() => parseLunOption("1=")).toThrow(/must be N=BACKEND/);
    expect(() => parseLunOption("x=mem:1M")).toThrow(/--lun number "x"/);
    expect(() => parseLunOption("16384=mem:1M")).toThrow(/out of range/);
  });
});

describe("parseListen", () => {
  it("reads host:port, a bare host, :port and [v6]:port", () => {
    expect(parseListen("127.0.0.1:3261")).toEqual({ host: "127.0.0.1", port: 3261 });
    expect(parseListen("0.0.0.0")).toEqual({ host: "0.0.0.0", port: 3260 });
    expect(parseListen(":3262")).toEqual({ host: "127.0.0.1", port: 3262 });
    expect(parseListen("[::1]:3263")).toEqual({ host: "::1", port: 3263 });
  });

  it("accepts port 0 to mean any free port", () => {
    expect(parseListen("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0 });
  });

  it("refuses a port out of range, naming the option", () => {
    expect(() => parseListen("127.0.0.1:70000")).toThrow(/--listen "127.0.0.1:70000"/);
  });
});

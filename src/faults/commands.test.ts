import { describe, expect, it } from "vitest";
import { Opcode } from "../core/pdu/opcodes.js";
import { parseCommand } from "./commands.js";
import { parseArgs } from "./proxy-args.js";

describe("parseCommand", () => {
  it("reads every command of the control language", () => {
    expect(parseCommand("drop")).toEqual({ kind: "drop", mode: "rst" });
    expect(parseCommand("drop fin")).toEqual({ kind: "drop", mode: "fin" });
    expect(parseCommand("stall")).toEqual({ kind: "stall", durationMs: undefined });
    expect(parseCommand("stall 2500")).toEqual({ kind: "stall", durationMs: 2500 });
    expect(parseCommand("release")).toEqual({ kind: "release" });
    expect(parseCommand("delay 20")).toEqual({ kind: "delay", ms: 20, direction: "both" });
    expect(parseCommand("delay 5 t2i")).toEqual({ kind: "delay", ms: 5, direction: "to-initiator" });
    expect(parseCommand("cut to-initiator opcode=DataIn at=100 rst")).toEqual({
      kind: "cut",
      direction: "to-initiator",
      match: { opcode: Opcode.DataIn },
      at: 100,
      mode: "rst",
    });
    expect(parseCommand("flip i2t data opcode=0x05 bit=3")).toEqual({
      kind: "flip",
      direction: "to-target",
      where: "data",
      match: { opcode: Opcode.DataOut },
      offset: undefined,
      bit: 3,
    });
    expect(parseCommand("swallow to-target cdb=0x28 count=2 skip=1")).toEqual({
      kind: "swallow",
      direction: "to-target",
      match: { scsiOpcode: 0x28, skip: 1 },
      count: 2,
    });
    expect(parseCommand("swallow i2t opcode=TaskManagementRequest tmf=1")).toEqual({
      kind: "swallow",
      direction: "to-target",
      match: { opcode: Opcode.TaskManagementRequest, tmfFunction: 1 },
      count: 1,
    });
    expect(parseCommand("refuse on")).toEqual({ kind: "refuse", on: true });
    expect(parseCommand("throttle 1000000 t2i burst=65536")).toEqual({ kind: "throttle", bytesPerSecond: 1_000_000, direction: "to-initiator", burst: 65536 });
    expect(parseCommand("throttle 0")).toEqual({ kind: "throttle", bytesPerSecond: 0, direction: "both", burst: 16384 });
    expect(parseCommand("  # a comment")).toBeUndefined();
    expect(parseCommand("")).toBeUndefined();
    expect(parseCommand("events 5")).toEqual({ kind: "events", count: 5 });
  });

  it("refuses malformed commands with a ConfigError naming the line and the problem", () => {
    const cases: Array<[string, RegExp]> = [
      ["explode", /unknown command "explode"/],
      ["flip sideways header", /expected a direction/],
      ["flip i2t middle", /expected header or data/],
      ["flip i2t header offset=48", /offset "48" is not a number from 0 to 47/],
      ["flip i2t data bit=8", /bit "8" is not a number from 0 to 7/],
      ["cut t2i colour=red", /unknown option "colour"/],
      ["cut t2i opcode=NoSuchThing", /opcode "NoSuchThing"/],
      ["drop gently", /expected rst or fin/],
      ["refuse maybe", /expected on or off/],
      ["delay", /give the delay/],
      ["stall soon", /duration "soon"/],
      ["swallow i2t count=1 count=2", /given twice/],
    ];
    for (const [line, message] of cases) {
      let caught: unknown;
      try {
        parseCommand(line);
      } catch (error) {
        caught = error;
      }
      expect(caught, line).toMatchObject({ code: "ISCSI_ERR_CONFIG" });
      expect((caught as Error).message, line).toMatch(message);
      expect((caught as Error).message, line).toContain(line.trim());
    }
  });
});

describe("parseArgs", () => {
  it("reads the target, the listen address, the seed, digests and the control port", () => {
    expect(parseArgs(["--target", "127.0.0.1:3261", "--listen", "3270", "--seed", "42", "--digests", "both", "--control-port", "9100"])).toEqual({
      proxy: { target: { host: "127.0.0.1", port: 3261 }, listenHost: "127.0.0.1", listenPort: 3270, seed: 42, digests: { header: true, data: true } },
      controlPort: 9100,
      quiet: false,
    });
    expect(parseArgs(["--help"])).toBe("help");
  });

  it("requires a target and rejects unknown arguments", () => {
    expect(() => parseArgs([])).toThrow(/--target HOST:PORT is required/);
    expect(() => parseArgs(["--target", "h:1", "--fast"])).toThrow(/unknown argument "--fast"/);
    expect(() => parseArgs(["--target", "h:1", "--digests", "md5"])).toThrow(/--digests must be/);
    expect(() => parseArgs(["--target"])).toThrow(/--target needs a value/);
  });
});

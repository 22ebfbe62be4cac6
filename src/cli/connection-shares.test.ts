import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { addMcsOptions, type McsOptions, mcsSessionOptions } from "./connection-shares.js";

function parse(args: string[]): McsOptions {
  const command = addMcsOptions(new Command("perf")).exitOverride();
  command.parse(args, { from: "user" });
  return command.opts<McsOptions>();
}

describe("the MC/S and batching options", () => {
  it("leave command batching to the library's default unless --no-batching turns it off", () => {
    expect(mcsSessionOptions(parse([]))).toEqual({ connections: 1, connectionPolicy: "least-queue-depth" });
    expect(mcsSessionOptions(parse(["--no-batching", "--connections", "2"]))).toEqual({ connections: 2, connectionPolicy: "least-queue-depth", commandBatching: false });
  });

  it("turn busy polling on with --busy-poll, in microseconds, and refuse what is not a whole number of them", () => {
    expect(mcsSessionOptions(parse(["--busy-poll", "200"]))).toEqual({ connections: 1, connectionPolicy: "least-queue-depth", busyPollUs: 200 });
    expect(mcsSessionOptions(parse(["--busy-poll", "0"]))).toEqual({ connections: 1, connectionPolicy: "least-queue-depth" });
    expect(() => mcsSessionOptions(parse(["--busy-poll", "1.5"]))).toThrow('--busy-poll "1.5" is not a whole number');
    expect(() => mcsSessionOptions(parse(["--busy-poll", "2000000"]))).toThrow("--busy-poll 2000000 is out of range (0 to 1000000)");
  });
});

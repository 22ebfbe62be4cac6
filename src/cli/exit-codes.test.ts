import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import {
  AuthenticationError,
  ConfigError,
  DigestError,
  LocalProtocolError,
  LoginError,
  NegotiationError,
  RemoteProtocolError,
  ScsiError,
  SessionClosedError,
  TimeoutError,
  TransportError,
} from "../core/errors.js";
import { CliError } from "./errors.js";
import { ExitCode, exitCodeFor, isExpectedError } from "./exit-codes.js";
import { describeFailure, maskSecrets, oneLine } from "./report.js";

describe("exitCodeFor", () => {
  it("gives 1 for a bad URL or option, a missing file and a short input", () => {
    expect(exitCodeFor(new ConfigError("invalid iSCSI URL"))).toBe(1);
    expect(exitCodeFor(new CliError("ISCSI_CLI_FILE", "cannot open x"))).toBe(1);
    expect(exitCodeFor(new CliError("ISCSI_CLI_SHORT_INPUT", "short"))).toBe(1);
    expect(exitCodeFor(new CliError("ISCSI_CLI_USAGE", "conflict"))).toBe(1);
    expect(exitCodeFor(new CommanderError(1, "commander.unknownOption", "error: unknown option"))).toBe(1);
  });

  it("gives 2 for every login failure: refused, authentication, mutual authentication, negotiation", () => {
    expect(exitCodeFor(new LoginError(2, 3, "target not found"))).toBe(2);
    expect(exitCodeFor(new AuthenticationError("wrong secret"))).toBe(2);
    expect(exitCodeFor(new AuthenticationError("target failed", { mutual: true }))).toBe(2);
    expect(exitCodeFor(new NegotiationError("no common digest", "HeaderDigest"))).toBe(2);
  });

  it("gives 3 for a SCSI error and for a range or LUN the CLI found missing", () => {
    expect(exitCodeFor(new ScsiError(2, "READ(10) failed"))).toBe(3);
    expect(exitCodeFor(new CliError("ISCSI_CLI_OUT_OF_RANGE", "past the end"))).toBe(3);
    expect(exitCodeFor(new CliError("ISCSI_CLI_NO_SUCH_LUN", "no LUN 9"))).toBe(3);
  });

  it("gives 4 for connection failures, timeouts and a peer that broke the protocol", () => {
    expect(exitCodeFor(new TransportError("connection refused"))).toBe(4);
    expect(exitCodeFor(new TimeoutError("no answer"))).toBe(4);
    expect(exitCodeFor(new SessionClosedError("closed"))).toBe(4);
    expect(exitCodeFor(new RemoteProtocolError("bad PDU"))).toBe(4);
    expect(exitCodeFor(new DigestError("header", "bad digest"))).toBe(4);
  });

  it("gives 5 for a verification mismatch and 130 for an interrupt", () => {
    expect(exitCodeFor(new CliError("ISCSI_CLI_VERIFY_MISMATCH", "differs"))).toBe(5);
    expect(exitCodeFor(new CliError("ISCSI_CLI_INTERRUPTED", "interrupted"))).toBe(130);
  });

  it("gives 0 when commander only displayed help or the version", () => {
    expect(exitCodeFor(new CommanderError(0, "commander.helpDisplayed", "(outputHelp)"))).toBe(0);
    expect(exitCodeFor(new CommanderError(0, "commander.version", "0.1.0"))).toBe(0);
  });

  it("treats our own state machine's refusal and any foreign error as internal (70)", () => {
    expect(exitCodeFor(new LocalProtocolError("illegal transition"))).toBe(ExitCode.Internal);
    expect(exitCodeFor(new TypeError("x is undefined"))).toBe(ExitCode.Internal);
    expect(exitCodeFor({ code: "ENOENT" })).toBe(ExitCode.Internal);
    expect(exitCodeFor("a string")).toBe(ExitCode.Internal);
    expect(isExpectedError(new TypeError("bug"))).toBe(false);
    expect(isExpectedError(new TransportError("refused"))).toBe(true);
  });

  it("does not look at the message: the same words under another code give another status", () => {
    expect(exitCodeFor(new TransportError("authentication failure"))).toBe(4);
    expect(exitCodeFor(new AuthenticationError("connection refused"))).toBe(2);
  });
});

describe("describeFailure", () => {
  it("gives one line for a message that spans lines", () => {
    const report = describeFailure(new ConfigError("first\nsecond\r\n  third"));
    expect(report.message).toBe("first; second; third");
    expect(report.message).not.toMatch(/\n/);
    expect(report.exitCode).toBe(1);
    expect(report.code).toBe("ISCSI_ERR_CONFIG");
  });

  it("drops commander's 'error:' prefix", () => {
    expect(describeFailure(new CommanderError(1, "commander.missingArgument", "error: missing required argument 'url'")).message).toBe(
      "missing required argument 'url'",
    );
  });

  it("masks every known secret in the message", () => {
    const report = describeFailure(new ConfigError("bad URL iscsi://alice%hunter22@host: hunter22 hunter2"), { secrets: ["hunter2", "hunter22"] });
    expect(report.message).not.toContain("hunter2");
    expect(report.message).toBe("bad URL iscsi://alice%***@host: *** ***");
  });

  it("adds a hint for a LUN the target does not have, from the sense code", () => {
    const error = new ScsiError(2, "READ CAPACITY(16) on LUN 9 failed: ILLEGAL REQUEST", { key: 5, asc: 0x25, ascq: 0, description: "LOGICAL UNIT NOT SUPPORTED" });
    expect(describeFailure(error).message).toMatch(/does not exist on this target/);
    expect(describeFailure(new ScsiError(2, "failed", { key: 5, asc: 0x21, ascq: 0, description: "LBA OUT OF RANGE" })).message).not.toMatch(/does not exist/);
  });

  it("labels an internal error, and gives its stack only when verbose", () => {
    const bug = new TypeError("cannot read properties of undefined");
    const quiet = describeFailure(bug);
    expect(quiet.message).toBe("internal error: cannot read properties of undefined (run with -v for details)");
    expect(quiet.detail).toBeUndefined();
    const loud = describeFailure(bug, { verbose: true });
    expect(loud.detail).toContain("TypeError");
    expect(loud.exitCode).toBe(70);
  });

  it("never gives a stack for an expected error, even when verbose", () => {
    expect(describeFailure(new TransportError("refused"), { verbose: true }).detail).toBeUndefined();
  });
});

describe("maskSecrets and oneLine", () => {
  it("masks overlapping secrets longest first", () => {
    expect(maskSecrets("abcdef abc", ["abc", "abcdef"])).toBe("*** ***");
  });

  it("ignores empty secrets", () => {
    expect(maskSecrets("text", [""])).toBe("text");
  });

  it("folds line breaks", () => {
    expect(oneLine("a\n\nb")).toBe("a; b");
  });
});

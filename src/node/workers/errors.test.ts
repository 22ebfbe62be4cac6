import { describe, expect, it } from "vitest";
import {
  AbortedError,
  AuthenticationError,
  ConfigError,
  DigestError,
  IscsiError,
  LocalProtocolError,
  LoginError,
  NegotiationError,
  NotRetryableError,
  RejectError,
  RemoteProtocolError,
  ScsiError,
  SessionClosedError,
  ShortTransferError,
  TargetFailureError,
  TaskManagementError,
  TimeoutError,
  TransportError,
} from "../../core/errors.js";
import { fromWireError, toWireError } from "./errors.js";

/** What postMessage does to a value: structured cloning, the same algorithm. */
function across(error: unknown, cause?: unknown): Error {
  return fromWireError(structuredClone(toWireError(error)), cause);
}

const sense = { key: 5, asc: 0x21, ascq: 0, description: "LOGICAL BLOCK ADDRESS OUT OF RANGE" };

/** One of each class of core/errors.ts, with the fields its constructor sets. */
const EVERY_CLASS: readonly IscsiError[] = [
  new LocalProtocolError("local"),
  new RemoteProtocolError("remote"),
  new DigestError("data", "digest"),
  new LoginError(2, 3, "not found"),
  new AuthenticationError("wrong secret", { statusClass: 2, statusDetail: 1 }),
  new AuthenticationError("target failed mutual CHAP", { mutual: true }),
  new NegotiationError("no digest", "HeaderDigest"),
  new ScsiError(2, "READ(10) failed", sense, new Uint8Array([0x70, 0, 5])),
  new ShortTransferError("in", 4096, 512, 3584, "short"),
  new TargetFailureError(1, "target failure"),
  new TaskManagementError(5, "tmf"),
  new RejectError(9, "rejected"),
  new TransportError("reset"),
  new TimeoutError("late", { kind: "keep-alive" }),
  new AbortedError("aborted"),
  new NotRetryableError("not retryable"),
  new SessionClosedError("closed"),
  new ConfigError("bad option"),
];

describe("errors across a thread", () => {
  it.each(EVERY_CLASS.map((e) => [`${e.name} (${e.code})`, e] as const))("rebuilds %s with its class, code, message and fields", (_name, error) => {
    const back = across(error);
    expect(back).toBeInstanceOf(error.constructor);
    expect(back).toBeInstanceOf(IscsiError);
    expect(back.name).toBe(error.name);
    expect((back as IscsiError).code).toBe(error.code);
    expect(back.message).toBe(error.message);
    expect({ ...back }).toEqual({ ...error });
    expect(back.stack).toBe(error.stack);
  });

  it("keeps a ScsiError's sense and raw sense bytes", () => {
    const back = across(new ScsiError(2, "failed", sense, new Uint8Array([0x70, 0, 5]))) as ScsiError;
    expect(back.sense).toEqual(sense);
    expect(back.senseData).toEqual(new Uint8Array([0x70, 0, 5]));
  });

  it("tells mutual CHAP from a wrong secret by code, both AuthenticationErrors", () => {
    expect((across(new AuthenticationError("x")) as IscsiError).code).toBe("ISCSI_ERR_AUTH");
    expect((across(new AuthenticationError("x", { mutual: true })) as IscsiError).code).toBe("ISCSI_ERR_MUTUAL_AUTH");
  });

  it("rebuilds a chain of causes, a socket error's code and errno included", () => {
    const socket = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED", errno: -111, syscall: "connect" });
    const back = across(new TransportError("cannot connect", { cause: socket }));
    expect(back).toBeInstanceOf(TransportError);
    const cause = back.cause as Error & { code: string; errno: number; syscall: string };
    expect(cause).toBeInstanceOf(Error);
    expect([cause.message, cause.code, cause.errno, cause.syscall]).toEqual(["connect ECONNREFUSED 127.0.0.1:1", "ECONNREFUSED", -111, "connect"]);
  });

  it("puts the caller's own cause in place of the worker's (an AbortSignal's reason)", () => {
    const reason = { why: "user pressed ^C" };
    const back = across(new AbortedError("READ(10) was aborted by its signal", { cause: "the worker's reason" }), reason);
    expect(back.cause).toBe(reason);
  });

  it("keeps the built-in class of an error that is not ours, and a value thrown that is not an Error", () => {
    expect(across(new TypeError("not a function"))).toBeInstanceOf(TypeError);
    const thrown = across("a string");
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown.message).toBe("a string");
  });

  it("rebuilds an IscsiError of a class it does not know as an IscsiError with its code and name", () => {
    class FutureError extends IscsiError {
      constructor() {
        super("ISCSI_ERR_TRANSPORT", "from a newer version");
      }
    }
    const back = across(new FutureError());
    expect(back).toBeInstanceOf(IscsiError);
    expect((back as IscsiError).code).toBe("ISCSI_ERR_TRANSPORT");
    expect(back.name).toBe("FutureError");
  });

  it("writes a field that cannot be cloned as its text, so the error still crosses", () => {
    const odd = Object.assign(new Error("odd"), { callback: () => 1 });
    expect(() => structuredClone(toWireError(odd))).not.toThrow();
    expect(typeof (across(odd) as unknown as { callback: unknown }).callback).toBe("string");
  });
});

/**
 * A library caller's mistakes in options end the call that made them, with a ConfigError that
 * names the option and what it allows, before anything connects: never an uncaught exception from
 * a socket callback, which would end every other session of the process. And what is thrown in a
 * callback of ours (here: a trace function that throws) fails the login or connection it belongs
 * to, with a typed error. Against the embedded target, with a good session open beside them all.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, discover, IscsiError, type IscsiSession, openSession, type SessionOptions } from "../../src/node/index.js";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { rejectionOf, settle } from "../initiator/interop.test-util.js";

const IQN = "iqn.2026-11.test.library:bad-options";

describe("options a library caller gets wrong", () => {
  let target: RunningTarget;
  let good: IscsiSession;
  let portal: string;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    uncaught.push(error);
  };
  const url = (): string => `iscsi://${portal}/${IQN}`;
  /** Short login limits: a mistake found only once connected would fail these tests in seconds. */
  const quick: Partial<SessionOptions> = { keepAlive: false, connectTimeoutMs: 3_000, loginTimeoutMs: 3_000 };

  beforeAll(async () => {
    process.on("uncaughtException", onUncaught);
    // DefaultTime2Wait 0: a connection lost below comes back at once.
    target = await startTarget({ targets: [{ iqn: IQN, luns: [{ lun: 1, backend: "mem:4M" }], policy: { defaultTime2Wait: 0 } }] });
    portal = `${target.host}:${target.port}`;
    good = await settle(openSession(url(), { keepAlive: false }), "the good session's login");
  });

  afterEach(async () => {
    // Nothing escaped as an uncaught exception, and the good session still carries I/O.
    expect(uncaught).toEqual([]);
    const pattern = new Uint8Array(4096).map((_, i) => (i * 7 + uncaught.length) & 0xff);
    await settle(good.lun(1).write(8, pattern), "a write on the good session");
    expect(await settle(good.lun(1).read(8, 8), "a read on the good session")).toEqual(pattern);
  });

  afterAll(async () => {
    process.off("uncaughtException", onUncaught);
    await good?.logout().catch(() => good?.close());
    await target?.close();
  });

  const refused: ReadonlyArray<readonly [what: string, options: Record<string, unknown>, message: RegExp]> = [
    ["a negative MaxBurstLength", { proposal: { maxBurstLength: -5 } }, /^proposal\.maxBurstLength is -5: it must be a whole number from 512 to 16777215 \(MaxBurstLength, RFC 7143 §13\.13\)$/],
    ["a MaxRecvDataSegmentLength of 1", { proposal: { maxRecvDataSegmentLength: 1 } }, /^proposal\.maxRecvDataSegmentLength is 1: it must be a whole number from 512 to 16777215/],
    ["an ErrorRecoveryLevel of 5", { proposal: { errorRecoveryLevel: 5 } }, /^proposal\.errorRecoveryLevel is 5: it must be a whole number from 0 to 2 \(ErrorRecoveryLevel, RFC 7143 §13\.20\)$/],
    ["a digest that is no digest", { headerDigest: "crc33" }, /^headerDigest is "crc33": it must be "None", "CRC32C", "CRC32C,None" or "None,CRC32C" \(any case; RFC 7143 §13\.1\)$/],
    ["a digest list in the proposal that is no list of digests", { proposal: { dataDigest: ["md5"] } }, /^proposal\.dataDigest is \["md5"\]: it must be a non-empty list of "CRC32C", "None"/],
    ["an initiator name with '='", { initiatorName: "iqn.2026-01.x:a=b" }, /^initiatorName "iqn\.2026-01\.x:a=b" is not an iSCSI name: the character "=" is not allowed/],
    ["a keep-alive interval that is not a number", { keepAlive: { intervalMs: Number.NaN, timeoutMs: 1000 } }, /^keepAlive\.intervalMs is NaN: it must be a whole number 1 or more$/],
    ["a negative command timeout", { commandTimeoutMs: -1 }, /^commandTimeoutMs is -1: it must be a whole number 1 or more$/],
  ];

  for (const [what, options, message] of refused) {
    it(`refuses ${what} with a ConfigError naming the option, before connecting`, async () => {
      const accepted = target.stats.connectionsAccepted;
      const error = await rejectionOf(openSession(url(), { ...quick, ...options } as Partial<SessionOptions>), what, 5_000);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).code).toBe("ISCSI_ERR_CONFIG");
      expect((error as Error).message).toMatch(message);
      expect(target.stats.connectionsAccepted).toBe(accepted);
    });
  }

  it("takes a digest in lowercase, as QEMU and libiscsi URLs write it, and offers it as RFC 7143 spells it", async () => {
    const session = await settle(openSession(url(), { ...quick, headerDigest: "crc32c", dataDigest: "none,crc32c" }), "a login with crc32c");
    try {
      expect(session.connections[0]).toMatchObject({ headerDigest: true, dataDigest: false });
      expect((await session.lun(1).readCapacity()).blockSize).toBe(512);
    } finally {
      await session.logout();
    }
  });

  it("runs discovery with a lowercase digest, and refuses a bad one with a ConfigError before connecting", async () => {
    const found = await settle(discover(portal, { headerDigest: "crc32c", connectTimeoutMs: 3_000, loginTimeoutMs: 3_000 }), "discovery with crc32c");
    expect(found.map((t) => t.name)).toEqual([IQN]);
    const accepted = target.stats.connectionsAccepted;
    const error = await rejectionOf(discover(portal, { headerDigest: "sha1" as never }), "discovery with a bad digest", 5_000);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^headerDigest is "sha1"/);
    expect(target.stats.connectionsAccepted).toBe(accepted);
  });

  it("fails the login with a typed error when a callback throws inside the socket's connect callback", async () => {
    const broken = new Error("this trace function is broken");
    const error = await rejectionOf(
      openSession(url(), {
        ...quick,
        trace: () => {
          throw broken;
        },
      }),
      "a login whose trace throws",
      5_000,
    );
    expect(error).toBeInstanceOf(IscsiError);
    expect((error as IscsiError).code).toBe("ISCSI_ERR_LOCAL_PROTOCOL");
    expect((error as Error).message).toMatch(/internal error in the connect callback: this trace function is broken/);
    expect((error as Error).message).toContain(portal);
    expect((error as Error).cause).toBe(broken);
  });

  it("fails the connection, not the process, when a callback throws on a PDU received, and the read goes again after reinstatement", async () => {
    let armed = false;
    const session = await settle(
      openSession(url(), {
        ...quick,
        proposal: { defaultTime2Wait: 0 },
        trace: (line) => {
          if (armed && line.startsWith("<<") && line.includes("DataIn")) {
            armed = false;
            throw new Error("this trace function is broken");
          }
        },
      }),
      "a login",
    );
    try {
      const lost = new Promise<string>((resolve) => session.once("recovery", (_phase, record) => resolve(record.detail)));
      armed = true;
      const data = await settle(session.lun(1).read(0, 1), "a read whose Data-In meets the broken trace", 10_000);
      expect(data.length).toBe(512);
      expect(await lost).toMatch(/internal error in a socket read: this trace function is broken/);
    } finally {
      await session.logout().catch(() => session.close());
    }
  });
});

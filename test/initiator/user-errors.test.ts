/**
 * The library's errors for a user's mistakes against tgtd: each one typed, with its stable `code`
 * and a message that says what failed and where (target, portal, LUN, command, sense).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConfigError,
  LoginError,
  openLun,
  openSession,
  ScsiError,
  SessionClosedError,
  TransportError,
  type IscsiSession,
} from "../../src/node/index.js";
import { freeTcpPort } from "../support/ports.js";
import { Tgtd } from "../support/tgtd.js";
import { rejectionOf, settle } from "./interop.test-util.js";

const IQN = "iqn.2026-11.test.initiator:errors";
const LUN_BLOCKS = 2048;
/** SPC-4 sense key ILLEGAL REQUEST and its ASC/ASCQ for the two mistakes below. */
const ILLEGAL_REQUEST = 0x05;
const LOGICAL_UNIT_NOT_SUPPORTED = { asc: 0x25, ascq: 0x00 };
const LBA_OUT_OF_RANGE = { asc: 0x21, ascq: 0x00 };

describe("errors for user mistakes against tgtd", () => {
  let tgtd: Tgtd;
  let session: IscsiSession;

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: LUN_BLOCKS * 512 } }] });
    session = await settle(openSession(tgtd.url(IQN), { keepAlive: false }), "login");
    await settle(session.lun(1).readCapacity(), "READ CAPACITY");
  });

  afterAll(async () => {
    await session?.logout().catch(() => session?.close());
    await tgtd?.stop();
  });

  it("an unknown target name fails the login with ISCSI_ERR_LOGIN, status 0x0203, naming the target and the portal", async () => {
    const unknown = "iqn.2026-11.test.initiator:no-such-target";
    const error = await rejectionOf(openSession(tgtd.url(unknown), { keepAlive: false }), "login to an unknown target");

    expect(error).toBeInstanceOf(LoginError);
    expect(error).toMatchObject({ code: "ISCSI_ERR_LOGIN", statusClass: 0x02, statusDetail: 0x03 });
    const message = (error as Error).message;
    expect(message).toContain(unknown);
    expect(message).toContain(tgtd.portal);
    expect(message).toMatch(/0x0203/);
    expect(message).toMatch(/not found/i);
  });

  it("a LUN the target does not have fails with ISCSI_ERR_SCSI, LOGICAL UNIT NOT SUPPORTED, naming the LUN and the target", async () => {
    for (const attempt of [() => session.lun(7).testUnitReady(), () => session.lun(7).read(0, 1)]) {
      const error = await rejectionOf(attempt(), "a command to LUN 7");

      expect(error).toBeInstanceOf(ScsiError);
      expect(error).toMatchObject({ code: "ISCSI_ERR_SCSI", status: 0x02, sense: { key: ILLEGAL_REQUEST, ...LOGICAL_UNIT_NOT_SUPPORTED } });
      const message = (error as Error).message;
      expect(message).toMatch(/LUN 7\b/);
      expect(message).toContain(IQN);
      expect(message).toMatch(/LOGICAL UNIT NOT SUPPORTED/);
    }
  });

  it("a refused port fails with ISCSI_ERR_TRANSPORT naming the portal", async () => {
    const port = await freeTcpPort();
    const error = await rejectionOf(openSession({ portal: `127.0.0.1:${port}`, targetName: IQN, keepAlive: false }), "login to a closed port");

    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe("ISCSI_ERR_TRANSPORT");
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    expect((error as Error).message).toMatch(/refused/);
  });

  it("a read past the end fails with ISCSI_ERR_SCSI, LOGICAL BLOCK ADDRESS OUT OF RANGE, naming the command and the LUN", async () => {
    const cases = [
      { what: "a read starting past the last block", run: () => session.lun(1).read(LUN_BLOCKS, 1) },
      { what: "a read running over the last block", run: () => session.lun(1).read(LUN_BLOCKS - 2, 4) },
      { what: "a write past the last block", run: () => session.lun(1).write(LUN_BLOCKS + 10, new Uint8Array(512)) },
    ];
    for (const c of cases) {
      const error = await rejectionOf(c.run(), c.what);

      expect(error, c.what).toBeInstanceOf(ScsiError);
      expect(error, c.what).toMatchObject({ code: "ISCSI_ERR_SCSI", status: 0x02, sense: { key: ILLEGAL_REQUEST, ...LBA_OUT_OF_RANGE } });
      const message = (error as Error).message;
      expect(message, c.what).toMatch(/(READ|WRITE)\((10|16)\)/);
      expect(message, c.what).toMatch(/LUN 1\b/);
      expect(message, c.what).toMatch(/LOGICAL BLOCK ADDRESS OUT OF RANGE/);
    }
    // The session is unharmed by the refusals.
    expect((await settle(session.lun(1).read(LUN_BLOCKS - 1, 1), "a read of the last block")).length).toBe(512);
  });

  it("a write that is not a whole number of blocks is refused locally with ISCSI_ERR_CONFIG before anything is sent", async () => {
    const error = await rejectionOf(session.lun(1).write(0, new Uint8Array(700)), "a 700-byte write");

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("ISCSI_ERR_CONFIG");
    expect((error as Error).message).toMatch(/700 bytes/);
    expect((error as Error).message).toMatch(/512/);
  });

  it("a URL without a LUN given to openLun is refused with ISCSI_ERR_CONFIG naming the URL's target", async () => {
    const error = await rejectionOf(openLun(`iscsi://${tgtd.portal}/${IQN}`, { keepAlive: false }), "openLun without a LUN");

    expect(error).toMatchObject({ code: "ISCSI_ERR_CONFIG" });
    expect((error as Error).message).toContain(IQN);
  });

  it("a command on a session that was logged out fails with ISCSI_ERR_SESSION_CLOSED", async () => {
    const other = await settle(openSession(tgtd.url(IQN), { keepAlive: false }), "a second login");
    await settle(other.logout(), "logout");
    const error = await rejectionOf(other.lun(1).testUnitReady(), "a command after logout");

    expect(error).toBeInstanceOf(SessionClosedError);
    expect((error as SessionClosedError).code).toBe("ISCSI_ERR_SESSION_CLOSED");
  });
});

/**
 * A refused login says what to do about it: a target that needs CHAP, asked without credentials,
 * gets "the target requires CHAP" and the options to give; a target that allows no digests, asked
 * to use CRC32C only, gets how to accept None. Against tgtd.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tgtd } from "../support/tgtd.js";
import { ensureBuilt, expectFailure, expectOk, iscsi, jsonOf } from "./cli.test-util.js";

const IQN_CHAP = "iqn.2026-11.test.cli:hints-chap";
const IQN_PLAIN = "iqn.2026-11.test.cli:hints-plain";
const USER = "hintuser";
const SECRET = "Hint-Secret-5e0c1a77";

describe("login refusals that say what to do", () => {
  let tgtd: Tgtd;

  beforeAll(async () => {
    await ensureBuilt();
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN_CHAP, luns: [{ lun: 1, file: { size: 1 << 20 } }] });
    await tgtd.addAccount(USER, SECRET);
    await tgtd.bindAccount(1, USER);
    await tgtd.addTarget({ tid: 2, iqn: IQN_PLAIN, luns: [{ lun: 1, file: { size: 1 << 20 } }] });
    await tgtd.setParam(2, "HeaderDigest", "None");
    await tgtd.setParam(2, "DataDigest", "None");
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  it("a target that needs CHAP, asked without credentials, says so and names the options", async () => {
    const r = await iscsi(["readcap", `iscsi://${tgtd.portal}/${IQN_CHAP}/1`]);
    const line = expectFailure(r, 2, /the target requires CHAP: give --chap-user and a secret/);
    expect(line).not.toMatch(/check the CHAP user and secret/);
    const json = jsonOf<{ error: { code: string; message: string } }>(await iscsi(["readcap", `iscsi://${tgtd.portal}/${IQN_CHAP}/1`, "--json"]));
    expect(json.error.code).toBe("ISCSI_ERR_AUTH");
    expect(json.error.message).toMatch(/the target requires CHAP/);
  });

  it("a wrong secret still says to check the user and secret, not that CHAP is needed", async () => {
    const r = await iscsi(["readcap", `iscsi://${tgtd.portal}/${IQN_CHAP}/1`], { env: { ISCSI_CHAP_USERNAME: USER, ISCSI_CHAP_SECRET: "Not-The-Secret-000" } });
    const line = expectFailure(r, 2, /check the CHAP user and secret/);
    expect(line).not.toMatch(/requires CHAP/);
    expectOk(await iscsi(["readcap", `iscsi://${tgtd.portal}/${IQN_CHAP}/1`], { env: { ISCSI_CHAP_USERNAME: USER, ISCSI_CHAP_SECRET: SECRET } }));
  });

  it("a target that allows no digests, asked for CRC32C only, says how to accept None", async () => {
    const url = `iscsi://${tgtd.portal}/${IQN_PLAIN}/1`;
    expectFailure(await iscsi(["readcap", url, "--header-digest", "crc32c"]), 2, /HeaderDigest.*--header-digest crc32c,none/);
    expectFailure(await iscsi(["readcap", url, "--data-digest", "crc32c"]), 2, /DataDigest.*--data-digest crc32c,none/);
    // And what it says works.
    expect(expectOk(await iscsi(["readcap", url, "--header-digest", "crc32c,none", "--data-digest", "crc32c,none"])).stdout).toMatch(/^Blocks: +2048$/m);
  });
});

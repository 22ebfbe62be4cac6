/**
 * The embedded target as libiscsi's command-line tools see it: discovery and LUN listing
 * (`iscsi-ls -s`), INQUIRY and its VPD pages (`iscsi-inq`), READ CAPACITY(16)
 * (`iscsi-readcapacity16`), and CHAP logins given in the URL or in LIBISCSI_CHAP_* variables,
 * one-way and mutual. Debian's libiscsi offers CHAP MD5 only (CHAP_A=5), so that is what these
 * logins use; the other algorithms are proven against our own initiator in the unit tests.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Secret } from "../../src/core/auth/secret.js";
import { type RunningTarget, startTarget } from "../../src/target/server.js";
import { chapEnv, iscsiInq, iscsiLs, iscsiReadCapacity16, iscsiUrl } from "../support/peers.js";
import { checkOk } from "../support/processes.js";

const IQN = "iqn.2026-11.test.target:tools";
const CHAP_IQN = "iqn.2026-11.test.target:tools-chap";
const INITIATOR = { user: "alice", secret: "alice-chap-secret-1" };
const TARGET_ACCOUNT = { user: "tgt-tools", secret: "target-chap-secret-2" };

describe("libiscsi's tools against the embedded target", () => {
  let target: RunningTarget;
  const url = (iqn: string, lun: number, chap?: { user: string; secret: string }): string =>
    iscsiUrl({ host: target.host, port: target.port, iqn, lun, chap });

  beforeAll(async () => {
    target = await startTarget({
      targets: [
        {
          iqn: IQN,
          luns: [
            { lun: 0, backend: "mem:64M", serial: "TOOLS-0000" },
            { lun: 1, backend: "null:1G" },
            { lun: 4, backend: "mem:32M", blockSize: 4096 },
          ],
        },
        {
          iqn: CHAP_IQN,
          luns: [{ lun: 0, backend: "mem:8M" }],
          chap: { users: [{ username: INITIATOR.user, secret: Secret.fromString(INITIATOR.secret) }] },
          mutualChap: { username: TARGET_ACCOUNT.user, secret: Secret.fromString(TARGET_ACCOUNT.secret) },
        },
      ],
    });
  });

  afterAll(async () => {
    await target?.close();
  });

  it("lists every target with its portal and every LUN with iscsi-ls -s", async () => {
    // iscsi-ls logs in to each target to list its LUNs: the CHAP target needs the credentials.
    const out = checkOk(await iscsiLs(iscsiUrl({ host: target.host, port: target.port }), { env: chapEnv({ initiator: INITIATOR }) })).stdout;
    const sections = out.split(/^(?=Target:)/m).filter((s) => s.startsWith("Target:"));
    const listing = sections.map((section) => ({
      target: /^Target:(\S+) Portal:(\S+)/.exec(section)?.slice(1, 3),
      luns: [...section.matchAll(/^Lun:(\d+)\s+Type:(\S+)/gm)].map((m) => `${m[1]} ${m[2]}`),
    }));
    // iscsi-ls prints the targets in the reverse of the order SendTargets gave them.
    listing.sort((a, b) => String(a.target?.[0]).localeCompare(String(b.target?.[0])));
    expect(listing).toEqual([
      { target: [IQN, `127.0.0.1:${target.port},1`], luns: ["0 DIRECT_ACCESS", "1 DIRECT_ACCESS", "4 DIRECT_ACCESS"] },
      { target: [CHAP_IQN, `127.0.0.1:${target.port},1`], luns: ["0 DIRECT_ACCESS"] },
    ]);
  });

  it("makes iscsi-ls fail on a CHAP target it has no credentials for, after listing the open one", async () => {
    const result = await iscsiLs(iscsiUrl({ host: target.host, port: target.port }));
    expect(result.code).not.toBe(0);
    expect(result.stdout).toContain(`Target:${IQN}`);
  });

  it("reports the standard INQUIRY data", async () => {
    const out = checkOk(await iscsiInq(url(IQN, 0))).stdout;
    expect(out).toMatch(/Peripheral Qualifier:CONNECTED/);
    expect(out).toMatch(/Peripheral Device Type:DIRECT_ACCESS/);
    expect(out).toMatch(/Vendor:ISCSI-TS/);
    expect(out).toMatch(/Product:EMBEDDED DISK/);
    expect(out).toMatch(/CmdQue:1/);
    expect(out).toMatch(/Version Descriptor:04c0 SBC-3/);
  });

  it("serves the VPD pages: supported list, serial number, device identification, block limits, provisioning", async () => {
    const pages = checkOk(await iscsiInq(url(IQN, 0), ["-e", "1", "-c", "0"])).stdout;
    for (const page of ["UNIT_SERIAL_NUMBER", "DEVICE_IDENTIFICATION", "BLOCK_LIMITS", "BLOCK_DEVICE_CHARACTERISTICS", "LOGICAL_BLOCK_PROVISIONING"]) {
      expect(pages).toContain(page);
    }
    expect(checkOk(await iscsiInq(url(IQN, 0), ["-e", "1", "-c", String(0x80)])).stdout).toContain("Unit Serial Number:[TOOLS-0000]");
    const ids = checkOk(await iscsiInq(url(IQN, 0), ["-e", "1", "-c", String(0x83)])).stdout;
    expect(ids).toMatch(/Association:\(0\) LOGICAL_UNIT\s+Designator Type:\(3\) NAA/);
    expect(ids).toContain(`Designator:[${IQN},t,0x0001]`);
    const limits = checkOk(await iscsiInq(url(IQN, 0), ["-e", "1", "-c", String(0xb0)])).stdout;
    expect(limits).toContain("maximum transfer length:16384");
    expect(limits).toContain("wsnz:1");
    const lbp = checkOk(await iscsiInq(url(IQN, 0), ["-e", "1", "-c", String(0xb2)])).stdout;
    expect(lbp).toContain("lbpu:1");
    expect(lbp).toContain("lbpws:1");
  });

  it("reports capacity and thin provisioning with iscsi-readcapacity16, for 512- and 4096-byte blocks", async () => {
    const mem = checkOk(await iscsiReadCapacity16(url(IQN, 0))).stdout;
    expect(mem).toContain("RETURNED LOGICAL BLOCK ADDRESS:131071");
    expect(mem).toContain("LOGICAL BLOCK LENGTH IN BYTES:512");
    expect(mem).toContain("LBPME:1 LBPRZ:1");
    expect(mem).toContain("Total size:67108864");
    const big = checkOk(await iscsiReadCapacity16(url(IQN, 4))).stdout;
    expect(big).toContain("LOGICAL BLOCK LENGTH IN BYTES:4096");
    expect(big).toContain("Total size:33554432");
  });

  it("logs in with CHAP given in the URL", async () => {
    const out = checkOk(await iscsiInq(url(CHAP_IQN, 0, INITIATOR))).stdout;
    expect(out).toMatch(/Vendor:ISCSI-TS/);
    expect(out).not.toContain(INITIATOR.secret);
  });

  it("logs in with CHAP given in LIBISCSI_CHAP_*, one-way and mutual", async () => {
    checkOk(await iscsiInq(url(CHAP_IQN, 0), [], { env: chapEnv({ initiator: INITIATOR }) }));
    const mutual = checkOk(await iscsiInq(url(CHAP_IQN, 0), [], { env: chapEnv({ initiator: INITIATOR, target: TARGET_ACCOUNT }) }));
    expect(mutual.stdout).toMatch(/Vendor:ISCSI-TS/);
  });

  it("refuses a wrong secret, and a target secret the target cannot prove is refused by libiscsi", async () => {
    const failures = target.stats.loginFailures;
    const wrong = await iscsiInq(url(CHAP_IQN, 0, { user: INITIATOR.user, secret: "not-the-secret-3" }));
    expect(wrong.code).not.toBe(0);
    expect(target.stats.loginFailures).toBe(failures + 1);
    const impostor = await iscsiInq(url(CHAP_IQN, 0), [], {
      env: chapEnv({ initiator: INITIATOR, target: { user: TARGET_ACCOUNT.user, secret: "another-secret-4" } }),
    });
    expect(impostor.code).not.toBe(0);
  });

  it("refuses a login without CHAP to the CHAP target", async () => {
    const result = await iscsiInq(url(CHAP_IQN, 0));
    expect(result.code).not.toBe(0);
  });
});
